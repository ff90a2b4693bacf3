// Layer inheritance for snapkv (PolicyParams::snapkv_inherit): the lowest layers of a model rank
// the slots by what the deeper layers' observation windows attended to, not by their own window
// score. In the low layers the question's queries attend to generic targets (duplicate tokens,
// sentence starts), so their own ranking drops the facts the deeper layers found; but copying a
// fact needs it in the low layers too (docs/QUALITY.md, "The low layers copy the number").
//
// The deeper layers' score of a token is the sum over their streams of its window score as a
// share of the stream's ranked slots' total (each stream weighs the same), by original position.
// An inheriting stream then runs its own policy on that score in place of its window score.
#pragma once

#include <cstdint>
#include <vector>

#include "policy/policy.h"

namespace cab {

// How many of n_layer layers inherit: ceil(share * n_layer), at most n_layer - 1 (some layer must
// rank by its own score); 0 when share <= 0.
int32_t inherit_layers(float share, int32_t n_layer);

class DeepWindowScore {
public:
    // Adds one deeper stream: its window scores over the ranked slots [first, end) (the slots
    // after the sinks and before the observation window), each as a share of their total.
    void add(const StreamScores &scores, int32_t first, int32_t end);
    // The deeper layers' score of each slot of `scores` (by position; 0 for a position no deeper
    // stream holds), n long.
    std::vector<float> for_stream(const StreamScores &scores) const;

private:
    std::vector<double> by_position_;
};

// The ranked slots of a stream of n slots under `budget` as the observation-window policies rank
// them: [first, end) with first = the sinks, end = n - n_recent - min(snapkv_window, k). Empty
// (first == end) when the budget keeps all or only protected slots.
void ranked_range(int32_t n, int32_t budget, const PolicyParams &params, int32_t *first,
                  int32_t *end);

}  // namespace cab
