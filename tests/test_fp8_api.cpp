// Fp8 E4M3 KV blocks through the C API: cab_ctx_params.kv_q8_type (default, unknown values,
// older struct sizes), and a stories260K context whose oldest tokens "quantize" moves to fp8
// blocks: it decodes close to the full-precision context, differently from int8 blocks (the type
// is used), and cab_kv_stats counts the same blocks and bytes as with int8.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "eval_models.h"
#include "evict_helpers.h"

using namespace cab;

namespace {

int32_t n_vocab() {
    cab_model_info info{};
    info.struct_size = sizeof info;
    REQUIRE(cab_model_info_get(test::eval_stories260k(), &info) == CAB_OK);
    return info.n_vocab;
}

std::vector<int32_t> story() {
    const std::string text =
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
        "park with her dog Max. One day, she saw a big red ball under a tall tree. She ran to "
        "get it, but a bird flew down and sat on it. Lily laughed and said hello to the bird. "
        "The bird sang a happy song, and Max wagged his tail. Lily and Max played with the ball "
        "until the sun went down, and then they went home to eat dinner with mom.";
    std::vector<int32_t> tokens(text.size() + 1);
    size_t n = 0;
    REQUIRE(cab_tokenize(test::eval_stories260k(), text.data(), text.size(), CAB_TOKENIZE_ADD_BOS,
                         tokens.data(), tokens.size(), &n) == CAB_OK);
    tokens.resize(n);
    return tokens;
}

// A CPU context with blocks of 4 holding the story in sequence 0; with 8-bit blocks of `type`
// for 512 tokens per stream when q8, its tokens but the last 16 moved there by "quantize".
test::CtxPtr story_ctx(bool q8, cab_kv_q8_type type) {
    cab_ctx_params p = test::small_ctx_params(512);
    p.kv_q8_capacity_tokens = q8 ? 512 : 0;
    p.kv_q8_type = type;
    test::CtxPtr ctx = test::make_c_ctx(test::eval_stories260k(), p);
    const std::vector<int32_t> tokens = story();
    REQUIRE(cab_prefill(ctx.get(), 0, tokens.data(), tokens.size()) == CAB_OK);
    if (q8) {
        cab_evict_params e = test::evict_params("quantize", 0);
        e.quantize_recent = 16;
        cab_evict_report r{};
        r.struct_size = sizeof r;
        REQUIRE(cab_evict(ctx.get(), 0, &e, &r) == CAB_OK);
        REQUIRE(r.tokens_quantized > 0);
    }
    return ctx;
}

std::vector<float> step(cab_ctx *ctx, int32_t token) {
    return test::decode_step(ctx, token, n_vocab());
}

double max_abs(const std::vector<float> &a) {
    double m = 0.0;
    for (float x : a) m = std::max(m, std::fabs(double{x}));
    return m;
}

double max_diff(const std::vector<float> &a, const std::vector<float> &b) {
    REQUIRE(a.size() == b.size());
    double m = 0.0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double{a[i]} - b[i]));
    return m;
}

}  // namespace

TEST_CASE("cab_ctx_params.kv_q8_type: int8 by default, unknown values refused", "[api][fp8]") {
    cab_ctx_params p;
    REQUIRE(cab_ctx_default_params(&p) == CAB_OK);
    CHECK(p.kv_q8_type == CAB_KV_Q8_INT8);
    CHECK(p.struct_size == sizeof(cab_ctx_params));

    p = test::small_ctx_params(64);
    p.kv_q8_capacity_tokens = 64;
    const int unknown = 2;  // C lets any int into an enum field
    std::memcpy(&p.kv_q8_type, &unknown, sizeof unknown);
    cab_ctx *raw = nullptr;
    CHECK(cab_ctx_create(test::eval_stories260k(), &p, &raw) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("params->kv_q8_type"));
    CHECK(raw == nullptr);

    // A struct from before the field (it ends at kv_q8_capacity_tokens) keeps the default.
    p.struct_size = offsetof(cab_ctx_params, kv_q8_type);
    test::CtxPtr old = test::make_c_ctx(test::eval_stories260k(), p);
    CHECK(test::kv_stats(old.get(), CAB_SEQ_ALL).q8_blocks_total > 0);
}

TEST_CASE("Fp8 KV blocks: 'quantize' on stories260K decodes close to full precision",
          "[api][fp8][q8]") {
    test::CtxPtr dense = story_ctx(false, CAB_KV_Q8_INT8);
    test::CtxPtr int8 = story_ctx(true, CAB_KV_Q8_INT8);
    test::CtxPtr fp8 = story_ctx(true, CAB_KV_Q8_FP8_E4M3);

    // The same blocks of the same size: one byte per element and one F32 scale per row.
    const cab_kv_stats si = test::kv_stats(int8.get(), CAB_SEQ_ALL),
                       sf = test::kv_stats(fp8.get(), CAB_SEQ_ALL);
    CHECK(sf.q8_blocks_used > 0);
    CHECK(sf.q8_blocks_used == si.q8_blocks_used);
    CHECK(sf.q8_blocks_total == si.q8_blocks_total);
    CHECK(sf.blocks_used == si.blocks_used);
    CHECK(sf.q8_bytes_used == si.q8_bytes_used);
    CHECK(sf.bytes_used == si.bytes_used);
    CHECK(sf.bytes_total == si.bytes_total);

    // Every fp8 element is within 1/16 of itself (3 significant bits, round to nearest), about
    // 1/40 on average, and the errors of a row's elements are independent and partly cancel in
    // the dot products; over the decode steps the logits move by 1.9-4.4% of their range here
    // (int8: 1.3-2.4%, its error bound max|x| / 254 being the smaller for most elements). 10%
    // leaves twice that room, and fails on a wrong decoding (codes read as int8 values, a lost
    // scale).
    for (int32_t token : {5, 77, 130, 200}) {
        const std::vector<float> d = step(dense.get(), token), i = step(int8.get(), token),
                                 f = step(fp8.get(), token);
        const double range = max_abs(d), err_f = max_diff(f, d), err_i = max_diff(i, d);
        INFO("token " << token << ": worst |logit difference| fp8 " << err_f << ", int8 " << err_i
                      << ", of " << range);
        CHECK(err_f < 0.1 * range);
        CHECK(err_f > 0.0);
        CHECK(max_diff(f, i) > 0.0);  // the fp8 context does not hold int8 rows
    }
}
