// How the decode GEMV divides its work, kept out of the kernel (as FlashAttention's
// hopper/heuristics.h). A CTA of kWarps warps works on groups of kGroupRows weight rows; each
// group's k is cut into chunks of kChunk elements (one 16-byte load per lane) and the chunks are
// dealt to `slices` warps, which add their partial dots in shared memory.
#pragma once

#include <algorithm>
#include <cstdint>

namespace cab::cuda::gemv {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kGroupRows = 2;  // weight rows per warp: each x load feeds two rows
constexpr int kBatch = 4;      // chunks per row a warp has in flight
constexpr int kChunk = 32 * 8;
// Normalized rows staged in shared memory, at most: two CTAs still fit on an SM (Hopper's 227
// KiB), so a CTA waiting for the previous kernel leaves room for the one running.
constexpr int kMaxStageBytes = 96 << 10;

struct Plan {
    int slices = 1;  // warps per group, 1..kWarps, a power of two
    int grid = 1;    // CTAs
};

// Enough warps per group that each has at most kBatch chunks in flight, so that a layer of a
// small model (k = 896: 4 chunks) has its whole matrix in flight at once and a large k (18944:
// 74 chunks) still keeps 8 warps streaming one group. Then as many CTAs as can be resident,
// fewer where that evens the groups per warp (4864 groups on 3168 resident warps: 2 each on
// 2432 warps, not 2 on some and 1 on others, which would cost as much as 2 everywhere).
inline Plan plan_gemv(int64_t k, int64_t groups, int64_t resident_ctas) {
    Plan p;
    const int64_t chunks = (k + kChunk - 1) / kChunk;
    while (p.slices < kWarps && (chunks + p.slices - 1) / p.slices > kBatch) p.slices *= 2;
    const int64_t per_cta = kWarps / p.slices;
    const int64_t ctas = (groups + per_cta - 1) / per_cta;
    const int64_t resident = std::max<int64_t>(resident_ctas, 1);
    const int64_t rounds = (ctas + resident - 1) / resident;
    p.grid = static_cast<int>((ctas + rounds - 1) / rounds);
    return p;
}

}  // namespace cab::cuda::gemv
