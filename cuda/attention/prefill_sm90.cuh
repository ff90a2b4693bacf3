// Causal GQA flash-attention prefill for Hopper (sm_90a): the algorithm of prefill.cuh with the
// matrix products on warpgroup tensor cores (wgmma.cuh), organised as FlashAttention-3: a CTA of
// four warpgroups owns 128 packed rows of one kv head (GQA heads packed into M as in
// prefill.cuh). Warpgroups 0 and 1 are producers: they copy the 128-key K/V tiles (visited last
// to first) from the paged pool into a ring of stages with cp.async, each fill completing an
// mbarrier (async_ring.cuh), and give most of their registers to warpgroups 2 and 3, the
// consumers, which take 64 rows each and copy their own rows of Q. S = Q K^T takes Q and K from
// shared memory; O += P V takes P from registers (the S accumulators rounded to bf16) and V as
// an MN-major operand, so V is never transposed. A consumer's softmax of tile j runs while its
// tensor cores multiply P_{j-1} V_{j-1} (O is rescaled only after that product lands), and it
// releases a stage once the products reading it have landed: the consumers wait on no barrier
// of the whole CTA, so one's softmax runs while the other's products do.
//
// Scores (kScores): the second pass of prefill_scores.cuh, transposed, over the same ring (K
// tiles only; the producers go on filling stages as they are released). Each consumer computes
// S^T = K Q^T for 64 keys of a tile against all 128 rows, so a thread's accumulators hold two
// keys against 32 rows: a key's column sum over the CTA's rows is a sum in registers and two
// shuffles, with no reduction across warps, then one atomic per key and CTA. The product of the
// next tile runs while the exponentials of this one are summed.
#pragma once

#include "attention/async_ring.cuh"
#include "attention/prefill.cuh"
#include "attention/wgmma.cuh"

namespace cab::cuda::attn {

template <int D_>
struct PrefillSm90Config {
    static constexpr int D = D_, BM = 128, BN = 128;
    // Two producer warpgroups: one could not issue a tile's copies (address arithmetic per 16
    // bytes) as fast as the consumers take them (PERFORMANCE.md, "What was tried").
    static constexpr int kProducerThreads = 256, kConsumerThreads = 256;
    static constexpr int kThreads = kProducerThreads + kConsumerThreads;
    // Registers per thread after the producers give their share to the consumers (the CTA's
    // 65,536: 256 x 24 + 256 x 232).
    static constexpr int kProducerRegisters = 24, kConsumerRegisters = 232;
    static constexpr int NT = BN / 8, DT = D / 8;
    static constexpr int kQBytes = BM * D * 2, kTileBytes = BN * D * 2;
    static constexpr int kStageBytes = 2 * kTileBytes;  // K then V
    // As many stages as fit beside Q (227 KB of shared memory a CTA).
    static constexpr int STAGES = D == 128 ? 3 : 4;
    // The score pass keeps each row's lse and causal limit in shared memory.
    static constexpr int kRowBytes = BM * 8;
    // mbarriers: full K, full V and empty per stage.
    static constexpr int kBarrierBytes = 3 * STAGES * 8;
    // Slack to align the tiles to 1024 bytes (the 128-byte swizzle's atom).
    static constexpr int kSmemBytes =
        1024 + kQBytes + STAGES * kStageBytes + kRowBytes + kBarrierBytes;
    static_assert(kSmemBytes <= 227 * 1024, "one CTA per SM");
};

// Named barriers of the consumers (0 is __syncthreads): both consumers, and each one's Q rows
// landed (2, 3).
enum PrefillBarrier : int { kConsumersBarrier = 1, kQBarrier = 2 };

// Descriptor of the 64 rows [row0, row0 + 64) of a 128-byte-swizzled tile of ROWS rows as a
// K-major operand, at k-step kk (columns 16kk .. 16kk + 15).
template <int ROWS>
__device__ __forceinline__ uint64_t kmajor_desc(uint32_t tile, int row0, int kk) {
    return smem_desc(tile + (kk >> 2) * (ROWS * 128) + row0 * 128 + (kk & 3) * 32, 16, 1024);
}

// Descriptor of V rows (keys) 16kk .. 16kk + 15 of a tile of BN keys as the MN-major B operand
// of P V (N = the head's columns, 64 per block).
template <int BN>
__device__ __forceinline__ uint64_t value_desc(uint32_t tile, int kk) {
    return smem_desc(tile + kk * 16 * 128, BN * 128, 1024);
}

// The online softmax step of warp_tile.cuh without touching O, which a product may still be
// accumulating: returns each row's rescale factor alpha for O instead.
template <int NT>
__device__ __forceinline__ void softmax_step(float (&s)[1][NT][4], float (&m)[1][2],
                                             float (&l)[1][2], float (&alpha)[2],
                                             float scale_log2) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        float mx = -CUDART_INF_F;
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) mx = fmaxf(mx, fmaxf(s[0][nt][2 * h], s[0][nt][2 * h + 1]));
        mx = quad_max(mx);
        const float m_new = fmaxf(m[0][h], mx * scale_log2);
        const float m_use = m_new == -CUDART_INF_F ? 0.0f : m_new;
        alpha[h] = ex2(m[0][h] - m_use);
        m[0][h] = m_new;
        float sum = 0.0f;
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
            for (int c = 2 * h; c < 2 * h + 2; ++c) {
                s[0][nt][c] = ex2(fmaf(s[0][nt][c], scale_log2, -m_use));
                sum += s[0][nt][c];
            }
        l[0][h] = l[0][h] * alpha[h] + sum;
    }
}

// P as the bf16 A fragments of P V: the accumulator layout of two 8-key groups is the A layout
// of one 16-key step.
template <int NT>
__device__ __forceinline__ void pack_p(uint32_t (&pa)[NT / 2][4], const float (&s)[1][NT][4]) {
#pragma unroll
    for (int kk = 0; kk < NT / 2; ++kk) {
        pa[kk][0] = pack_bf16(s[0][2 * kk][0], s[0][2 * kk][1]);
        pa[kk][1] = pack_bf16(s[0][2 * kk][2], s[0][2 * kk][3]);
        pa[kk][2] = pack_bf16(s[0][2 * kk + 1][0], s[0][2 * kk + 1][1]);
        pa[kk][3] = pack_bf16(s[0][2 * kk + 1][2], s[0][2 * kk + 1][3]);
    }
}

// Issues this warpgroup's S (64 rows x BN keys) = Q K^T over the head's D columns.
template <class C>
__device__ __forceinline__ void issue_qk(float (&s)[C::NT][4], uint32_t sq, int wg_row0,
                                         uint32_t sk) {
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < C::D / 16; ++kk)
        wgmma_ss<0>(s, kmajor_desc<C::BM>(sq, wg_row0, kk), kmajor_desc<C::BN>(sk, 0, kk), kk > 0);
    wgmma_commit();
}

template <class C>
__device__ __forceinline__ void issue_pv(float (&o)[C::DT][4], const uint32_t (&pa)[C::NT / 2][4],
                                         uint32_t sv) {
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < C::BN / 16; ++kk) wgmma_rs<1>(o, pa[kk], value_desc<C::BN>(sv, kk));
    wgmma_commit();
}

// Per-thread view of the score pass: this thread's accumulators of S^T hold keys k and k + 8 of
// its warpgroup's 64 against rows 8j + 2 (lane % 4) + c of the tile. The rows' lse stay in
// shared memory (32 more registers would spill the consumers).
struct ScoreColumns {
    uint32_t in_window = 0, is_last = 0;  // bit 2j + c
};

// Column sums of one tile's S^T accumulators into the stream's score, and for the chunk's last
// rows (kTail) window and last. Only tiles that reach past some row's causal limit (kMasked)
// pay for the mask.
template <class C, bool kMasked, bool kTail>
__device__ __forceinline__ void score_sums(const float (&s)[C::BM / 8][4], const ScoreColumns &cols,
                                           const float *row_lse, const int *row_limit,
                                           const PrefillParams &p, const int32_t *blocks, int key0,
                                           int key_end, int lane) {
    constexpr bool tail = kTail;
    constexpr int J = C::BM / 8;
    float col[2] = {0.0f, 0.0f}, win[2] = {0.0f, 0.0f}, last[2] = {0.0f, 0.0f};
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const int key = key0 + 8 * h;
#pragma unroll
        for (int j = 0; j < J; ++j)
#pragma unroll
            for (int c = 0; c < 2; ++c) {
                const int row = 8 * j + 2 * (lane & 3) + c;
                float pr = ex2(fmaf(s[j][2 * h + c], p.scale_log2, -row_lse[row]));
                if (kMasked && key > row_limit[row]) pr = 0.0f;
                col[h] += pr;
                if constexpr (tail) {
                    win[h] += (cols.in_window >> (2 * j + c)) & 1u ? pr : 0.0f;
                    last[h] += (cols.is_last >> (2 * j + c)) & 1u ? pr : 0.0f;
                }
            }
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        col[h] = quad_sum(col[h]);
        if constexpr (tail) {
            win[h] = quad_sum(win[h]);
            last[h] = quad_sum(last[h]);
        }
        const int key = key0 + 8 * h;
        if ((lane & 3) != 0 || key >= key_end) continue;
        float *slot = slot_scores(p.kv, blocks, key);
        atomicAdd(slot + (kScoreRow << p.kv.block_shift), col[h]);
        if constexpr (tail) {
            if (p.window > 0) atomicAdd(slot + (kWindowRow << p.kv.block_shift), win[h]);
            atomicAdd(slot + (kLastRow << p.kv.block_shift), last[h]);
        }
    }
}

// The CTA's geometry, the same for all four warpgroups.
struct PrefillTiles {
    int row0, first, q_lo, q_hi, key_end, n_tiles, mask_from;

    template <int BM, int BN>
    __device__ __forceinline__ static PrefillTiles of(const PrefillParams &p,
                                                      const DeviceStream &st) {
        PrefillTiles t;
        t.row0 = (gridDim.x - 1 - blockIdx.x) * BM;  // longest rows (most keys) first
        t.first = st.length - p.n;
        const int row_end = min(t.row0 + BM, p.n_rows);
        t.q_lo = t.row0 / p.group;
        t.q_hi = (row_end - 1) / p.group;
        t.key_end = t.first + t.q_hi + 1;
        t.n_tiles = (t.key_end + BN - 1) / BN;
        t.mask_from = t.first + t.q_lo;
        return t;
    }
    // Key tile of the score pass's step j: CTAs start at different tiles so that concurrent
    // ones add to different keys.
    __device__ __forceinline__ int score_tile(int j) const {
        const int t0 = blockIdx.x % n_tiles;
        return t0 + j < n_tiles ? t0 + j : t0 + j - n_tiles;
    }
};

// Shared-memory addresses of the tiles and barriers (kSmemBytes' layout).
template <class C>
struct PrefillSmem {
    uint32_t q, ring, bars;
    float *row_lse;
    int *row_limit;

    __device__ __forceinline__ static PrefillSmem at(unsigned char *raw_ptr) {
        PrefillSmem s;
        const uint32_t raw = smem_u32(raw_ptr), base = (raw + 1023) & ~1023u;
        s.q = base;
        s.ring = base + C::kQBytes;
        s.row_lse =
            reinterpret_cast<float *>(raw_ptr + (s.ring + C::STAGES * C::kStageBytes - raw));
        s.row_limit = reinterpret_cast<int *>(s.row_lse + C::BM);
        s.bars = smem_u32(s.row_limit + C::BM);
        return s;
    }
    __device__ __forceinline__ uint32_t stage(int g) const {
        return ring + (g % C::STAGES) * C::kStageBytes;
    }
    __device__ __forceinline__ uint32_t k_full(int g) const { return bars + 8 * (g % C::STAGES); }
    __device__ __forceinline__ uint32_t v_full(int g) const {
        return bars + 8 * (C::STAGES + g % C::STAGES);
    }
    __device__ __forceinline__ uint32_t empty(int g) const {
        return bars + 8 * (2 * C::STAGES + g % C::STAGES);
    }
};

// Parity of the phase that fill g // STAGES of a stage completes.
template <class C>
__device__ __forceinline__ uint32_t fill_parity(int g) {
    return static_cast<uint32_t>((g / C::STAGES) & 1);
}

// Block-table entry of block `lane` of the tile at key0 (0 past the stream's end): one load per
// warp and tile, handed out to the copies by shuffles (produce_kv_tile).
__device__ __forceinline__ int32_t tile_block_entry(const PagedKv &kv, const int32_t *blocks,
                                                    int key0, int end, int lane) {
    const int b = (key0 >> kv.block_shift) + lane;
    return (b << kv.block_shift) < end ? blocks[b] : 0;
}

// load_kv_tile for a producer warp. With blocks of at least 4 keys a 128-key tile spans at most
// 32 blocks, and the lanes hold the tile's block-table entries (tile_block_entry): no copy then
// waits on a dependent load. Smaller blocks read the table per row. Passes are unrolled by two
// only: the producers run on 24 registers.
template <int D, int ROWS, int THREADS, class Layout>
__device__ __forceinline__ void produce_kv_tile(uint32_t tile, const PagedKv &kv,
                                                const int32_t *blocks, bool shuffled, int32_t entry,
                                                int key0, int end, bool value, int tid) {
    constexpr int kChunks = D / 8, kRowsPerPass = THREADS / kChunks;
    static_assert(ROWS % kRowsPerPass == 0 && ROWS <= 128, "whole passes over at most 32 blocks");
    const int chunk = tid % kChunks, b0 = key0 >> kv.block_shift;
#pragma unroll 2
    for (int pass = 0; pass < ROWS / kRowsPerPass; ++pass) {
        const int row = tid / kChunks + pass * kRowsPerPass, key = key0 + row;
        const bool ok = key < end;
        int32_t block;
        if (shuffled) {
            block = __shfl_sync(0xffffffffu, entry, (key >> kv.block_shift) - b0);
        } else {
            block = ok ? blocks[key >> kv.block_shift] : 0;
        }
        const bf16 *src = ok ? kv_chunk<D>(kv, block, key, value, chunk) : kv.pool;
        cp_async_16(tile + Layout::offset(row, chunk), src, ok);
    }
}

// Warpgroups 0 and 1: tile g of the flash pass (key tile n_tiles - 1 - g, K and V) and, with
// scores, step j = g - n_tiles of the score pass (K only), stage g % STAGES. The block-table
// entries of fill g + 1 load while fill g's copies are issued.
template <class C, bool kScores>
__device__ __forceinline__ void prefill_produce(const PrefillParams &p, const DeviceStream &st,
                                                const PrefillTiles &t, const PrefillSmem<C> &sm,
                                                int tid) {
    using Tile = BlockSwizzle128<C::BN>;
    constexpr int P = C::kProducerThreads;
    const int total = kScores ? 2 * t.n_tiles : t.n_tiles, lane = tid & 31;
    auto key0_of = [&](int g) {
        return (g < t.n_tiles ? t.n_tiles - 1 - g : t.score_tile(g - t.n_tiles)) * C::BN;
    };
    const bool shuffled = p.kv.block_shift >= 2;
    int32_t entry = shuffled ? tile_block_entry(p.kv, st.blocks, key0_of(0), st.length, lane) : 0;
    for (int g = 0; g < total; ++g) {
        const int key0 = key0_of(g);
        int32_t next = 0;
        if (shuffled && g + 1 < total)
            next = tile_block_entry(p.kv, st.blocks, key0_of(g + 1), st.length, lane);
        mbarrier_wait(sm.empty(g), fill_parity<C>(g) ^ 1u);
        const uint32_t stage = sm.stage(g);
        for (int v = 0; v < (g < t.n_tiles ? 2 : 1); ++v) {  // K, and V in the flash pass
            produce_kv_tile<C::D, C::BN, P, Tile>(stage + v * C::kTileBytes, p.kv, st.blocks,
                                                  shuffled, entry, key0, st.length, v, tid);
            cp_async_arrive(v ? sm.v_full(g) : sm.k_full(g));
        }
        entry = next;
    }
    cp_async_wait<0>();  // nothing in flight when the warps exit
}

// Waits for a stage's fill (K or V barrier) and makes the copies visible to wgmma.
__device__ __forceinline__ void wait_stage(uint32_t bar, uint32_t parity) {
    mbarrier_wait(bar, parity);
    fence_proxy_async();
}

template <class C, bool kScores>
__global__ void __launch_bounds__(C::kThreads, 1)
    prefill_sm90_kernel(const __grid_constant__ PrefillParams p) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    constexpr int D = C::D, BM = C::BM, BN = C::BN, NT = C::NT, DT = C::DT;
    constexpr int kConsumers = C::kConsumerThreads;
    extern __shared__ unsigned char smem_raw[];
    const PrefillSmem<C> sm = PrefillSmem<C>::at(smem_raw);
    const int tid = threadIdx.x, lane = tid & 31, warp = (tid >> 5) & 3;
    const int head_kv = blockIdx.y;
    const DeviceStream st = p.streams[head_kv];
    const PrefillTiles t = PrefillTiles::of<BM, BN>(p, st);

    if (tid == 0) {
        for (int s = 0; s < C::STAGES; ++s) {
            mbarrier_init(sm.k_full(s), C::kProducerThreads);
            mbarrier_init(sm.v_full(s), C::kProducerThreads);
            mbarrier_init(sm.empty(s), kConsumers);
        }
    }
    __syncthreads();  // the last CTA-wide barrier: the producers may exit before the consumers
    if (tid < C::kProducerThreads) {
        registers_decrease<C::kProducerRegisters>();
        prefill_produce<C, kScores>(p, st, t, sm, tid);
        return;
    }
    registers_increase<C::kConsumerRegisters>();
    const int cwg = (tid - C::kProducerThreads) >> 7;  // consumer 0 or 1
    const int wg_row0 = cwg * 64;                      // its rows in the tile

    int limit[1][2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const int packed = t.row0 + wg_row0 + warp * 16 + (lane >> 2) + 8 * h;
        limit[0][h] = packed < p.n_rows ? t.first + packed / p.group : -1;
    }
    float o[DT][4], m[1][2], l[1][2];
#pragma unroll
    for (int dt = 0; dt < DT; ++dt)
#pragma unroll
        for (int c = 0; c < 4; ++c) o[dt][c] = 0.0f;
    m[0][0] = m[0][1] = -CUDART_INF_F;
    l[0][0] = l[0][1] = 0.0f;

    // Each consumer copies its own rows of Q (the producers' registers would not hold the
    // address arithmetic) while the producers fill the ring.
    load_q_tile<C, BlockSwizzle128<BM>, 64, 128>(sm.q, p, head_kv, t.row0, tid & 127, wg_row0);
    cp_async_commit();
    cp_async_wait<0>();
    fence_proxy_async();
    named_sync(kQBarrier + cwg, 128);

    // Iteration i: S_i = Q K_i; then P_{i-1} V_{i-1} runs while the softmax of S_i does.
    uint32_t pa[NT / 2][4];
    for (int i = 0; i < t.n_tiles; ++i) {
        const int tile = t.n_tiles - 1 - i;
        wait_stage(sm.k_full(i), fill_parity<C>(i));
        if (i > 0) wait_stage(sm.v_full(i - 1), fill_parity<C>(i - 1));
        float s[1][NT][4];
        issue_qk<C>(s[0], sm.q, wg_row0, sm.stage(i));
        // One branch from the products' issue to their wait: split over two, ptxas serializes
        // every wgmma of the kernel (C7514).
        if (i > 0) {
            issue_pv<C>(o, pa, sm.stage(i - 1) + C::kTileBytes);
            wgmma_wait<1>();
        } else {
            wgmma_wait<0>();
        }
        fence_operands(s[0]);
        if (tile * BN + BN - 1 > t.mask_from) mask_keys<1, NT>(s, limit, tile * BN, lane);
        float alpha[2];
        softmax_step<NT>(s, m, l, alpha, p.scale_log2);
        wgmma_wait<0>();
        fence_operands(o);
        fence_operands(pa);
        if (i > 0) mbarrier_arrive(sm.empty(i - 1));  // P_{i-1} V_{i-1} and S_{i-1} landed
        pack_p<NT>(pa, s);
#pragma unroll
        for (int dt = 0; dt < DT; ++dt) {
            o[dt][0] *= alpha[0];
            o[dt][1] *= alpha[0];
            o[dt][2] *= alpha[1];
            o[dt][3] *= alpha[1];
        }
    }
    const int last = t.n_tiles - 1;
    wait_stage(sm.v_full(last), fill_parity<C>(last));
    issue_pv<C>(o, pa, sm.stage(last) + C::kTileBytes);
    wgmma_wait<0>();
    fence_operands(o);
    fence_operands(pa);
    mbarrier_arrive(sm.empty(last));

    // Normalize and store; 4-byte stores of a quad cover 16 contiguous bytes of a row.
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        l[0][h] = quad_sum(l[0][h]);
        const int row = wg_row0 + warp * 16 + (lane >> 2) + 8 * h, packed = t.row0 + row;
        if constexpr (kScores) {
            if ((lane & 3) == 0) {
                sm.row_lse[row] = limit[0][h] >= 0 && l[0][h] > 0.0f
                                      ? m[0][h] + __log2f(l[0][h])
                                      : CUDART_INF_F;  // padding rows: p = 0
                sm.row_limit[row] = limit[0][h];
            }
        }
        if (packed >= p.n_rows) continue;
        const float inv = l[0][h] > 0.0f ? 1.0f / l[0][h] : 0.0f;
        const int query = packed / p.group, head = head_kv * p.group + packed % p.group;
        bf16 *dst = p.out + query * p.out_stride + head * D + 2 * (lane & 3);
#pragma unroll
        for (int dt = 0; dt < DT; ++dt)
            *reinterpret_cast<__nv_bfloat162 *>(dst + dt * 8) =
                __floats2bfloat162_rn(o[dt][2 * h] * inv, o[dt][2 * h + 1] * inv);
    }

    if constexpr (kScores) {
        named_sync(kConsumersBarrier, kConsumers);  // every row's lse and limit written
        ScoreColumns cols;
        const int first_window = p.n - max(p.window, 1);  // the last query counts for `last`
        const bool tail = t.q_hi >= first_window;
#pragma unroll
        for (int j = 0; j < BM / 8; ++j)
#pragma unroll
            for (int c = 0; c < 2; ++c) {
                const int row = 8 * j + 2 * (lane & 3) + c;
                const int query = sm.row_limit[row] - t.first;
                if (sm.row_limit[row] >= 0 && query >= p.n - p.window)
                    cols.in_window |= 1u << (2 * j + c);
                if (sm.row_limit[row] >= 0 && query == p.n - 1) cols.is_last |= 1u << (2 * j + c);
            }
        // Step j of this pass is ring fill n_tiles + j.
        auto issue_kq = [&](float(&s)[BM / 8][4], int j) {
            const int g = t.n_tiles + j;
            wait_stage(sm.k_full(g), fill_parity<C>(g));
            wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < D / 16; ++kk)
                wgmma_ss<0>(s, kmajor_desc<BN>(sm.stage(g), cwg * 64, kk),
                            kmajor_desc<BM>(sm.q, 0, kk), kk > 0);
            wgmma_commit();
        };
        grid_dependency_wait();  // prefill_scores_prepare has zeroed the assigned accumulators
        const int key_in_tile = cwg * 64 + warp * 16 + (lane >> 2);
        // Step j: the product of step j + 1 is issued (unless j is the last), then step j's
        // sums are taken. The steps are unrolled by two with the tail peeled, so that every path
        // through the loop issues and retires the products in the same order.
        auto step = [&](int j, float(&cur)[BM / 8][4], float(&next)[BM / 8][4], bool issue) {
            if (issue) {
                issue_kq(next, j + 1);
                wgmma_wait<1>();
            } else {
                wgmma_wait<0>();
            }
            fence_operands(cur);
            mbarrier_arrive(sm.empty(t.n_tiles + j));  // step j's product has read its stage
            const int tile = t.score_tile(j), key0 = tile * BN + key_in_tile;
            const bool masked = tile * BN + BN - 1 > t.mask_from;
            if (tail) {
                masked ? score_sums<C, true, true>(cur, cols, sm.row_lse, sm.row_limit, p,
                                                   st.blocks, key0, t.key_end, lane)
                       : score_sums<C, false, true>(cur, cols, sm.row_lse, sm.row_limit, p,
                                                    st.blocks, key0, t.key_end, lane);
            } else {
                masked ? score_sums<C, true, false>(cur, cols, sm.row_lse, sm.row_limit, p,
                                                    st.blocks, key0, t.key_end, lane)
                       : score_sums<C, false, false>(cur, cols, sm.row_lse, sm.row_limit, p,
                                                     st.blocks, key0, t.key_end, lane);
            }
        };
        float s0[BM / 8][4], s1[BM / 8][4];
        issue_kq(s0, 0);
        int j = 0;
        for (; j + 2 < t.n_tiles; j += 2) {
            step(j, s0, s1, true);
            step(j + 1, s1, s0, true);
        }
        if (j + 1 < t.n_tiles) {
            step(j, s0, s1, true);
            step(j + 1, s1, s0, false);
        } else {
            step(j, s0, s1, false);
        }
    }
#endif
}

}  // namespace cab::cuda::attn
