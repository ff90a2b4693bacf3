// The executor's ops over int8 KV blocks (kv/quant_q8.h): quantizing whole blocks and compacting
// a stream whose slots keep their types, each one staged transfer of its host arrays and the
// kernels of cuda/kv/kv_q8.cuh. Both run between steps, never inside a recorded decode step.
#include <cstring>
#include <string>

#include "backend/cuda_executor.h"
#include "backend/kv_copy_check.h"
#include "kv/kv_q8.cuh"

namespace cab::cuda {
namespace {

int64_t table_blocks(const StreamRef &s, int32_t block_size) {
    return (int64_t{s.length} + block_size - 1) / block_size;
}

}  // namespace

void CudaExecutor::kv_quantize_blocks(const KvPoolRef &pool, const int32_t *src, const int32_t *dst,
                                      int32_t n) {
    guarded([&] {
        leave_step();
        const DevicePool dp = device_pool(pool, "kv_quantize_blocks");
        check_kv_copy_blocks(pool, src, dst, n, "kv_quantize_blocks", true);
        if (n == 0) return;
        const size_t ids = static_cast<size_t>(n) * sizeof(int32_t);
        const size_t dst_offset = align_staging(ids);
        const size_t bytes = dst_offset + ids;
        const Staging st = begin_op("kv_quantize_blocks", 0, bytes);
        std::memcpy(st.host, src, ids);
        std::memcpy(static_cast<char *>(st.host) + dst_offset, dst, ids);
        send(st, bytes);
        const auto *device = static_cast<const char *>(st.device);
        kv::quantize_blocks(dp, reinterpret_cast<const int32_t *>(device),
                            reinterpret_cast<const int32_t *>(device + dst_offset), n, stream());
    });
}

void CudaExecutor::kv_compact_mixed(const KvPoolRef &pool, const StreamRef &src,
                                    const StreamRef &dst, const int32_t *keep, int32_t n_keep) {
    const char *op = "kv_compact_mixed";
    guarded([&] {
        leave_step();
        const DevicePool dp = device_pool(pool, op);
        if (!dp.q8)
            fail(CAB_ERR_INVALID_ARGUMENT, std::string(op) + ": the pool has no int8 blocks");
        if (n_keep < 0 || n_keep > src.length || n_keep > dst.length)
            fail(CAB_ERR_INVALID_ARGUMENT, std::string(op) + ": n_keep " + std::to_string(n_keep) +
                                               " for streams of " + std::to_string(src.length) +
                                               " and " + std::to_string(dst.length) + " slots");
        for (int32_t i = 0; i < n_keep; ++i)
            if (!(keep[i] >= 0 && keep[i] < src.length && (i == 0 || keep[i] > keep[i - 1])))
                fail(CAB_ERR_INVALID_ARGUMENT, std::string(op) + ": keep[" + std::to_string(i) +
                                                   "] = " + std::to_string(keep[i]) +
                                                   " is not strictly increasing within the " +
                                                   std::to_string(src.length) + " slots");
        if (n_keep == 0) return;
        settle_streams(pool, &src, 1, 0, op);
        // keep, then the source table, then the destination table, each at an aligned offset.
        const size_t keep_bytes = static_cast<size_t>(n_keep) * 4;
        const size_t src_bytes = static_cast<size_t>(table_blocks(src, dp.block_size)) * 4;
        const size_t dst_bytes = static_cast<size_t>(table_blocks(dst, dp.block_size)) * 4;
        const size_t src_at = align_staging(keep_bytes);
        const size_t dst_at = src_at + align_staging(src_bytes);
        const size_t bytes = dst_at + dst_bytes;
        const Staging st = begin_op(op, 0, bytes);
        auto *host = static_cast<char *>(st.host);
        std::memcpy(host, keep, keep_bytes);
        std::memcpy(host + src_at, src.blocks, src_bytes);
        std::memcpy(host + dst_at, dst.blocks, dst_bytes);
        send(st, bytes);
        const auto *device = static_cast<const char *>(st.device);
        void *scr = scratch(kv::compact_mixed_scratch_bytes(dp, n_keep));
        kv::compact_mixed(dp, reinterpret_cast<const int32_t *>(device + src_at),
                          reinterpret_cast<const int32_t *>(device + dst_at),
                          reinterpret_cast<const int32_t *>(device), n_keep, scr, stream());
    });
}

}  // namespace cab::cuda
