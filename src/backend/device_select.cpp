#include "backend/device_select.h"

#include <string>

#include "util/error.h"
#ifdef CAB_HAVE_CUDA
#include "device.h"
#endif

namespace cab {

cab_device resolve_device(cab_device requested, int gpu_index) {
    require(requested >= CAB_DEVICE_AUTO && requested <= CAB_DEVICE_CUDA, CAB_ERR_INVALID_ARGUMENT,
            "device " + std::to_string(requested) + " is unknown");
    if (requested == CAB_DEVICE_CPU) return CAB_DEVICE_CPU;
#ifdef CAB_HAVE_CUDA
    const int n = cuda::device_count();
    if (requested == CAB_DEVICE_AUTO)
        return n > gpu_index && gpu_index >= 0 ? CAB_DEVICE_CUDA : CAB_DEVICE_CPU;
    if (n == 0) fail(CAB_ERR_UNSUPPORTED, "CAB_DEVICE_CUDA: no CUDA device found");
    if (gpu_index < 0 || gpu_index >= n)
        fail(CAB_ERR_INVALID_ARGUMENT, "gpu_index " + std::to_string(gpu_index) + " but only " +
                                           std::to_string(n) + " CUDA device(s)");
    return CAB_DEVICE_CUDA;
#else
    (void)gpu_index;
    if (requested == CAB_DEVICE_AUTO) return CAB_DEVICE_CPU;
    fail(CAB_ERR_UNSUPPORTED, "CAB_DEVICE_CUDA: this build of libcab has no CUDA backend");
#endif
}

}  // namespace cab
