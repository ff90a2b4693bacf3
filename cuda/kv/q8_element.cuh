// One element of an 8-bit KV row (kv/quant_q8.h) on the device: the int8 value, or the fp8 E4M3
// code's, before the row's scale; and the element nearest a value already divided by the scale,
// with the host reference's rounding (int8: to nearest even, clamped to +-127; E4M3: nearest
// code, ties to even, saturating: cvt.rn.satfinite).
#pragma once

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cstdint>

namespace cab::cuda {

__device__ __forceinline__ float q8_element(int8_t byte, bool fp8) {
    if (!fp8) return static_cast<float>(byte);
    const __half_raw h = __nv_cvt_fp8_to_halfraw(static_cast<__nv_fp8_storage_t>(byte), __NV_E4M3);
    return __half2float(__half(h));
}

__device__ __forceinline__ int8_t q8_encode(float x, bool fp8) {
    if (fp8) return static_cast<int8_t>(__nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3));
    return static_cast<int8_t>(fminf(fmaxf(rintf(x), -127.0f), 127.0f));
}

}  // namespace cab::cuda
