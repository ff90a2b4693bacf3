// Executor::kv_copy_blocks on CUDA: the block ids staged in one transfer, then one launch of the
// block copy kernel (cuda/kv/kv_copy.cuh). Copying runs between steps, never inside a recorded
// decode step.
#include <cstring>

#include "backend/cuda_executor.h"
#include "backend/kv_copy_check.h"
#include "kv/kv_copy.cuh"

namespace cab::cuda {

void CudaExecutor::kv_copy_blocks(const KvPoolRef &pool, const int32_t *src, const int32_t *dst,
                                  int32_t n) {
    guarded([&] {
        leave_step();
        const DevicePool dp = device_pool(pool, "kv_copy_blocks");
        check_kv_copy_blocks(pool, src, dst, n, "kv_copy_blocks");
        if (n == 0) return;
        // src ids, then dst ids at an aligned offset.
        const size_t ids = static_cast<size_t>(n) * sizeof(int32_t);
        const size_t dst_offset = align_staging(ids);
        const size_t bytes = dst_offset + ids;
        const Staging st = begin_op("kv_copy_blocks", 0, bytes);
        std::memcpy(st.host, src, ids);
        std::memcpy(static_cast<char *>(st.host) + dst_offset, dst, ids);
        send(st, bytes);
        const auto *device = static_cast<const char *>(st.device);
        kv::copy_blocks(dp, reinterpret_cast<const int32_t *>(device),
                        reinterpret_cast<const int32_t *>(device + dst_offset), n, stream());
    });
}

}  // namespace cab::cuda
