// The int8 KV element type (Q8) of mixed-precision KV blocks (DESIGN.md section 3): each slot's
// K row and V row of head_dim values are stored as int8 with one F32 scale per row (per token
// and kv head): x ~ q * scale, scale = max|x| / 127, q = round(x / scale). The element with the
// largest magnitude is stored exactly; every other is within scale / 2. A row of zeros has scale
// 0. These are the host reference of the format, which every backend's kernels follow.
#pragma once

#include <cstdint>

namespace cab {

constexpr float kQ8Max = 127.0f;

// Quantizes x[0..n) into q[0..n) and returns the row's scale. Non-finite input gives an
// undefined row: the forward pass never produces it for finite weights.
float quantize_row_q8(const float *x, int64_t n, int8_t *q);

// out[i] = q[i] * scale.
void dequantize_row_q8(const int8_t *q, float scale, int64_t n, float *out);

}  // namespace cab
