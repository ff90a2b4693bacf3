// Decode GEMV kernels (gemv.cuh); how the work is divided: heuristics.h. A warp holds kGroupRows
// weight rows x kBatch chunks of 16-byte loads in registers (lane l of a chunk covers its elements
// 8l .. 8l + 7) and reads the input rows, staged once per CTA as bf16 [R][k], from shared memory.
// Each kernel first loads its first weight batch, lets the next kernel launch, and only then waits
// for the previous kernel (programmatic dependent launch): weights are never written during a
// step; activations are read and written only after the wait, through L2 (ld.global.cg: no
// line an SM cached before the wait can be hit). Without the launch attribute the wait and the
// trigger do nothing. The kernel's parts: common.cuh (parameters, which rows a group reads),
// staging.cuh (the input rows), epilogue.cuh (what a group writes).
#include <cuda_bf16.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "attention/launch.h"
#include "gemv/common.cuh"
#include "gemv/epilogue.cuh"
#include "gemv/gemv.cuh"
#include "gemv/heuristics.h"
#include "gemv/staging.cuh"
#include "util/error.h"

namespace cab::cuda::gemv {
namespace {

using namespace detail;

// A weight load: read once per step, so it does not allocate in L1; volatile keeps it before the
// grid dependency wait, where it is issued.
__device__ __forceinline__ uint4 load_weights(const uint16_t *p) {
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

__device__ __forceinline__ void prefetch_l2(const void *p) {
    asm volatile("prefetch.global.L2 [%0];\n" ::"l"(p));
}

// Chunks [b, b + kBatch) of slice s of group g's rows; zeros where there is no chunk, row or
// group.
template <Epilogue kEpi>
__device__ __forceinline__ void load_batch(const Params &p, int g, int s, int b, int per_slice,
                                           int lane, uint4 (&wv)[kGroupRows][kBatch]) {
#pragma unroll
    for (int j = 0; j < kGroupRows; ++j) {
        const int64_t row = weight_row<kEpi>(p, g, j);
        const bool valid =
            g < p.groups && (kEpi == Epilogue::Swiglu || kEpi == Epilogue::RopeAppend || row < p.m);
#pragma unroll
        for (int u = 0; u < kBatch; ++u) {
            const int64_t e = chunk_start(p, s, b + u) + lane * 8;
            wv[j][u] = make_uint4(0, 0, 0, 0);
            if (valid && b + u < per_slice && e < p.k) wv[j][u] = load_weights(p.w + row * p.k + e);
        }
    }
}

// Small batches ask for four CTAs per SM (at most 64 registers, which they take without
// spilling): a step's GEMVs are short, and more resident warps keep more weight loads in flight
// (the 0.5B shape at batch 1: 0.74 ms per step against 0.76-0.79 with 116-120 registers and two
// CTAs per SM).
// The QKV GEMV with RoPE (few CTAs: a small m) keeps its owner's registers across the wait and
// takes two.
template <int R, Input kIn, Epilogue kEpi>
__global__ void __launch_bounds__(kThreads, R <= 2 && kEpi != Epilogue::RopeAppend ? 4 : 2)
    gemv_kernel(const Params p, const Freqs<kEpi> freqs) {
    extern __shared__ uint4 stage[];  // the input rows, bf16 [R][k]
    __shared__ float red[2][kWarps][kGroupRows * R];
    uint16_t *xs = reinterpret_cast<uint16_t *>(stage);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int slices = p.slices, per_cta = kWarps / slices;
    const int gw = warp / slices, s = warp % slices;
    const int per_slice = (p.chunks - s + slices - 1) / slices;
    const int step = gridDim.x * per_cta;
    int g = blockIdx.x * per_cta + gw;

    uint4 wv[kGroupRows][kBatch];
    load_batch<kEpi>(p, g, s, 0, per_slice, lane, wv);
    if constexpr (kIn == Input::RmsNorm) {
        for (int i = threadIdx.x * 32; i < p.k; i += kThreads * 32) prefetch_l2(p.norm_w + i);
    }
    using GroupOwner = Owner<R, kEpi>;
    using Start = typename GroupOwner::Start;
    GroupOwner owner;
    auto start_owner = [&] { owner = GroupOwner(p, g, s == 0 ? lane : 32, freqs); };
    if constexpr (GroupOwner::kStart == Start::BeforeWait)
        if (g < p.groups) start_owner();
    cudaTriggerProgrammaticLaunchCompletion();
    cudaGridDependencySynchronize();
    if constexpr (GroupOwner::kStart == Start::AfterWait)
        if (g < p.groups) start_owner();
    if constexpr (kIn == Input::RmsNorm) {
        stage_rmsnorm<R>(p, xs);
    } else {
        stage_bf16<R>(p, xs);
    }

    bool loaded = true;
    for (int it = 0; g < p.groups; g += step, ++it) {
        if (it > 0 || GroupOwner::kStart == Start::AfterStaging) start_owner();
        float acc[kGroupRows][R];
#pragma unroll
        for (int j = 0; j < kGroupRows; ++j)
#pragma unroll
            for (int r = 0; r < R; ++r) acc[j][r] = 0.0f;
        for (int b = 0; b < per_slice; b += kBatch) {
            if (!loaded) load_batch<kEpi>(p, g, s, b, per_slice, lane, wv);
            loaded = false;
#pragma unroll
            for (int u = 0; u < kBatch; ++u) {
                const int64_t e = chunk_start(p, s, b + u) + lane * 8;
                if (b + u >= per_slice || e >= p.k) continue;
#pragma unroll
                for (int r = 0; r < R; ++r) {
                    const uint4 xv = *reinterpret_cast<const uint4 *>(xs + int64_t{r} * p.k + e);
#pragma unroll
                    for (int j = 0; j < kGroupRows; ++j) dot8(acc[j][r], wv[j][u], xv);
                }
            }
        }
        loaded = false;
#pragma unroll
        for (int j = 0; j < kGroupRows; ++j)
#pragma unroll
            for (int r = 0; r < R; ++r) acc[j][r] = warp_sum(acc[j][r]);
        if (slices > 1) {
            // Double-buffered by iteration: a slice writes this buffer again only after the next
            // barrier, which the finishing warp reaches after reading it.
            float(*buf)[kGroupRows * R] = red[it & 1];
            if (lane == 0) {
#pragma unroll
                for (int j = 0; j < kGroupRows; ++j)
#pragma unroll
                    for (int r = 0; r < R; ++r) buf[warp][j * R + r] = acc[j][r];
            }
            group_barrier(1 + gw, slices * 32);
            if (s != 0) continue;
#pragma unroll
            for (int j = 0; j < kGroupRows; ++j)
#pragma unroll
                for (int r = 0; r < R; ++r) {
                    float total = 0.0f;
                    for (int q = 0; q < slices; ++q) total += buf[gw * slices + q][j * R + r];
                    acc[j][r] = total;
                }
        }
        owner.finish(p, lane, acc);
    }
}

// CTAs of `kernel` with `smem` bytes of dynamic shared memory resident on the current device.
int resident_ctas(const void *kernel, int smem) {
    static std::mutex mutex;
    static std::map<std::pair<const void *, int>, int> per_sm;
    const int sms = attention::sm_count("gemv device query");
    std::lock_guard<std::mutex> lock(mutex);
    auto it = per_sm.find({kernel, smem});
    if (it == per_sm.end()) {
        int blocks = 0;
        if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, kThreads,
                                                          static_cast<size_t>(smem)) != cudaSuccess)
            attention::check_launch("gemv occupancy");
        it = per_sm.emplace(std::make_pair(kernel, smem), std::max(blocks, 1)).first;
    }
    return it->second * sms;
}

// Every GEMV asks for the largest shared memory carveout: an SM holds CTAs of two kernels only
// under one carveout, and the next kernel's CTAs are meant to start beside the running ones.
template <class Kernel>
void configure(Kernel kernel) {
    attention::allow_smem(kernel, kMaxStageBytes, "gemv");
    if (cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                             cudaSharedmemCarveoutMaxShared) != cudaSuccess)
        attention::check_launch("gemv carveout");
}

template <int R, Input kIn, Epilogue kEpi>
void run(Params p, const Args &args, cudaStream_t stream) {
    auto kernel = gemv_kernel<R, kIn, kEpi>;
    static const bool configured = (configure(kernel), true);
    (void)configured;
    const int smem = R * args.k * 2;
    const Plan plan =
        plan_gemv(args.k, p.groups, resident_ctas(reinterpret_cast<const void *>(kernel), smem));
    p.slices = plan.slices;
    Freqs<kEpi> freqs{};
    if constexpr (kEpi == Epilogue::RopeAppend)
        freqs = pos_enc::rope_freqs(args.rope.theta, args.rope.pool.head_dim);
    attention::launch_maybe_dependent(args.pdl, kernel, dim3(static_cast<unsigned>(plan.grid)),
                                      dim3(kThreads), smem, stream, "gemv", p, freqs);
}

template <Input kIn, Epilogue kEpi>
void run_rows(const Params &p, const Args &args, cudaStream_t stream) {
    static_assert(kMaxRows == 8, "rows 1..8 are instantiated");
    switch (args.rows) {
        case 1:
            return run<1, kIn, kEpi>(p, args, stream);
        case 2:
            return run<2, kIn, kEpi>(p, args, stream);
        case 3:
            return run<3, kIn, kEpi>(p, args, stream);
        case 4:
            return run<4, kIn, kEpi>(p, args, stream);
        case 5:
            return run<5, kIn, kEpi>(p, args, stream);
        case 6:
            return run<6, kIn, kEpi>(p, args, stream);
        case 7:
            return run<7, kIn, kEpi>(p, args, stream);
        default:
            return run<8, kIn, kEpi>(p, args, stream);
    }
}

bool aligned16(const void *p) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

// The pairings of the forward pass: projections out of the residual stream read it normed, the
// ones that add into it read bf16 activations.
bool paired(const Args &a) {
    return a.input == Input::RmsNorm ? a.epilogue != Epilogue::AddF32
                                     : a.epilogue == Epilogue::AddF32;
}

bool rope_supported(const Args &a) {
    const kv::RopeTarget &r = a.rope;
    const int32_t d = r.pool.head_dim;
    return d > 0 && d % 2 == 0 && d / 2 <= pos_enc::kMaxHalfDim && r.n_head > 0 &&
           r.n_head_kv > 0 && int64_t{a.m} == (int64_t{r.n_head} + 2 * int64_t{r.n_head_kv}) * d &&
           r.rows_per_seq >= 1 && a.rows % r.rows_per_seq == 0 && r.pool.block_size > 0;
}

}  // namespace

bool supported(const Args &a) {
    if (!(a.rows >= 1 && a.rows <= kMaxRows && a.m >= 1 && a.k >= 8 && a.k % 8 == 0 &&
          aligned16(a.w) && paired(a) && int64_t{a.rows} * a.k * 2 <= kMaxStageBytes))
        return false;
    if (a.epilogue == Epilogue::RopeAppend && !rope_supported(a)) return false;
    if (a.input == Input::RmsNorm) return aligned16(a.x);
    return aligned16(a.a) && a.a_stride >= a.k && a.a_stride % 8 == 0;
}

void launch(const Args &a, cudaStream_t stream) {
    const std::string name = "gemv: ";
    require(supported(a), CAB_ERR_INVALID_ARGUMENT,
            name + "rows " + std::to_string(a.rows) + ", m " + std::to_string(a.m) + ", k " +
                std::to_string(a.k) +
                ": these sizes, alignments, strides or input/epilogue pairing are not supported");
    require(a.w && a.y && (a.input == Input::RmsNorm ? a.x && a.norm_w : a.a != nullptr),
            CAB_ERR_INVALID_ARGUMENT, name + "null w, y or input");
    require(a.y_stride >= a.m, CAB_ERR_INVALID_ARGUMENT,
            name + "y_stride " + std::to_string(a.y_stride) + " < m " + std::to_string(a.m));
    require(a.eps >= 0.0f, CAB_ERR_INVALID_ARGUMENT, name + "eps < 0");
    if (a.epilogue == Epilogue::RopeAppend)
        require(a.rope.pool.data && a.rope.streams && a.rope.positions && a.rope.theta > 0.0f,
                CAB_ERR_INVALID_ARGUMENT,
                name + "rope: null pool data, streams or positions, or theta <= 0");
    Params p{};
    p.w = static_cast<const uint16_t *>(a.w);
    p.x = a.x;
    p.norm_w = a.norm_w;
    p.eps = a.eps;
    p.a = static_cast<const uint16_t *>(a.a);
    p.a_stride = a.a_stride;
    p.bias = a.epilogue == Epilogue::Bf16 || a.epilogue == Epilogue::F32 ||
                     a.epilogue == Epilogue::RopeAppend
                 ? a.bias
                 : nullptr;
    p.y = a.y;
    p.y_stride = a.y_stride;
    p.m = a.m;
    p.k = a.k;
    p.chunks = (a.k + kChunk - 1) / kChunk;
    p.groups = a.epilogue == Epilogue::Swiglu ? a.m : (a.m + kGroupRows - 1) / kGroupRows;
    if (a.epilogue == Epilogue::RopeAppend) {
        const kv::RopeTarget &r = a.rope;
        p.rope.pool = r.pool;
        p.rope.streams = r.streams;
        p.rope.positions = r.positions;
        p.rope.freq_scale = static_cast<double>(r.freq_scale);
        p.rope.rows_per_seq = r.rows_per_seq;
        p.rope.n_head = r.n_head;
        p.rope.n_head_kv = r.n_head_kv;
        p.rope.half = r.pool.head_dim / 2;
        p.rope.neox = r.style == pos_enc::RopeStyle::NeoX;
    }
    switch (a.epilogue) {
        case Epilogue::Bf16:
            return run_rows<Input::RmsNorm, Epilogue::Bf16>(p, a, stream);
        case Epilogue::F32:
            return run_rows<Input::RmsNorm, Epilogue::F32>(p, a, stream);
        case Epilogue::Swiglu:
            return run_rows<Input::RmsNorm, Epilogue::Swiglu>(p, a, stream);
        case Epilogue::RopeAppend:
            return run_rows<Input::RmsNorm, Epilogue::RopeAppend>(p, a, stream);
        case Epilogue::AddF32:
            return run_rows<Input::Bf16, Epilogue::AddF32>(p, a, stream);
    }
}

}  // namespace cab::cuda::gemv
