// Host side of decode: the split plan (heuristics.h), workspace layout, kernel and merge launch;
// head sizes without a tensor-core kernel go to generic.h.
#include <algorithm>
#include <string>
#include <type_traits>

#include "attention/cascade.cuh"
#include "attention/decode.cuh"
#include "attention/decode_sm90.cuh"
#include "attention/generic.h"
#include "attention/heuristics.h"
#include "attention/launch.h"
#include "attention/settle.cuh"
#include "attention/tensor_map.h"

namespace cab::cuda::attention {

namespace {

using attn::DecodeConfig;

constexpr size_t kAlign = 256;

// Keys per decode tile: splits are whole tiles, int8 ones for a pool with int8 blocks.
int tile_keys(const DecodeArgs &a) {
    return a.pool.q8 ? DecodeConfig<64, true>::kQ8Keys : DecodeConfig<64>::BN;
}

size_t align_up(size_t x) {
    return (x + kAlign - 1) / kAlign * kAlign;
}

// Workspace regions, in order: part_o, part_lse, records (kInstall).
struct Layout {
    size_t part_o = 0, part_lse = 0, records = 0, total = 0;
};

// Whether the decode kernel writes the output itself, with no merge: one split.
bool writes_output(int splits) {
    return splits == 1;
}

int group_of(const DecodeArgs &a) {
    return a.n_head / a.n_head_kv;
}

// Scores are deferred to the next step (kDefer) when the caller keeps records and the pending
// query fits the tile's spare rows; otherwise each call settles its own (kInstall, then settle).
bool defers(const DecodeArgs &a) {
    return a.scores && a.pending && group_of(a) <= kPendingMaxGroup;
}

Layout layout(const DecodeArgs &a, int splits) {
    Layout l;
    const size_t streams = static_cast<size_t>(a.batch) * a.n_head_kv;
    const size_t group = static_cast<size_t>(group_of(a));
    const size_t states = writes_output(splits) ? 0 : streams * splits * group;
    l.part_lse = align_up(states * a.pool.head_dim * sizeof(float));
    l.records = l.part_lse + align_up(states * sizeof(float));
    l.total = l.records;
    if (a.scores && !defers(a))
        l.total +=
            align_up(streams * pending_record_size(static_cast<int>(group), a.pool.head_dim));
    return l;
}

// Launches a decode kernel over its parameters kp (DecodeParams p, or the Hopper kernel's, which
// hold them), then the merge unless the kernel's one split writes the output.
template <class C, attn::DecodeScores kMode, class KernelParams>
void launch(void (*kernel)(KernelParams), const KernelParams &kp, const attn::DecodeParams &p,
            int batch, int n_head_kv, bool pdl, cudaStream_t stream) {
    static const bool configured = (allow_smem(kernel, C::kSmemBytes, "attention decode"), true);
    (void)configured;
    launch_maybe_dependent(pdl, kernel, dim3(p.n_splits, n_head_kv, batch), dim3(C::kThreads),
                           C::kSmemBytes, stream, "attention decode", kp);
    if (p.direct) return;
    constexpr bool kRecord = kMode != attn::DecodeScores::kNone;
    if (p.merge_rows == 0)
        launch_dependent(attn::merge_row_kernel<C::D, kRecord>, dim3(p.group, n_head_kv, batch),
                         dim3(attn::kMergeThreads), 0, stream, "attention decode merge", p);
    else
        launch_dependent(attn::merge_vector_kernel<C::D, kRecord>,
                         dim3((p.group + p.merge_rows - 1) / p.merge_rows, n_head_kv, batch),
                         dim3(attn::kMergeThreads), 0, stream, "attention decode merge", p);
}

// A map over the pool for the Hopper kernel's tensor copies, in boxes of `rows` rows: the last
// one encoded on this thread when it is for the same pool (a model's layers share one), so that
// an eager decode step encodes it once. False when the driver has none (decode.cu falls back).
bool pool_map(CUtensorMap &map, const void *pool, int head_dim, int rows) {
    struct Cached {
        const void *pool = nullptr;
        int head_dim = 0, rows = 0;
        bool ok = false;
        CUtensorMap map{};
    };
    thread_local Cached cached;
    if (cached.pool != pool || cached.head_dim != head_dim || cached.rows != rows) {
        // The map spans 2^31 rows (more than a GPU holds, and int row coordinates): block
        // tables name only blocks inside the pool, and rows past a stream's end are never used.
        constexpr uint64_t kPoolRows = uint64_t{1} << 31;
        cached.ok = encode_bf16_tensor_map(cached.map, pool, kPoolRows, head_dim, rows);
        cached.pool = pool;
        cached.head_dim = head_dim;
        cached.rows = rows;
    }
    map = cached.map;
    return cached.ok;
}

template <class C>
void launch_settle(const attn::SettleParams &p, cudaStream_t stream) {
    auto kernel = attn::settle_kernel<C>;
    static const bool configured = (allow_smem(kernel, C::kSmemBytes, "attention settle"), true);
    (void)configured;
    const int splits = (p.max_length + p.chunk - 1) / p.chunk;
    launch_maybe_dependent(false, kernel, dim3(splits, p.count), dim3(C::kThreads), C::kSmemBytes,
                           stream, "attention settle", p);
    if (!p.records_by_id) return;  // a call's own records are dropped with its workspace
    constexpr int kThreads = 128;
    launch_maybe_dependent(false, attn::settle_clear_kernel,
                           dim3((p.count + kThreads - 1) / kThreads), dim3(kThreads), 0, stream,
                           "attention settle", p);
}

void run_settle(const attn::SettleParams &p, int head_dim, cudaStream_t stream) {
    if (head_dim == 128) {
        launch_settle<attn::SettleConfig<128>>(p, stream);
    } else {
        launch_settle<attn::SettleConfig<64>>(p, stream);
    }
}

template <class C>
constexpr auto occupancy_kernel() {
    if constexpr (C::kThreads == C::kConsumerThreads) {
        return attn::decode_kernel<C, attn::DecodeScores::kDefer>;
    } else {
        return attn::decode_sm90_kernel<C, attn::DecodeScores::kDefer>;
    }
}

template <class C>
int resident_ctas() {
    static const int n = [] {
        int blocks = 0;
        constexpr auto kernel = occupancy_kernel<C>();
        allow_smem(kernel, C::kSmemBytes, "attention decode");
        if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, C::kThreads,
                                                          C::kSmemBytes) != cudaSuccess)
            check_launch("attention decode occupancy");
        return std::max(blocks, 1);
    }();
    return n;
}

// Calls f with the scores mode as a std::integral_constant (the kernels' template argument).
template <class F>
void with_mode(attn::DecodeScores mode, F &&f) {
    using attn::DecodeScores;
    switch (mode) {
        case DecodeScores::kNone:
            return f(std::integral_constant<DecodeScores, DecodeScores::kNone>{});
        case DecodeScores::kInstall:
            return f(std::integral_constant<DecodeScores, DecodeScores::kInstall>{});
        case DecodeScores::kDefer:
            return f(std::integral_constant<DecodeScores, DecodeScores::kDefer>{});
    }
}

// Whether the Hopper kernel runs these args (a map over the pool is still needed: decode()).
bool runs_sm90(const DecodeArgs &a) {
    const bool can = a.pool.q8 == nullptr && a.pool.block_size >= 4 && sm90_available();
    require(can || a.kernel != Kernel::Sm90, CAB_ERR_UNSUPPORTED,
            "attention decode: the sm_90a kernel does not run this pool (8-bit blocks or blocks "
            "under 4 keys), device or build");
    return can && a.kernel != Kernel::Sm80;
}

// Calls f with the decode kernel's configuration for these args: head size, the Hopper kernel's
// when it runs them (with_sm90), and a pool with 8-bit blocks runs the kernel that reads them
// (tile_q8.cuh) for every stream, int8 or fp8 E4M3.
template <class F>
auto with_config(const DecodeArgs &a, bool with_sm90, F &&f) {
    const bool q8 = a.pool.q8 != nullptr, fp8 = q8 && a.pool.q8_fp8;
    if (with_sm90)
        return a.pool.head_dim == 128 ? f(attn::DecodeSm90Config<128>{})
                                      : f(attn::DecodeSm90Config<64>{});
    if (a.pool.head_dim == 128) {
        if (fp8) return f(DecodeConfig<128, true, true>{});
        return q8 ? f(DecodeConfig<128, true>{}) : f(DecodeConfig<128>{});
    }
    if (fp8) return f(DecodeConfig<64, true, true>{});
    return q8 ? f(DecodeConfig<64, true>{}) : f(DecodeConfig<64>{});
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
    const int tile = tile_keys(args);
    const int units = args.batch * args.n_head_kv;
    int splits = args.splits, slots = 0;
    if (splits == 0) {
        const bool sm90 = runs_sm90(args);
        const int ctas =
            with_config(args, sm90, [](auto config) { return resident_ctas<decltype(config)>(); });
        const int sms = sm_count("attention decode device query");
        slots = sms * ctas;
        splits = sm90 ? decode_num_splits_sm90(units, args.max_length, sms, slots, tile, args.pdl)
                      : decode_num_splits(units, args.max_length, slots, tile);
    }
    const int per_split = (args.max_length + splits - 1) / splits;
    DecodePlan plan;
    plan.chunk = decode_chunk(args.max_length, splits, tile);
    // Int8 tiles are twice as long: rounding up to them can cost batch 1 a third of its CTAs
    // (4k keys asked in 28 splits: 16 of 256); the nearest multiple keeps about as many,
    // unless they take a wave more than the splits chosen (batch 16, 2 kv heads, 4,100 keys: 17
    // splits of 256 where 14 were chosen, 544 CTAs on 528 slots).
    const int over = per_split % tile;  // keys past the last whole tile
    if (args.splits == 0 && args.pool.q8 && plan.chunk > tile && over > 0 && over < tile / 2) {
        const int nearer = (args.max_length + plan.chunk - tile - 1) / (plan.chunk - tile);
        if (nearer <= kDecodeMaxSplits &&
            decode_waves(units, nearer, slots) <= decode_waves(units, splits, slots))
            plan.chunk -= tile;
    }
    plan.splits = (args.max_length + plan.chunk - 1) / plan.chunk;
    if (args.pool.q8 && decode_tail_split(units, plan.splits, slots)) ++plan.splits;
    plan.workspace_bytes = layout(args, plan.splits).total;
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
    require(
        !defers(args) ||
            args.pending_record_bytes == pending_record_size(group_of(args), args.pool.head_dim),
        CAB_ERR_INVALID_ARGUMENT,
        "attention decode: pending records of " + std::to_string(args.pending_record_bytes) +
            " bytes, " + std::to_string(pending_record_size(group_of(args), args.pool.head_dim)) +
            " expected");
    attn::DecodeParams p{};
    p.q = static_cast<const attn::bf16 *>(args.q);
    p.out = static_cast<attn::bf16 *>(args.out);
    p.q_stride = args.q_stride;
    p.out_stride = args.out_stride;
    p.kv = attn::paged_kv(args.pool, args.scores ? args.pool.scores : nullptr,
                          log2_exact(args.pool.block_size));
    p.streams = args.streams;
    p.n_head_kv = args.n_head_kv;
    p.group = group_of(args);
    p.chunk = plan.chunk;
    p.n_splits = plan.splits;
    p.q8_tile = args.pool.q8 ? tile_keys(args) : 0;
    p.direct = writes_output(plan.splits);
    p.records_by_id = defers(args);
    p.scale_log2 = scale_log2(args.pool.head_dim);
    p.max_length = args.max_length;
    const DecodeMerge merge = decode_merge(p.group, plan.splits);
    p.merge_rows = merge.vectors ? merge.rows : 0;
    const Layout l = layout(args, plan.splits);
    char *ws = static_cast<char *>(args.workspace);
    if (!p.direct) {
        p.part_o = reinterpret_cast<float *>(ws);
        p.part_lse = reinterpret_cast<float *>(ws + l.part_lse);
    }
    const int d = args.pool.head_dim;
    if (args.scores) {
        p.record_bytes = static_cast<int64_t>(pending_record_size(p.group, d));
        p.pending = p.records_by_id ? args.pending : ws + l.records;
    }
    const int b = args.batch, h = args.n_head_kv;
    using attn::DecodeScores;
    const DecodeScores mode = !args.scores      ? DecodeScores::kNone
                              : p.records_by_id ? DecodeScores::kDefer
                                                : DecodeScores::kInstall;
    attn::DecodeSm90Params pp{};
    bool sm90 = runs_sm90(args);
    if (sm90) {
        pp.base = p;
        pp.tma_rows = std::min(args.pool.block_size, attn::DecodeSm90Config<64>::BN);
        sm90 = pool_map(pp.kv_map, args.pool.data, d, pp.tma_rows);
        require(sm90 || args.kernel != Kernel::Sm90, CAB_ERR_UNSUPPORTED,
                "attention decode: the driver has no tensor-map encoder for the sm_90a kernel");
    }
    auto run = [&](auto config) {
        using C = decltype(config);
        with_mode(mode, [&](auto m) {
            constexpr DecodeScores kMode = decltype(m)::value;
            if constexpr (C::kThreads != C::kConsumerThreads) {
                launch<C, kMode>(attn::decode_sm90_kernel<C, kMode>, pp, p, b, h, args.pdl, stream);
            } else {
                launch<C, kMode>(attn::decode_kernel<C, kMode>, p, p, b, h, args.pdl, stream);
            }
        });
    };
    with_config(args, sm90, run);
    if (mode != DecodeScores::kInstall) return;
    attn::SettleParams sp{};
    sp.kv = p.kv;
    sp.streams = args.streams;
    sp.pending = p.pending;
    sp.record_bytes = p.record_bytes;
    sp.records_by_id = false;
    sp.group = p.group;
    sp.chunk = attn::SettleConfig<64>::kChunk;
    sp.n_new = 0;
    sp.max_length = args.max_length;
    sp.count = b * h;
    sp.scale_log2 = p.scale_log2;
    run_settle(sp, d, stream);
}

void settle(const SettleArgs &args, cudaStream_t stream) {
    const int d = args.pool.head_dim;
    require(d == 64 || d == 128, CAB_ERR_UNSUPPORTED,
            "attention settle: head_dim " + std::to_string(d) + " keeps no pending scores");
    require(args.group >= 1 && args.group <= kPendingMaxGroup, CAB_ERR_INVALID_ARGUMENT,
            "attention settle: group " + std::to_string(args.group) + " (1 to " +
                std::to_string(kPendingMaxGroup) + ")");
    require(args.count >= 0 && args.n_new >= 0 && args.max_length >= 0, CAB_ERR_INVALID_ARGUMENT,
            "attention settle: negative count, n_new or max_length");
    if (args.count == 0 || args.max_length == 0) return;
    require(args.streams && args.pending && args.pool.scores && args.pool.data,
            CAB_ERR_INVALID_ARGUMENT,
            "attention settle: null streams, pending records, pool or pool.scores");
    require(is_power_of_two(args.pool.block_size), CAB_ERR_INVALID_ARGUMENT,
            "attention settle: block_size " + std::to_string(args.pool.block_size) +
                " is not a power of two");
    attn::SettleParams sp{};
    sp.kv = attn::paged_kv(args.pool, args.pool.scores, log2_exact(args.pool.block_size));
    sp.streams = args.streams;
    sp.pending = args.pending;
    sp.record_bytes = static_cast<int64_t>(pending_record_size(args.group, d));
    sp.records_by_id = true;
    sp.group = args.group;
    sp.chunk = attn::SettleConfig<64>::kChunk;
    sp.n_new = args.n_new;
    sp.max_length = args.max_length;
    sp.count = args.count;
    sp.scale_log2 = scale_log2(d);
    run_settle(sp, d, stream);
}

}  // namespace cab::cuda::attention
