// Host-side helpers shared by the attention launchers.
#pragma once

#include <cuda_runtime_api.h>

#include <cmath>
#include <string>
#include <utility>

#include "util/error.h"

namespace cab::cuda::attention {

// Throws cab::Error(DEVICE) naming the kernel when its launch failed.
inline void check_launch(const char *kernel) {
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess)
        fail(CAB_ERR_DEVICE, std::string(kernel) + " launch failed: " + cudaGetErrorString(err));
}

// SMs of the current device (launchers size their grids by it); `what` names the caller in the
// error.
inline int sm_count(const char *what) {
    int device = 0, sms = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
        check_launch(what);
    return sms;
}

// Raises a kernel's dynamic shared memory limit past the default 48 KB, once per kernel.
template <class Kernel>
void allow_smem(Kernel kernel, int bytes, const char *name) {
    if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes) !=
        cudaSuccess)
        check_launch(name);
}

// Launches kernel(args...), with programmatic stream serialization when `dependent`: it may then
// start while the previous kernel in the stream finishes, and must call grid_dependency_wait
// (mma.cuh) before it reads what that kernel wrote. Without it, an ordinary stream-ordered launch
// (the kernel's wait is then a no-op).
template <class... Params, class... Args>
void launch_maybe_dependent(bool dependent, void (*kernel)(Params...), dim3 grid, dim3 block,
                            int smem, cudaStream_t stream, const char *name, Args &&...args) {
    cudaLaunchConfig_t config{};
    config.gridDim = grid;
    config.blockDim = block;
    config.dynamicSmemBytes = static_cast<size_t>(smem);
    config.stream = stream;
    cudaLaunchAttribute attribute{};
    attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute.val.programmaticStreamSerializationAllowed = 1;
    config.attrs = &attribute;
    config.numAttrs = dependent ? 1 : 0;
    if (cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...) != cudaSuccess)
        check_launch(name);
    check_launch(name);
}

template <class... Params, class... Args>
void launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, int smem,
                      cudaStream_t stream, const char *name, Args &&...args) {
    launch_maybe_dependent(true, kernel, grid, block, smem, stream, name,
                           std::forward<Args>(args)...);
}

inline bool is_power_of_two(int x) {
    return x > 0 && (x & (x - 1)) == 0;
}

// log2(e) / sqrt(head_dim): the kernels keep scores in the base-2 domain.
inline float scale_log2(int head_dim) {
    return static_cast<float>(M_LOG2E / std::sqrt(static_cast<double>(head_dim)));
}

inline int log2_exact(int x) {
    int s = 0;
    while ((1 << s) < x) ++s;
    return s;
}

}  // namespace cab::cuda::attention
