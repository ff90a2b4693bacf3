// One slot's K or V row in a pool whose blocks are full precision (F32 on the CPU) or int8
// (kv/quant_q8.h): where it lives, and how the CPU ops read, write and move it.
#pragma once

#include <cstdint>
#include <cstring>

#include "backend/backend.h"
#include "kv/quant_q8.h"

namespace cab::cpu {

struct SlotRow {
    float *f = nullptr;   // a full-precision row, or
    int8_t *q = nullptr;  // an int8 row and its scale
    float *scale = nullptr;
};

inline SlotRow slot_row(const KvPoolRef &pool, const StreamRef &s, int64_t slot, bool value) {
    const int64_t block = s.blocks[slot / pool.block_size];
    const int64_t local = (value ? pool.block_size : 0) + slot % pool.block_size;
    if (pool.is_q8(block)) {
        const int64_t row = (block - pool.first_q8) * 2 * pool.block_size + local;
        return {nullptr, pool.storage_q8.as<int8_t>() + row * pool.head_dim,
                pool.scales_q8.as<float>() + row};
    }
    return {pool.storage.as<float>() + (block * 2 * pool.block_size + local) * pool.head_dim};
}

inline void read_row(const SlotRow &r, int64_t d, float *out) {
    if (r.q) {
        dequantize_row_q8(r.q, *r.scale, d, out);
    } else {
        std::memcpy(out, r.f, static_cast<size_t>(d) * sizeof(float));
    }
}

inline void write_row(const SlotRow &r, const float *x, int64_t d) {
    if (r.q) {
        *r.scale = quantize_row_q8(x, d, r.q);
    } else {
        std::memcpy(r.f, x, static_cast<size_t>(d) * sizeof(float));
    }
}

// dst = src; an int8 row moves as it is (no second rounding), a full-precision row into an int8
// one is quantized. `tmp` holds d floats.
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

}  // namespace cab::cpu
