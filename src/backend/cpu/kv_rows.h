// One slot's K or V row in a pool whose blocks are full precision (F32 on the CPU) or 8-bit
// (kv/quant_q8.h: int8 values or fp8 E4M3 codes, as the pool's q8_type says): where it lives, and
// how the CPU ops read, write and move it.
#pragma once

#include <cstdint>
#include <cstring>

#include "backend/backend.h"
#include "backend/cpu/vec.h"
#include "kv/quant_q8.h"

namespace cab::cpu {

struct SlotRow {
    float *f = nullptr;    // a full-precision row, or
    uint8_t *q = nullptr;  // an 8-bit row and its scale,
    float *scale = nullptr;
    bool fp8 = false;  // of E4M3 codes rather than int8 values

    const int8_t *i8() const { return reinterpret_cast<const int8_t *>(q); }
};

inline SlotRow slot_row(const KvPoolRef &pool, const StreamRef &s, int64_t slot, bool value) {
    const int64_t block = s.blocks[slot / pool.block_size];
    const int64_t local = (value ? pool.block_size : 0) + slot % pool.block_size;
    if (pool.is_q8(block)) {
        const int64_t row = (block - pool.first_q8) * 2 * pool.block_size + local;
        return {nullptr, pool.storage_q8.as<uint8_t>() + row * pool.head_dim,
                pool.scales_q8.as<float>() + row, pool.q8_type == Q8Type::Fp8E4M3};
    }
    return {pool.storage.as<float>() + (block * 2 * pool.block_size + local) * pool.head_dim};
}

inline void read_row(const SlotRow &r, int64_t d, float *out) {
    if (!r.q) {
        std::memcpy(out, r.f, static_cast<size_t>(d) * sizeof(float));
    } else if (r.fp8) {
        dequantize_row_fp8(r.q, *r.scale, d, out);
    } else {
        dequantize_row_q8(r.i8(), *r.scale, d, out);
    }
}

inline void write_row(const SlotRow &r, const float *x, int64_t d) {
    if (!r.q) {
        std::memcpy(r.f, x, static_cast<size_t>(d) * sizeof(float));
    } else if (r.fp8) {
        *r.scale = quantize_row_fp8(x, d, r.q);
    } else {
        *r.scale = quantize_row_q8(x, d, reinterpret_cast<int8_t *>(r.q));
    }
}

// dst = src; an 8-bit row moves as it is (no second rounding: a pool has one 8-bit type), a
// full-precision row into an 8-bit one is quantized. `tmp` holds d floats.
inline void move_row(const SlotRow &dst, const SlotRow &src, int64_t d, float *tmp) {
    if (dst.q && src.q) {
        std::memcpy(dst.q, src.q, static_cast<size_t>(d));
        *dst.scale = *src.scale;
    } else if (!dst.q && !src.q) {
        std::memcpy(dst.f, src.f, static_cast<size_t>(d) * sizeof(float));
    } else {
        read_row(src, d, tmp);
        write_row(dst, tmp, d);
    }
}

// a . row, the row's scale applied once.
inline float dot_row(const float *a, const SlotRow &r, int64_t d) {
    if (!r.q) return dot(a, r.f, d);
    return (r.fp8 ? dot_fp8(a, r.q, fp8_e4m3_values(), d) : dot_q8(a, r.i8(), d)) * *r.scale;
}

// y += alpha * row
inline void axpy_row(float alpha, const SlotRow &r, float *y, int64_t d) {
    if (!r.q) {
        axpy(alpha, r.f, y, d);
    } else if (r.fp8) {
        axpy_fp8(alpha * *r.scale, r.q, fp8_e4m3_values(), y, d);
    } else {
        axpy_q8(alpha * *r.scale, r.i8(), y, d);
    }
}

}  // namespace cab::cpu
