// Tensor maps through cuTensorMapEncodeTiled, looked up once with
// cudaGetDriverEntryPointByVersion (the runtime's route to the driver API).
#include "attention/tensor_map.h"

#include <cudaTypedefs.h>
#include <cuda_runtime_api.h>

namespace cab::cuda::attention {
namespace {

PFN_cuTensorMapEncodeTiled_v12000 encoder() {
    static const PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
        void *ptr = nullptr;
        cudaDriverEntryPointQueryResult found{};
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &ptr, 12000,
                                             cudaEnableDefault, &found) != cudaSuccess ||
            found != cudaDriverEntryPointSuccess) {
            (void)cudaGetLastError();  // no encoder: the callers fall back, nothing failed
            return PFN_cuTensorMapEncodeTiled_v12000{nullptr};
        }
        return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(ptr);
    }();
    return fn;
}

}  // namespace

bool encode_bf16_tensor_map(CUtensorMap &map, const void *data, uint64_t rows, int cols,
                            int box_rows) {
    const PFN_cuTensorMapEncodeTiled_v12000 encode = encoder();
    if (encode == nullptr) return false;
    const cuuint64_t dims[2] = {static_cast<cuuint64_t>(cols), rows};
    const cuuint64_t strides[1] = {static_cast<cuuint64_t>(cols) * 2};  // bytes between rows
    const cuuint32_t box[2] = {64, static_cast<cuuint32_t>(box_rows)};
    const cuuint32_t element_strides[2] = {1, 1};
    return encode(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<void *>(data), dims,
                  strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                  CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                  CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

}  // namespace cab::cuda::attention
