// Contexts: creation, prefill, batched decode, logits, sequences and KV inspection.
#include <cstddef>
#include <cstring>
#include <string>

#include "api/evict_params.h"
#include "api/guard.h"
#include "api/handles.h"

using cab::api::guard;
using cab::api::require_arg;
using cab::api::require_not_null;
using cab::api::require_seq;

namespace {

cab_ctx_params ctx_defaults() {
    cab_ctx_params p{};
    p.struct_size = sizeof(cab_ctx_params);
    p.device = CAB_DEVICE_AUTO;
    p.n_seq_max = 1;
    p.n_threads = 0;
    p.kv_capacity_tokens = 4096;
    p.kv_block_size = 16;
    p.kv_type = CAB_KV_TYPE_AUTO;
    p.prefill_chunk = 512;
    p.auto_evict = nullptr;
    p.auto_evict_slack = 64;
    p.score_window = 32;
    p.kv_q8_capacity_tokens = 0;
    p.kv_q8_type = CAB_KV_Q8_INT8;
    return p;
}

// The struct as first released ended at prefill_chunk; programs built then pass that size.
constexpr size_t kCtxParamsV1Size = offsetof(cab_ctx_params, auto_evict);

}  // namespace

extern "C" {

cab_status cab_ctx_default_params(cab_ctx_params *params) {
    return guard(__func__, [&] {
        require_not_null(params, "params");
        *params = ctx_defaults();
    });
}

// Programs built against 0.1.0 bind to cab_ctx_default_params@CAB_0: their struct ends at
// prefill_chunk, so this version writes only that much (docs/ABI.md). Not exported by its own
// name: cab.map exports only cab_*.
CAB_API cab_status ctx_default_params_0_1(cab_ctx_params *params) {
    return guard("cab_ctx_default_params", [&] {
        require_not_null(params, "params");
        cab_ctx_params p = ctx_defaults();
        p.struct_size = static_cast<uint32_t>(kCtxParamsV1Size);
        std::memcpy(static_cast<void *>(params), &p, kCtxParamsV1Size);
    });
}
__asm__(".symver ctx_default_params_0_1, cab_ctx_default_params@CAB_0");

cab_status cab_ctx_create(const cab_model *model, const cab_ctx_params *params, cab_ctx **ctx_out) {
    return guard(__func__, [&] {
        require_not_null(ctx_out, "ctx_out");
        *ctx_out = nullptr;
        require_not_null(model, "model");
        cab_ctx_params p =
            cab::api::read_params(params, ctx_defaults(), "params", kCtxParamsV1Size);
        const int device = cab::api::enum_int(p.device);
        require_arg(
            device == CAB_DEVICE_AUTO || device == CAB_DEVICE_CPU || device == CAB_DEVICE_CUDA,
            "params->device is not a cab_device value");
        require_arg(p.n_seq_max >= 1 && p.n_seq_max <= 65536,
                    "params->n_seq_max must be in [1, 65536]");
        require_arg(p.n_threads >= 0 && p.n_threads <= 1024,
                    "params->n_threads must be in [0, 1024]");
        require_arg(p.kv_capacity_tokens >= 1 && p.kv_capacity_tokens <= (int64_t(1) << 32),
                    "params->kv_capacity_tokens must be in [1, 2^32]");
        require_arg(p.kv_block_size >= 1 && p.kv_block_size <= 1024,
                    "params->kv_block_size must be in [1, 1024]");
        const int kv_type = cab::api::enum_int(p.kv_type);
        require_arg(kv_type >= CAB_KV_TYPE_AUTO && kv_type <= CAB_KV_TYPE_BF16,
                    "params->kv_type is not a cab_kv_type value");
        require_arg(p.prefill_chunk >= 1 && p.prefill_chunk <= 65536,
                    "params->prefill_chunk must be in [1, 65536]");
        require_arg(p.auto_evict_slack >= 1, "params->auto_evict_slack must be at least 1");
        require_arg(p.score_window >= 1 && p.score_window <= 65536,
                    "params->score_window must be in [1, 65536]");
        require_arg(p.kv_q8_capacity_tokens >= 0 && p.kv_q8_capacity_tokens <= (int64_t(1) << 32),
                    "params->kv_q8_capacity_tokens must be in [0, 2^32]");
        const int kv_q8_type = cab::api::enum_int(p.kv_q8_type);
        require_arg(kv_q8_type == CAB_KV_Q8_INT8 || kv_q8_type == CAB_KV_Q8_FP8_E4M3,
                    "params->kv_q8_type is not a cab_kv_q8_type value");
        cab::ContextOptions o;
        o.device = p.device;
        o.n_seq_max = p.n_seq_max;
        o.n_threads = p.n_threads;
        o.kv_capacity_tokens = p.kv_capacity_tokens;
        o.kv_block_size = p.kv_block_size;
        o.kv_type = p.kv_type;
        o.prefill_chunk = p.prefill_chunk;
        o.score_window = p.score_window;
        o.auto_evict_slack = p.auto_evict_slack;
        o.kv_q8_capacity_tokens = p.kv_q8_capacity_tokens;
        o.kv_q8_type = p.kv_q8_type;
        if (p.auto_evict != nullptr)
            o.auto_evict = cab::api::to_evict_options(p.auto_evict, "params->auto_evict");
        auto handle = std::make_unique<cab_ctx>();
        handle->impl = cab::Context::create(*model->impl, o);
        *ctx_out = handle.release();
    });
}

void cab_ctx_destroy(cab_ctx *ctx) {
    delete ctx;
}

cab_status cab_prefill(cab_ctx *ctx, cab_seq seq, const cab_token *tokens, size_t n) {
    return guard(__func__, [&] {
        require_not_null(ctx, "ctx");
        require_seq(ctx, seq, false);
        require_not_null(tokens, "tokens");
        require_arg(n > 0, "n is 0: nothing to prefill");
        ctx->impl->prefill(seq, tokens, n);
    });
}

cab_status cab_decode(cab_ctx *ctx, const cab_seq *seqs, const cab_token *tokens, size_t n) {
    return guard(__func__, [&] {
        require_not_null(ctx, "ctx");
        require_not_null(seqs, "seqs");
        require_not_null(tokens, "tokens");
        require_arg(n > 0, "n is 0: no sequence to decode");
        for (size_t i = 0; i < n; ++i) require_seq(ctx, seqs[i], false);
        ctx->impl->decode(seqs, tokens, n);
    });
}

cab_status cab_logits(cab_ctx *ctx, cab_seq seq, const float **logits_out) {
    return guard(__func__, [&] {
        require_not_null(logits_out, "logits_out");
        *logits_out = nullptr;
        require_not_null(ctx, "ctx");
        require_seq(ctx, seq, false);
        *logits_out = cab::api::require_logits(ctx, seq);
    });
}

cab_status cab_seq_length(const cab_ctx *ctx, cab_seq seq, int64_t *length_out) {
    return guard(__func__, [&] {
        require_not_null(ctx, "ctx");
        require_not_null(length_out, "length_out");
        require_seq(ctx, seq, false);
        *length_out = ctx->impl->seq_length(seq);
    });
}

cab_status cab_seq_reset(cab_ctx *ctx, cab_seq seq) {
    return guard(__func__, [&] {
        require_not_null(ctx, "ctx");
        require_seq(ctx, seq, false);
        ctx->impl->seq_reset(seq);
    });
}

cab_status cab_seq_copy(cab_ctx *ctx, cab_seq src, cab_seq dst) {
    return guard(__func__, [&] {
        require_not_null(ctx, "ctx");
        ctx->impl->seq_copy(src, dst);
    });
}

cab_status cab_kv_stats_get(const cab_ctx *ctx, cab_seq seq, cab_kv_stats *stats) {
    return guard(__func__, [&] {
        require_not_null(ctx, "ctx");
        require_seq(ctx, seq, true);
        cab::api::write_out(stats, ctx->impl->kv_stats(seq), "stats");
    });
}

cab_status cab_kv_lengths(const cab_ctx *ctx, cab_seq seq, int32_t *lengths, size_t cap,
                          size_t *n_out) {
    return guard(__func__, [&] {
        require_not_null(ctx, "ctx");
        require_not_null(n_out, "n_out");
        require_arg(lengths != nullptr || cap == 0, "lengths is NULL but cap is not 0");
        require_seq(ctx, seq, false);
        std::vector<int32_t> lens = ctx->impl->kv_lengths(seq);
        *n_out = lens.size();
        if (lens.size() > cap)
            cab::fail(CAB_ERR_BUFFER_TOO_SMALL, "lengths holds " + std::to_string(cap) + ", " +
                                                    std::to_string(lens.size()) + " needed");
        std::copy(lens.begin(), lens.end(), lengths);
    });
}

}  // extern "C"
