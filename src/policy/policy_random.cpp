// `random`: a seeded uniform choice of min(budget, n) slots, the floor baseline. Protects
// nothing. Uses its own generator (splitmix64 + rejection sampling) rather than <random>'s
// distributions, whose output differs between standard libraries: the same seed gives the same
// slots everywhere.
#include <algorithm>

#include "policy/policies.h"
#include "policy/policy_checks.h"
#include "policy/selection.h"

namespace cab {

namespace {

class SplitMix64 {
public:
    explicit SplitMix64(uint64_t state) : state_(state) {}
    uint64_t next() {
        uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    // Uniform in [0, range), range > 0, without modulo bias.
    uint64_t below(uint64_t range) {
        const uint64_t threshold = (0 - range) % range;
        for (;;) {
            const uint64_t r = next();
            if (r >= threshold) return r % range;
        }
    }

private:
    uint64_t state_;
};

class RandomPolicy final : public Policy {
public:
    std::string_view name() const override { return "random"; }
    std::vector<int32_t> select(const StreamScores &scores, int32_t budget,
                                const PolicyParams &params, uint64_t stream_seed) const override {
        check_select_args(name(), scores, budget, params);
        std::vector<int32_t> slots = all_slots(scores.n);
        if (budget >= scores.n) return slots;
        // Distinct streams of one seed draw independently.
        SplitMix64 rng(params.seed ^ SplitMix64(stream_seed).next());
        // Partial Fisher-Yates: the first `budget` entries become a uniform random subset.
        for (int32_t i = 0; i < budget; ++i) {
            const uint64_t j =
                static_cast<uint64_t>(i) + rng.below(static_cast<uint64_t>(scores.n - i));
            std::swap(slots[static_cast<size_t>(i)], slots[j]);
        }
        slots.resize(static_cast<size_t>(budget));
        std::sort(slots.begin(), slots.end());
        return slots;
    }
};

}  // namespace

const Policy &random_policy() {
    static const RandomPolicy policy;
    return policy;
}

}  // namespace cab
