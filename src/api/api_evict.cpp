// Eviction and the per-stream view of what it leaves: positions and scores.
#include <algorithm>
#include <string>
#include <utility>

#include "api/evict_params.h"
#include "api/guard.h"
#include "api/handles.h"
#include "kv/stream.h"

using cab::api::guard;
using cab::api::require_arg;
using cab::api::require_not_null;
using cab::api::require_seq;

namespace {

// The stream's length to *n_out, and BUFFER_TOO_SMALL when cap cannot hold it.
const cab::Stream &sized_stream(const cab_ctx *ctx, cab_seq seq, int32_t layer, int32_t head,
                                size_t cap, size_t *n_out) {
    require_not_null(ctx, "ctx");
    require_not_null(n_out, "n_out");
    require_seq(ctx, seq, false);
    const cab::Stream &s = ctx->impl->kv_stream(seq, layer, head);
    const size_t n = static_cast<size_t>(s.length);
    *n_out = n;
    if (n > cap)
        cab::fail(CAB_ERR_BUFFER_TOO_SMALL,
                  "the buffers hold " + std::to_string(cap) + ", " + std::to_string(n) + " needed");
    return s;
}

}  // namespace

extern "C" {

cab_status cab_evict_default_params(cab_evict_params *params) {
    return guard(__func__, [&] {
        require_not_null(params, "params");
        *params = cab::api::evict_defaults();
    });
}

cab_status cab_evict(cab_ctx *ctx, cab_seq seq, const cab_evict_params *params,
                     cab_evict_report *report) {
    return guard(__func__, [&] {
        require_not_null(ctx, "ctx");
        require_seq(ctx, seq, false);
        if (report != nullptr) {
            const uint32_t size = report->struct_size;
            require_arg(size >= sizeof(uint32_t) && size <= sizeof(cab_evict_report),
                        "report->struct_size is not a cab_evict_report size");
        }
        const cab::EvictOptions options = cab::api::to_evict_options(params, "params");
        const cab::EvictResult r = ctx->impl->evict(seq, options);
        if (report == nullptr) return;
        cab_evict_report out{};
        out.struct_size = sizeof(out);
        out.tokens_before = r.tokens_before;
        out.tokens_kept = r.tokens_kept;
        out.tokens_evicted = r.tokens_before - r.tokens_kept;
        out.blocks_freed = r.blocks_freed;
        out.bytes_freed = r.bytes_freed;
        out.tokens_quantized = r.tokens_quantized;
        cab::api::write_out(report, out, "report");
    });
}

cab_status cab_kv_positions(const cab_ctx *ctx, cab_seq seq, int32_t layer, int32_t head,
                            int32_t *positions, size_t cap, size_t *n_out) {
    return guard(__func__, [&] {
        require_arg(positions != nullptr || cap == 0, "positions is NULL but cap is not 0");
        const cab::Stream &s = sized_stream(ctx, seq, layer, head, cap, n_out);
        std::copy(s.pos.begin(), s.pos.begin() + s.length, positions);
    });
}

cab_status cab_kv_scores(const cab_ctx *ctx, cab_seq seq, int32_t layer, int32_t head, float *score,
                         float *observers, float *window, size_t cap, size_t *n_out) {
    return guard(__func__, [&] {
        const cab::Stream &s = sized_stream(ctx, seq, layer, head, cap, n_out);
        const size_t n = static_cast<size_t>(s.length);
        const cab::SlotScores sc = ctx->impl->kv_scores(seq, layer, head);
        for (auto [dst, src] : {std::pair<float *, const float *>{score, sc.score.data()},
                                {observers, sc.observers.data()},
                                {window, sc.window.data()}})
            if (dst != nullptr) std::copy(src, src + n, dst);
    });
}

}  // extern "C"
