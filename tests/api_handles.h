// Owning handles and a CPU model loader through the public C API only, so that binaries built
// without the internal headers (cab_thread_tests) share them with the CPU suite.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cab/cab.h"

namespace cab::test {

struct ModelDeleter {
    void operator()(cab_model *m) const { cab_model_free(m); }
};
struct CtxDeleter {
    void operator()(cab_ctx *c) const { cab_ctx_destroy(c); }
};
using ModelPtr = std::unique_ptr<cab_model, ModelDeleter>;
using CtxPtr = std::unique_ptr<cab_ctx, CtxDeleter>;

// The CPU suite tests the CPU backend, the reference: its models load on the CPU even on a
// machine with a GPU (the default device, AUTO, would pick the GPU there).
inline const cab_model_params *cpu_model_params() {
    static const cab_model_params params = [] {
        cab_model_params p{};
        p.struct_size = sizeof(p);
        cab_model_default_params(&p);
        p.device = CAB_DEVICE_CPU;
        return p;
    }();
    return &params;
}

inline ModelPtr load_c_model(const std::string &path) {
    cab_model *m = nullptr;
    const cab_status st = cab_model_load(path.c_str(), cpu_model_params(), &m);
    INFO(path << ": " << cab_last_error());
    REQUIRE(st == CAB_OK);
    return ModelPtr(m);
}

inline CtxPtr make_c_ctx(const cab_model *model, const cab_ctx_params &p) {
    cab_ctx *ctx = nullptr;
    const cab_status st = cab_ctx_create(model, &p, &ctx);
    INFO(cab_last_error());
    REQUIRE(st == CAB_OK);
    return CtxPtr(ctx);
}

// Sequence 0's logits (n_vocab of them), copied.
inline std::vector<float> logits_of(cab_ctx *ctx, int32_t n_vocab) {
    const float *l = nullptr;
    REQUIRE(cab_logits(ctx, 0, &l) == CAB_OK);
    return std::vector<float>(l, l + n_vocab);
}

// One decode step of `token` in sequence 0, then its logits.
inline std::vector<float> decode_step(cab_ctx *ctx, int32_t token, int32_t n_vocab) {
    const cab_seq seq = 0;
    REQUIRE(cab_decode(ctx, &seq, &token, 1) == CAB_OK);
    return logits_of(ctx, n_vocab);
}

}  // namespace cab::test
