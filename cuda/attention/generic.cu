// CUDA-core attention for any head_dim (generic.h). One CTA per (query row, kv head, chunk of at
// most kMaxHeads query heads of the GQA group) walks the row's visible keys in tiles of kTile
// slots, twice: the first pass finds each head's softmax max and sum, the second computes the
// normalized P, accumulates P V and adds P to the scores. Two exact passes rather than an online
// rescale, so the probability added to the scores is the very one that weights V, as on the CPU.
// Scores take one atomic add per (query row, head chunk) and slot, so in prefill the order of
// those fp32 adds (their last bits) varies from run to run; decode with at most kMaxHeads heads
// per kv head has one CTA per stream and is deterministic.
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "attention/generic.h"
#include "attention/launch.h"
#include "backend/backend.h"
#include "kv/paged.h"
#include "kv/q8_element.cuh"
#include "util/error.h"

namespace cab::cuda::attention {
namespace {

using bf16 = __nv_bfloat16;

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kTile = 32;  // keys per tile: lane t of every warp takes key t
constexpr int kHeadsPerWarp = 2;
constexpr int kMaxHeads = kWarps * kHeadsPerWarp;  // query heads per CTA; warp w takes w, w + 4
constexpr int kMaxHeadDim = 256;
// Output elements each thread accumulates: heads * head_dim spread over the CTA.
constexpr int kAccPerThread = kMaxHeads * kMaxHeadDim / kThreads;
constexpr int kPStride = kTile + 1;  // rows of P padded so that heads fall in different banks
constexpr int kPrepareThreads = 256;
constexpr int kMaxGridYZ = 65535;

struct Params {
    DevicePool pool;
    const DeviceStream *streams;
    const bf16 *q;
    bf16 *out;
    int64_t q_stride, out_stride;
    int32_t n_head_kv, group;
    int32_t heads;  // query heads per CTA (blockIdx.z); the last chunk may hold fewer
    float scale;
    // Decode: row r reads streams[r * n_head_kv + g], sees its slots below max_length (past it is
    // a caller error, left out as by decode()), and is its stream's last query. Prefill: row r of
    // the n-query chunk reads streams[g], sees [0, length - n + r], and adds to `window` from row
    // window_first on (n when the window is left alone).
    bool decode;
    int32_t max_length, n, window_first;
};

// Shared memory in floats: Q of the chunk's heads [heads][d], one K or V tile [kTile][d | 1]
// (an odd row stride puts the keys that the lanes of a warp read in different banks), and the
// tile's probabilities [heads][kPStride].
constexpr int smem_floats(int heads, int d) {
    return heads * d + kTile * (d | 1) + heads * kPStride;
}
// At most 42 KB: under the default dynamic shared memory limit, so no kernel attribute is needed.
static_assert(smem_floats(kMaxHeads, kMaxHeadDim) * sizeof(float) <= 48 * 1024,
              "generic attention shared memory past 48 KB");

// q . k * scale with the product rounded on its own, so that both passes get bit-identical
// logits (a contraction into the later subtraction of the max could differ between them).
__device__ float logit(const float *q, const float *k, int d, float scale) {
    float s = 0.0f;
    for (int c = 0; c < d; ++c) s = fmaf(q[c], k[c], s);
    return __fmul_rn(s, scale);
}

// (m, l) of a softmax merged with another's; an empty part has m = -inf and l = 0.
__device__ void merge_softmax(float &m, float &l, float m_other, float l_other) {
    const float mx = fmaxf(m, m_other);
    const float a = m == -INFINITY ? 0.0f : l * expf(m - mx);
    const float b = m_other == -INFINITY ? 0.0f : l_other * expf(m_other - mx);
    m = mx;
    l = a + b;
}

// Row of the key of every slot of the tile [first, first + count): an index of pool.data's rows,
// or, for a slot in an int8 block, -1 - its index of pool.q8's rows; the value lies block_size
// rows further either way.
__device__ void tile_rows(const Params &p, const DeviceStream &st, int first, int count,
                          int64_t *rows) {
    const int t = threadIdx.x;
    if (t < count) {
        const int slot = first + t, bs = p.pool.block_size;
        const int64_t block = st.blocks[slot / bs];
        rows[t] = is_q8_block(p.pool, block) ? -1 - q8_row(p.pool, block, 0, slot & (bs - 1))
                                             : block * 2 * bs + (slot & (bs - 1));
    }
}

// Keys (or values) of the tile's `count` slots into kv_s as fp32 (int8 rows dequantized: value
// times the row's scale, kv/quant_q8.h); rows past count are not written and never read.
__device__ void load_tile(const Params &p, const int64_t *rows, int count, bool values,
                          float *kv_s) {
    const int d = p.pool.head_dim, stride = d | 1;
    const bf16 *pool = static_cast<const bf16 *>(p.pool.data);
    const int64_t half = values ? p.pool.block_size : 0;
    for (int e = threadIdx.x; e < count * d; e += kThreads) {
        const int t = e / d, c = e - t * d;
        const int64_t r = rows[t];
        kv_s[t * stride + c] = r >= 0
                                   ? __bfloat162float(pool[(r + half) * d + c])
                                   : q8_element(p.pool.q8[(-1 - r + half) * d + c], p.pool.q8_fp8) *
                                         p.pool.q8_scales[-1 - r + half];
    }
}

template <bool kScores>
__global__ void __launch_bounds__(kThreads) generic_kernel(Params p) {
    extern __shared__ float smem[];
    __shared__ int64_t rows_s[kTile];
    const int d = p.pool.head_dim, stride = d | 1;
    const int row = blockIdx.x, g = blockIdx.y, h0 = blockIdx.z * p.heads;
    const int heads = min(p.heads, p.group - h0);
    float *q_s = smem, *kv_s = q_s + heads * d, *p_s = kv_s + kTile * stride;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

    const DeviceStream st = p.streams[p.decode ? static_cast<int64_t>(row) * p.n_head_kv + g : g];
    const int visible = p.decode ? min(st.length, p.max_length) : st.length - p.n + row + 1;
    const int64_t head_col = static_cast<int64_t>(g * p.group + h0) * d;
    const bf16 *q = p.q + row * p.q_stride + head_col;
    for (int e = threadIdx.x; e < heads * d; e += kThreads) q_s[e] = __bfloat162float(q[e]);

    // Pass 1: each lane keeps the max and sum of its keys per head, merged across the warp.
    float m[kHeadsPerWarp], l[kHeadsPerWarp];
#pragma unroll
    for (int k = 0; k < kHeadsPerWarp; ++k) m[k] = -INFINITY, l[k] = 0.0f;
    for (int first = 0; first < visible; first += kTile) {
        const int count = min(kTile, visible - first);
        tile_rows(p, st, first, count, rows_s);
        __syncthreads();
        load_tile(p, rows_s, count, false, kv_s);
        __syncthreads();
#pragma unroll
        for (int k = 0; k < kHeadsPerWarp; ++k) {
            const int h = warp + kWarps * k;
            if (h < heads && lane < count)
                merge_softmax(m[k], l[k], logit(q_s + h * d, kv_s + lane * stride, d, p.scale),
                              1.0f);
        }
    }
    float inv[kHeadsPerWarp];
#pragma unroll
    for (int k = 0; k < kHeadsPerWarp; ++k) {
        for (int o = 16; o > 0; o >>= 1) {
            const float m_other = __shfl_xor_sync(0xffffffffu, m[k], o);
            const float l_other = __shfl_xor_sync(0xffffffffu, l[k], o);
            merge_softmax(m[k], l[k], m_other, l_other);
        }
        inv[k] = 1.0f / l[k];
    }

    // Pass 2: P of the tile into p_s, its column sums into the scores, then O += P V.
    const bool to_window = !p.decode && row >= p.window_first;
    const bool to_last = p.decode || row == p.n - 1;
    float acc[kAccPerThread];
#pragma unroll
    for (int a = 0; a < kAccPerThread; ++a) acc[a] = 0.0f;
    for (int first = 0; first < visible; first += kTile) {
        const int count = min(kTile, visible - first);
        tile_rows(p, st, first, count, rows_s);
        __syncthreads();
        load_tile(p, rows_s, count, false, kv_s);
        __syncthreads();
#pragma unroll
        for (int k = 0; k < kHeadsPerWarp; ++k) {
            const int h = warp + kWarps * k;
            if (h < heads && lane < count)
                p_s[h * kPStride + lane] =
                    expf(logit(q_s + h * d, kv_s + lane * stride, d, p.scale) - m[k]) * inv[k];
        }
        __syncthreads();
        load_tile(p, rows_s, count, true, kv_s);
        if constexpr (kScores) {
            const int t = threadIdx.x;
            if (t < count) {
                float sum = 0.0f;
                for (int h = 0; h < heads; ++h) sum += p_s[h * kPStride + t];
                const int slot = first + t;
                atomicAdd(score_at(p.pool, st.blocks, kScore, slot), sum);
                if (to_window) atomicAdd(score_at(p.pool, st.blocks, kWindow, slot), sum);
                if (to_last) atomicAdd(score_at(p.pool, st.blocks, kLast, slot), sum);
            }
        }
        __syncthreads();
#pragma unroll
        for (int a = 0; a < kAccPerThread; ++a) {
            const int e = threadIdx.x + a * kThreads;
            if (e < heads * d) {
                const int h = e / d, c = e - h * d;
                const float *pr = p_s + h * kPStride;
                float sum = acc[a];
                for (int t = 0; t < count; ++t) sum = fmaf(pr[t], kv_s[t * stride + c], sum);
                acc[a] = sum;
            }
        }
    }

    bf16 *out = p.out + row * p.out_stride + head_col;
#pragma unroll
    for (int a = 0; a < kAccPerThread; ++a) {
        const int e = threadIdx.x + a * kThreads;
        if (e < heads * d) out[e] = __float2bfloat16(acc[a]);
    }
}

// Before the kernel, per slot of every stream: observers += the queries that will see it, and
// `last` (and, when recomputed, `window`) zeroed for the kernel's atomic sums. Block x is a
// stream; blocks along y stride over its slots (those the kernel reads).
__global__ void prepare_scores(DevicePool pool, const DeviceStream *streams, bool decode,
                               int max_length, int n, bool window) {
    const DeviceStream st = streams[blockIdx.x];
    const int length = decode ? min(st.length, max_length) : st.length;
    const int first = st.length - n;  // slot of the chunk's first query (prefill)
    for (int j = blockIdx.y * kPrepareThreads + threadIdx.x; j < length;
         j += gridDim.y * kPrepareThreads) {
        const float seen = decode ? 1.0f : static_cast<float>(n - max(0, j - first));
        *score_at(pool, st.blocks, kObservers, j) += seen;
        *score_at(pool, st.blocks, kLast, j) = 0.0f;
        if (window) *score_at(pool, st.blocks, kWindow, j) = 0.0f;
    }
}

void check_common(const DevicePool &pool, int n_head_kv, int n_head, bool scores, const void *q,
                  int64_t q_stride, const void *out, int64_t out_stride, const char *name) {
    const std::string op(name);
    const int d = pool.head_dim;
    require(d >= 1 && d <= kMaxHeadDim, CAB_ERR_UNSUPPORTED,
            op + ": head_dim " + std::to_string(d) + " (1 to 256 supported)");
    require(n_head_kv > 0 && n_head > 0 && n_head % n_head_kv == 0, CAB_ERR_INVALID_ARGUMENT,
            op + ": n_head " + std::to_string(n_head) + " is not a multiple of n_head_kv " +
                std::to_string(n_head_kv));
    require(n_head_kv <= kMaxGridYZ, CAB_ERR_UNSUPPORTED,
            op + ": n_head_kv " + std::to_string(n_head_kv) + " (at most 65535)");
    require(is_power_of_two(pool.block_size), CAB_ERR_INVALID_ARGUMENT,
            op + ": block_size " + std::to_string(pool.block_size) + " is not a power of two");
    require(pool.data && q && out, CAB_ERR_INVALID_ARGUMENT, op + ": null pool, q or out");
    require(!scores || pool.scores, CAB_ERR_INVALID_ARGUMENT,
            op + ": scores requested but the pool keeps none");
    const int64_t width = static_cast<int64_t>(n_head) * d;
    require(q_stride >= width && out_stride >= width, CAB_ERR_INVALID_ARGUMENT,
            op + ": q_stride " + std::to_string(q_stride) + " and out_stride " +
                std::to_string(out_stride) +
                " must hold n_head * head_dim = " + std::to_string(width) + " elements");
}

// Splits the group into the fewest chunks of at most kMaxHeads heads, balanced, then launches
// the score preparation (with scores) and the kernel over `rows` query rows.
void launch(Params p, int rows, int n_streams, bool scores, bool window, cudaStream_t stream,
            const char *name) {
    const int chunks = (p.group + kMaxHeads - 1) / kMaxHeads;
    p.heads = (p.group + chunks - 1) / chunks;
    const int used_chunks = (p.group + p.heads - 1) / p.heads;  // every chunk holds a head
    p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(p.pool.head_dim)));
    const std::string op(name);
    if (scores) {
        const int slot_blocks =
            std::clamp((p.max_length + kPrepareThreads - 1) / kPrepareThreads, 1, kMaxGridYZ);
        prepare_scores<<<dim3(n_streams, slot_blocks), kPrepareThreads, 0, stream>>>(
            p.pool, p.streams, p.decode, p.max_length, p.n, window);
        check_launch((op + " score preparation").c_str());
    }
    const dim3 grid(rows, p.n_head_kv, used_chunks);
    const size_t smem = static_cast<size_t>(smem_floats(p.heads, p.pool.head_dim)) * sizeof(float);
    if (scores) {
        generic_kernel<true><<<grid, kThreads, smem, stream>>>(p);
    } else {
        generic_kernel<false><<<grid, kThreads, smem, stream>>>(p);
    }
    check_launch(name);
}

Params make_params(const DevicePool &pool, const DeviceStream *streams, int n_head_kv, int n_head,
                   const void *q, int64_t q_stride, void *out, int64_t out_stride) {
    Params p{};
    p.pool = pool;
    p.streams = streams;
    p.q = static_cast<const bf16 *>(q);
    p.out = static_cast<bf16 *>(out);
    p.q_stride = q_stride;
    p.out_stride = out_stride;
    p.n_head_kv = n_head_kv;
    p.group = n_head / n_head_kv;
    return p;
}

}  // namespace

void prefill_generic(const PrefillArgs &args, cudaStream_t stream) {
    const char *name = "attention prefill (generic)";
    check_common(args.pool, args.n_head_kv, args.n_head, args.scores, args.q, args.q_stride,
                 args.out, args.out_stride, name);
    require(args.n > 0 && args.max_length >= args.n, CAB_ERR_INVALID_ARGUMENT,
            std::string(name) + ": n " + std::to_string(args.n) + " must be in [1, max_length " +
                std::to_string(args.max_length) + "]");
    require(args.streams, CAB_ERR_INVALID_ARGUMENT, std::string(name) + ": null streams");
    require(args.score_window >= 0, CAB_ERR_INVALID_ARGUMENT,
            std::string(name) + ": score_window " + std::to_string(args.score_window) + " < 0");
    Params p = make_params(args.pool, args.streams, args.n_head_kv, args.n_head, args.q,
                           args.q_stride, args.out, args.out_stride);
    p.decode = false;
    p.max_length = args.max_length;
    p.n = args.n;
    p.window_first = args.n - std::min(args.score_window, args.n);
    launch(p, args.n, args.n_head_kv, args.scores, args.score_window > 0, stream, name);
}

void decode_generic(const DecodeArgs &args, cudaStream_t stream) {
    const char *name = "attention decode (generic)";
    check_common(args.pool, args.n_head_kv, args.n_head, args.scores, args.q, args.q_stride,
                 args.out, args.out_stride, name);
    require(args.batch > 0 && args.max_length > 0, CAB_ERR_INVALID_ARGUMENT,
            std::string(name) + ": batch " + std::to_string(args.batch) + " and max_length " +
                std::to_string(args.max_length) + " must be positive");
    require(args.streams, CAB_ERR_INVALID_ARGUMENT, std::string(name) + ": null streams");
    Params p = make_params(args.pool, args.streams, args.n_head_kv, args.n_head, args.q,
                           args.q_stride, args.out, args.out_stride);
    p.decode = true;
    p.max_length = args.max_length;
    launch(p, args.batch, args.batch * args.n_head_kv, args.scores, false, stream, name);
}

}  // namespace cab::cuda::attention
