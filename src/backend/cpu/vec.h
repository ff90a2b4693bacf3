// Small vector kernels shared by the CPU ops. Written with independent partial sums so that the
// compiler vectorizes them without -ffast-math.
#pragma once

#include <cstdint>

namespace cab::cpu {

inline float dot(const float *a, const float *b, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int u = 0; u < 8; ++u) acc[u] += a[i + u] * b[i + u];
    float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; ++i) sum += a[i] * b[i];
    return sum;
}

// y += alpha * x
inline void axpy(float alpha, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

// The same over an int8 row (kv/quant_q8.h), its scale applied once by the caller.
inline float dot_q8(const float *a, const int8_t *b, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int u = 0; u < 8; ++u) acc[u] += a[i + u] * static_cast<float>(b[i + u]);
    float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; ++i) sum += a[i] * static_cast<float>(b[i]);
    return sum;
}

inline void axpy_q8(float alpha, const int8_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += alpha * static_cast<float>(x[i]);
}

// The same over a row of fp8 E4M3 codes, decoded through `table` (each code's value).
inline float dot_fp8(const float *a, const uint8_t *b, const float *table, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int u = 0; u < 8; ++u) acc[u] += a[i + u] * table[b[i + u]];
    float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; ++i) sum += a[i] * table[b[i]];
    return sum;
}

inline void axpy_fp8(float alpha, const uint8_t *x, const float *table, float *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += alpha * table[x[i]];
}

}  // namespace cab::cpu
