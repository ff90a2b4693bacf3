// Synchronisation of warp-specialized kernels (sm_90): mbarriers in shared memory that a
// producer's cp.async or tensor (TMA) copies complete, and that consumers arrive on when they
// are done with a stage; named barriers over a subset of the CTA's warps; register reallocation
// between warpgroups. The ring's convention is CUTLASS's: fill f of a stage completes phase f of
// its `full` barrier, and the producer waits on `empty` with the opposite parity, so its first pass
// over the ring does not wait.
#pragma once

#include <cstdint>

namespace cab::cuda::attn {

__device__ __forceinline__ void mbarrier_init(uint32_t bar, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}

__device__ __forceinline__ void mbarrier_arrive(uint32_t bar) {
    asm volatile("{\n.reg .b64 state;\nmbarrier.arrive.shared::cta.b64 state, [%0];\n}\n" ::"r"(bar)
                 : "memory");
}

// One arrival on `bar` once every cp.async this thread issued so far has landed; the barrier's
// expected count includes it (.noinc).
__device__ __forceinline__ void cp_async_arrive(uint32_t bar) {
    asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}

// Blocks until the phase of `bar` with this parity has completed.
__device__ __forceinline__ void mbarrier_wait(uint32_t bar, uint32_t parity) {
    asm volatile(
        "{\n.reg .pred done;\n"
        "retry:\n"
        "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
        "@!done bra retry;\n}\n" ::"r"(bar),
        "r"(parity)
        : "memory");
}

// Adds `bytes` to the transaction count that the barrier's current phase waits for (the bytes
// that tensor copies will complete on it), without an arrival.
__device__ __forceinline__ void mbarrier_expect_tx(uint32_t bar, uint32_t bytes) {
    asm volatile("mbarrier.expect_tx.relaxed.cta.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(bytes)
                 : "memory");
}

// One arrival on `bar` that also adds `bytes` to the transaction count of its current phase.
__device__ __forceinline__ void mbarrier_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
    asm volatile(
        "{\n.reg .b64 state;\nmbarrier.arrive.expect_tx.shared::cta.b64 state, [%0], %1;\n}\n" ::
            "r"(bar),
        "r"(bytes)
        : "memory");
}

// The tensor copy (TMA) of the box at coordinates {col, row} of a 2-D tensor map into shared
// memory at `dst`, completing its bytes on `bar`. `map` is the generic address of a
// __grid_constant__ CUtensorMap.
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const void *map, int col, int row,
                                            uint32_t bar) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes "
        "[%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst),
        "l"(map), "r"(col), "r"(row), "r"(bar)
        : "memory");
}

// Named barrier `id` (1..15; 0 is __syncthreads) over `threads` threads.
__device__ __forceinline__ void named_sync(int id, int threads) {
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

// Every warp of a warpgroup must execute these together.
template <int N>
__device__ __forceinline__ void registers_increase() {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}

template <int N>
__device__ __forceinline__ void registers_decrease() {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}

}  // namespace cab::cuda::attn
