// Int8 KV through the C API: cab_ctx_params.kv_q8_capacity_tokens, the "quantize" and
// "quantize+<policy>" policies of cab_evict, cab_kv_stats counting blocks and bytes by type, and
// the errors (no int8 blocks, bad names and values, automatic eviction, older struct sizes).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "evict_helpers.h"

using namespace cab;

namespace {

const cab_model *tiny_llama() {
    static test::ModelPtr model = test::load_c_model(test::tiny_path("tiny_llama"));
    return model.get();
}

const std::vector<int32_t> &prompt() {
    static const std::vector<int32_t> tokens = [] {
        std::mt19937 rng(4);
        return test::random_tokens(rng, 200, 262);
    }();
    return tokens;
}

// A context (block size 4) holding the 200-token prompt in sequence 0.
test::CtxPtr prefilled(int64_t q8_tokens) {
    cab_ctx_params p = test::small_ctx_params(512);
    p.kv_q8_capacity_tokens = q8_tokens;
    test::CtxPtr ctx = test::make_c_ctx(tiny_llama(), p);
    REQUIRE(cab_prefill(ctx.get(), 0, prompt().data(), prompt().size()) == CAB_OK);
    return ctx;
}

cab_evict_report evict(cab_ctx *ctx, const cab_evict_params &e) {
    cab_evict_report r{};
    r.struct_size = sizeof r;
    REQUIRE(cab_evict(ctx, 0, &e, &r) == CAB_OK);
    return r;
}

// The logits of one decode step of `token` in sequence 0.
std::vector<float> step(cab_ctx *ctx, int32_t token) {
    return test::decode_step(ctx, token, 262);
}

}  // namespace

TEST_CASE("cab_evict 'quantize': old tokens move to int8 blocks, bytes are counted by type",
          "[api][q8]") {
    test::CtxPtr ctx = prefilled(512), plain = prefilled(0);
    const cab_kv_stats before = test::kv_stats(ctx.get(), 0);
    const int64_t streams = int64_t{before.n_layer} * before.n_head_kv;
    REQUIRE(before.q8_blocks_used == 0);
    REQUIRE(before.q8_blocks_total == streams * 512 / 4);
    REQUIRE(before.q8_blocks_free == before.q8_blocks_total);
    const cab_kv_stats all = test::kv_stats(ctx.get(), CAB_SEQ_ALL);
    const uint64_t block = before.bytes_used / static_cast<uint64_t>(before.blocks_used);
    const int64_t head_dim = static_cast<int64_t>(block) / (2 * 4 * 4);  // F32 K and V rows
    const uint64_t q8_block = 2 * 4 * static_cast<uint64_t>(head_dim + 4);
    CHECK(all.bytes_total == static_cast<uint64_t>(all.blocks_total) * block +
                                 static_cast<uint64_t>(all.q8_blocks_total) * q8_block);

    cab_evict_params e = test::evict_params("quantize", 0);
    e.quantize_recent = 64;
    const cab_evict_report r = evict(ctx.get(), e);
    // 200 tokens, the last 64 kept: 136 older, 34 whole blocks of 4 per stream.
    CHECK(r.tokens_quantized == streams * 136);
    CHECK(r.tokens_before == streams * 200);
    CHECK(r.tokens_kept == r.tokens_before);
    CHECK(r.tokens_evicted == 0);
    const cab_kv_stats after = test::kv_stats(ctx.get(), 0);
    CHECK(after.q8_blocks_used == streams * 34);
    CHECK(after.blocks_used == before.blocks_used - streams * 34);
    CHECK(after.q8_bytes_used == static_cast<uint64_t>(after.q8_blocks_used) * q8_block);
    CHECK(after.bytes_used == before.bytes_used - r.bytes_freed);
    CHECK(r.bytes_freed == static_cast<uint64_t>(streams * 34) * (block - q8_block));
    CHECK(after.tokens_cached == before.tokens_cached);
    CHECK(test::all_positions(ctx.get(), 0) == test::all_positions(plain.get(), 0));
    CHECK(evict(ctx.get(), e).tokens_quantized == 0);  // nothing older left in full blocks

    // Decoding goes on over the mixed streams, close to the full-precision context: int8 keeps
    // about 2 significant digits of each K and V element.
    for (int32_t token : {5, 77, 130}) {
        const std::vector<float> q = step(ctx.get(), token), f = step(plain.get(), token);
        double worst = 0.0, range = 0.0;
        for (size_t i = 0; i < f.size(); ++i) {
            worst = std::max(worst, std::fabs(double{q[i]} - f[i]));
            range = std::max(range, std::fabs(double{f[i]}));
        }
        INFO("token " << token << ": worst |logit difference| " << worst << " of " << range);
        CHECK(worst < 0.005 * range);
        CHECK(std::max_element(q.begin(), q.end()) - q.begin() ==
              std::max_element(f.begin(), f.end()) - f.begin());
    }
}

TEST_CASE("cab_evict 'quantize+<policy>': quantizes, then evicts to the budget", "[api][q8]") {
    test::CtxPtr ctx = prefilled(512);
    cab_evict_params e = test::evict_params("quantize+window", 100);
    e.quantize_recent = 40;
    const cab_evict_report r = evict(ctx.get(), e);
    const cab_kv_stats st = test::kv_stats(ctx.get(), 0);
    const int64_t streams = int64_t{st.n_layer} * st.n_head_kv;
    CHECK(r.tokens_quantized == streams * 160);  // blocks of slots 0..159
    CHECK(r.tokens_kept == streams * 100);
    CHECK(st.stream_max == 100);
    // window keeps the 4 sinks and the last 96 tokens: the sinks stay in int8 blocks, the
    // kept recent tokens 104..159 move into them too (compacted to slots 4..59), the rest full.
    CHECK(st.q8_blocks_used == streams * 15);
    CHECK(st.blocks_used == streams * 10);
    const std::vector<float> next = step(ctx.get(), 9);
    CHECK(std::all_of(next.begin(), next.end(), [](float x) { return std::isfinite(x); }));
}

TEST_CASE("Int8 KV errors: names, values, missing blocks, auto_evict, older structs", "[api][q8]") {
    test::CtxPtr ctx = prefilled(0);
    const cab_kv_stats before = test::kv_stats(ctx.get(), 0);
    cab_evict_params e = test::evict_params("quantize", 0);
    CHECK(cab_evict(ctx.get(), 0, &e, nullptr) == CAB_ERR_KV_FULL);
    CHECK(test::error_mentions("int8 blocks"));
    const cab_kv_stats same = test::kv_stats(ctx.get(), 0);
    CHECK(std::memcmp(&same, &before, sizeof same) == 0);

    e.policy = "quantize+lru";
    CHECK(cab_evict(ctx.get(), 0, &e, nullptr) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("params->policy 'quantize+lru' is not a policy"));
    e.policy = "quantize";
    e.quantize_recent = -1;
    CHECK(cab_evict(ctx.get(), 0, &e, nullptr) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("params->quantize_recent"));

    cab_ctx_params p = test::small_ctx_params(64);
    cab_ctx *raw = nullptr;
    p.kv_q8_capacity_tokens = -4;
    CHECK(cab_ctx_create(tiny_llama(), &p, &raw) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("kv_q8_capacity_tokens"));
    p.kv_q8_capacity_tokens = 0;  // automatic eviction could never quantize (test_auto_quantize)
    cab_evict_params auto_e = test::evict_params("quantize+snapkv", 16);
    p.auto_evict = &auto_e;
    CHECK(cab_ctx_create(tiny_llama(), &p, &raw) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("kv_q8_capacity_tokens is 0"));
    CHECK(raw == nullptr);

    // A cab_ctx_params that ends before the int8 capacity (built against the header before it)
    // gets none; a cab_evict_params that ends before quantize_recent keeps 64 recent tokens.
    cab_ctx_params old = test::small_ctx_params(512);
    old.kv_q8_capacity_tokens = 512;
    old.struct_size = offsetof(cab_ctx_params, kv_q8_capacity_tokens);
    test::CtxPtr old_ctx = test::make_c_ctx(tiny_llama(), old);
    CHECK(test::kv_stats(old_ctx.get(), CAB_SEQ_ALL).q8_blocks_total == 0);
    test::CtxPtr q8 = prefilled(512);
    cab_evict_params old_e = test::evict_params("quantize", 0);
    old_e.quantize_recent = 0;
    old_e.struct_size = offsetof(cab_evict_params, quantize_recent);
    const cab_evict_report r = evict(q8.get(), old_e);
    CHECK(r.tokens_quantized == int64_t{before.n_layer} * before.n_head_kv * 136);

    // A cab_kv_stats from before the int8 fields: the library writes only what it covers.
    std::vector<unsigned char> buf(sizeof(cab_kv_stats), 0xAB);
    cab_kv_stats short_stats{};
    short_stats.struct_size = offsetof(cab_kv_stats, q8_blocks_used);
    std::memcpy(buf.data(), &short_stats, sizeof(uint32_t));
    REQUIRE(cab_kv_stats_get(q8.get(), 0, reinterpret_cast<cab_kv_stats *>(buf.data())) == CAB_OK);
    CHECK(std::all_of(buf.begin() + static_cast<std::ptrdiff_t>(short_stats.struct_size), buf.end(),
                      [](unsigned char b) { return b == 0xAB; }));
}
