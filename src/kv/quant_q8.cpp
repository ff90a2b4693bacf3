#include "kv/quant_q8.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace cab {

namespace {

float row_amax(const float *x, int64_t n) {
    float amax = 0.0f;
    for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
    return amax;
}

}  // namespace

float quantize_row_q8(const float *x, int64_t n, int8_t *q) {
    const float amax = row_amax(x, n);
    if (amax == 0.0f) {
        std::fill(q, q + n, int8_t{0});
        return 0.0f;
    }
    const float scale = amax / kQ8Max, inv = kQ8Max / amax;
    for (int64_t i = 0; i < n; ++i) {
        const float r = std::nearbyint(x[i] * inv);
        q[i] = static_cast<int8_t>(std::clamp(r, -kQ8Max, kQ8Max));
    }
    return scale;
}

void dequantize_row_q8(const int8_t *q, float scale, int64_t n, float *out) {
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(q[i]) * scale;
}

uint8_t fp8_e4m3_from_float(float x) {
    if (std::isnan(x)) return 0x7f;
    const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
    const float a = std::fabs(x);
    if (a >= kFp8Max) return sign | 0x7e;
    // Below 2^-6 the codes are m * 2^-9 (m < 8, exponent field 0); m = 8 is the first normal
    // code, 0x08, so the same integer serves.
    if (a < 0x1p-6f) return sign | static_cast<uint8_t>(std::nearbyint(a * 0x1p9f));
    int e = 0;
    std::frexp(a, &e);                                                   // a in [2^(e-1), 2^e)
    const float mantissa = std::nearbyint(std::ldexp(a, 4 - e) - 8.0f);  // 3 bits, exact scaling
    const int code = ((e - 1 + 7) << 3) + static_cast<int>(mantissa);    // carries into e
    return sign | static_cast<uint8_t>(std::min(code, 0x7e));
}

float fp8_e4m3_to_float(uint8_t code) {
    const int e = (code >> 3) & 0xf, m = code & 7;
    if (e == 15 && m == 7) return std::numeric_limits<float>::quiet_NaN();
    const float a = e == 0 ? std::ldexp(static_cast<float>(m), -9)
                           : std::ldexp(1.0f + static_cast<float>(m) / 8.0f, e - 7);
    return code & 0x80 ? -a : a;
}

float quantize_row_fp8(const float *x, int64_t n, uint8_t *q) {
    const float amax = row_amax(x, n);
    if (amax == 0.0f) {
        std::fill(q, q + n, uint8_t{0});
        return 0.0f;
    }
    const float scale = amax / kFp8Max, inv = kFp8Max / amax;
    for (int64_t i = 0; i < n; ++i) q[i] = fp8_e4m3_from_float(x[i] * inv);
    return scale;
}

const float *fp8_e4m3_values() {
    static const std::array<float, 256> table = [] {
        std::array<float, 256> t{};
        for (int c = 0; c < 256; ++c) t[c] = fp8_e4m3_to_float(static_cast<uint8_t>(c));
        return t;
    }();
    return table.data();
}

void dequantize_row_fp8(const uint8_t *q, float scale, int64_t n, float *out) {
    const float *values = fp8_e4m3_values();
    for (int64_t i = 0; i < n; ++i) out[i] = values[q[i]] * scale;
}

}  // namespace cab
