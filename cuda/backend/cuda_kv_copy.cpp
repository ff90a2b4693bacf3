// Executor::kv_copy_blocks on CUDA: the block ids staged in one transfer, then one launch of the
// block copy kernel (cuda/kv/kv_copy.cuh) and, for int8 blocks, one of kv_q8.cuh's. Copying runs
// between steps, never inside a recorded decode step.
#include <cstring>
#include <vector>

#include "backend/cuda_executor.h"
#include "backend/kv_copy_check.h"
#include "kv/kv_copy.cuh"
#include "kv/kv_q8.cuh"

namespace cab::cuda {

void CudaExecutor::kv_copy_blocks(const KvPoolRef &pool, const int32_t *src, const int32_t *dst,
                                  int32_t n) {
    guarded([&] {
        leave_step();
        const DevicePool dp = device_pool(pool, "kv_copy_blocks");
        check_kv_copy_blocks(pool, src, dst, n, "kv_copy_blocks");
        if (n == 0) return;
        // bf16 pairs then int8 pairs (each pair is of one type), src ids then dst ids, each run
        // at an aligned offset.
        std::vector<int32_t> ids(static_cast<size_t>(n) * 2);
        int32_t n_hi = 0, n_q8 = 0;
        for (int32_t i = 0; i < n; ++i) {
            const bool q8 = pool.is_q8(src[i]);
            const size_t at =
                q8 ? static_cast<size_t>(n - 1 - n_q8++) : static_cast<size_t>(n_hi++);
            ids[at] = src[i];
            ids[static_cast<size_t>(n) + at] = dst[i];
        }
        const size_t run = static_cast<size_t>(n) * sizeof(int32_t);
        const size_t dst_offset = align_staging(run);
        const size_t bytes = dst_offset + run;
        const Staging st = begin_op("kv_copy_blocks", 0, bytes);
        std::memcpy(st.host, ids.data(), run);
        std::memcpy(static_cast<char *>(st.host) + dst_offset, ids.data() + n, run);
        send(st, bytes);
        const auto *src_ids = static_cast<const int32_t *>(st.device);
        const auto *dst_ids =
            reinterpret_cast<const int32_t *>(static_cast<const char *>(st.device) + dst_offset);
        kv::copy_blocks(dp, src_ids, dst_ids, n_hi, stream());
        if (n_q8 > 0) kv::copy_q8_blocks(dp, src_ids + n_hi, dst_ids + n_hi, n_q8, stream());
    });
}

}  // namespace cab::cuda
