#include "kv/quant_q8.h"

#include <algorithm>
#include <cmath>

namespace cab {

float quantize_row_q8(const float *x, int64_t n, int8_t *q) {
    float amax = 0.0f;
    for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
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

}  // namespace cab
