// `chunkkv` (ChunkKV): like snapkv, the observation window plus what it attended to, but ranked
// and kept in aligned chunks of `chunk_size` slots by their summed window score. A fact the
// model must copy token by token (a number, one token per digit) draws the question's attention
// only on its first tokens; snapkv's max-pool keeps a few neighbours of those, a chunk keeps the
// whole span around them.
#include "policy/observation_window.h"
#include "policy/policies.h"
#include "policy/selection.h"

namespace cab {

namespace {

class ChunkKvPolicy final : public ObservationWindowPolicy {
public:
    std::string_view name() const override { return "chunkkv"; }

protected:
    // Chunks are aligned to absolute slots and end at the observation window. The sinks belong
    // to their chunk but add nothing to its sum (they are kept anyway, and their large window
    // score would rank the chunk after them first); ties go to the earlier slot, so the best
    // chunks come whole and the last one from its start.
    std::vector<float> spread(const float *window, int32_t first, int32_t n,
                              const PolicyParams &p) const override {
        return chunk_sum(window, first, n, p.chunk_size);
    }
    void spread_plan(KeepPlan &plan, const PolicyParams &p) const override {
        plan.chunk = p.chunk_size;
    }
};

}  // namespace

const Policy &chunkkv_policy() {
    static const ChunkKvPolicy policy;
    return policy;
}

}  // namespace cab
