// `chunkkv` (ChunkKV): like snapkv, the observation window plus what it attended to, but ranked
// and kept in aligned chunks of `chunk_size` slots by their summed window score. A fact the
// model must copy token by token (a number, one token per digit) draws the question's attention
// only on its first tokens; snapkv's max-pool keeps a few neighbours of those, a chunk keeps the
// whole span around them.
#include <algorithm>

#include "policy/policies.h"
#include "policy/policy_checks.h"
#include "policy/protection.h"
#include "policy/selection.h"

namespace cab {

namespace {

class ChunkKvPolicy final : public ProtectingPolicy {
public:
    std::string_view name() const override { return "chunkkv"; }

protected:
    void check_fields(const StreamScores &s, const PolicyParams &) const override {
        require_field(name(), s.window, s.n, "window");
    }
    std::optional<KeepPlan> pick_plan(int32_t, int32_t k, const PolicyParams &p) const override {
        KeepPlan plan;
        const int32_t n_window = std::min(p.snapkv_window, k);
        plan.keep_back = n_window;
        if (n_window == k) return plan;
        plan.k = k - n_window;
        plan.source = RankSource::Window;
        plan.chunk = p.chunk_size;
        return plan;
    }
    std::vector<int32_t> pick(const StreamScores &s, const std::vector<int32_t> &candidates,
                              int32_t k, const PolicyParams &p) const override {
        const int32_t n_window = std::min(p.snapkv_window, k);
        const std::vector<int32_t> window = most_recent(candidates, n_window);
        if (n_window == k) return window;
        const std::vector<int32_t> older = without(candidates, window);
        // Chunks are aligned to absolute slots and end at the observation window, as snapkv's
        // pooling does: the window's self-attention must not lift the chunk just before it.
        // Sinks count in their chunk's sum but are kept anyway; ties go to the earlier slot, so
        // the best chunks come whole and the last one from its start.
        const std::vector<float> value = chunk_sum(s.window, window.front(), p.chunk_size);
        std::vector<int32_t> keep = top_k(older, k - n_window, value.data());
        keep.insert(keep.end(), window.begin(), window.end());
        return keep;
    }
};

}  // namespace

const Policy &chunkkv_policy() {
    static const ChunkKvPolicy policy;
    return policy;
}

}  // namespace cab
