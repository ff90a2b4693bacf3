// The Hopper prefill kernel's CTA (prefill_sm90.cuh): tile sizes and thread roles per head size,
// the CTA's rows and key tiles, the shared-memory layout of Q and the ring of K/V stages with
// their mbarriers, and the operand descriptors of those tiles.
#pragma once

#include <cuda.h>  // CUtensorMap (the driver is reached through the runtime: nothing to link)

#include "attention/async_ring.cuh"
#include "attention/mma.cuh"
#include "attention/params.cuh"
#include "attention/wgmma.cuh"

namespace cab::cuda::attn {

// The kernel's parameters: those of every prefill kernel, and a tensor map over the K/V pool
// (rows of head_dim bf16, 128-byte swizzle, boxes of 64 columns and tma_rows rows: one block, or
// a tile's part of a larger one). With tma_rows = 0 (blocks under 4 keys, or no tensor-map
// entry point in the driver) the producers copy every tile with cp.async.
struct PrefillSm90Params {
    CUtensorMap kv_map;
    PrefillParams base;
    int32_t tma_rows;
};

// Consumer warpgroups of 64 rows each: three at head_dim 64 where the grid is large enough, as
// FlashAttention-3 runs it (with two, the short products and score pass leave the tensor cores
// idle between them: PERFORMANCE.md), two at 128, whose accumulators need the registers of two.
// One (head_dim 64) for small grids (prefill.cu): two CTAs of 64 rows share an SM, so that the
// SM holding the longest rows also holds short ones.
template <int D_, int kWarpgroups = D_ == 64 ? 3 : 2>
struct PrefillSm90Config {
    static constexpr int D = D_, kConsumerWarpgroups = kWarpgroups;
    static_assert(kWarpgroups == 2 || (D == 64 && (kWarpgroups == 1 || kWarpgroups == 3)),
                  "registers for 64 columns");
    static constexpr int BM = 64 * kConsumerWarpgroups, BN = 128;
    // Keys of a score pass step: 64 for each consumer, as kScoreHalves products of 64 keys; a
    // lone consumer takes 128, so that its ring of three stages runs as many keys ahead as a
    // flash tile (PERFORMANCE.md).
    static constexpr int kScoreHalves = kConsumerWarpgroups == 1 ? 2 : 1;
    static constexpr int BNS = 64 * kScoreHalves * kConsumerWarpgroups;
    // CTAs an SM holds at once (their registers and shared memory split it).
    static constexpr int kCtasPerSm = kConsumerWarpgroups == 1 ? 2 : 1;
    // One producer warpgroup: its tensor copies (one instruction a block) keep the ring full;
    // with cp.async alone, two were needed to issue a tile's copies as fast as the consumers
    // take them (PERFORMANCE.md, "What was tried").
    static constexpr int kProducerThreads = 128, kConsumerThreads = 128 * kConsumerWarpgroups;
    // Where tensor copies can fill the ring (PrefillSm90Params::tma_rows > 0), one producer warp
    // does, cp.async included, and the other three exit at once: their waits on the ring took a
    // sixth of the kernel's issued instructions from the schedulers the consumers share.
    static constexpr int kTmaProducerThreads = 32;
    static constexpr int kThreads = kProducerThreads + kConsumerThreads;
    // Registers per thread after the producers give their share to the consumers (the CTA's
    // 65,536 / kCtasPerSm: 128 x 56 + 256 x 224, 128 x 32 + 384 x 160, or 128 x 32 + 128 x 224;
    // setmaxnreg takes multiples of 8).
    static constexpr int kProducerRegisters = kConsumerWarpgroups == 2 ? 56 : 32;
    static constexpr int kConsumerRegisters = kConsumerWarpgroups == 3 ? 160 : 224;
    static_assert(kProducerThreads * kProducerRegisters + kConsumerThreads * kConsumerRegisters <=
                      65536 / kCtasPerSm,
                  "the CTA's registers");
    // cp.async passes unrolled per producer loop iteration: two spill 32 registers.
    static constexpr int kProducerUnroll = kProducerRegisters >= 56 ? 2 : 1;
    // The score pass sums on the tensor cores at head_dim 64, in registers at 128: each the
    // faster on the H100 (PERFORMANCE.md, "What was tried").
    static constexpr bool kTensorScoreSums = D == 64;
    // Two S^T accumulator sets per consumer (the next step's product in flight during this one's
    // exponentials) where their registers fit: with three consumers the others' products overlap.
    static constexpr bool kScoreDoubleBuffer = kConsumerWarpgroups <= 2;
    static constexpr int NT = BN / 8, DT = D / 8;
    static constexpr int kQBytes = BM * D * 2, kTileBytes = BN * D * 2,
                         kScoreTileBytes = BNS * D * 2;
    static constexpr int kStageBytes = 2 * kTileBytes;  // K then V
    static_assert(kScoreTileBytes <= kStageBytes, "a score step's K fits a stage");
    // As many stages as fit beside Q (227 KB of shared memory a CTA, 113 KB with two an SM).
    static constexpr int STAGES = kCtasPerSm == 2 || D == 128 ? 3 : 4;
    // The score pass keeps each row's lse and causal limit in shared memory, and with tensor
    // sums the B fragments of its row weights (prefill_sm90_scores.cuh: 8 bytes per lane and 16
    // rows).
    static constexpr int kWeightFragments = kTensorScoreSums ? BM / 16 * 32 : 0;
    static constexpr int kRowBytes = BM * 8 + kWeightFragments * 8;
    // mbarriers: full K, full V and empty per stage.
    static constexpr int kBarrierBytes = 3 * STAGES * 8;
    // Slack to align the tiles to 1024 bytes (the 128-byte swizzle's atom).
    static constexpr int kSmemBytes =
        1024 + kQBytes + STAGES * kStageBytes + kRowBytes + kBarrierBytes;
    static_assert(kSmemBytes <= (kCtasPerSm == 1 ? 227 : 113) * 1024, "kCtasPerSm CTAs an SM");
};

// Named barriers of the consumers (0 is __syncthreads): both consumers, and each one's Q rows
// landed (2, 3).
enum PrefillBarrier : int { kConsumersBarrier = 1, kQBarrier = 2 };

// Descriptor of the 64 rows [row0, row0 + 64) of a 128-byte-swizzled tile of ROWS rows as a
// K-major operand, at k-step kk (columns 16kk .. 16kk + 15).
template <int ROWS>
__device__ __forceinline__ uint64_t kmajor_desc(uint32_t tile, int row0, int kk) {
    return desc_advance(smem_desc(tile, 16, 1024),
                        (kk >> 2) * (ROWS * 128) + row0 * 128 + (kk & 3) * 32);
}

// Descriptor of V rows (keys) 16kk .. 16kk + 15 of a tile of BN keys as the MN-major B operand
// of P V (N = the head's columns, 64 per block).
template <int BN>
__device__ __forceinline__ uint64_t value_desc(uint32_t tile, int kk) {
    return desc_advance(smem_desc(tile, BN * 128, 1024), kk * 16 * 128);
}

// The CTA's geometry, the same for all its warpgroups: flash tiles of BN keys, score steps of BNS.
struct PrefillTiles {
    int row0, rank, first, q_lo, q_hi, key_end, n_tiles, n_steps, mask_from;

    template <int BM, int BN, int BNS>
    __device__ __forceinline__ static PrefillTiles of(const PrefillParams &p,
                                                      const DeviceStream &st,
                                                      const PrefillCta &cta) {
        PrefillTiles t;
        t.row0 = cta.row0;
        t.rank = cta.rank;
        t.first = st.length - p.n;
        const int row_end = min(t.row0 + BM, p.n_rows);
        t.q_lo = t.row0 / p.group;
        t.q_hi = (row_end - 1) / p.group;
        t.key_end = t.first + t.q_hi + 1;
        t.n_tiles = (t.key_end + BN - 1) / BN;
        t.n_steps = (t.key_end + BNS - 1) / BNS;
        t.mask_from = t.first + t.q_lo;
        return t;
    }
    // Key tile (of BNS keys) of the score pass's step j: CTAs start at different tiles so that
    // concurrent ones add to different keys.
    __device__ __forceinline__ int score_tile(int j) const {
        const int t0 = rank % n_steps;
        return t0 + j < n_steps ? t0 + j : t0 + j - n_steps;
    }
};

// Stage of ring fill g (g >= 0). Unsigned, so that % and / by STAGES need no sign fix-up.
template <class C>
__device__ __forceinline__ uint32_t slot(int g) {
    return static_cast<uint32_t>(g) % C::STAGES;
}

// Shared-memory addresses of the tiles and barriers (kSmemBytes' layout).
template <class C>
struct PrefillSmem {
    uint32_t q, ring, bars;
    float *row_lse;
    int *row_limit;
    uint2 *score_weights;

    __device__ __forceinline__ static PrefillSmem at(unsigned char *raw_ptr) {
        PrefillSmem s;
        const uint32_t raw = smem_u32(raw_ptr), base = (raw + 1023) & ~1023u;
        s.q = base;
        s.ring = base + C::kQBytes;
        s.row_lse =
            reinterpret_cast<float *>(raw_ptr + (s.ring + C::STAGES * C::kStageBytes - raw));
        s.row_limit = reinterpret_cast<int *>(s.row_lse + C::BM);
        s.score_weights = reinterpret_cast<uint2 *>(s.row_limit + C::BM);
        s.bars = smem_u32(s.score_weights + C::kWeightFragments);
        return s;
    }
    __device__ __forceinline__ uint32_t stage(int g) const {
        return ring + slot<C>(g) * C::kStageBytes;
    }
    __device__ __forceinline__ uint32_t k_full(int g) const { return bars + 8 * slot<C>(g); }
    __device__ __forceinline__ uint32_t v_full(int g) const {
        return bars + 8 * (C::STAGES + slot<C>(g));
    }
    __device__ __forceinline__ uint32_t empty(int g) const {
        return bars + 8 * (2 * C::STAGES + slot<C>(g));
    }
};

// Parity of the phase that fill g // STAGES of a stage completes.
template <class C>
__device__ __forceinline__ uint32_t fill_parity(int g) {
    return (static_cast<uint32_t>(g) / C::STAGES) & 1u;
}

// Whether the producer fills the tile of keys [key0, key0 + ROWS) by tensor copies: whole
// tiles of at most 32 boxes (one a lane), when the map allows. Else by cp.async (the tile
// reaching past the stream's end, whose missing rows must be zeros, or small blocks).
template <int ROWS>
__device__ __forceinline__ bool tile_by_tma(const PrefillSm90Params &pp, int key0, int length) {
    return pp.tma_rows > 0 && ROWS <= 32 * pp.tma_rows && key0 + ROWS <= length;
}

// Waits for a stage's fill (K or V barrier). Copies by cp.async (by_tma false) are generic-proxy
// writes, which wgmma sees only after a proxy fence; tensor copies need none, and the fence is
// not free: it waits for the thread's own global writes (the score pass's reductions).
__device__ __forceinline__ void wait_stage(uint32_t bar, uint32_t parity, bool by_tma) {
    mbarrier_wait(bar, parity);
    if (!by_tma) fence_proxy_async();
}

}  // namespace cab::cuda::attn
