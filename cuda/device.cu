#include <cuda_runtime.h>

#include <string>

#include "device.h"
#include "util/error.h"

namespace cab::cuda {

int device_count() noexcept {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no device" error for later calls
        return 0;
    }
    return n;
}

std::string device_description(int index) {
    cudaDeviceProp prop{};
    cudaError_t err = cudaGetDeviceProperties(&prop, index);
    if (err != cudaSuccess)
        fail(CAB_ERR_DEVICE,
             "cuda device " + std::to_string(index) + ": " + cudaGetErrorString(err));
    return std::string(prop.name) + " (sm_" + std::to_string(prop.major) +
           std::to_string(prop.minor) + ")";
}

}  // namespace cab::cuda
