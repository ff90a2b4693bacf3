// Budget allocation across the streams of a sequence (one per layer and kv head): how many
// tokens each stream may keep, given a budget spec that says tokens per stream on average or a
// share of each stream's length. The policies then select within each stream's budget.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "policy/budget_spec.h"

namespace cab {

enum class BudgetAllocation {
    Uniform,   // every stream its spec budget
    Pyramid,   // PyramidKV: a linear decrease from the lowest layer to the highest
    Adaptive,  // AdaKV: per layer, heads with concentrated attention give budget to diffuse ones
};

// "uniform", "pyramid" or "adaptive"; Error(INVALID_ARGUMENT) quoting anything else.
BudgetAllocation parse_budget_allocation(std::string_view name);

struct StreamLayout {
    int32_t n_layer = 0;
    int32_t n_head = 0;                 // kv heads per layer
    std::vector<int32_t> lengths;       // [layer * n_head + head]: cached tokens
    std::vector<const float *> scores;  // same index, lengths[i] long; read by Adaptive only
};

struct AllocationParams {
    BudgetAllocation method = BudgetAllocation::Uniform;
    int32_t min_budget = 5;      // Pyramid/Adaptive: per-stream floor, e.g. n_sinks + 1
    double pyramid_beta = 20.0;  // Pyramid: the top layer gets avg / beta (>= 1, PyramidKV's beta)
    // Pyramid/Adaptive: the first protect_front and last protect_back slots of a stream, which
    // the policy keeps whatever it ranks (sinks; recent slots, the observation window). A smaller
    // budget would cut into them, so they raise the floor; and Adaptive compares heads by the
    // scores of the slots between them only, which are the ones the budget is for.
    int32_t protect_front = 0;
    int32_t protect_back = 0;
};

// The total the allocation shares out: the sum over streams of spec.tokens_for(length).
int64_t total_budget(const BudgetSpec &spec, const std::vector<int32_t> &lengths);

// Per-stream budgets, same index as layout.lengths, with budget[s] <= lengths[s] and
// sum = min(total_budget, sum of lengths) exactly: budget a stream cannot use (it is shorter)
// goes to the streams that can, equally. Formulas (avg = total / streams):
// - Uniform: stream s gets spec.tokens_for(lengths[s]).
// - Pyramid: layer l (of L) gets H * b_l, b_l = b_max - (b_max - b_min) * l / (L - 1), with
//   b_min = max(min_budget, avg / beta) and b_max = 2 avg - b_min (so the mean is avg); layer
//   totals are rounded by largest remainder, then split evenly across the layer's heads. When
//   avg <= min_budget (or L = 1) every layer gets the same.
// - Adaptive: every layer gets total / L; within a layer, each head gets its floor, and the rest
//   of the layer's budget goes to the best ranked slots of all heads pooled: a head's budget is
//   its floor plus how many of its slots made it. A head's ranked slots are those between its
//   protected ones, their scores normalized to sum 1 over that range; its floor is
//   min(length, max(min_budget, protected)), the floor above the protected slots taking its best
//   ranked slots. Ties go to the earlier head, then the earlier slot. If the floors alone exceed
//   the layer's budget, the layer is split evenly.
// The floor of Pyramid and Adaptive is at least protect_front + protect_back (or the length).
// Throws Error(INVALID_ARGUMENT) for a layout whose sizes disagree, a negative length, missing
// or NaN scores (Adaptive), min_budget < 0 or beta < 1.
std::vector<int32_t> allocate_budgets(const StreamLayout &layout, const BudgetSpec &spec,
                                      const AllocationParams &params);

}  // namespace cab
