// Applies streams' pending decode queries (pending.h) to their keys' accumulators: what the next
// decode step would do in its spare tile rows, done on its own before anything reads, moves or
// copies the scores (or, for kInstall, right after the decode that left the records). Only K is
// read: one CTA per (split of `chunk` keys, stream), the pending query's heads as the rows of
// one m16 tile, K tiles through a cp.async ring, as in decode (and int8 rows as there:
// page_q8.cuh; their scales follow the stage's tile).
// settle_clear_kernel then marks the records applied, once every split has read them.
#pragma once

#include "attention/page_q8.cuh"
#include "attention/pending.cuh"
#include "attention/warp_tile.cuh"

namespace cab::cuda::attn {

template <int D_>
struct SettleConfig {
    static constexpr int D = D_, BN = 64, WARPS = 4, kThreads = WARPS * 32, STAGES = 3;
    static constexpr int kWarpKeys = BN / WARPS, NT = kWarpKeys / 8;
    static constexpr int kQBytes = 16 * D * 2, kTileBytes = BN * D * 2;
    static constexpr int kStageBytes = kTileBytes + BN * 4;
    static constexpr int kSmemBytes = kQBytes + STAGES * kStageBytes;
    static constexpr int kChunk = 1024;  // keys per CTA
};

template <class C>
__device__ __forceinline__ void load_settle_tile(uint32_t stage, const SettleParams &p,
                                                 const int32_t *blocks, int key0, int end,
                                                 int tid) {
    if (key0 >= end) return;
    if (p.kv.q8) {
        load_kv_tile_q8<C::D, C::BN, C::kThreads>(stage, stage + C::kTileBytes, p.kv, blocks, key0,
                                                  end, false, tid);
    } else {
        load_kv_tile<C::D, C::BN, C::kThreads>(stage, p.kv, blocks, key0, end, false, tid);
    }
}

template <class C>
__global__ void __launch_bounds__(C::kThreads)
    settle_kernel(const __grid_constant__ SettleParams p) {
    constexpr int D = C::D, BN = C::BN, NT = C::NT, STAGES = C::STAGES;
    extern __shared__ __align__(128) unsigned char smem[];
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int sid = blockIdx.y;
    const DeviceStream st = p.streams[sid];
    if (p.records_by_id && st.id < 0) return;
    const PendingRef rec = pending_record(p.pending, p.record_bytes, p.records_by_id ? st.id : sid);
    const PendingHeader h = load_header(rec);
    const int pend = pending_keys(h, st.epoch, min(st.length - p.n_new, p.max_length));
    const int begin = blockIdx.x * p.chunk;
    if (begin >= pend) return;
    const int end = min(pend, begin + p.chunk), n_tiles = (end - begin + BN - 1) / BN;
    const uint32_t sq = smem_u32(smem), ring = sq + C::kQBytes;
    {  // the pending query's rows, zeros up to 16
        constexpr int kChunks = D / 8;
        const bf16 *q = rec.q();
        for (int i = tid; i < 16 * kChunks; i += C::kThreads) {
            const int row = i / kChunks, chunk = i % kChunks;
            const bool valid = row < p.group;
            cp_async_16(sq + swz<D>(row, chunk), q + (valid ? row : 0) * D + chunk * 8, valid);
        }
    }
    for (int s = 0; s < STAGES - 1; ++s) {  // Q rides in the first tile's group
        load_settle_tile<C>(ring + s * C::kStageBytes, p, st.blocks, begin + s * BN, end, tid);
        cp_async_commit();
    }
    const int row_a = lane >> 2, row_b = row_a + 8;
    const float lse_a = row_a < p.group ? __ldcg(rec.lse() + row_a) : 0.0f;
    const float lse_b = row_b < p.group ? __ldcg(rec.lse() + row_b) : 0.0f;
    uint32_t qf[D / 16][4];
    for (int t = 0; t < n_tiles; ++t) {
        cp_async_wait<STAGES - 2>();
        __syncthreads();  // tile t landed; every warp is done with tile t - 1's stage
        if (t == 0) {
#pragma unroll
            for (int kk = 0; kk < D / 16; ++kk) ldsm_a<D>(qf[kk], sq, 0, kk, lane);
        }
        const int next = t + STAGES - 1;
        load_settle_tile<C>(ring + (next % STAGES) * C::kStageBytes, p, st.blocks,
                            begin + next * BN, end, tid);
        cp_async_commit();
        const uint32_t sk = ring + (t % STAGES) * C::kStageBytes;
        const int key0 = begin + t * BN + warp * C::kWarpKeys;
        if (key0 >= end) continue;  // warp-uniform
        if (p.kv.q8)
            widen_q8_rows<D>(sk, p.kv, st.blocks, begin + t * BN, warp * C::kWarpKeys, end, lane);
        float s[1][NT][4];
        warp_qk_regs<D, NT>(s, qf, sk, warp * C::kWarpKeys, lane);
        if (p.kv.q8)
            scale_keys<NT>(s,
                           reinterpret_cast<const float *>(smem + (sk - sq) + C::kTileBytes) +
                               warp * C::kWarpKeys,
                           lane);
        float v[NT][2];
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
            for (int c = 0; c < 2; ++c) {
                const bool in = key0 + frag_key(nt, c, lane) < end;
                v[nt][c] =
                    (in && row_a < p.group ? ex2(fmaf(s[0][nt][c], p.scale_log2, -lse_a)) : 0.0f) +
                    (in && row_b < p.group ? ex2(fmaf(s[0][nt][2 + c], p.scale_log2, -lse_b))
                                           : 0.0f);
            }
        settle_warp_keys<NT, true>(v, p.kv, st.blocks, key0, end, lane);
    }
    cp_async_wait<0>();
}

// After settle_kernel: the records it applied hold nothing pending any more.
__global__ void settle_clear_kernel(const __grid_constant__ SettleParams p) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= p.count) return;
    const DeviceStream st = p.streams[i];
    if (p.records_by_id && st.id < 0) return;
    const PendingRef rec = pending_record(p.pending, p.record_bytes, p.records_by_id ? st.id : i);
    const PendingHeader h = load_header(rec);
    if (h.keys > 0 && h.epoch == st.epoch) store_header(rec, 0, h.epoch);
}

}  // namespace cab::cuda::attn
