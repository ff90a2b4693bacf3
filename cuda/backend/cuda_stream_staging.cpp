// How the CUDA executor's KV ops hand their streams to the kernels: DeviceStream headers staged
// per op (reused by the next op over the same streams, as attention after kv_append), pointing
// into the pool's device copies of the block tables (block_tables.h), or, for streams without
// ids, into whole tables staged with them; and one stream's table with a keep list, for
// compaction and reads.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "backend/cuda_executor.h"

namespace cab::cuda {

namespace {

// StagedStreams::stride of headers into BlockTables rows.
constexpr int64_t kMirrored = -1;

size_t streams_header_bytes(int32_t count) {
    return align_staging(static_cast<size_t>(count) * sizeof(DeviceStream));
}

uint64_t pool_signature(const KvPoolRef &pool) {
    return op_signature(
        {sig_ptr(pool.storage.data()), sig_ptr(pool.scores.empty() ? nullptr : pool.scores.data()),
         static_cast<uint64_t>(pool.block_size), static_cast<uint64_t>(pool.head_dim)});
}

}  // namespace

bool CudaExecutor::same_streams(const KvPoolRef &pool, const StreamRef *streams, int32_t count,
                                int64_t stride) const {
    if (!staged_.host || staged_.pool != pool.storage.data() || staged_.count != count ||
        staged_.stride != stride)
        return false;
    const int32_t *tables = reinterpret_cast<const int32_t *>(
        reinterpret_cast<const char *>(staged_.host) + streams_header_bytes(count));
    for (int32_t s = 0; s < count; ++s) {
        const int32_t len = streams[s].length;
        if (staged_.host[s].length != len || staged_.host[s].id != streams[s].id ||
            staged_.host[s].epoch != streams[s].epoch ||
            staged_.host[s].q8_length != streams[s].q8_length)
            return false;
        const size_t n = static_cast<size_t>(blocks_for(len, pool.block_size));
        if (n > 0 && std::memcmp(tables + s * stride, streams[s].blocks, n * 4) != 0) return false;
    }
    return true;
}

CudaExecutor::DeviceStreams CudaExecutor::stage_streams(const char *name, uint64_t signature,
                                                        const KvPoolRef &pool,
                                                        const StreamRef *streams, int32_t count,
                                                        int32_t min_length) {
    const int32_t bucket = graphs_.bucket();
    int32_t longest = 0;
    for (int32_t s = 0; s < count; ++s) {
        const int32_t len = streams[s].length;
        if (len < min_length)
            fail(CAB_ERR_INVALID_ARGUMENT, std::string(name) + ": stream " + std::to_string(s) +
                                               " has " + std::to_string(len) +
                                               " slots, fewer than the op's " +
                                               std::to_string(min_length) + " rows");
        if (len > 0 && !streams[s].blocks)
            fail(CAB_ERR_INVALID_ARGUMENT, std::string(name) + ": stream " + std::to_string(s) +
                                               " has " + std::to_string(len) +
                                               " slots but no block table");
        longest = std::max(longest, len);
    }
    if (bucket > 0 && longest > bucket)
        fail(CAB_ERR_INVALID_ARGUMENT,
             std::string(name) + ": a stream of " + std::to_string(longest) +
                 " slots in a decode step whose step_begin max_length gave a bucket of " +
                 std::to_string(bucket));
    if (BlockTables *tables = block_tables(pool); tables && tables->covers(streams, count))
        return stage_mirrored(name, signature, pool, *tables, streams, count,
                              bucket > 0 ? bucket : longest);
    // In a graph step the layout must not depend on the lengths: room for the bucket.
    const int64_t stride = blocks_for(bucket > 0 ? bucket : longest, pool.block_size);
    const bool reuse = same_streams(pool, streams, count, stride);
    const size_t header = streams_header_bytes(count);
    const size_t bytes = reuse ? 0 : header + static_cast<size_t>(count) * stride * 4;
    const Staging st =
        begin_op(name,
                 op_signature({signature, pool_signature(pool), reuse, static_cast<uint64_t>(count),
                               static_cast<uint64_t>(stride)}),
                 bytes);
    DeviceStreams out;
    out.max_length = bucket > 0 ? bucket : longest;
    if (reuse) {
        out.device = staged_.device;
        return out;
    }
    auto *ds = static_cast<DeviceStream *>(st.host);
    auto *tables = reinterpret_cast<int32_t *>(static_cast<char *>(st.host) + header);
    const auto *tables_dev =
        reinterpret_cast<const int32_t *>(static_cast<const char *>(st.device) + header);
    for (int32_t s = 0; s < count; ++s) {
        const size_t n = static_cast<size_t>(blocks_for(streams[s].length, pool.block_size));
        if (n > 0) std::memcpy(tables + s * stride, streams[s].blocks, n * 4);
        ds[s].blocks = tables_dev + s * stride;
        ds[s].length = streams[s].length;
        ds[s].id = streams[s].id;
        ds[s].epoch = streams[s].epoch;
        ds[s].q8_length = streams[s].q8_length;
    }
    send(st, bytes);
    out.device = static_cast<const DeviceStream *>(st.device);
    staged_ = {pool.storage.data(), ds, out.device, count, stride};
    return out;
}

BlockTables *CudaExecutor::block_tables(const KvPoolRef &pool) {
    if (pool.n_streams <= 0 || !mirror_tables_) return nullptr;
    std::unique_ptr<BlockTables> &t = tables_[pool.storage.data()];
    if (t && (t->n_streams() != pool.n_streams || t->block_size() != pool.block_size))
        retired_tables_.push_back(std::move(t));
    if (!t) t = std::make_unique<BlockTables>(pool.n_streams, pool.block_size);
    return t.get();
}

CudaExecutor::DeviceStreams CudaExecutor::stage_mirrored(const char *name, uint64_t signature,
                                                         const KvPoolRef &pool, BlockTables &tables,
                                                         const StreamRef *streams, int32_t count,
                                                         int32_t max_length) {
    const bool eager = graphs_.mode() == DecodeGraphs::Mode::Eager;
    mirrored_rows_.resize(static_cast<size_t>(count));
    tables.sync(streams, count, max_length, !eager, mirrored_rows_.data());
    // Sent now outside graph steps (before this op's staging, which the ring hands out next);
    // inside one, step_end sends them before the graph launch.
    if (eager) tables.flush(ring_, stream());
    mirrored_headers_.resize(static_cast<size_t>(count));
    for (int32_t s = 0; s < count; ++s)
        mirrored_headers_[s] = {mirrored_rows_[s], streams[s].length, streams[s].id,
                                streams[s].epoch, streams[s].q8_length};
    const size_t bytes = static_cast<size_t>(count) * sizeof(DeviceStream);
    bool reuse = staged_.host && staged_.pool == pool.storage.data() && staged_.count == count &&
                 staged_.stride == kMirrored;
    for (int32_t s = 0; reuse && s < count; ++s) {
        const DeviceStream &a = staged_.host[s], &b = mirrored_headers_[s];
        reuse = a.blocks == b.blocks && a.length == b.length && a.id == b.id &&
                a.epoch == b.epoch && a.q8_length == b.q8_length;
    }
    const Staging st =
        begin_op(name,
                 op_signature({signature, pool_signature(pool), reuse, static_cast<uint64_t>(count),
                               static_cast<uint64_t>(kMirrored)}),
                 reuse ? 0 : align_staging(bytes));
    DeviceStreams out;
    out.max_length = max_length;
    if (reuse) {
        out.device = staged_.device;
        return out;
    }
    std::memcpy(st.host, mirrored_headers_.data(), bytes);
    send(st, align_staging(bytes));
    out.device = static_cast<const DeviceStream *>(st.device);
    staged_ = {pool.storage.data(), static_cast<const DeviceStream *>(st.host), out.device, count,
               kMirrored};
    return out;
}

CudaExecutor::StagedTable CudaExecutor::stage_table(const char *name, const KvPoolRef &pool,
                                                    const StreamRef &stream, const int32_t *prefix,
                                                    int32_t n_prefix) {
    if (!(stream.length >= 0 && (stream.length == 0 || stream.blocks)))
        fail(CAB_ERR_INVALID_ARGUMENT, std::string(name) + ": stream of length " +
                                           std::to_string(stream.length) + " without blocks");
    const size_t head = align_staging(static_cast<size_t>(n_prefix) * 4);
    const size_t n = static_cast<size_t>(blocks_for(stream.length, pool.block_size));
    const size_t bytes = head + n * 4;
    const Staging st = begin_op(name, 0, bytes);
    if (n_prefix > 0) std::memcpy(st.host, prefix, static_cast<size_t>(n_prefix) * 4);
    if (n > 0) std::memcpy(static_cast<char *>(st.host) + head, stream.blocks, n * 4);
    send(st, bytes);
    StagedTable out;
    out.prefix = static_cast<const int32_t *>(st.device);
    out.table = reinterpret_cast<const int32_t *>(static_cast<const char *>(st.device) + head);
    return out;
}

}  // namespace cab::cuda
