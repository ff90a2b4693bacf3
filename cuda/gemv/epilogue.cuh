// The epilogues of the decode GEMV (gemv.cu): which lane finishes which outputs of a group, and
// what it writes (bf16 or f32 with the bias, the residual add, SwiGLU, or RoPE and the KV append).
#pragma once

#include "gemv/common.cuh"

namespace cab::cuda::gemv::detail {

// What one lane of a group's finishing warp writes: (weight row j, batch row r) = (lane / R,
// lane % R) for lane < kGroupRows * R, or for SwiGLU and RoPE batch row lane < R (both rows
// together). Its bias or residual element, and for RoPE its angle and destination, are read when
// the group starts, so that their latency hides under the weight loads.
template <int R, Epilogue kEpi>
struct Owner {
    bool active = false;
    int64_t at = 0;     // element of y
    float operand = 0;  // the bias or the residual element
    // Epilogue::RopeAppend: the second row's bias, the rotation, the pair's destination (null:
    // none) and the slot whose scores a key head's pair 0 zeroes (null blocks: none).
    float operand1 = 0;
    bool rotate = false;
    float cs = 1.0f, sn = 0.0f;
    __nv_bfloat16 *dst = nullptr;
    int partner = 0;
    const int32_t *blocks = nullptr;
    int32_t slot = 0;

    // When the kernel starts the first group's owner, so that the input staging's round trips
    // hide the owner's reads: RoPE's destination (two dependent loads of staged step inputs,
    // which no kernel of the step writes) before the grid dependency wait, the residual right
    // after it; the others read at most a bias and start after the staging.
    enum class Start { BeforeWait, AfterWait, AfterStaging };
    static constexpr Start kStart = kEpi == Epilogue::RopeAppend ? Start::BeforeWait
                                    : kEpi == Epilogue::AddF32   ? Start::AfterWait
                                                                 : Start::AfterStaging;

    Owner() = default;
    __device__ Owner(const Params &p, int g, int lane, const Freqs<kEpi> &freqs) {
        (void)freqs;  // read by the RoPE epilogue only
        if constexpr (kEpi == Epilogue::RopeAppend) {
            active = lane < R;
            if (active) rope_start(p, g, lane, freqs);
        } else if constexpr (kEpi == Epilogue::Swiglu) {
            active = lane < R;
            at = int64_t{lane} * p.y_stride + g;
        } else {
            const int j = lane / R, r = lane % R;
            const int64_t row = weight_row<kEpi>(p, g, j);
            active = lane < kGroupRows * R && row < p.m;
            at = int64_t{r} * p.y_stride + row;
            if (!active) return;
            if constexpr (kEpi == Epilogue::AddF32) {
                operand = __ldcg(static_cast<const float *>(p.y) + at);
            } else {
                if (p.bias) operand = p.bias[row];
            }
        }
    }

    // Batch row r of group g, as kv::rope_append places it.
    __device__ void rope_start(const Params &p, int g, int r, const RopeFreqs &freqs) {
        const RopeParams &rp = p.rope;
        const RopePair pair = rope_pair(rp, g);
        const int d = 2 * rp.half;
        partner = pair.partner;
        if (p.bias) {
            operand = p.bias[weight_row<kEpi>(p, g, 0)];
            operand1 = p.bias[weight_row<kEpi>(p, g, 1)];
        }
        if (pair.slot < rp.n_head) {
            dst = static_cast<__nv_bfloat16 *>(p.y) + int64_t{r} * p.y_stride +
                  int64_t{pair.slot} * d + pair.e;
            rotate = true;
        } else {
            const bool value = pair.slot >= rp.n_head + rp.n_head_kv;
            const int h = pair.slot - rp.n_head - (value ? rp.n_head_kv : 0);
            const DeviceStream s = rp.streams[(r / rp.rows_per_seq) * rp.n_head_kv + h];
            const int32_t at_slot = s.length - rp.rows_per_seq + r % rp.rows_per_seq;
            // A stream shorter than rows_per_seq breaks the caller's contract (as in
            // kv::rope_append): nothing is written.
            if (at_slot < 0) return;
            const int32_t bs = rp.pool.block_size;
            const int64_t block = s.blocks[at_slot / bs];
            const int64_t pool_row = (block * 2 + value) * bs + at_slot % bs;
            // DevicePool::data is const for the attention kernels, which only read it. A slot in
            // an int8 block: the pair goes to its own columns of y, which kv::append_q8 then
            // quantizes into the slot.
            dst = is_q8_block(rp.pool, block)
                      ? static_cast<__nv_bfloat16 *>(p.y) + int64_t{r} * p.y_stride +
                            int64_t{pair.slot} * d + pair.e
                      : static_cast<__nv_bfloat16 *>(const_cast<void *>(rp.pool.data)) +
                            pool_row * d + pair.e;
            rotate = !value;
            if (!value && pair.i == 0 && rp.pool.scores) {
                blocks = s.blocks;
                slot = at_slot;
            }
        }
        if (rotate) pos_enc::rope_angle(rp.positions[r], rp.freq_scale, freqs.inv[pair.i], cs, sn);
    }

    // Both weight rows of the group for batch row `lane` (SwiGLU's gate and up, RoPE's pair),
    // read with constant indices so that acc stays in registers.
    static __device__ void both_rows(const float (&acc)[kGroupRows][R], int lane, float &a,
                                     float &b) {
        a = b = 0.0f;
#pragma unroll
        for (int r = 0; r < R; ++r) {
            if (r == lane) {
                a = acc[0][r];
                b = acc[1][r];
            }
        }
    }

    __device__ void finish(const Params &p, int lane, const float (&acc)[kGroupRows][R]) const {
        if (!active) return;
        if constexpr (kEpi == Epilogue::RopeAppend) {
            float v0, v1;
            both_rows(acc, lane, v0, v1);
            // The product as the Bf16 epilogue rounds it, then the rotation of what rope reads.
            float y0 = round_bf16(v0 + operand), y1 = round_bf16(v1 + operand1);
            if (rotate) pos_enc::rope_rotate(y0, y1, cs, sn, y0, y1);
            if (dst) {
                dst[0] = __float2bfloat16(y0);
                dst[partner] = __float2bfloat16(y1);
            }
            if (blocks) {
                for (int32_t kind = 0; kind < kScoreKinds; ++kind)
                    *score_at(p.rope.pool, blocks, kind, slot) = 0.0f;
            }
        } else if constexpr (kEpi == Epilogue::Swiglu) {
            float gate, up;
            both_rows(acc, lane, gate, up);
            const float gb = round_bf16(gate), ub = round_bf16(up);
            static_cast<__nv_bfloat16 *>(p.y)[at] = __float2bfloat16(gb / (1.0f + expf(-gb)) * ub);
        } else {
            float v = 0.0f;
#pragma unroll
            for (int j = 0; j < kGroupRows; ++j)
#pragma unroll
                for (int r = 0; r < R; ++r)
                    if (j * R + r == lane) v = acc[j][r];
            if constexpr (kEpi == Epilogue::Bf16) {
                static_cast<__nv_bfloat16 *>(p.y)[at] = __float2bfloat16(v + operand);
            } else {
                static_cast<float *>(p.y)[at] = v + operand;
            }
        }
    }
};

}  // namespace cab::cuda::gemv::detail
