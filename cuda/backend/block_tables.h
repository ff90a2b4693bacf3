// Device copies of one KV pool's block tables, kept by stream id across ops and steps, so that an
// op sends only the entries that changed instead of its streams' whole tables. (Staged whole, a
// decode step of 16 sequences at 16k tokens copied 3 MB of tables on the host and over PCIe.)
//
// Row `id` of a [n_streams][stride] device array holds stream id's table; a host shadow holds
// what the device rows hold (or will, once the pending changes are sent). sync() compares a
// stream's table with its shadow row, skipping the comparison when the table's version
// (StreamRef::version) is the one last copied, and queues the entries that differ; flush() sends
// them: one copy and one small kernel, or the whole array after the rows moved. Every launch that
// reads rows must follow a flush() of what sync() queued for it: right away outside a CUDA graph
// step, before the graph launch inside one (the graph's kernels read the rows through headers
// staged each step, so they always see the array the flush filled).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "backend/device_memory.h"
#include "backend/staging.h"
#include "kv/table_patch.cuh"

namespace cab::cuda {

class BlockTables {
public:
    // For a pool whose stream ids are [0, n_streams) and blocks hold block_size slots.
    BlockTables(int32_t n_streams, int32_t block_size);

    int32_t n_streams() const { return n_streams_; }
    int32_t block_size() const { return block_size_; }

    // Whether streams[0..count) can use the rows: ids in range and distinct.
    bool covers(const StreamRef *streams, int32_t count);

    // Makes the rows of streams[0..count) (covers() holds) hold their tables, as of the next
    // flush(), and sets rows[s] to stream s's device row. `capacity` slots: rows get room for
    // at least that many (a graph step passes its length bucket, so that later ops of the step
    // never move the rows). `deferred`: the flush comes later (inside a graph step); then a
    // table that changed below what an earlier op of the window read throws Error(INTERNAL),
    // as moving rows does: the earlier ops' graph kernels would read the later tables.
    void sync(const StreamRef *streams, int32_t count, int64_t capacity, bool deferred,
              const int32_t **rows);
    // Sends what sync() queued, on `stream`, through `ring`. Never inside a stream capture.
    void flush(HostRing &ring, cudaStream_t stream);
    // A new deferral window (a graph step begins; an aborted one launched nothing).
    void new_window() { used_in_window_ = false; }

private:
    struct Row {
        uint64_t version = 0;  // of the table last copied (0: none, compare)
        int32_t synced = 0;    // leading entries the shadow holds for that version
        uint64_t window = 0;   // the deferral window that last read the row
        int32_t read = 0;      // leading entries an op of that window read
    };

    // Re-lays the rows out with room for `blocks` entries each.
    void grow(int64_t blocks, bool deferred);

    int32_t n_streams_;
    int32_t block_size_;
    int64_t stride_ = 0;
    std::vector<Row> rows_;
    std::vector<int32_t> shadow_;  // [n_streams][stride]
    std::vector<uint32_t> seen_;   // covers(): the call that last named each id
    uint32_t call_ = 0;
    uint64_t window_ = 1;  // bumped by each flush
    bool used_in_window_ = false;
    bool resend_ = false;  // the rows moved: the whole shadow goes at the next flush
    std::vector<kv::TablePatch> patches_;
    DeviceBuffer device_;
    DeviceBuffer patch_buffer_;
    // Arrays that rows moved out of; graph launches or queued kernels may still read them.
    std::vector<DeviceBuffer> retired_;
};

}  // namespace cab::cuda
