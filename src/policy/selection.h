// Selection primitives shared by the policies. `candidates` are slot indices in ascending order;
// results are ascending too. Every ranking breaks ties towards the earlier slot, so a selection
// never depends on the sort algorithm.
#pragma once

#include <cstdint>
#include <vector>

namespace cab {

// A ratio in [0, 1] in parts per million, rounded: the decimal the caller meant (0.3f, which is
// 0.30000001, gives 300000), so shares below are exact integer arithmetic.
int64_t ratio_ppm(float ratio);
// floor(k * ratio), with the ratio read as ratio_ppm: share_of(10, 0.7f) is 7, not 6.
int32_t share_of(int32_t k, float ratio);

// Slots 0..n-1.
std::vector<int32_t> all_slots(int32_t n);
// The last k candidates (the most recent slots). k <= candidates.size().
std::vector<int32_t> most_recent(const std::vector<int32_t> &candidates, int32_t k);
// The k candidates with the largest value[slot]. k <= candidates.size().
std::vector<int32_t> top_k(const std::vector<int32_t> &candidates, int32_t k, const float *value);
// The k candidates whose value[slot] is closest to `target`, the distance taken in double; a NaN
// distance (an infinite value at an infinite target) counts as +infinity. k <= candidates.size().
std::vector<int32_t> closest_k(const std::vector<int32_t> &candidates, int32_t k,
                               const float *value, double target);
// The median of value[slot] over non-empty candidates: the mean of the two middle values when
// their count is even.
double median(const std::vector<int32_t> &candidates, const float *value);
// out[i] = the max of v over [i - kernel/2 - shift, i + kernel/2 - shift] clipped to [0, n): a
// same-length max-pool along slots (kernel odd >= 1) whose window sits `shift` slots back
// (0 <= shift <= kernel/2), so that a high v[j] lifts slots j - kernel/2 + shift ..
// j + kernel/2 + shift: more of what follows it than precedes it.
std::vector<float> max_pool(const float *v, int32_t n, int32_t kernel, int32_t shift);
// Chunk sums over slots [first, first + n), whose values are v[0, n): out[i - first] = the f32
// sum of v over the slots of i's chunk [c * chunk, (c + 1) * chunk), c = i / chunk, that lie in
// [first, first + n), added in slot order from 0 (chunk >= 1, first >= 0); a NaN sum gives
// -infinity. Chunks stay aligned to slot 0 whatever `first` is: the slots before it belong to
// their chunk but add nothing to its sum.
std::vector<float> chunk_sum(const float *v, int32_t first, int32_t n, int32_t chunk);
// candidates minus taken (taken ascending, a subset or not).
std::vector<int32_t> without(const std::vector<int32_t> &candidates,
                             const std::vector<int32_t> &taken);

}  // namespace cab
