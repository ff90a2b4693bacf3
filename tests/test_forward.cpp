// The forward pass against independent references: HF transformers logits of the tiny random
// llama and qwen2 models (tools/golden/make_tiny_models.py), and equivalences between prefill,
// chunked prefill, single decode steps and batched decode.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "backend/backend.h"
#include "cpu_device.h"
#include "kv/kv_cache.h"
#include "model/model.h"
#include "runtime/context.h"
#include "runtime/forward.h"
#include "test_paths.h"

using namespace cab;

namespace {

struct Golden {
    int32_t n_vocab = 0, n_prompt = 0, n_decode = 0;
    std::vector<int32_t> tokens;  // prompt, then one per decode step
    std::vector<float> logits;    // [n_prompt + n_decode][n_vocab]
    const float *row(int32_t i) const { return logits.data() + int64_t{i} * n_vocab; }
};

Golden read_golden(const std::string &name) {
    const std::string path = test::golden_path(name + "_logits.bin");
    INFO("golden file " << path << " (regenerate with tools/golden/make_tiny_models.py)");
    std::ifstream f(path, std::ios::binary);
    REQUIRE(f.good());
    Golden g;
    f.read(reinterpret_cast<char *>(&g.n_vocab), 4);
    f.read(reinterpret_cast<char *>(&g.n_prompt), 4);
    f.read(reinterpret_cast<char *>(&g.n_decode), 4);
    REQUIRE((g.n_vocab > 0 && g.n_prompt > 0 && g.n_decode > 0));
    g.tokens.resize(static_cast<size_t>(g.n_prompt + g.n_decode));
    g.logits.resize(g.tokens.size() * static_cast<size_t>(g.n_vocab));
    f.read(reinterpret_cast<char *>(g.tokens.data()),
           static_cast<std::streamsize>(g.tokens.size() * 4));
    f.read(reinterpret_cast<char *>(g.logits.data()),
           static_cast<std::streamsize>(g.logits.size() * 4));
    REQUIRE(f.good());
    return g;
}

std::unique_ptr<Model> load_tiny(const std::string &name) {
    const std::string path = test::golden_path(name + ".gguf");
    INFO("model " << path << " (regenerate with tools/golden/make_tiny_models.py)");
    REQUIRE(test::file_exists(path));
    return Model::load(path, test::cpu_load());
}

// max |a - b| / max |b|
double rel_error(const float *a, const float *b, int64_t n) {
    double diff = 0.0, scale = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
        scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
    }
    return diff / scale;
}

ContextOptions options(int32_t n_seq_max, int32_t chunk) {
    ContextOptions o;
    o.device = CAB_DEVICE_CPU;
    o.n_seq_max = n_seq_max;
    o.n_threads = 2;
    o.kv_capacity_tokens = 256;
    o.kv_block_size = 4;  // small blocks: every stream spans many, non-adjacent blocks
    o.prefill_chunk = chunk;
    return o;
}

const char *const kTinyModels[] = {"tiny_llama", "tiny_qwen2"};

}  // namespace

TEST_CASE("tiny models: hparams read from GGUF metadata", "[forward]") {
    auto llama = load_tiny("tiny_llama");
    const HParams &a = llama->hparams();
    CHECK(a.arch == Arch::Llama);
    CHECK(a.rope_style == RopeStyle::Normal);
    CHECK((a.n_vocab == 262 && a.n_embd == 64 && a.n_layer == 2 && a.n_head == 4 &&
           a.n_head_kv == 2 && a.head_dim == 16 && a.n_ff == 128));
    CHECK(a.rms_eps == Approx(1e-5));
    CHECK(a.rope_theta == 10000.0f);
    CHECK_FALSE(a.tied_output);
    CHECK_FALSE(a.qkv_bias);
    auto qwen = load_tiny("tiny_qwen2");
    const HParams &b = qwen->hparams();
    CHECK(b.arch == Arch::Qwen2);
    CHECK(b.rope_style == RopeStyle::NeoX);
    CHECK(b.rms_eps == Approx(1e-6));
    CHECK(b.tied_output);
    CHECK(b.qkv_bias);
}

TEST_CASE(
    "tiny models: logits match HF transformers for every prompt position and each decode "
    "step",
    "[forward]") {
    for (const char *name : kTinyModels) {
        SECTION(name) {
            auto model = load_tiny(name);
            const Golden g = read_golden(name);
            REQUIRE(model->hparams().n_vocab == g.n_vocab);
            const double tol = 1e-4;

            // Through Forward: logits of every prompt row.
            auto ex = model->backend().make_executor(2);
            KvConfig kc;
            kc.n_layer = model->hparams().n_layer;
            kc.n_head_kv = model->hparams().n_head_kv;
            kc.head_dim = model->hparams().head_dim;
            kc.block_size = 4;
            kc.capacity_tokens = 64;
            KvCache kv(model->backend(), kc);
            Forward fwd(*model, *ex, 32, 1);
            std::vector<int32_t> pos(static_cast<size_t>(g.n_prompt));
            for (int32_t i = 0; i < g.n_prompt; ++i) pos[i] = i;
            std::vector<float> all(static_cast<size_t>(g.n_prompt) * g.n_vocab);
            const int32_t seq = 0;
            kv.reserve(&seq, &g.n_prompt, 1);
            fwd.prefill(kv, 0, g.tokens.data(), pos.data(), g.n_prompt, all.data(), true);
            kv.commit(0, g.n_prompt, pos.data(), g.tokens.data());
            for (int32_t i = 0; i < g.n_prompt; ++i) {
                INFO("prompt position " << i);
                CHECK(rel_error(all.data() + int64_t{i} * g.n_vocab, g.row(i), g.n_vocab) < tol);
            }

            // Through a Context: prefill's last logits, then decode steps.
            auto ctx = Context::create(*model, options(1, 512));
            ctx->prefill(0, g.tokens.data(), static_cast<size_t>(g.n_prompt));
            CHECK(rel_error(ctx->logits(0), g.row(g.n_prompt - 1), g.n_vocab) < tol);
            for (int32_t s = 0; s < g.n_decode; ++s) {
                INFO("decode step " << s);
                const int32_t tok = g.tokens[static_cast<size_t>(g.n_prompt + s)];
                ctx->decode(&seq, &tok, 1);
                CHECK(rel_error(ctx->logits(0), g.row(g.n_prompt + s), g.n_vocab) < tol);
            }
        }
    }
}

TEST_CASE("tiny models: prefill of N tokens equals N single steps and any chunking", "[forward]") {
    for (const char *name : kTinyModels) {
        SECTION(name) {
            auto model = load_tiny(name);
            const Golden g = read_golden(name);
            const int32_t n_vocab = g.n_vocab;
            const size_t n = static_cast<size_t>(g.n_prompt);
            auto whole = Context::create(*model, options(1, 512));
            whole->prefill(0, g.tokens.data(), n);
            const std::vector<float> ref(whole->logits(0), whole->logits(0) + n_vocab);

            auto steps = Context::create(*model, options(1, 512));
            const int32_t seq = 0;
            steps->prefill(0, g.tokens.data(), 1);
            for (size_t i = 1; i < n; ++i) steps->decode(&seq, &g.tokens[i], 1);
            CHECK(rel_error(steps->logits(0), ref.data(), n_vocab) < 1e-5);

            for (int32_t chunk : {1, 3, 7}) {
                INFO("prefill_chunk " << chunk);
                auto chunked = Context::create(*model, options(1, chunk));
                chunked->prefill(0, g.tokens.data(), n);
                CHECK(rel_error(chunked->logits(0), ref.data(), n_vocab) < 1e-5);
                CHECK(chunked->seq_length(0) == static_cast<int64_t>(n));
            }
            // Split prefill calls continue the sequence's positions.
            auto split = Context::create(*model, options(1, 512));
            split->prefill(0, g.tokens.data(), 10);
            split->prefill(0, g.tokens.data() + 10, n - 10);
            CHECK(rel_error(split->logits(0), ref.data(), n_vocab) < 1e-5);
        }
    }
}

TEST_CASE(
    "tiny models: batched decode of sequences of different lengths equals decoding each "
    "alone",
    "[forward]") {
    for (const char *name : kTinyModels) {
        SECTION(name) {
            auto model = load_tiny(name);
            const Golden g = read_golden(name);
            const int32_t n_vocab = g.n_vocab;
            const std::vector<size_t> prompt_len = {5, 17, 2};
            const std::vector<std::vector<int32_t>> steps = {
                {7, 100, 261, 0}, {33, 33, 200, 150}, {1, 2, 3, 4}};
            // The batch lists sequences out of order, to check rows map to the right streams.
            const std::vector<int32_t> order = {2, 0, 1};

            auto batched = Context::create(*model, options(3, 4));
            for (int32_t s = 0; s < 3; ++s)
                batched->prefill(s, g.tokens.data() + s, prompt_len[static_cast<size_t>(s)]);
            std::vector<std::vector<std::vector<float>>> got(3);
            for (size_t step = 0; step < 4; ++step) {
                std::vector<int32_t> toks;
                for (int32_t s : order) toks.push_back(steps[static_cast<size_t>(s)][step]);
                batched->decode(order.data(), toks.data(), order.size());
                for (int32_t s = 0; s < 3; ++s)
                    got[static_cast<size_t>(s)].emplace_back(batched->logits(s),
                                                             batched->logits(s) + n_vocab);
            }
            for (int32_t s = 0; s < 3; ++s) {
                auto alone = Context::create(*model, options(1, 4));
                alone->prefill(0, g.tokens.data() + s, prompt_len[static_cast<size_t>(s)]);
                const int32_t seq0 = 0;
                for (size_t step = 0; step < 4; ++step) {
                    INFO("sequence " << s << ", step " << step);
                    alone->decode(&seq0, &steps[static_cast<size_t>(s)][step], 1);
                    CHECK(rel_error(got[static_cast<size_t>(s)][step].data(), alone->logits(0),
                                    n_vocab) < 1e-5);
                }
                CHECK(batched->history(s) == alone->history(0));
            }
        }
    }
}

TEST_CASE("SmolLM2-135M-Instruct (Q4_1/Q8_0): logits match an independent numpy forward pass",
          "[forward][model]") {
    const std::string path = test::models_path("SmolLM2-135M-Instruct.Q4_1.gguf");
    INFO("model " << path << " is missing: run tools/setup.sh");
    REQUIRE(test::file_exists(path));
    // tests/golden/smollm2_logits.bin: the last token's logits from
    // tools/golden/gguf_llama_reference.py (weights dequantized by the gguf package) for:
    const std::vector<int32_t> tokens = {504, 3575, 282, 4649, 314, 253, 1345, 30, 216, 9286, 28};
    auto model = Model::load(path, test::cpu_load());
    const int32_t n_vocab = model->hparams().n_vocab;
    std::vector<float> ref(static_cast<size_t>(n_vocab));
    std::ifstream f(test::golden_path("smollm2_logits.bin"), std::ios::binary);
    f.read(reinterpret_cast<char *>(ref.data()), static_cast<std::streamsize>(ref.size() * 4));
    REQUIRE(f.good());
    auto ctx = Context::create(*model, options(1, 4));
    ctx->prefill(0, tokens.data(), tokens.size());
    CHECK(rel_error(ctx->logits(0), ref.data(), n_vocab) < 1e-4);
}
