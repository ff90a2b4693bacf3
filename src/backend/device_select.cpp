#include "backend/device_select.h"

#include <string>

#include "util/error.h"
#ifdef CAB_HAVE_CUDA
#include "device.h"
#endif

namespace cab {

cab_device resolve_device(cab_device requested, int gpu_index) {
    if (requested == CAB_DEVICE_CPU) return CAB_DEVICE_CPU;
    // The CUDA backend is not part of this release yet, so AUTO always means the CPU.
    if (requested == CAB_DEVICE_AUTO) return CAB_DEVICE_CPU;
#ifdef CAB_HAVE_CUDA
    int n = cuda::device_count();
    if (n == 0) fail(CAB_ERR_UNSUPPORTED, "CAB_DEVICE_CUDA: no CUDA device found");
    if (gpu_index >= n)
        fail(CAB_ERR_INVALID_ARGUMENT, "gpu_index " + std::to_string(gpu_index) + " but only " +
                                           std::to_string(n) + " CUDA device(s)");
    fail(CAB_ERR_UNSUPPORTED, "CAB_DEVICE_CUDA: found " + cuda::device_description(gpu_index) +
                                  ", but this release runs models on the CPU only");
#else
    (void)gpu_index;
    fail(CAB_ERR_UNSUPPORTED, "CAB_DEVICE_CUDA: this build of libcab has no CUDA backend");
#endif
}

}  // namespace cab
