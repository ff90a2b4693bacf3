// The form of a selection that a device can run where the scores live: protected ranges at both
// ends of a stream, plus the k highest-ranked slots between them by one per-slot value, plus
// optionally the slots of the rest closest to the rest's median (cab's bridges). The
// policies whose rule has this form (window, h2o, tova, snapkv, chunkkv, cab) state it with
// Policy::keep_plan, so that eviction ranks and compacts on the GPU without copying scores to the
// host; the executor runs it (Executor::kv_select), and apply_keep_plan is its host reference.
#pragma once

#include <cstdint>
#include <vector>

namespace cab {

struct StreamScores;

// The per-slot score a plan ranks by.
enum class RankSource : int32_t { Score, Window, Last };

struct KeepPlan {
    int32_t keep_front = 0;  // slots [0, keep_front) are kept
    int32_t keep_back = 0;   // slots [n - keep_back, n) are kept
    // Plus the k slots of the ranked range R = [keep_front, n - keep_back) with the largest
    // value; ties go to the earlier slot. A NaN value counts as -infinity (before pooling).
    int32_t k = 0;
    RankSource source = RankSource::Score;
    // Rank by source / observers (a slot no query saw ranks 0) instead of the source.
    bool per_observer = false;
    // Pooling and chunk sums read only R: the kept ends neither give a value to a slot of R nor
    // take one. Why: the attention sinks at the front draw the largest window score of all; a
    // pool that read them would lift the slots after them to the top of the ranking, although
    // the sinks are kept anyway (snapkv at 10% of a 1k prompt: a fifth of the ranked slots).
    // > 1 (odd): the value of slot i of R is first max-pooled with this width: the max over
    // [i - pool_kernel / 2 - pool_shift, i + pool_kernel / 2 - pool_shift] clipped to R
    // (SnapKV's pooling, which stops before its window, and here also after the sinks).
    int32_t pool_kernel = 1;
    // 0 .. pool_kernel / 2: the pool's window sits this many slots back (max_pool's shift), so a
    // high value lifts more of the slots after it than before it.
    int32_t pool_shift = 0;
    // > 1: instead, slot i of R takes the f32 sum of the values of its aligned chunk
    // [c * chunk, (c + 1) * chunk), c = i / chunk, clipped to R, summed in slot order from 0
    // after the NaN -> -inf step; a NaN sum counts as -infinity too (ChunkKV's chunk score).
    // Chunks stay aligned to slot 0, not to keep_front: the front's slots belong to their chunk
    // but add nothing to its sum.
    int32_t chunk = 1;
    // > 0: this many more slots of R, among those the top k left: the ones whose value (as a
    // double) is closest to the median of those slots' values (the mean of the two middle ones
    // when their count is even); ties go to the earlier slot, and a NaN distance (an infinite
    // median) counts as +infinity. The values are the ranked ones (after pooling or chunk sums).
    int32_t bridges = 0;

    // Whether the plan picks slots by their values, and so reads scores.
    bool ranks() const { return k > 0 || bridges > 0; }
};

// How many slots the plan keeps in a stream of n: keep_front + keep_back + k + bridges. Throws
// Error(INVALID_ARGUMENT) when the ranges overlap or exceed n, a count is negative, k + bridges
// exceeds the slots between the ends, pool_kernel is even or < 1, pool_shift is outside
// [0, pool_kernel / 2], chunk is < 1, or both pool and chunk (> 1).
int32_t keep_count(const KeepPlan &plan, int32_t n);

// The kept slots, ascending: the host reference every device implementation must equal.
// `scores` needs the fields the plan reads (Error(INVALID_ARGUMENT) naming a missing one).
std::vector<int32_t> apply_keep_plan(const KeepPlan &plan, const StreamScores &scores);

}  // namespace cab
