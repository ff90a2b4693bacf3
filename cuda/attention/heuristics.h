// Tuning decisions of the attention kernels, kept out of the kernels (as FlashAttention's
// hopper/heuristics.h): how decode splits its keys.
#pragma once

#include <algorithm>

namespace cab::cuda::attention {

// A split shorter than this costs more in its fixed part (Q load, pipeline fill, partial state
// write and merge) than its keys take to stream. Two 64-key tiles, both in flight from the
// CTA's start, so that batch 1 can still spread over every SM.
constexpr int kDecodeMinSplitKeys = 128;
constexpr int kDecodeMaxSplits = 128;
// Up to this many keys a stream is one split, whatever the batch, which writes the output (and
// its pending record) itself: the merge kernel a second split needs (its launch and its wait for
// decode, on every layer of a decode step) costs more than the two tiles it saves.
constexpr int kDecodeOneSplitKeys = 256;

// Rounds of `slots` CTAs that `splits` splits of `units` streams take.
inline long decode_waves(int units, int splits, int slots) {
    return (static_cast<long>(units) * splits + slots - 1) / slots;
}

// Splits of the longest stream for `units` = batch * n_head_kv decode CTAs when `slots` CTAs
// (SM count * CTAs resident per SM) run at once. Each split streams its keys once, so decode is
// bandwidth bound as long as every SM holds resident CTAs: too few splits leave SMs idle (batch
// 1, 4 kv heads: 4 CTAs on 132 SMs), too many add merge work. The wave efficiency of s splits
// is units * s / (ceil(units * s / slots) * slots); this takes the smallest s within 85% of the
// best (FlashAttention's num_splits_heuristic rule), capped so splits keep kDecodeMinSplitKeys;
// one split up to kDecodeOneSplitKeys.
inline int decode_num_splits(int units, int max_length, int slots) {
    if (max_length <= kDecodeOneSplitKeys) return 1;
    const int cap = std::max(1, std::min(kDecodeMaxSplits, max_length / kDecodeMinSplitKeys));
    auto efficiency = [&](int s) {
        return static_cast<double>(static_cast<long>(units) * s) /
               static_cast<double>(decode_waves(units, s, slots) * slots);
    };
    double best = 0.0;
    for (int s = 1; s <= cap; ++s) best = std::max(best, efficiency(s));
    for (int s = 1; s <= cap; ++s)
        if (efficiency(s) >= 0.85 * best) return s;
    return 1;
}

// Whether a pool with 8-bit blocks gets a split more than its keys need (splits.cuh shares a
// stream's keys out by bytes, so the bf16 keys at its end take that split instead of lengthening
// the last one, which sets the kernel's time when splits hold a few tiles): only when it adds no
// wave of CTAs, which would cost a whole split's time (7B shape, batch 16, 32k keys: 4 splits of
// 64 CTAs on 264 slots, 5 would take 1.33x as long).
inline bool decode_tail_split(int units, int splits, int slots) {
    if (splits <= 1 || splits >= kDecodeMaxSplits || slots <= 0) return false;
    return decode_waves(units, splits + 1, slots) == decode_waves(units, splits, slots);
}

}  // namespace cab::cuda::attention
