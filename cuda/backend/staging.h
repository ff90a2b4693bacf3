// Host-to-device staging of the small per-op inputs (token ids, positions, block tables, keep
// lists). Two forms:
// - HostRing, for ops that run as they come: a ring of pinned chunks, each fenced by an event
//   recorded after the copy that reads it, so a chunk is rewritten only once that copy is done
//   while the host runs up to kChunks ops ahead of the GPU;
// - StepArena, for a decode step recorded as a CUDA graph: pinned host memory mirrored by device
//   memory at fixed addresses that the graph's kernels read. Every op of the step writes its
//   inputs at the same offsets each step; one copy per chunk before the graph launch moves them.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backend/device_memory.h"

namespace cab::cuda {

// Staged bytes start at multiples of this (DeviceStream holds a pointer; 16 suits any table).
constexpr size_t kStagingAlign = 16;

inline size_t align_staging(size_t bytes) {
    return (bytes + kStagingAlign - 1) / kStagingAlign * kStagingAlign;
}

// Entries of a block table for a stream of `length` slots.
inline int64_t blocks_for(int64_t length, int32_t block_size) {
    return (length + block_size - 1) / block_size;
}

class HostRing {
public:
    HostRing();

    // Pinned memory for `bytes` that no pending copy reads; valid until the next acquire().
    // May wait for the copy issued from the same chunk kChunks acquisitions ago.
    void *acquire(size_t bytes);
    // Copies the first `bytes` of the region last acquired to `device` on `stream` and fences
    // the chunk.
    void send(void *device, size_t bytes, cudaStream_t stream);

private:
    static constexpr size_t kChunks = 16;
    struct Chunk {
        PinnedBuffer host;
        EventHandle copied;
    };
    std::vector<Chunk> chunks_;
    size_t next_ = 0;
    size_t current_ = 0;
};

class StepArena {
public:
    struct Region {
        size_t chunk = 0;
        size_t offset = 0;
        size_t bytes = 0;  // as requested (0: no region)
    };

    // first_chunk: capacity of the first chunk (a hint from earlier steps; more are added).
    explicit StepArena(size_t first_chunk);

    // Space for `bytes` more. May allocate (pinned and device memory), which a relaxed-mode
    // stream capture allows.
    Region alloc(size_t bytes);
    void *host(const Region &r) const;
    void *device(const Region &r) const;
    size_t used() const;

    // Waits until the last send() has read the host side, which may then be rewritten.
    void wait_sent() const;
    // Copies the used part of every chunk to the device side on `stream` and fences it.
    void send(cudaStream_t stream);

private:
    struct Chunk {
        PinnedBuffer host;
        DeviceBuffer device;
        size_t used = 0;
    };
    std::vector<Chunk> chunks_;
    size_t first_chunk_;
    EventHandle sent_;
};

}  // namespace cab::cuda
