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
#include "policy/policies.h"
#include "policy/protection.h"
#include "util/error.h"

namespace cab {

namespace {

// Mean key of each block of `block` consecutive slots (the last block may be shorter).
std::vector<float> pool_keys(const StreamScores &s, int32_t block, int32_t n_blocks) {
    const size_t d = static_cast<size_t>(s.head_dim);
    std::vector<float> pooled(static_cast<size_t>(n_blocks) * d, 0.0f);
    for (int32_t b = 0; b < n_blocks; ++b) {
        const int32_t begin = b * block, end = std::min(s.n, begin + block);
        float *out = &pooled[static_cast<size_t>(b) * d];
        for (int32_t i = begin; i < end; ++i)
            for (size_t c = 0; c < d; ++c) out[c] += s.keys[static_cast<size_t>(i) * d + c];
        for (size_t c = 0; c < d; ++c) out[c] /= static_cast<float>(end - begin);
    }
    return pooled;
}

class CabFrcPolicy final : public ProtectingPolicy {
public:
    std::string_view name() const override { return "cab-frc"; }

protected:
    void check_fields(const StreamScores &s, const PolicyParams &p) const override {
        check_cab_score(name(), s, p);
        if (s.n == 0) return;
        require(s.keys != nullptr, CAB_ERR_INVALID_ARGUMENT,
                "policy 'cab-frc': needs scores.keys (post-RoPE keys), which is null");
        require(s.head_dim > 0, CAB_ERR_INVALID_ARGUMENT,
                "policy 'cab-frc': scores.head_dim = " + std::to_string(s.head_dim) +
                    " must be positive");
    }
    std::vector<int32_t> pick(const StreamScores &s, const std::vector<int32_t> &candidates,
                              int32_t k, const PolicyParams &p) const override {
        const float *score = cab_score(s, p);
        const CabSplit split = split_cab(candidates, k, score, p);
        if (split.n_bridges == 0) return merge_cab(split, {});

        // In 64 bits and at most the stream: frc_block and frc_max_blocks may be up to INT32_MAX.
        const int64_t n = s.n;
        const int32_t block = static_cast<int32_t>(std::min(
            n, std::max<int64_t>(p.frc_block, (n + p.frc_max_blocks - 1) / p.frc_max_blocks)));
        const int32_t n_blocks = static_cast<int32_t>((n + block - 1) / block);
        const std::vector<float> pooled = pool_keys(s, block, n_blocks);
        const std::vector<double> curvature =
            forman_ricci_curvature(cosine_adjacency(pooled.data(), n_blocks, s.head_dim), n_blocks);

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
