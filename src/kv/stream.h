// One paged KV stream: the cached tokens of one (sequence, layer, kv head), host-side metadata.
#pragma once

#include <cstdint>
#include <vector>

namespace cab {

struct Stream {
    // Block ids in slot order: slot s lives in blocks[s / block_size] at row s % block_size.
    // May hold more blocks than `length` needs while an append is reserved.
    std::vector<int32_t> blocks;
    int32_t length = 0;  // cached tokens (slots in use)
    // Per slot, in cache (= causal) order: the token's original position and id. Positions are
    // never re-compacted; eviction removes slots and these move with them.
    std::vector<int32_t> pos;
    std::vector<int32_t> token;
    // Per-slot score accumulators (DESIGN.md section 4, ScoreRef in backend/backend.h), host
    // memory on the CPU backend; empty when the cache keeps no scores. They hold `length` slots,
    // plus the reserved ones (zeroed) between a reservation and its commit.
    std::vector<float> score;
    std::vector<float> observers;
    std::vector<float> window;
    std::vector<float> last;
    int64_t n_evicted = 0;  // tokens removed by compaction since the last reset
};

}  // namespace cab
