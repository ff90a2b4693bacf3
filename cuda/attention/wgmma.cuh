// Warpgroup-level tensor-core primitives of Hopper (sm_90a PTX): wgmma.mma_async with operands in
// shared memory described by 64-bit matrix descriptors, A optionally from registers, and the
// fences and waits around it. A warpgroup is 4 consecutive warps; an instruction computes a
// 64 x N tile, warp w of the group holding rows 16w .. 16w + 15 in the same fragment layout as
// mma.sync's m16n8 (mma.cuh), repeated over N / 8 column groups: element d[j][c] is row
// lane / 4 + 8 * (c / 2), column 8j + 2 * (lane % 4) + c % 2.
//
// Shared-memory tiles use the canonical 128-byte swizzle: a tile of ROWS x D bf16 is D / 64
// column blocks of [ROWS][64] (128-byte rows), the 16-byte chunk c of row r stored at
// c ^ (r % 8); 8 rows make a 1024-byte atom, and tiles start 1024-byte aligned. The same layout
// serves K-major operands (Q, K: rows are M or N, columns K) and the MN-major V (rows are K).
//
// The asynchronous instructions read and write their registers after they issue, which the
// compiler cannot see: fence_operands after a wait pins the accumulators (and register A
// operands) so that nothing reads or reuses them before it.
#pragma once

#include <cstdint>

namespace cab::cuda::attn {

// Byte offset of 16-byte chunk `chunk` of row `row` in a 128-byte-swizzled tile of ROWS rows.
template <int ROWS>
__device__ __forceinline__ uint32_t swz128(int row, int chunk) {
    return static_cast<uint32_t>((chunk >> 3) * (ROWS * 128) + row * 128 +
                                 (((chunk & 7) ^ (row & 7)) << 4));
}

// That layout as a tile loader's Layout argument (page.cuh).
template <int ROWS>
struct BlockSwizzle128 {
    static __device__ __forceinline__ uint32_t offset(int row, int chunk) {
        return swz128<ROWS>(row, chunk);
    }
};

// Descriptor of a 128-byte-swizzled operand at shared address `addr`: `lbo` is the byte stride
// between 64-column blocks of an MN-major operand (unused for K-major ones), `sbo` the stride
// between 8-row groups (1024 for dense atoms). Stepping K by 16 elements within a block adds 32
// bytes to the address; the hardware applies the swizzle to the address it forms.
__device__ __forceinline__ uint64_t smem_desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
    return static_cast<uint64_t>((addr & 0x3ffff) >> 4) |
           static_cast<uint64_t>((lbo & 0x3ffff) >> 4) << 16 |
           static_cast<uint64_t>((sbo & 0x3ffff) >> 4) << 32 | uint64_t{1} << 62;
}

// The descriptor of the operand `bytes` (a multiple of 16) past the one `desc` describes. The
// address field is the low 14 bits of 16-byte units and shared addresses stay under 2^18, so the
// add never carries out of it: one add per product instead of encoding the address again, whose
// masks and shifts were a tenth of the flash loop's instructions at head_dim 64.
__device__ __forceinline__ uint64_t desc_advance(uint64_t desc, int bytes) {
    return desc + bytes / 16;
}

__device__ __forceinline__ void wgmma_fence() {
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}

__device__ __forceinline__ void wgmma_commit() {
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}

// Waits until at most N of the warpgroup's committed wgmma groups are in flight.
template <int N>
__device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

// Shared memory written by ordinary stores or cp.async becomes visible to wgmma (the async
// proxy) after this fence and a barrier.
__device__ __forceinline__ void fence_proxy_async() {
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

template <int N>
__device__ __forceinline__ void fence_operands(float (&d)[N][4]) {
#pragma unroll
    for (int j = 0; j < N; ++j)
#pragma unroll
        for (int c = 0; c < 4; ++c) asm volatile("" : "+f"(d[j][c])::"memory");
}

template <int N>
__device__ __forceinline__ void fence_operands(uint32_t (&a)[N][4]) {
#pragma unroll
    for (int j = 0; j < N; ++j)
#pragma unroll
        for (int c = 0; c < 4; ++c) asm volatile("" : "+r"(a[j][c])::"memory");
}

// Inline assembly has no array operands: each wrapper names every accumulator register, through
// these lists (undefined again at the end of this file).
#define CAB_WGMMA_D4(j) "+f"(d[j][0]), "+f"(d[j][1]), "+f"(d[j][2]), "+f"(d[j][3])
#define CAB_WGMMA_D32                                                                    \
    CAB_WGMMA_D4(0), CAB_WGMMA_D4(1), CAB_WGMMA_D4(2), CAB_WGMMA_D4(3), CAB_WGMMA_D4(4), \
        CAB_WGMMA_D4(5), CAB_WGMMA_D4(6), CAB_WGMMA_D4(7)
#define CAB_WGMMA_D64                                                                    \
    CAB_WGMMA_D32, CAB_WGMMA_D4(8), CAB_WGMMA_D4(9), CAB_WGMMA_D4(10), CAB_WGMMA_D4(11), \
        CAB_WGMMA_D4(12), CAB_WGMMA_D4(13), CAB_WGMMA_D4(14), CAB_WGMMA_D4(15)
#define CAB_WGMMA_D96                                                                      \
    CAB_WGMMA_D64, CAB_WGMMA_D4(16), CAB_WGMMA_D4(17), CAB_WGMMA_D4(18), CAB_WGMMA_D4(19), \
        CAB_WGMMA_D4(20), CAB_WGMMA_D4(21), CAB_WGMMA_D4(22), CAB_WGMMA_D4(23)
#define CAB_WGMMA_R32                                                                \
    "{"                                                                              \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "         \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31" \
    "}, "
#define CAB_WGMMA_R64                                                                  \
    "{"                                                                                \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "           \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
    "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"   \
    "}, "
#define CAB_WGMMA_R96                                                                  \
    "{"                                                                                \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "           \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
    "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, " \
    "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, " \
    "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95"   \
    "}, "

// D (m64 x n64) = A * B, or D += A * B when accumulate; A (m64 x k16) and B (k16 x n64) from
// shared memory.
template <int kTransB>
__device__ __forceinline__ void wgmma_ss(float (&d)[8][4], uint64_t a, uint64_t b,
                                         bool accumulate) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " CAB_WGMMA_R32
        "%32, %33, p, 1, 1, 0, %35;\n}\n"
        : CAB_WGMMA_D32
        : "l"(a), "l"(b), "r"(static_cast<int>(accumulate)), "n"(kTransB));
}

// D (m64 x n64) += A * B; A (m64 x k16) from bf16 registers, B (k16 x n64) from shared memory.
template <int kTransB>
__device__ __forceinline__ void wgmma_rs(float (&d)[8][4], const uint32_t (&a)[4], uint64_t b) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " CAB_WGMMA_R32
        "{%32, %33, %34, %35}, %36, p, 1, 1, %38;\n}\n"
        : CAB_WGMMA_D32
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1), "n"(kTransB));
}

// D (m64 x n128) = A * B, or D += A * B when accumulate; A (m64 x k16) and B (k16 x n128) from
// shared memory.
template <int kTransB>
__device__ __forceinline__ void wgmma_ss(float (&d)[16][4], uint64_t a, uint64_t b,
                                         bool accumulate) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " CAB_WGMMA_R64
        "%64, %65, p, 1, 1, 0, %67;\n}\n"
        : CAB_WGMMA_D64
        : "l"(a), "l"(b), "r"(static_cast<int>(accumulate)), "n"(kTransB));
}

// D (m64 x n128) += A * B; A (m64 x k16) from bf16 registers, B (k16 x n128) from shared memory.
template <int kTransB>
__device__ __forceinline__ void wgmma_rs(float (&d)[16][4], const uint32_t (&a)[4], uint64_t b) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " CAB_WGMMA_R64
        "{%64, %65, %66, %67}, %68, p, 1, 1, %70;\n}\n"
        : CAB_WGMMA_D64
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1), "n"(kTransB));
}

// D (m64 x n192) = A * B, or D += A * B when accumulate; A (m64 x k16) and B (k16 x n192) from
// shared memory.
template <int kTransB>
__device__ __forceinline__ void wgmma_ss(float (&d)[24][4], uint64_t a, uint64_t b,
                                         bool accumulate) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %98, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n192k16.f32.bf16.bf16 " CAB_WGMMA_R96
        "%96, %97, p, 1, 1, 0, %99;\n}\n"
        : CAB_WGMMA_D96
        : "l"(a), "l"(b), "r"(static_cast<int>(accumulate)), "n"(kTransB));
}

#undef CAB_WGMMA_R96
#undef CAB_WGMMA_R64
#undef CAB_WGMMA_R32
#undef CAB_WGMMA_D96
#undef CAB_WGMMA_D64
#undef CAB_WGMMA_D32
#undef CAB_WGMMA_D4

}  // namespace cab::cuda::attn
