// One paged KV stream: the cached tokens of one (sequence, layer, kv head), host-side metadata.
// Its K/V rows and per-slot scores live in the pool's blocks, on the backend's device.
#pragma once

#include <cstdint>
#include <vector>

#include "kv/block_table.h"

namespace cab {

struct Stream {
    // Block ids in slot order: slot s lives in blocks[s / block_size] at row s % block_size.
    // May hold more blocks than `length` needs while an append is reserved.
    BlockTable blocks;
    int32_t length = 0;  // cached tokens (slots in use)
    // How many of `blocks` are 8-bit ones: they come first (KvCache::quantize converts a stream's
    // oldest blocks), so the stream's first q8_blocks * block_size slots are 8-bit.
    int32_t q8_blocks = 0;
    // Per slot, in cache (= causal) order: the token's original position and id. Positions are
    // never re-compacted; eviction removes slots and these move with them.
    std::vector<int32_t> pos;
    std::vector<int32_t> token;
    int64_t n_evicted = 0;  // tokens removed by compaction since the last reset
    uint32_t epoch = 0;     // resets so far: a backend's deferred scores name it (StreamRef)
};

// A stream's per-slot scores (DESIGN.md section 4) copied to host memory, `length` each.
struct SlotScores {
    std::vector<float> score, observers, window, last;
};

}  // namespace cab
