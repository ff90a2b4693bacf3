// Limits (issue 9): what a context refuses and how. A request the KV pool cannot hold is
// CAB_ERR_KV_FULL and changes nothing, unless automatic eviction is on; an absurd pool is an
// error at cab_ctx_create, before any memory is touched; out of memory is a status, never an
// abort; the inputs that once broke the model loader stay clean errors. docs/RELIABILITY.md
// ("Limits") maps each limit to its test.
#include <sys/resource.h>

#include <cstdint>
#include <filesystem>
#include <new>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "api/guard.h"
#include "api_handles.h"
#include "evict_helpers.h"
#include "test_paths.h"

using namespace cab;

namespace {

const cab_model *tiny_llama() {
    static test::ModelPtr model = test::load_c_model(test::tiny_path("tiny_llama"));
    return model.get();
}

constexpr int32_t kVocab = 262;  // tiny_llama

// Everything a caller can observe of one sequence.
struct SeqState {
    int64_t length = 0;
    cab_kv_stats stats{}, all{};
    std::vector<std::vector<int32_t>> positions;
    std::vector<float> logits;
};

SeqState observe(cab_ctx *ctx, cab_seq seq) {
    SeqState s;
    REQUIRE(cab_seq_length(ctx, seq, &s.length) == CAB_OK);
    s.stats = test::kv_stats(ctx, seq);
    s.all = test::kv_stats(ctx, CAB_SEQ_ALL);
    s.positions = test::all_positions(ctx, seq);
    const float *logits = nullptr;
    if (cab_logits(ctx, seq, &logits) == CAB_OK) s.logits.assign(logits, logits + kVocab);
    return s;
}

void check_same(const SeqState &a, const SeqState &b) {
    CHECK(a.length == b.length);
    for (const auto &[x, y] : {std::pair{a.stats, b.stats}, std::pair{a.all, b.all}}) {
        CHECK(x.seq_length == y.seq_length);
        CHECK(x.tokens_cached == y.tokens_cached);
        CHECK(x.tokens_evicted == y.tokens_evicted);
        CHECK(x.blocks_used == y.blocks_used);
        CHECK(x.blocks_free == y.blocks_free);
    }
    CHECK(a.positions == b.positions);
    CHECK(a.logits == b.logits);
}

// Peak resident memory of this process so far, in bytes.
int64_t peak_rss() {
    rusage u{};
    REQUIRE(getrusage(RUSAGE_SELF, &u) == 0);
    return int64_t{u.ru_maxrss} * 1024;
}

cab_status create(const cab_ctx_params &p, cab_ctx **ctx) {
    *ctx = reinterpret_cast<cab_ctx *>(&ctx);  // must come back NULL on failure
    return cab_ctx_create(tiny_llama(), &p, ctx);
}

}  // namespace

TEST_CASE("limits: the C ABI guard turns std::bad_alloc into CAB_ERR_OUT_OF_MEMORY", "[limits]") {
    CHECK(api::guard("cab_fake", [] { throw std::bad_alloc(); }) == CAB_ERR_OUT_OF_MEMORY);
    CHECK(std::string(cab_last_error()) == "cab_fake: out of host memory");
    CHECK(api::guard("cab_fake", [] { fail(CAB_ERR_OUT_OF_MEMORY, "no room"); }) ==
          CAB_ERR_OUT_OF_MEMORY);
    CHECK(std::string(cab_last_error()) == "cab_fake: no room");
}

TEST_CASE("limits: an absurd KV pool is an error at cab_ctx_create, with no memory taken",
          "[limits]") {
    cab_ctx_params p = test::small_ctx_params(64);
    cab_ctx *ctx = nullptr;

    p.kv_capacity_tokens = INT64_MAX;
    CHECK(create(p, &ctx) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(ctx == nullptr);
    CHECK(test::error_mentions("kv_capacity_tokens"));

    // 2^32 tokens in blocks of one: more blocks than the pool can number.
    p.kv_capacity_tokens = int64_t{1} << 32;
    p.kv_block_size = 1;
    CHECK(create(p, &ctx) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(ctx == nullptr);
    CHECK(test::error_mentions("too large"));

    // 2^30 blocks of 16 tokens: numberable, but terabytes of K/V rows. Refused as out of memory
    // before the block list or any row is written, whatever the kernel's overcommit setting.
    p.kv_block_size = 16;
    const int64_t before = peak_rss();
    CHECK(create(p, &ctx) == CAB_ERR_OUT_OF_MEMORY);
    CHECK(ctx == nullptr);
    CHECK(test::error_mentions("cannot allocate"));
    CHECK(peak_rss() - before < (int64_t{256} << 20));

    // The model is unharmed: a sane context works.
    p.kv_capacity_tokens = 64;
    test::CtxPtr ok = test::make_c_ctx(tiny_llama(), p);
    const cab_token token = 1;
    CHECK(cab_prefill(ok.get(), 0, &token, 1) == CAB_OK);
}

TEST_CASE("limits: a prompt or batch the pool cannot hold is KV_FULL and changes nothing",
          "[limits]") {
    cab_ctx_params p = test::small_ctx_params(32);
    p.n_seq_max = 2;
    test::CtxPtr ctx = test::make_c_ctx(tiny_llama(), p);
    std::mt19937 rng(3);
    const std::vector<int32_t> prompt = test::random_tokens(rng, 10, kVocab);
    const std::vector<int32_t> next = test::random_tokens(rng, 4, kVocab);
    REQUIRE(cab_prefill(ctx.get(), 0, prompt.data(), prompt.size()) == CAB_OK);
    const cab_seq zero = 0;
    REQUIRE(cab_decode(ctx.get(), &zero, &next[0], 1) == CAB_OK);
    const SeqState start = observe(ctx.get(), 0);
    REQUIRE(start.length == 11);

    // Longer than the whole pool: refused up front.
    const std::vector<int32_t> huge = test::random_tokens(rng, 33, kVocab);
    CHECK(cab_prefill(ctx.get(), 0, huge.data(), huge.size()) == CAB_ERR_KV_FULL);
    CHECK(test::error_mentions("kv_capacity_tokens 32"));
    check_same(observe(ctx.get(), 0), start);
    // Fits the pool, not what is left of it (11 + 22 > 32), over several prefill chunks.
    const std::vector<int32_t> over = test::random_tokens(rng, 22, kVocab);
    CHECK(cab_prefill(ctx.get(), 0, over.data(), over.size()) == CAB_ERR_KV_FULL);
    CHECK(test::error_mentions("blocks"));
    check_same(observe(ctx.get(), 0), start);
    // A batch where sequence 1 fits and sequence 0 does not: neither moves. Sequence 0 fills
    // 7 blocks per stream exactly, sequence 1 the eighth with one token.
    const std::vector<int32_t> rest = test::random_tokens(rng, 17, kVocab);
    REQUIRE(cab_prefill(ctx.get(), 0, rest.data(), rest.size()) == CAB_OK);
    REQUIRE(cab_prefill(ctx.get(), 1, &next[1], 1) == CAB_OK);
    const SeqState s0 = observe(ctx.get(), 0), s1 = observe(ctx.get(), 1);
    REQUIRE(s0.all.blocks_free == 0);
    const cab_seq both[] = {1, 0};
    CHECK(cab_decode(ctx.get(), both, &next[2], 2) == CAB_ERR_KV_FULL);
    check_same(observe(ctx.get(), 0), s0);
    check_same(observe(ctx.get(), 1), s1);

    // Afterwards the context goes on as one that never saw the failures.
    REQUIRE(cab_seq_reset(ctx.get(), 1) == CAB_OK);
    test::CtxPtr fresh = test::make_c_ctx(tiny_llama(), p);
    REQUIRE(cab_prefill(fresh.get(), 0, prompt.data(), prompt.size()) == CAB_OK);
    REQUIRE(cab_decode(fresh.get(), &zero, &next[0], 1) == CAB_OK);
    REQUIRE(cab_prefill(fresh.get(), 0, rest.data(), rest.size()) == CAB_OK);
    REQUIRE(cab_decode(ctx.get(), &zero, &next[3], 1) == CAB_OK);
    REQUIRE(cab_decode(fresh.get(), &zero, &next[3], 1) == CAB_OK);
    check_same(observe(ctx.get(), 0), observe(fresh.get(), 0));
}

TEST_CASE("limits: with automatic eviction a prompt longer than the pool fits", "[limits]") {
    cab_evict_params e = test::evict_params("h2o", 16);
    cab_ctx_params p = test::small_ctx_params(32);
    std::mt19937 rng(5);
    const std::vector<int32_t> prompt = test::random_tokens(rng, 100, kVocab);
    cab_seq seqs[] = {0, 1};
    {
        test::CtxPtr plain = test::make_c_ctx(tiny_llama(), p);
        CHECK(cab_prefill(plain.get(), 0, prompt.data(), prompt.size()) == CAB_ERR_KV_FULL);
    }
    p.auto_evict = &e;
    p.auto_evict_slack = 8;
    test::CtxPtr ctx = test::make_c_ctx(tiny_llama(), p);
    CHECK(cab_prefill(ctx.get(), 0, prompt.data(), prompt.size()) == CAB_OK);
    CHECK(test::kv_stats(ctx.get(), 0).seq_length == 100);
    CHECK(test::kv_stats(ctx.get(), 0).stream_max <= 16 + 8);
    for (int32_t t = 0; t < 40; ++t) REQUIRE(cab_decode(ctx.get(), seqs, &t, 1) == CAB_OK);
    CHECK(test::kv_stats(ctx.get(), 0).seq_length == 140);

    // Two sequences that together need three times the pool, decoded as a batch.
    p.kv_capacity_tokens = 48;
    p.n_seq_max = 2;
    test::CtxPtr two = test::make_c_ctx(tiny_llama(), p);
    for (cab_seq s : seqs) REQUIRE(cab_prefill(two.get(), s, prompt.data(), 50) == CAB_OK);
    for (int32_t t = 0; t < 50; ++t) {
        const int32_t tokens[] = {t, kVocab - 1 - t};
        REQUIRE(cab_decode(two.get(), seqs, tokens, 2) == CAB_OK);
    }
    for (cab_seq s : seqs) CHECK(test::kv_stats(two.get(), s).seq_length == 100);
}

TEST_CASE("limits: the model-file fuzzer's regression inputs are clean errors", "[limits]") {
    const std::filesystem::path dir = test::source_path("tests/fuzz/corpus/gguf");
    int files = 0;
    for (const auto &entry : std::filesystem::directory_iterator(dir)) {
        const std::string path = entry.path().string();
        INFO(path << ": " << cab_last_error());
        cab_model *model = reinterpret_cast<cab_model *>(&files);
        const cab_status st = cab_model_load(path.c_str(), test::cpu_model_params(), &model);
        // A regression input may be a valid file that once broke a later stage.
        CHECK((st == CAB_OK || st == CAB_ERR_FORMAT || st == CAB_ERR_UNSUPPORTED));
        CHECK((st == CAB_OK) == (model != nullptr));
        cab_model_free(st == CAB_OK ? model : nullptr);
        ++files;
    }
    CHECK(files >= 1);
    const std::string block_count = (dir / "regress_block_count_huge.gguf").string();
    cab_model *model = nullptr;
    CHECK(cab_model_load(block_count.c_str(), test::cpu_model_params(), &model) == CAB_ERR_FORMAT);
    CHECK(test::error_mentions("block_count"));
}
