// The 8-bit KV element types of mixed-precision KV blocks (DESIGN.md section 3). Each slot's K row
// and V row of head_dim values are stored as one byte per value with one F32 scale per row (per
// token and kv head):
// - int8 (Q8Type::Int8): x ~ q * scale, scale = max|x| / 127, q = round(x / scale). The element
//   with the largest magnitude is stored exactly; every other is within scale / 2;
// - fp8 E4M3 (Q8Type::Fp8E4M3, OCP's "e4m3fn": sign, 4 exponent bits of bias 7, 3 mantissa bits,
//   no infinities, largest 448): x ~ e4m3(x / scale) * scale, scale = max|x| / 448, rounded to
//   the nearest code (ties to even). 3 significant bits after the leading one (each element
//   within 1/16 of itself), over a range of 2^17 within the row: small values next to an
//   outlier keep their own precision, where int8 steps them all by max|x| / 127.
// A row of zeros has scale 0. These are the host reference of the formats, which every
// backend's kernels follow bit for bit.
#pragma once

#include <cstdint>

namespace cab {

enum class Q8Type : int32_t { Int8 = 0, Fp8E4M3 = 1 };

constexpr float kQ8Max = 127.0f;
constexpr float kFp8Max = 448.0f;

// Quantizes x[0..n) into q[0..n) and returns the row's scale. Non-finite input gives an
// undefined row: the forward pass never produces it for finite weights.
float quantize_row_q8(const float *x, int64_t n, int8_t *q);

// out[i] = q[i] * scale.
void dequantize_row_q8(const int8_t *q, float scale, int64_t n, float *out);

// The E4M3 code nearest x: ties to even, beyond +-448 the largest finite code of x's sign
// (saturation, as CUDA's cvt .satfinite), NaN 0x7f.
uint8_t fp8_e4m3_from_float(float x);
// A code's value (0x7f and 0xff: NaN).
float fp8_e4m3_to_float(uint8_t code);
// Every code's value, fp8_e4m3_to_float's, indexed by the code: decoding a row by lookup.
const float *fp8_e4m3_values();

// As quantize_row_q8, in E4M3 codes: q[i] = fp8_e4m3_from_float(x[i] * (448 / max|x|)).
float quantize_row_fp8(const float *x, int64_t n, uint8_t *q);

// out[i] = fp8_e4m3_to_float(q[i]) * scale.
void dequantize_row_fp8(const uint8_t *q, float scale, int64_t n, float *out);

}  // namespace cab
