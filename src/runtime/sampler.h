// Token sampling from logits: greedy, temperature, top-k, top-p, min-p and repetition penalty,
// with a seeded RNG so that the same seed and logits give the same tokens.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "cab/cab.h"

namespace cab {

// The smallest struct_size a caller may pass: the first version of cab_sampler_params.
constexpr size_t kSamplerParamsMinSize = offsetof(cab_sampler_params, seed) + sizeof(uint64_t);

class Sampler {
public:
    // Throws cab::Error(INVALID_ARGUMENT) for out-of-range parameters (naming the field).
    explicit Sampler(const cab_sampler_params &params);

    // Picks a token from n_vocab logits; `history` holds the sequence's tokens (oldest first)
    // for the repetition penalty. The logits are not modified. NaN logits count as -inf.
    // Throws INVALID_ARGUMENT for no logits or a history token outside [0, n_vocab), and
    // STATE when every logit is -inf or NaN.
    int32_t sample(const float *logits, int32_t n_vocab, const std::vector<int32_t> &history);

    const cab_sampler_params &params() const { return p_; }

private:
    void apply_repeat_penalty(int32_t n_vocab, const std::vector<int32_t> &history);
    void keep_top_k();
    void sort_top_p_prefix();
    int32_t draw();

    cab_sampler_params p_;
    std::mt19937_64 rng_;
    std::vector<std::pair<float, int32_t>> scratch_;  // candidates: (logit, token id)
    std::vector<double> probs_;                       // draw weights parallel to scratch_
    std::vector<int32_t> recent_;                     // distinct recent tokens for the penalty
};

}  // namespace cab
