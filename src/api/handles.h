// What the opaque C handles hold. The C++ objects are owned here and never exposed.
#pragma once

#include <memory>
#include <string>

#include "model/model.h"
#include "runtime/context.h"
#include "runtime/sampler.h"
#include "util/error.h"

struct cab_model {
    std::unique_ptr<cab::Model> impl;
};

struct cab_ctx {
    std::unique_ptr<cab::Context> impl;
    // What cab_sample uses when given no sampler; kept so its buffers are not rebuilt per token.
    std::unique_ptr<cab::Sampler> greedy;
};

struct cab_sampler {
    std::unique_ptr<cab::Sampler> impl;
};

namespace cab::api {

inline void require_seq(const cab_ctx *ctx, cab_seq seq, bool allow_all) {
    if (allow_all && seq == CAB_SEQ_ALL) return;
    if (seq < 0 || seq >= ctx->impl->n_seq_max())
        fail(CAB_ERR_INVALID_ARGUMENT, "seq " + std::to_string(seq) + " is out of range [0, " +
                                           std::to_string(ctx->impl->n_seq_max()) + ")");
}

// The sequence's logits; STATE when it has none yet.
inline const float *require_logits(const cab_ctx *ctx, cab_seq seq) {
    const float *logits = ctx->impl->logits(seq);
    if (logits == nullptr)
        fail(CAB_ERR_STATE,
             "seq " + std::to_string(seq) + " has no logits yet: prefill or decode it first");
    return logits;
}

}  // namespace cab::api
