// Fused score accumulation of the prefill kernel (DESIGN.md section 4). The true probability
// p_ij = 2^(x_ij - lse_i) needs each row's final log-sum-exp, which the flash loop knows only at
// its end. So after the output is written, the CTA makes a second, lighter pass over its K tiles
// with Q still in shared memory and the exact lse in registers: S = Q K^T again (no P V, no
// rescaling), p from the stored lse, column sums over the CTA's rows, one atomic add per key and
// CTA. Exact (the same fp32 S and lse as the output), and about half the work of the first pass.
#pragma once

#include "attention/warp_tile.cuh"

namespace cab::cuda::attn {

// Sums v over the 8 row groups of a warp (lanes differing in lane / 4) and scatters the result:
// NV values per lane in, NV / 8 out, lane (group, tig) keeping values group * NV / 8 + i. Three
// butterfly steps that each halve what is exchanged: 14 shuffles for NV = 16 instead of 48.
// The halves are picked with bit masks: a select between two array elements would become a
// select between their addresses and push the array to local memory.
template <int NV, int STEP = 0>
__device__ __forceinline__ void reduce_scatter_rows(float (&v)[NV], int lane) {
    if constexpr (STEP < 3) {
        constexpr int kMask = 16 >> STEP, kHalf = NV >> (STEP + 1);
        const int up = (lane & kMask) ? -1 : 0;  // upper lanes keep the upper half
#pragma unroll
        for (int i = 0; i < kHalf; ++i) {
            const int lo = __float_as_int(v[i]), hi = __float_as_int(v[i + kHalf]);
            const float keep = __int_as_float((lo & ~up) | (hi & up));
            const float send = __int_as_float((hi & ~up) | (lo & up));
            v[i] = keep + __shfl_xor_sync(0xffffffffu, send, kMask);
        }
        reduce_scatter_rows<NV, STEP + 1>(v, lane);
    }
}

// Column of the tile that value i (< NV / 8) of reduce_scatter_rows lands on for this lane;
// values are indexed k = 2 * nt + (c & 1) over the 8-key tiles nt.
template <int NV>
__device__ __forceinline__ int scattered_key(int i, int lane) {
    int k = (lane >> 2) * (NV / 8) + i;
    return frag_key(k >> 1, k & 1, lane);
}

// Per-row roles in the score pass.
template <int MT>
struct ScoreRows {
    int limit[MT][2];    // last visible key, -1 for padding rows
    float lse[MT][2];    // log2-sum-exp of the row (base 2); +inf for padding rows: p = 0
    bool window[MT][2];  // among the chunk's last W queries
    bool last[MT][2];    // the chunk's last query
};

// Floats of one reduction buffer: [kArrays][WARPS][BN] (score, then window and last).
template <int WARPS, int BN>
constexpr int kScoreRedFloats = 3 * WARPS *BN;

// One K tile of the score pass: column sums of this warp's probabilities into red. Only tiles
// that reach past some row's causal limit (`masked`) pay for the mask.
template <int D, int MT, int NT, int WARPS, bool kTail>
__device__ __forceinline__ void score_tile(float *red, const ScoreRows<MT> &rows, uint32_t sq,
                                           int q_row0, uint32_t sk, int key0, bool masked,
                                           float scale_log2, int warp, int lane) {
    constexpr int NV = 2 * NT, BN = 8 * NT;
    float s[MT][NT][4];
    warp_qk<D, MT, NT>(s, sq, q_row0, sk, 0, lane);
    if (masked) mask_keys<MT, NT>(s, rows.limit, key0, lane);
    float cs[NV], ws[NV], ls[NV];
#pragma unroll
    for (int k = 0; k < NV; ++k) {
        const int nt = k >> 1, c = k & 1;
        float col = 0.0f, win = 0.0f, last = 0.0f;
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const float p = ex2(fmaf(s[mt][nt][2 * h + c], scale_log2, -rows.lse[mt][h]));
                col += p;
                if constexpr (kTail) {
                    win += rows.window[mt][h] ? p : 0.0f;
                    last += rows.last[mt][h] ? p : 0.0f;
                }
            }
        cs[k] = col;
        ws[k] = win;
        ls[k] = last;
    }
    reduce_scatter_rows<NV>(cs, lane);
    if constexpr (kTail) {
        reduce_scatter_rows<NV>(ws, lane);
        reduce_scatter_rows<NV>(ls, lane);
    }
#pragma unroll
    for (int i = 0; i < NV / 8; ++i) {
        const int col = scattered_key<NV>(i, lane);
        red[warp * BN + col] = cs[i];
        if constexpr (kTail) {
            red[(WARPS + warp) * BN + col] = ws[i];
            red[(2 * WARPS + warp) * BN + col] = ls[i];
        }
    }
}

// Adds the CTA's column sums of one tile (red, summed over warps) to the stream's paged
// accumulators for keys key0 .. key0 + BN below key_end: one atomic per key and array,
// consecutive threads on consecutive keys. The block-table lookup per key hits L1 (the tile's K
// load read the same entries); keeping the address across arrays instead made the d 64 kernel
// spill.
template <int BN, int WARPS, int THREADS>
__device__ __forceinline__ void score_flush(const float *red, const PagedKv &kv,
                                            const int32_t *blocks, int key0, int key_end, bool tail,
                                            bool window, int tid) {
    const int n = (tail ? 3 : 1) * BN;
    for (int i = tid; i < n; i += THREADS) {
        const int array = i / BN, col = i % BN, key = key0 + col;
        if (key >= key_end) continue;
        if (array == 1 && !window) continue;
        float sum = 0.0f;
#pragma unroll
        for (int w = 0; w < WARPS; ++w) sum += red[(array * WARPS + w) * BN + col];
        const int row = array == 0 ? kScoreRow : array == 1 ? kWindowRow : kLastRow;
        atomicAdd(slot_scores(kv, blocks, key) + (row << kv.block_shift), sum);
    }
}

// Before the prefill kernel: observers += queries that see each slot (all n for cached slots,
// n - (j - first) for the chunk's own), and zero the assigned accumulators (last, and window
// when it is recomputed) that the kernel's atomics then fill.
__global__ void prefill_scores_prepare(const DeviceStream *streams, PagedKv kv, int n, int window);

}  // namespace cab::cuda::attn
