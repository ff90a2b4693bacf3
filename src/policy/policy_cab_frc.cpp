// `cab-frc`: `cab` with bridges chosen by Forman-Ricci curvature instead of the median rule.
// Consecutive slots are pooled into blocks (mean key), blocks form a graph weighted by the
// positive cosine of their keys, and the blocks of most negative curvature (between clusters of
// similar keys) give their best-scored remaining slots as bridges.
// Cost: O(nb^2 (d + nb)) on nb <= frc_max_blocks blocks: a stream longer than
// frc_block * frc_max_blocks slots uses blocks of ceil(n / frc_max_blocks) slots.
#include <algorithm>
#include <string>

#include "policy/cab_split.h"
#include "policy/forman_ricci.h"
#include "policy/key_means.h"
#include "policy/policies.h"
#include "policy/protection.h"
#include "util/error.h"

namespace cab {

namespace {

class CabFrcPolicy final : public ProtectingPolicy {
public:
    std::string_view name() const override { return "cab-frc"; }

protected:
    void check_fields(const StreamScores &s, const PolicyParams &p) const override {
        check_cab_score(name(), s, p);
        if (s.n == 0) return;
        require(s.keys != nullptr || s.key_means != nullptr, CAB_ERR_INVALID_ARGUMENT,
                "policy 'cab-frc': needs scores.keys (post-RoPE keys), which is null");
        require(s.head_dim > 0, CAB_ERR_INVALID_ARGUMENT,
                "policy 'cab-frc': scores.head_dim = " + std::to_string(s.head_dim) +
                    " must be positive");
        const int32_t run = frc_run_length(s.n, p);
        require(s.keys != nullptr || s.key_run == run, CAB_ERR_INVALID_ARGUMENT,
                "policy 'cab-frc': scores.key_means are over runs of " + std::to_string(s.key_run) +
                    " slots, but a stream of " + std::to_string(s.n) + " pools by runs of " +
                    std::to_string(run));
    }
    std::vector<int32_t> pick(const StreamScores &s, const std::vector<int32_t> &candidates,
                              int32_t k, const PolicyParams &p) const override {
        const float *score = cab_score(s, p);
        const CabSplit split = split_cab(candidates, k, score, p);
        if (split.n_bridges == 0) return merge_cab(split, {});

        const int32_t block = frc_run_length(s.n, p);
        const int32_t n_blocks = static_cast<int32_t>(run_count(s.n, block));
        std::vector<float> pooled;
        const float *means = s.key_means;
        if (s.keys != nullptr) {
            pooled.resize(static_cast<size_t>(n_blocks) * static_cast<size_t>(s.head_dim));
            key_means(s.keys, s.n, s.head_dim, block, pooled.data());
            means = pooled.data();
        }
        const std::vector<double> curvature =
            forman_ricci_curvature(cosine_adjacency(means, n_blocks, s.head_dim), n_blocks);

        std::vector<int32_t> blocks(static_cast<size_t>(n_blocks));
        for (int32_t b = 0; b < n_blocks; ++b) blocks[static_cast<size_t>(b)] = b;
        std::stable_sort(blocks.begin(), blocks.end(), [&curvature](int32_t a, int32_t b) {
            return curvature[static_cast<size_t>(a)] < curvature[static_cast<size_t>(b)];
        });

        std::vector<char> open(static_cast<size_t>(s.n), 0);
        for (int32_t slot : split.remaining) open[static_cast<size_t>(slot)] = 1;
        std::vector<int32_t> bridges;
        for (int32_t b : blocks) {
            std::vector<int32_t> slots;
            for (int32_t i = b * block; i < std::min(s.n, (b + 1) * block); ++i)
                if (open[static_cast<size_t>(i)]) slots.push_back(i);
            std::stable_sort(slots.begin(), slots.end(),
                             [score](int32_t x, int32_t y) { return score[x] > score[y]; });
            for (int32_t slot : slots) {
                if (static_cast<int32_t>(bridges.size()) == split.n_bridges) break;
                bridges.push_back(slot);
            }
            if (static_cast<int32_t>(bridges.size()) == split.n_bridges) break;
        }
        std::sort(bridges.begin(), bridges.end());
        return merge_cab(split, bridges);
    }
};

}  // namespace

const Policy &cab_frc_policy() {
    static const CabFrcPolicy policy;
    return policy;
}

}  // namespace cab
