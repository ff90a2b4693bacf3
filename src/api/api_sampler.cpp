// Samplers: seeded token selection from a sequence's logits.
#include <optional>

#include "api/guard.h"
#include "api/handles.h"

using cab::api::guard;
using cab::api::require_not_null;

namespace {

cab_sampler_params sampler_defaults() {
    cab_sampler_params p{};
    p.struct_size = sizeof(cab_sampler_params);
    p.temperature = 0.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.seed = 0;
    return p;
}

}  // namespace

extern "C" {

cab_status cab_sampler_default_params(cab_sampler_params *params) {
    return guard(__func__, [&] {
        require_not_null(params, "params");
        *params = sampler_defaults();
    });
}

cab_status cab_sampler_create(const cab_sampler_params *params, cab_sampler **sampler_out) {
    return guard(__func__, [&] {
        require_not_null(sampler_out, "sampler_out");
        *sampler_out = nullptr;
        cab_sampler_params p = cab::api::read_params(params, sampler_defaults(), "params");
        auto handle = std::make_unique<cab_sampler>();
        handle->impl = std::make_unique<cab::Sampler>(p);
        *sampler_out = handle.release();
    });
}

void cab_sampler_free(cab_sampler *sampler) {
    delete sampler;
}

cab_status cab_sample(cab_ctx *ctx, cab_seq seq, cab_sampler *sampler, cab_token *token_out) {
    return guard(__func__, [&] {
        require_not_null(ctx, "ctx");
        require_not_null(token_out, "token_out");
        cab::api::require_seq(ctx, seq, false);
        const cab_sampler_params *p = sampler != nullptr ? &sampler->impl->params() : nullptr;
        // Plain greedy picks its token where the logits are (on the GPU, without copying them).
        if (p == nullptr || (p->temperature <= 0.0f && p->repeat_penalty == 1.0f)) {
            if (const std::optional<int32_t> token = ctx->impl->greedy_token(seq)) {
                *token_out = *token;
                return;
            }
        }
        const float *logits = cab::api::require_logits(ctx, seq);
        int32_t n_vocab = ctx->impl->model().hparams().n_vocab;
        if (sampler == nullptr && ctx->greedy == nullptr)
            ctx->greedy = std::make_unique<cab::Sampler>(sampler_defaults());
        cab::Sampler &s = sampler != nullptr ? *sampler->impl : *ctx->greedy;
        *token_out = s.sample(logits, n_vocab, ctx->impl->history(seq));
    });
}

}  // extern "C"
