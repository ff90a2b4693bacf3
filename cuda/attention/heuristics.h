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

// Keys per split when max_length keys are cut into `splits`, rounded up to whole tiles of `tile`
// keys (plan_decode), and how many splits that makes: 4,096 keys asked in 28 splits make 22 of
// 192.
inline int decode_chunk(int max_length, int splits, int tile) {
    const int per_split = (max_length + splits - 1) / splits;
    return (per_split + tile - 1) / tile * tile;
}
inline int decode_tiled_splits(int max_length, int splits, int tile) {
    const int chunk = decode_chunk(max_length, splits, tile);
    return (max_length + chunk - 1) / chunk;
}

// Splits of the longest stream for `units` = batch * n_head_kv decode CTAs when `slots` CTAs
// (SM count * CTAs resident per SM) run at once, counted after the rounding to tiles. Each split
// streams its keys once, so decode is bandwidth bound as long as every SM holds resident CTAs:
// - When the most splits (of kDecodeMinSplitKeys keys, at most kDecodeMaxSplits) fit in one
//   wave, all of them: batch 1 is latency bound, and each split more puts more bytes in flight.
// - Else the fewest splits whose wave efficiency, units * s / (ceil(units * s / slots) * slots),
//   is within 95% of the best: more waves and more merge work for a better last wave cost more.
// One split up to kDecodeOneSplitKeys. (FlashAttention's rule, the fewest splits within 85% of
// the best counted before the rounding, gave batch 1 22 splits at 4k keys and 86-103 from 16k
// for the 0.5B shape, where 32 and 128 ran 1.08-1.15x faster, and the 7B shape 52-57 from 16k
// where 64 ran 1.01-1.03x faster: bench/results/decode_splits_2026-11-24_h100.json.)
inline int decode_num_splits(int units, int max_length, int slots, int tile) {
    if (max_length <= kDecodeOneSplitKeys) return 1;
    // Rounded up, so that 4,100 keys may still take 33 splits of 128 rather than 22 of 192.
    const int cap =
        std::min(kDecodeMaxSplits, (max_length + kDecodeMinSplitKeys - 1) / kDecodeMinSplitKeys);
    if (static_cast<long>(units) * decode_tiled_splits(max_length, cap, tile) <= slots) return cap;
    auto efficiency = [&](int s) {
        const int n = decode_tiled_splits(max_length, s, tile);
        return static_cast<double>(static_cast<long>(units) * n) /
               static_cast<double>(decode_waves(units, n, slots) * slots);
    };
    double best = 0.0;
    for (int s = 1; s <= cap; ++s) best = std::max(best, efficiency(s));
    for (int s = 1; s <= cap; ++s)
        if (efficiency(s) >= 0.95 * best) return s;
    return 1;
}

// A split of at least this many keys on the Hopper kernel (decode_sm90.cuh) streams them from one
// CTA per SM at about the rate of several.
constexpr int kDecodeSm90LongSplitKeys = 512;
// Launched as a programmatic dependent, shorter splits pay off (decode_num_splits_sm90).
constexpr int kDecodeSm90DependentSplitKeys = 384;

// decode_num_splits for the Hopper kernel, on `sms` SMs: the most splits that give each SM at most
// one CTA in one wave, when they cover 95% of the SMs with splits of at least
// kDecodeSm90LongSplitKeys keys and either the streams are short (up to 4,096 keys) or
// decode_num_splits would cut them into splits no longer than that. Its producer warp keeps the
// ring full from one CTA, so where splits are short their fixed part (Q load, pipeline fill,
// merge) weighs less in fewer, longer ones: 7B batch 1 at 16k keys ran 1.06x faster on 32 splits
// than on 64, 0.5B batch 2 at 16k 1.11x on 32 than on 128, batch 4 to 8 of both 1.02-1.10x, and
// at 4k keys 0.5B batch 64 1.07x on 1 split than on 4, batch 16 1.04x on 4 than on 16
// (bench/results/decode_sm90_2026-11-24_h100.json, decode_sm90_splits_2026-11-24_h100.json).
// Long streams whose splits are already long gain nothing (7B batch 16 at 16k-32k on 2 splits
// against 4: equal) or lose (0.5B batch 16 and 64 at 16k: 1-3% slower), and splits of 256 keys
// lost at 0.5B batch 4, 4k (6% with scores): decode_num_splits then.
//
// Launched as a programmatic dependent (`dependent`, DecodeArgs::pdl: the engine's decode steps), a
// CTA's prologue and first copies overlap the kernel before it, and one CTA per SM is no longer the
// best: the most splits the slots hold at once whose keys are at least
// kDecodeSm90DependentSplitKeys, also where one CTA per SM would take a whole stream (since the
// merge of sessions 29-30: 0.5B batch 64 at 4k keys with scores 1.07x faster on 4 splits than on 1,
// 2k 1.04x, 1k 1.01x on 3; without 1.04x, 1.00x, 1.09x; 7B batch 32 at 2k-4k 1.02-1.03x on 2,
// bench/results/decode_plan_one_wave_2026-11-25_h100.json). With scores: 7B batch 16 at 4k
// 1.07x faster on 4 splits than on 2, batch 8 1.05x on 8 than on 4, batch 1 at 16k 1.02x on 43 (384
// keys) than on 32, at 32k 1.09x on 64 than on 32; 0.5B batch 16 at 4k 1.21x on 8 than on 4 and
// 1.04x on 11 (384 keys) than on 8, at 8k 1.17x on 16, batch 8 at 8k 1.06x on 22 than on 16, batch
// 4 at 16k 1.15x on 32 than on 16 (43: the same), batch 1 and 2 at 32k 1.06x on 86 than on 64 (128:
// no better). Without the early launch one CTA per SM is as fast (within 2%) or faster (7B batch 1
// at 32k and batch 2 at 16k by 4%), so it stays the rule there
// (bench/results/decode_pdl_2026-11-25_h100.json).
inline int decode_num_splits_sm90(int units, int max_length, int sms, int slots, int tile,
                                  bool dependent = false) {
    constexpr int kShortStream = 4096;
    const int general = decode_num_splits(units, max_length, slots, tile);
    const int per_sm = units > 0 ? sms / units : 0;
    if (per_sm < 1) return general;
    const bool short_splits = max_length <= kShortStream ||
                              decode_chunk(max_length, general, tile) <= kDecodeSm90LongSplitKeys;
    const int n = decode_tiled_splits(max_length, per_sm, tile);
    if (!short_splits || 20L * units * n < 19L * sms ||
        decode_chunk(max_length, n, tile) < kDecodeSm90LongSplitKeys)
        return general;
    if (!dependent) return n;
    const int most = std::min(kDecodeMaxSplits, slots / units);
    const int keys = std::max((kDecodeSm90DependentSplitKeys + tile - 1) / tile * tile,
                              decode_chunk(max_length, most, tile));
    return std::max(n, (max_length + keys - 1) / keys);
}

// The merge of decode's splits (cascade.cuh): CTAs of kDecodeMergeThreads threads. A thread
// loads its first kDecodeMergeEarly splits' states together, right after the wait for decode.
constexpr int kDecodeMergeThreads = 256;
constexpr int kDecodeMergeEarly = 8;
// Up to this many splits one CTA of vectors merges a stream's whole group (merge_vector_kernel).
constexpr int kDecodeMergeGroupSplits = 4;
// Beyond this many splits a row's merge reads its states as vectors (merge_vector_kernel).
constexpr int kDecodeMergeVectorSplits = 32;

struct DecodeMerge {
    bool vectors;  // merge_vector_kernel, else merge_row_kernel (a thread per column)
    int rows;      // rows of a stream's group one CTA takes
};

// How a launch of `splits` splits is merged, where each measured fastest against a CTA per row
// with a thread per column (H100; bench/results/decode_merge_2026-11-25_h100.json and
// decode_merge_hybrid_2026-11-25_h100.json):
// - up to kDecodeMergeGroupSplits, the whole group in one CTA of vectors: 7B shape batch 16 at
//   4k keys (4 splits) 1.04x as the engine launches it, 0.5B batch 64 at 16k 1.02-1.03x; at 8
//   splits (7B batch 4, 4k, launched alone) 0.98x, at 11-16 (0.5B) 0.99x with scores;
// - more than kDecodeMergeVectorSplits, a row a CTA as vectors: 7B batch 1 at 16k keys (43
//   splits) 1.07-1.11x, 0.5B batch 1 at 16k-32k (86-128) 1.03-1.21x;
// - else a row a CTA, a thread per column: the vectors' CTA was 0.92-0.98x at 11-32 splits.
inline DecodeMerge decode_merge(int group, int splits) {
    if (splits <= kDecodeMergeGroupSplits) return {true, group};
    return {splits > kDecodeMergeVectorSplits, 1};
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
