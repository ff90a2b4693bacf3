// Host side of decode: the split plan (heuristics.h), workspace layout, kernel and merge launch;
// head sizes without a tensor-core kernel go to generic.h.
#include <algorithm>
#include <cmath>
#include <string>

#include "attention/cascade.cuh"
#include "attention/decode.cuh"
#include "attention/generic.h"
#include "attention/heuristics.h"
#include "attention/launch.h"

namespace cab::cuda::attention {

namespace {

using attn::DecodeConfig;
static_assert(attn::kMergeMaxSplits == kDecodeMaxSplits, "the merge holds a weight per split");

constexpr size_t kAlign = 256;

// Keys per decode tile: splits and the probability rows are whole tiles.
int tile_keys(int head_dim) {
    return head_dim == 128 ? DecodeConfig<128>::BN : DecodeConfig<64>::BN;
}

size_t align_up(size_t x) {
    return (x + kAlign - 1) / kAlign * kAlign;
}

// Workspace regions, in order: part_o, part_lse, probs, slice_m.
struct Layout {
    size_t part_o = 0, part_lse = 0, probs = 0, slice_m = 0, total = 0;
};

// Whether the decode kernel writes the output itself, with no merge: one split, and, with
// scores, a short stream. A long stream's one split (a large batch) leaves its scores to the
// merge kernel, which spreads them over CTAs of 1,024 keys; finishing them in the decode kernel
// was slower there (PERFORMANCE.md, "What was tried").
bool writes_output(const DecodeArgs &a, int splits) {
    return splits == 1 && (!a.scores || a.max_length <= kDecodeOneSplitKeys);
}

// A single split (direct) needs none: no partial states, its probabilities in shared memory.
Layout layout(const DecodeArgs &a, int splits, int key_cap, bool direct) {
    Layout l;
    if (direct) return l;
    const size_t streams = static_cast<size_t>(a.batch) * a.n_head_kv;
    const size_t group = static_cast<size_t>(a.n_head / a.n_head_kv);
    const size_t states = direct ? 0 : streams * splits * group;
    l.part_lse = align_up(states * a.pool.head_dim * sizeof(float));
    l.probs = l.part_lse + align_up(states * sizeof(float));
    l.slice_m = l.probs;
    if (a.scores) l.slice_m += align_up(streams * group * key_cap * sizeof(float));
    l.total = l.slice_m;
    if (a.scores) l.total += align_up(streams * (key_cap / 16) * group * sizeof(float));
    return l;
}

template <class C, bool kScores, bool kFinish>
void launch_decode(const attn::DecodeParams &p, int batch, int n_head_kv, bool pdl,
                   cudaStream_t stream) {
    auto kernel = attn::decode_kernel<C, kScores, kFinish>;
    constexpr int smem = kFinish ? C::kFinishSmemBytes : C::kSmemBytes;
    static const bool configured = (allow_smem(kernel, smem, "attention decode"), true);
    (void)configured;
    launch_maybe_dependent(pdl, kernel, dim3(p.n_splits, n_head_kv, batch), dim3(C::kThreads), smem,
                           stream, "attention decode", p);
}

template <class C, bool kScores>
void launch(const attn::DecodeParams &p, int batch, int n_head_kv, bool pdl, cudaStream_t stream) {
    if constexpr (kScores) {
        if (p.direct) return launch_decode<C, true, true>(p, batch, n_head_kv, pdl, stream);
    }
    launch_decode<C, kScores, false>(p, batch, n_head_kv, pdl, stream);
    if (p.direct) return;
    const int key_blocks = kScores ? (p.key_cap + attn::kMergeKeys - 1) / attn::kMergeKeys : 0;
    launch_dependent(attn::merge_kernel<C::D, kScores>,
                     dim3(p.group + key_blocks, n_head_kv, batch), dim3(attn::kMergeThreads), 0,
                     stream, "attention decode merge", p);
}

template <class C>
int resident_ctas() {
    static const int n = [] {
        int blocks = 0;
        allow_smem(attn::decode_kernel<C, true, false>, C::kSmemBytes, "attention decode");
        if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(
                &blocks, attn::decode_kernel<C, true, false>, C::kThreads, C::kSmemBytes) !=
            cudaSuccess)
            check_launch("attention decode occupancy");
        return std::max(blocks, 1);
    }();
    return n;
}

bool tensor_core_head_dim(int d) {
    return d == 64 || d == 128;
}

void check(const DecodeArgs &a) {
    const int d = a.pool.head_dim;
    require(d >= 1 && d <= 256, CAB_ERR_UNSUPPORTED,
            "attention decode: head_dim " + std::to_string(d) + " (1 to 256 supported)");
    require(a.batch > 0 && a.n_head_kv > 0 && a.n_head > 0 && a.n_head % a.n_head_kv == 0,
            CAB_ERR_INVALID_ARGUMENT,
            "attention decode: batch " + std::to_string(a.batch) + ", n_head " +
                std::to_string(a.n_head) + " not a multiple of n_head_kv " +
                std::to_string(a.n_head_kv));
    require(a.max_length > 0, CAB_ERR_INVALID_ARGUMENT,
            "attention decode: max_length " + std::to_string(a.max_length));
    require(is_power_of_two(a.pool.block_size), CAB_ERR_INVALID_ARGUMENT,
            "attention decode: block_size " + std::to_string(a.pool.block_size) +
                " is not a power of two");
    require(a.splits >= 0 && a.splits <= kDecodeMaxSplits, CAB_ERR_INVALID_ARGUMENT,
            "attention decode: splits " + std::to_string(a.splits) + " (at most " +
                std::to_string(kDecodeMaxSplits) + ")");
    if (!tensor_core_head_dim(d)) return;
    require(a.n_head / a.n_head_kv <= 16, CAB_ERR_UNSUPPORTED,
            "attention decode: " + std::to_string(a.n_head / a.n_head_kv) +
                " query heads per kv head (at most 16)");
}

}  // namespace

DecodePlan plan_decode(const DecodeArgs &args) {
    check(args);
    if (!tensor_core_head_dim(args.pool.head_dim)) return {1, args.max_length, 0};
    const int tile = tile_keys(args.pool.head_dim);
    int splits = args.splits;
    if (splits == 0) {
        int device = 0, sms = 0;
        if (cudaGetDevice(&device) != cudaSuccess ||
            cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
            check_launch("attention decode device query");
        const int ctas = args.pool.head_dim == 128 ? resident_ctas<DecodeConfig<128>>()
                                                   : resident_ctas<DecodeConfig<64>>();
        splits = decode_num_splits(args.batch * args.n_head_kv, args.max_length, sms * ctas);
    }
    const int per_split = (args.max_length + splits - 1) / splits;
    DecodePlan plan;
    plan.chunk = (per_split + tile - 1) / tile * tile;
    plan.splits = (args.max_length + plan.chunk - 1) / plan.chunk;
    const int key_cap = (args.max_length + tile - 1) / tile * tile;
    plan.workspace_bytes =
        layout(args, plan.splits, key_cap, writes_output(args, plan.splits)).total;
    return plan;
}

void decode(const DecodeArgs &args, cudaStream_t stream) {
    const DecodePlan plan = plan_decode(args);
    require(args.streams && args.q && args.out && args.pool.data, CAB_ERR_INVALID_ARGUMENT,
            "attention decode: null pool, streams, q or out");
    require(!args.scores || args.pool.scores, CAB_ERR_INVALID_ARGUMENT,
            "attention decode: scores requested with a null pool.scores");
    if (!tensor_core_head_dim(args.pool.head_dim)) {
        decode_generic(args, stream);
        return;
    }
    require(args.q_stride % 8 == 0 && args.out_stride % 8 == 0, CAB_ERR_INVALID_ARGUMENT,
            "attention decode: q_stride " + std::to_string(args.q_stride) + " and out_stride " +
                std::to_string(args.out_stride) + " must be multiples of 8 (16-byte rows)");
    require(args.workspace_bytes >= plan.workspace_bytes &&
                (plan.workspace_bytes == 0 || args.workspace),
            CAB_ERR_INVALID_ARGUMENT,
            "attention decode: workspace of " + std::to_string(args.workspace_bytes) + " bytes, " +
                std::to_string(plan.workspace_bytes) + " needed");
    attn::DecodeParams p{};
    p.q = static_cast<const attn::bf16 *>(args.q);
    p.out = static_cast<attn::bf16 *>(args.out);
    p.q_stride = args.q_stride;
    p.out_stride = args.out_stride;
    p.kv = {static_cast<const attn::bf16 *>(args.pool.data),
            args.scores ? args.pool.scores : nullptr, log2_exact(args.pool.block_size)};
    p.streams = args.streams;
    p.n_head_kv = args.n_head_kv;
    p.group = args.n_head / args.n_head_kv;
    p.chunk = plan.chunk;
    p.n_splits = plan.splits;
    p.direct = writes_output(args, plan.splits);
    p.scale_log2 = static_cast<float>(M_LOG2E / std::sqrt(static_cast<double>(args.pool.head_dim)));
    const int tile = tile_keys(args.pool.head_dim);
    p.max_length = args.max_length;
    p.key_cap = (args.max_length + tile - 1) / tile * tile;
    const Layout l = layout(args, plan.splits, p.key_cap, p.direct);
    char *ws = static_cast<char *>(args.workspace);
    if (!p.direct) {
        p.part_o = reinterpret_cast<float *>(ws);
        p.part_lse = reinterpret_cast<float *>(ws + l.part_lse);
    }
    if (args.scores) {
        p.probs = reinterpret_cast<float *>(ws + l.probs);
        p.slice_m = reinterpret_cast<float *>(ws + l.slice_m);
    }
    const int b = args.batch, h = args.n_head_kv;
    if (args.pool.head_dim == 128) {
        args.scores ? launch<DecodeConfig<128>, true>(p, b, h, args.pdl, stream)
                    : launch<DecodeConfig<128>, false>(p, b, h, args.pdl, stream);
    } else {
        args.scores ? launch<DecodeConfig<64>, true>(p, b, h, args.pdl, stream)
                    : launch<DecodeConfig<64>, false>(p, b, h, args.pdl, stream);
    }
}

}  // namespace cab::cuda::attention
