// Fused RoPE + KV append: one thread per (row, head slot, pair i), where the head slots are the
// n_head query heads, then the n_head_kv key heads, then the n_head_kv value heads. A query pair
// is rotated in place; a key pair is rotated into its cache slot; a value "pair" (elements i and
// i + head_dim / 2) is copied there. The key unit of pair 0 zeroes the slot's scores. The table of
// frequencies, the angle and the rotation are pos_enc.cuh's, so q and the cached k equal rope's
// bit for bit.
#include <cuda_bf16.h>

#include <algorithm>
#include <string>

#include "attention/launch.h"
#include "kv/kv_q8.cuh"
#include "kv/rope_append.cuh"
#include "util/error.h"

namespace cab::cuda::kv {
namespace {

constexpr int kThreads = 128;
constexpr int64_t kMaxBlocks = 65536;

using bf16 = __nv_bfloat16;
using pos_enc::RopeFreqs;

struct Params {
    DevicePool pool;
    const DeviceStream *streams;
    int32_t rows_per_seq, n_head, n_head_kv, half;
    bf16 *q;
    int64_t q_stride;
    const bf16 *k;
    int64_t k_stride;
    const bf16 *v;
    int64_t v_stride;
    const int32_t *positions;
    double freq_scale;
    bool neox;
    int64_t units;
};

// One unit's source and destination pair (b = a + partner) and its rotation; prepared from the
// staged inputs only (positions, block tables), so before the grid dependency wait.
struct Unit {
    bool valid = false;
    bool rotate = false;
    const bf16 *src = nullptr;
    bf16 *dst = nullptr;
    int partner = 0;
    float cs = 1.0f, sn = 0.0f;
    const int32_t *blocks = nullptr;  // the key unit of pair 0: zero its slot's scores
    int32_t slot = 0;
};

__device__ Unit prepare(const Params &p, int64_t u, const RopeFreqs &freqs) {
    Unit out;
    const int i = static_cast<int>(u % p.half);
    const int64_t t = u / p.half;
    const int n_slots = p.n_head + 2 * p.n_head_kv;
    const int slot = static_cast<int>(t % n_slots);
    const int64_t row = t / n_slots;
    const int d = 2 * p.half;
    const int pair_stride = p.neox ? 1 : 2;
    if (slot < p.n_head) {
        bf16 *a = p.q + row * p.q_stride + int64_t{slot} * d + i * pair_stride;
        out.src = a;
        out.dst = a;
        out.partner = p.neox ? p.half : 1;
        out.rotate = true;
    } else {
        const bool value = slot >= p.n_head + p.n_head_kv;
        const int h = slot - p.n_head - (value ? p.n_head_kv : 0);
        const int64_t seq = row / p.rows_per_seq;
        const int32_t r = static_cast<int32_t>(row % p.rows_per_seq);
        const DeviceStream s = p.streams[seq * p.n_head_kv + h];
        const int32_t at = s.length - p.rows_per_seq + r;
        // A stream shorter than rows_per_seq breaks the caller's contract (kv_append does the
        // same): writing nothing keeps that from landing in other streams' blocks.
        if (at < 0) return out;
        const int32_t bs = p.pool.block_size;
        const int64_t block = s.blocks[at / bs];
        const int64_t pool_row = (block * 2 + value) * bs + at % bs;
        // DevicePool::data is const for the attention kernels, which only read it. A slot in an
        // int8 block gets nothing here: kv::append_q8 rotates and quantizes its row.
        bf16 *cache = is_q8_block(p.pool, block)
                          ? nullptr
                          : static_cast<bf16 *>(const_cast<void *>(p.pool.data)) + pool_row * d;
        if (value) {
            out.src = p.v + row * p.v_stride + int64_t{h} * d + i;
            out.dst = cache ? cache + i : nullptr;
            out.partner = p.half;
        } else {
            const int e = i * pair_stride;
            out.src = p.k + row * p.k_stride + int64_t{h} * d + e;
            out.dst = cache ? cache + e : nullptr;
            out.partner = p.neox ? p.half : 1;
            out.rotate = true;
            if (i == 0 && p.pool.scores) {
                out.blocks = s.blocks;
                out.slot = at;
            }
        }
    }
    if (out.rotate)
        pos_enc::rope_angle(p.positions[row], p.freq_scale, freqs.inv[i], out.cs, out.sn);
    out.valid = true;
    return out;
}

__device__ void apply(const Params &p, const Unit &un) {
    if (!un.valid) return;
    if (un.dst) {
        // Through L2: q, k and v were written by the kernel this one may have started beside.
        const bf16 a = __ldcg(un.src), b = __ldcg(un.src + un.partner);
        if (un.rotate) {
            float y0, y1;
            pos_enc::rope_rotate(__bfloat162float(a), __bfloat162float(b), un.cs, un.sn, y0, y1);
            un.dst[0] = __float2bfloat16(y0);
            un.dst[un.partner] = __float2bfloat16(y1);
        } else {
            un.dst[0] = a;
            un.dst[un.partner] = b;
        }
    }
    if (un.blocks) {
        for (int32_t kind = 0; kind < kScoreKinds; ++kind)
            *score_at(p.pool, un.blocks, kind, un.slot) = 0.0f;
    }
}

__global__ void __launch_bounds__(kThreads)
    rope_append_kernel(const Params p, const RopeFreqs freqs) {
    const int64_t first = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
    Unit un;
    if (first < p.units) un = prepare(p, first, freqs);
    cudaTriggerProgrammaticLaunchCompletion();
    cudaGridDependencySynchronize();
    for (int64_t u = first; u < p.units; u += stride) {
        if (u != first) un = prepare(p, u, freqs);
        apply(p, un);
    }
}

}  // namespace

void rope_append(const RopeAppendArgs &a, cudaStream_t stream) {
    const RopeTarget &t = a.target;
    const std::string name = "rope kv append: ";
    const int32_t d = t.pool.head_dim;
    require(d > 0 && d % 2 == 0 && d / 2 <= pos_enc::kMaxHalfDim, CAB_ERR_INVALID_ARGUMENT,
            name + "head_dim " + std::to_string(d) + " must be even and at most " +
                std::to_string(2 * pos_enc::kMaxHalfDim));
    require(t.pool.block_size > 0 && t.pool.data, CAB_ERR_INVALID_ARGUMENT,
            name + "pool block_size " + std::to_string(t.pool.block_size) + " or null data");
    require(a.n_seqs >= 0 && t.rows_per_seq >= 0 && t.n_head > 0 && t.n_head_kv > 0,
            CAB_ERR_INVALID_ARGUMENT,
            name + "n_seqs " + std::to_string(a.n_seqs) + ", rows_per_seq " +
                std::to_string(t.rows_per_seq) + ", n_head " + std::to_string(t.n_head) +
                " or n_head_kv " + std::to_string(t.n_head_kv) + " out of range");
    require(a.q_stride >= int64_t{t.n_head} * d && a.k_stride >= int64_t{t.n_head_kv} * d &&
                a.v_stride >= int64_t{t.n_head_kv} * d,
            CAB_ERR_INVALID_ARGUMENT,
            name + "q, k or v row stride (" + std::to_string(a.q_stride) + ", " +
                std::to_string(a.k_stride) + ", " + std::to_string(a.v_stride) +
                ") shorter than its heads");
    require(t.theta > 0.0f, CAB_ERR_INVALID_ARGUMENT, name + "theta must be > 0");
    require(!t.pool.q8 || a.k_stride == a.v_stride, CAB_ERR_INVALID_ARGUMENT,
            name + "k and v of a pool with 8-bit blocks share a row stride (" +
                std::to_string(a.k_stride) + " and " + std::to_string(a.v_stride) + ")");
    const int64_t rows = int64_t{a.n_seqs} * t.rows_per_seq;
    if (rows == 0) return;
    require(t.streams && a.q && a.k && a.v && t.positions, CAB_ERR_INVALID_ARGUMENT,
            name + "null streams, q, k, v or positions");
    const int half = d / 2;
    const RopeFreqs freqs = pos_enc::rope_freqs(t.theta, d);
    Params p{};
    p.pool = t.pool;
    p.streams = t.streams;
    p.rows_per_seq = t.rows_per_seq;
    p.n_head = t.n_head;
    p.n_head_kv = t.n_head_kv;
    p.half = half;
    p.q = static_cast<bf16 *>(a.q);
    p.q_stride = a.q_stride;
    p.k = static_cast<const bf16 *>(a.k);
    p.k_stride = a.k_stride;
    p.v = static_cast<const bf16 *>(a.v);
    p.v_stride = a.v_stride;
    p.positions = t.positions;
    p.freq_scale = static_cast<double>(t.freq_scale);
    p.neox = t.style == pos_enc::RopeStyle::NeoX;
    p.units = rows * (t.n_head + 2 * t.n_head_kv) * half;
    const int64_t blocks = std::min<int64_t>((p.units + kThreads - 1) / kThreads, kMaxBlocks);
    attention::launch_maybe_dependent(a.pdl, rope_append_kernel,
                                      dim3(static_cast<unsigned>(blocks)), dim3(kThreads), 0,
                                      stream, "rope kv append", p, freqs);
    if (!t.pool.q8) return;
    const Q8Rope rope{t.positions, t.theta, t.freq_scale, p.neox};
    append_q8(t.pool, t.streams, t.n_head_kv, t.rows_per_seq, rows, a.k, a.v, a.k_stride, &rope,
              a.pdl, stream);
}

}  // namespace cab::cuda::kv
