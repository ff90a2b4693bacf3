// Decode GEMV kernels (gemv.cuh); how the work is divided: heuristics.h. A warp holds kGroupRows
// weight rows x kBatch chunks of 16-byte loads in registers (lane l of a chunk covers its elements
// 8l .. 8l + 7) and reads the input rows, staged once per CTA as bf16 [R][k], from shared memory.
// Each kernel first loads its first weight batch, lets the next kernel launch, and only then waits
// for the previous kernel (programmatic dependent launch): weights are never written during a
// step; activations are read and written only after the wait, through L2 (ld.global.cg: no
// line an SM cached before the wait can be hit). Without the launch attribute the wait and the
// trigger do nothing.
#include <cuda_bf16.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "attention/launch.h"
#include "gemv/gemv.cuh"
#include "gemv/heuristics.h"
#include "util/error.h"

namespace cab::cuda::gemv {
namespace {

struct Params {
    const uint16_t *w;  // bf16 bits
    const float *x;
    const float *norm_w;
    float eps;
    const uint16_t *a;
    int64_t a_stride;
    const float *bias;
    void *y;
    int64_t y_stride;
    int32_t m, k, chunks, groups, slices;
};

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

// The bf16 halves of a 32-bit word as floats (exact).
__device__ __forceinline__ float lo(uint32_t u) {
    return __uint_as_float(u << 16);
}
__device__ __forceinline__ float hi(uint32_t u) {
    return __uint_as_float(u & 0xffff0000u);
}

__device__ __forceinline__ void dot8(float &acc, const uint4 &w, const uint4 &x) {
    acc = fmaf(lo(w.x), lo(x.x), acc);
    acc = fmaf(hi(w.x), hi(x.x), acc);
    acc = fmaf(lo(w.y), lo(x.y), acc);
    acc = fmaf(hi(w.y), hi(x.y), acc);
    acc = fmaf(lo(w.z), lo(x.z), acc);
    acc = fmaf(hi(w.z), hi(x.z), acc);
    acc = fmaf(lo(w.w), lo(x.w), acc);
    acc = fmaf(hi(w.w), hi(x.w), acc);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ uint32_t bf16_bits(float f) {
    return __bfloat16_as_ushort(__float2bfloat16(f));
}

__device__ __forceinline__ float round_bf16(float f) {
    return __bfloat162float(__float2bfloat16(f));
}

// Barrier `id` (1..kWarps; 0 is __syncthreads) over the `threads` threads of one group's warps.
__device__ __forceinline__ void group_barrier(int id, int threads) {
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

// Weight row j of group g: rows 2g and 2g + 1, or for SwiGLU gate row g and up row m + g.
template <Epilogue kEpi>
__device__ __forceinline__ int64_t weight_row(const Params &p, int g, int j) {
    return kEpi == Epilogue::Swiglu ? int64_t{g} + int64_t{j} * p.m : int64_t{g} * kGroupRows + j;
}

// First element of chunk i of slice s (a slice has chunks s, s + slices, s + 2 * slices, ...).
__device__ __forceinline__ int64_t chunk_start(const Params &p, int s, int i) {
    return int64_t{s + i * p.slices} * kChunk;
}

// Chunks [b, b + kBatch) of slice s of group g's rows; zeros where there is no chunk, row or
// group.
template <Epilogue kEpi>
__device__ __forceinline__ void load_batch(const Params &p, int g, int s, int b, int per_slice,
                                           int lane, uint4 (&wv)[kGroupRows][kBatch]) {
#pragma unroll
    for (int j = 0; j < kGroupRows; ++j) {
        const int64_t row = weight_row<kEpi>(p, g, j);
        const bool valid = g < p.groups && (kEpi == Epilogue::Swiglu || row < p.m);
#pragma unroll
        for (int u = 0; u < kBatch; ++u) {
            const int64_t e = chunk_start(p, s, b + u) + lane * 8;
            wv[j][u] = make_uint4(0, 0, 0, 0);
            if (valid && b + u < per_slice && e < p.k) wv[j][u] = load_weights(p.w + row * p.k + e);
        }
    }
}

// Stages rmsnorm(x) * norm_w as bf16 [R][k], rounded as cuda/norm.cu rounds it:
// bf16(v * rsqrt(mean(v^2) + eps) * w) with the same fp32 operations (the sum of squares may add
// in another order).
template <int R>
__device__ void stage_rmsnorm(const Params &p, uint16_t *xs) {
    __shared__ float partial[kWarps][R];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    float ss[R];
#pragma unroll
    for (int r = 0; r < R; ++r) ss[r] = 0.0f;
    for (int i = tid * 4; i < p.k; i += kThreads * 4) {
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const float4 v = __ldcg(reinterpret_cast<const float4 *>(p.x + int64_t{r} * p.k + i));
            ss[r] += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
        }
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
        const float s = warp_sum(ss[r]);
        if (lane == 0) partial[warp][r] = s;
    }
    __syncthreads();
    float scale[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
        float total = 0.0f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) total += partial[w][r];
        scale[r] = rsqrtf(total / static_cast<float>(p.k) + p.eps);
    }
    for (int i = tid * 4; i < p.k; i += kThreads * 4) {
        const float g0 = p.norm_w[i], g1 = p.norm_w[i + 1], g2 = p.norm_w[i + 2],
                    g3 = p.norm_w[i + 3];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const float4 v = __ldcg(reinterpret_cast<const float4 *>(p.x + int64_t{r} * p.k + i));
            uint2 packed;
            packed.x = bf16_bits(v.x * scale[r] * g0) | bf16_bits(v.y * scale[r] * g1) << 16;
            packed.y = bf16_bits(v.z * scale[r] * g2) | bf16_bits(v.w * scale[r] * g3) << 16;
            *reinterpret_cast<uint2 *>(xs + int64_t{r} * p.k + i) = packed;
        }
    }
    __syncthreads();
}

// Stages the bf16 rows of a as [R][k]: every group reads all of them, which shared memory serves
// at any batch size and a small L1 would not.
template <int R>
__device__ void stage_bf16(const Params &p, uint16_t *xs) {
    const int per_row = p.k / 8;
    for (int i = threadIdx.x; i < R * per_row; i += kThreads) {
        const int r = i / per_row, c = i % per_row;
        reinterpret_cast<uint4 *>(xs)[i] =
            __ldcg(reinterpret_cast<const uint4 *>(p.a + int64_t{r} * p.a_stride + int64_t{c} * 8));
    }
    __syncthreads();
}

// What one lane of a group's finishing warp writes: (weight row j, batch row r) = (lane / R,
// lane % R) for lane < kGroupRows * R, or for SwiGLU batch row lane < R (gate and up together).
// Its bias or residual element is read when the group starts, so that the read's latency hides
// under the weight loads.
template <int R, Epilogue kEpi>
struct Owner {
    bool active = false;
    int64_t at = 0;     // element of y
    float operand = 0;  // the bias or the residual element

    __device__ Owner(const Params &p, int g, int lane) {
        if constexpr (kEpi == Epilogue::Swiglu) {
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

    __device__ void finish(const Params &p, int lane, const float (&acc)[kGroupRows][R]) const {
        if (!active) return;
        if constexpr (kEpi == Epilogue::Swiglu) {
            float gate = 0.0f, up = 0.0f;
#pragma unroll
            for (int r = 0; r < R; ++r) {
                if (r == lane) {
                    gate = acc[0][r];
                    up = acc[1][r];
                }
            }
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

template <int R, Input kIn, Epilogue kEpi>
__global__ void __launch_bounds__(kThreads, 2) gemv_kernel(const Params p) {
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
    cudaTriggerProgrammaticLaunchCompletion();
    cudaGridDependencySynchronize();
    if constexpr (kIn == Input::RmsNorm) {
        stage_rmsnorm<R>(p, xs);
    } else {
        stage_bf16<R>(p, xs);
    }

    bool loaded = true;
    for (int it = 0; g < p.groups; g += step, ++it) {
        const Owner<R, kEpi> owner(p, g, s == 0 ? lane : 32);
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
    int device = 0, sms = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
        attention::check_launch("gemv device query");
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
    attention::launch_maybe_dependent(args.pdl, kernel, dim3(static_cast<unsigned>(plan.grid)),
                                      dim3(kThreads), smem, stream, "gemv", p);
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

}  // namespace

bool supported(const Args &a) {
    if (!(a.rows >= 1 && a.rows <= kMaxRows && a.m >= 1 && a.k >= 8 && a.k % 8 == 0 &&
          aligned16(a.w) && paired(a) && int64_t{a.rows} * a.k * 2 <= kMaxStageBytes))
        return false;
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
    Params p{};
    p.w = static_cast<const uint16_t *>(a.w);
    p.x = a.x;
    p.norm_w = a.norm_w;
    p.eps = a.eps;
    p.a = static_cast<const uint16_t *>(a.a);
    p.a_stride = a.a_stride;
    p.bias = a.epilogue == Epilogue::Bf16 || a.epilogue == Epilogue::F32 ? a.bias : nullptr;
    p.y = a.y;
    p.y_stride = a.y_stride;
    p.m = a.m;
    p.k = a.k;
    p.chunks = (a.k + kChunk - 1) / kChunk;
    p.groups = a.epilogue == Epilogue::Swiglu ? a.m : (a.m + kGroupRows - 1) / kGroupRows;
    switch (a.epilogue) {
        case Epilogue::Bf16:
            return run_rows<Input::RmsNorm, Epilogue::Bf16>(p, a, stream);
        case Epilogue::F32:
            return run_rows<Input::RmsNorm, Epilogue::F32>(p, a, stream);
        case Epilogue::Swiglu:
            return run_rows<Input::RmsNorm, Epilogue::Swiglu>(p, a, stream);
        case Epilogue::AddF32:
            return run_rows<Input::Bf16, Epilogue::AddF32>(p, a, stream);
    }
}

}  // namespace cab::cuda::gemv
