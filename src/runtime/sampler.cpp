#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "util/error.h"

namespace cab {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// A parameter value for a message: "2" or "0.95" rather than std::to_string's "2.000000".
std::string show(float v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v));
    return buf;
}

// Higher logit first; the lower token id wins a tie, so every ordering is total and the result
// does not depend on the standard library's sort.
bool better(const std::pair<float, int32_t> &a, const std::pair<float, int32_t> &b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
}

// Candidates sorted in the first round while looking for the top-p nucleus. The nucleus is
// usually small, so sorting the whole vocabulary would waste most of the work; each later round
// doubles the sorted prefix, which bounds a flat distribution's cost by about one full sort.
constexpr size_t kTopPFirstRound = 64;

}  // namespace

Sampler::Sampler(const cab_sampler_params &params) : p_(params), rng_(params.seed) {
    require(p_.struct_size >= kSamplerParamsMinSize, CAB_ERR_INVALID_ARGUMENT,
            "sampler params: struct_size " + std::to_string(p_.struct_size) + " is below " +
                std::to_string(kSamplerParamsMinSize));
    require(
        std::isfinite(p_.temperature) && p_.temperature >= 0.0f, CAB_ERR_INVALID_ARGUMENT,
        "sampler params: temperature must be a finite number >= 0, got " + show(p_.temperature));
    require(p_.top_k >= 0, CAB_ERR_INVALID_ARGUMENT,
            "sampler params: top_k must be >= 0, got " + std::to_string(p_.top_k));
    require(p_.top_p > 0.0f && p_.top_p <= 1.0f, CAB_ERR_INVALID_ARGUMENT,
            "sampler params: top_p must be in (0, 1], got " + show(p_.top_p));
    require(p_.min_p >= 0.0f && p_.min_p <= 1.0f, CAB_ERR_INVALID_ARGUMENT,
            "sampler params: min_p must be in [0, 1], got " + show(p_.min_p));
    require(std::isfinite(p_.repeat_penalty) && p_.repeat_penalty > 0.0f, CAB_ERR_INVALID_ARGUMENT,
            "sampler params: repeat_penalty must be a finite number > 0, got " +
                show(p_.repeat_penalty));
    require(p_.repeat_last_n >= 0, CAB_ERR_INVALID_ARGUMENT,
            "sampler params: repeat_last_n must be >= 0, got " + std::to_string(p_.repeat_last_n));
}

int32_t Sampler::sample(const float *logits, int32_t n_vocab, const std::vector<int32_t> &history) {
    require(logits != nullptr, CAB_ERR_INVALID_ARGUMENT, "sample: logits is NULL");
    require(n_vocab > 0, CAB_ERR_INVALID_ARGUMENT,
            "sample: n_vocab must be > 0, got " + std::to_string(n_vocab));

    scratch_.resize(static_cast<size_t>(n_vocab));
    for (int32_t i = 0; i < n_vocab; ++i) {
        float x = logits[i];
        // NaN is treated as impossible; +inf is capped so that softmax stays finite.
        if (std::isnan(x)) x = kNegInf;
        if (x == std::numeric_limits<float>::infinity()) x = std::numeric_limits<float>::max();
        scratch_[static_cast<size_t>(i)] = {x, i};
    }
    if (p_.repeat_penalty != 1.0f && p_.repeat_last_n > 0) apply_repeat_penalty(n_vocab, history);

    scratch_.erase(std::remove_if(scratch_.begin(), scratch_.end(),
                                  [](const auto &c) { return c.first == kNegInf; }),
                   scratch_.end());
    require(!scratch_.empty(), CAB_ERR_STATE, "sample: every logit is -inf or NaN");

    if (p_.temperature <= 0.0f) {
        // scratch_ is in id order, so the first maximum is the lowest id among ties.
        return std::max_element(scratch_.begin(), scratch_.end(),
                                [](const auto &a, const auto &b) { return a.first < b.first; })
            ->second;
    }
    if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < scratch_.size()) keep_top_k();
    if (p_.top_p < 1.0f) sort_top_p_prefix();
    if (p_.min_p > 0.0f) {
        // p_i >= min_p * p_max  <=>  exp((l_i - l_max) / T) >= min_p.
        const double max_logit = std::max_element(scratch_.begin(), scratch_.end())->first;
        const double t = p_.temperature;
        const double min_p = p_.min_p;
        scratch_.erase(std::remove_if(scratch_.begin(), scratch_.end(),
                                      [&](const auto &c) {
                                          return std::exp((c.first - max_logit) / t) < min_p;
                                      }),
                       scratch_.end());
    }
    return draw();
}

void Sampler::apply_repeat_penalty(int32_t n_vocab, const std::vector<int32_t> &history) {
    const size_t n = std::min(history.size(), static_cast<size_t>(p_.repeat_last_n));
    recent_.assign(history.end() - static_cast<std::ptrdiff_t>(n), history.end());
    std::sort(recent_.begin(), recent_.end());
    recent_.erase(std::unique(recent_.begin(), recent_.end()), recent_.end());
    for (int32_t id : recent_) {
        require(id >= 0 && id < n_vocab, CAB_ERR_INVALID_ARGUMENT,
                "sample: history token " + std::to_string(id) + " is outside [0, " +
                    std::to_string(n_vocab) + ")");
        // CTRL (Keskar et al. 2019) as llama.cpp applies it: always towards less likely.
        float &logit = scratch_[static_cast<size_t>(id)].first;
        logit = logit > 0.0f ? logit / p_.repeat_penalty : logit * p_.repeat_penalty;
    }
}

void Sampler::keep_top_k() {
    const auto k = static_cast<std::ptrdiff_t>(p_.top_k);
    std::partial_sort(scratch_.begin(), scratch_.begin() + k, scratch_.end(), better);
    scratch_.resize(static_cast<size_t>(k));
}

void Sampler::sort_top_p_prefix() {
    // Softmax with temperature over every candidate, then the smallest best-first prefix whose
    // mass reaches top_p. The candidates are sorted round by round until the prefix is found.
    const double max_logit = std::max_element(scratch_.begin(), scratch_.end())->first;
    const double t = p_.temperature;
    double z = 0.0;
    for (const auto &c : scratch_) z += std::exp((c.first - max_logit) / t);

    const double target = static_cast<double>(p_.top_p) * z;
    double cum = 0.0;
    size_t sorted = 0;
    while (sorted < scratch_.size()) {
        const size_t end = std::min(std::max(2 * sorted, kTopPFirstRound), scratch_.size());
        std::partial_sort(scratch_.begin() + static_cast<std::ptrdiff_t>(sorted),
                          scratch_.begin() + static_cast<std::ptrdiff_t>(end), scratch_.end(),
                          better);
        for (; sorted < end; ++sorted) {
            cum += std::exp((scratch_[sorted].first - max_logit) / t);
            if (cum >= target) {
                scratch_.resize(sorted + 1);
                return;
            }
        }
    }
}

int32_t Sampler::draw() {
    const double max_logit = std::max_element(scratch_.begin(), scratch_.end())->first;
    const double t = p_.temperature;
    probs_.resize(scratch_.size());
    double total = 0.0;
    for (size_t i = 0; i < scratch_.size(); ++i) {
        probs_[i] = std::exp((scratch_[i].first - max_logit) / t);
        total += probs_[i];
    }
    // 53 random bits -> a double in [0, 1), the same on every standard library (unlike
    // std::uniform_real_distribution).
    const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
    const double target = u * total;
    double cum = 0.0;
    size_t last_possible = 0;
    for (size_t i = 0; i < scratch_.size(); ++i) {
        cum += probs_[i];
        if (target < cum) return scratch_[i].second;
        if (probs_[i] > 0.0) last_possible = i;
    }
    // Only reached when rounding leaves target at the total.
    return scratch_[last_possible].second;
}

}  // namespace cab
