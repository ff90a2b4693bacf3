// Whole models on the CUDA backend against the CPU backend (the reference) on the same model
// file and tokens: random llama / qwen2 models (head_dim 64 and 128, GQA groups 2 and 4, qwen2
// biases, F32 and F16 weights), the tiny golden models, stories260K and SmolLM2. Also chunked
// prefill and batched decode against their plain GPU forms, CUDA graphs on and off, and the
// device errors. Tolerances are in model_fixture.h (bf16 against the CPU, tight GPU against GPU).
#include <cuda_runtime_api.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/tokenizer.h"
#include "model_fixture.h"
#include "util/error.h"

namespace cab::gpu_test {
namespace {

// Prefills `prompt` on every context, then decodes `steps` random tokens on each, checking
// every GPU context's logits against the CPU's after each call, and the GPU's prefill in chunks
// against its prefill in one chunk within `tight`.
void run_against_cpu(const ModelPair &m, const std::vector<int32_t> &prompt, int32_t steps,
                     std::mt19937 &rng, double tight = kTightRel) {
    CtxConfig whole;
    whole.capacity = std::max<int64_t>(whole.capacity, static_cast<int64_t>(prompt.size()) + steps);
    auto cpu = make_ctx(*m.cpu, whole);
    auto gpu = make_ctx(*m.gpu, whole);
    CtxConfig chunked = whole;
    chunked.chunk = 37;  // uneven chunks, the last one shorter
    auto gpu_chunked = make_ctx(*m.gpu, chunked);
    for (Context *c : {cpu.get(), gpu.get(), gpu_chunked.get()})
        c->prefill(0, prompt.data(), prompt.size());
    const std::string what = "prefill of " + std::to_string(prompt.size()) + " tokens";
    check_bf16(logits_of(*gpu, 0), logits_of(*cpu, 0), what);
    check_bf16(logits_of(*gpu_chunked, 0), logits_of(*cpu, 0), what + " in chunks of 37");
    check_relative(logits_of(*gpu_chunked, 0), logits_of(*gpu, 0), tight,
                   what + ": chunks of 37 vs one chunk, both on the GPU");
    for (int32_t step = 0; step < steps; ++step) {
        const int32_t token = random_tokens(rng, 1, m.n_vocab())[0];
        for (Context *c : {cpu.get(), gpu.get(), gpu_chunked.get()}) decode_one(*c, 0, token);
        const std::string at = "decode step " + std::to_string(step);
        check_bf16(logits_of(*gpu, 0), logits_of(*cpu, 0), at);
        check_relative(logits_of(*gpu_chunked, 0), logits_of(*gpu, 0), tight,
                       at + " after the chunked prefill vs after one chunk");
    }
}

// Greedy continuations of `prompt` on both devices: the same tokens for `steps` steps, or up to
// the first step where the CPU's own top-2 margin is below the bf16 tolerance (a near tie that
// rounding may break either way; the texts then diverge and the comparison stops there).
void check_greedy(const ModelPair &m, const std::vector<int32_t> &prompt, int32_t steps) {
    auto cpu = make_ctx(*m.cpu);
    auto gpu = make_ctx(*m.gpu);
    cpu->prefill(0, prompt.data(), prompt.size());
    gpu->prefill(0, prompt.data(), prompt.size());
    int32_t matched = 0;
    for (; matched < steps; ++matched) {
        const std::vector<float> lc = logits_of(*cpu, 0), lg = logits_of(*gpu, 0);
        check_bf16(lg, lc, "greedy step " + std::to_string(matched));
        const int32_t n = m.n_vocab();
        const int32_t tc = argmax(lc.data(), n), tg = argmax(lg.data(), n);
        if (tc != tg) {
            const LogitDiff d = diff_logits(lg.data(), lc.data(), n);
            INFO("greedy step " << matched << ": the GPU picked " << tg << ", the CPU " << tc
                                << " after " << matched << " matching steps; allowed only when "
                                << "the CPU's top-2 margin " << d.margin_ref
                                << " is below the tolerance " << bf16_tolerance(d.max_ref));
            CHECK(d.margin_ref < bf16_tolerance(d.max_ref));
            return;
        }
        decode_one(*cpu, 0, tc);
        decode_one(*gpu, 0, tc);
    }
    CHECK(gpu->history(0) == cpu->history(0));
}

std::vector<int32_t> encode(const Model &model, const std::string &text) {
    std::vector<int32_t> tokens = model.tokenizer().encode(text, true, false);
    REQUIRE(!tokens.empty());
    return tokens;
}

}  // namespace

TEST_CASE("model gpu: random llama / qwen2 models: prefill and decode logits match the CPU",
          "[model]") {
    for (const RandomModelSpec &s : random_specs()) {
        INFO(s.label());
        RandomModel rm(s);
        std::mt19937 rng(s.seed);
        const size_t n = std::uniform_int_distribution<size_t>(100, 300)(rng);
        run_against_cpu(rm.models, random_tokens(rng, n, s.n_vocab), 8, rng);
    }
}

TEST_CASE("model gpu: batched decode of sequences of different lengths equals decoding each alone",
          "[model]") {
    for (const RandomModelSpec &s : random_specs()) {
        INFO(s.label());
        RandomModel rm(s);
        const ModelPair &m = rm.models;
        std::mt19937 rng(s.seed + 100);
        const std::vector<size_t> lengths = {37, 150, 5};
        const std::vector<int32_t> order = {2, 0, 1};  // rows out of sequence order
        const int32_t steps = 6;
        std::vector<std::vector<int32_t>> prompts, tokens;
        for (size_t len : lengths) {
            prompts.push_back(random_tokens(rng, len, s.n_vocab));
            tokens.push_back(random_tokens(rng, steps, s.n_vocab));
        }
        CtxConfig three;
        three.n_seq_max = 3;
        auto batched = make_ctx(*m.gpu, three);
        for (int32_t q = 0; q < 3; ++q) batched->prefill(q, prompts[q].data(), prompts[q].size());
        std::vector<std::vector<std::vector<float>>> got(3);
        for (int32_t step = 0; step < steps; ++step) {
            std::vector<int32_t> toks;
            for (int32_t q : order) toks.push_back(tokens[q][step]);
            batched->decode(order.data(), toks.data(), order.size());
            for (int32_t q = 0; q < 3; ++q) got[q].push_back(logits_of(*batched, q));
        }
        for (int32_t q = 0; q < 3; ++q) {
            auto gpu = make_ctx(*m.gpu);
            auto cpu = make_ctx(*m.cpu);
            for (Context *c : {gpu.get(), cpu.get()})
                c->prefill(0, prompts[q].data(), prompts[q].size());
            for (int32_t step = 0; step < steps; ++step) {
                for (Context *c : {gpu.get(), cpu.get()}) decode_one(*c, 0, tokens[q][step]);
                const std::string at =
                    "sequence " + std::to_string(q) + ", step " + std::to_string(step);
                check_relative(got[q][step], logits_of(*gpu, 0), kTightRel,
                               at + ": batched vs alone on the GPU");
                check_bf16(got[q][step], logits_of(*cpu, 0), at + ": batched GPU vs CPU");
            }
            CHECK(batched->history(q) == gpu->history(0));
        }
    }
}

TEST_CASE("model gpu: the tiny golden models (small head_dim, generic kernels) match the CPU",
          "[model][race]") {
    for (const char *name : {"tiny_llama", "tiny_qwen2"}) {
        INFO(name);
        const ModelPair m = load_pair(golden_model(name));
        std::mt19937 rng(21);
        run_against_cpu(m, random_tokens(rng, 45, m.n_vocab()), 6, rng);
    }
}

TEST_CASE("model gpu: stories260K: logits and the greedy continuation match the CPU", "[model]") {
    const ModelPair m = load_pair(prepared_model("stories260K.gguf"));
    std::mt19937 rng(22);
    run_against_cpu(m, random_tokens(rng, 150, m.n_vocab()), 8, rng);
    check_greedy(m, encode(*m.cpu, "Once upon a time, there was a little girl"), 16);
}

TEST_CASE("model gpu: SmolLM2-135M (Q4_1): logits and the greedy continuation match the CPU",
          "[model][smollm2]") {
    const ModelPair m = load_pair(prepared_model("SmolLM2-135M-Instruct.Q4_1.gguf"));
    std::mt19937 rng(23);
    run_against_cpu(m, random_tokens(rng, 200, m.n_vocab()), 8, rng, kDeepTightRel);
    check_greedy(m, encode(*m.cpu, "The three primary colors are"), 16);
    // 200 keys decode in one split; 1,500 take about a dozen, so the steps also go through the
    // split-K merge and the deferred scores' records it completes.
    run_against_cpu(m, random_tokens(rng, 1500, m.n_vocab()), 4, rng, kDeepTightRel);
}

// A replayed graph takes each step's tokens, positions, block tables and lengths: its logits
// equal a plain context's and the CPU's at every step. Graphs replay the very kernels of a plain
// step, but the split-K decode attention keeps the split count of the length bucket it was
// captured for, where a plain step plans for the exact length; different split counts reorder
// fp32 sums, so the two agree within kTightRel rather than bit for bit.
TEST_CASE("model gpu: decode with CUDA graphs equals decode without, across length buckets",
          "[model][graphs]") {
    for (const RandomModelSpec &s : {random_specs()[0], random_specs()[3]}) {
        INFO(s.label());
        RandomModel rm(s);
        const ModelPair &m = rm.models;
        CtxConfig two;
        two.n_seq_max = 2;
        std::unique_ptr<Context> graphs, plain;
        {
            const ScopedEnv on("CAB_CUDA_GRAPHS", nullptr);
            graphs = make_ctx(*m.gpu, two);
        }
        {
            const ScopedEnv off("CAB_CUDA_GRAPHS", "0");
            plain = make_ctx(*m.gpu, two);
        }
        auto cpu = make_ctx(*m.cpu, two);
        std::mt19937 rng(s.seed + 200);
        // Sequence 0 alone goes 241 -> 260 (past 256), then both together: sequence 0 to 280,
        // sequence 1 from 111 to 130 (past 128).
        const std::vector<int32_t> p0 = random_tokens(rng, 240, s.n_vocab);
        const std::vector<int32_t> p1 = random_tokens(rng, 110, s.n_vocab);
        for (Context *c : {graphs.get(), plain.get(), cpu.get()}) {
            c->prefill(0, p0.data(), p0.size());
            c->prefill(1, p1.data(), p1.size());
        }
        for (int32_t step = 0; step < 40; ++step) {
            const std::vector<int32_t> seqs =
                step < 20 ? std::vector<int32_t>{0} : std::vector<int32_t>{1, 0};
            const std::vector<int32_t> toks = random_tokens(rng, seqs.size(), s.n_vocab);
            for (Context *c : {graphs.get(), plain.get(), cpu.get()})
                c->decode(seqs.data(), toks.data(), seqs.size());
            for (int32_t q : seqs) {
                const std::vector<float> g = logits_of(*graphs, q), p = logits_of(*plain, q);
                check_relative(g, p, kTightRel,
                               "step " + std::to_string(step) + ", sequence " + std::to_string(q) +
                                   " (length " + std::to_string(graphs->seq_length(q)) +
                                   "): graphs vs no graphs");
                check_bf16(g, logits_of(*cpu, q),
                           "step " + std::to_string(step) + ", sequence " + std::to_string(q) +
                               ": graphs vs the CPU");
            }
        }
    }
}

TEST_CASE("model gpu: CAB_DEVICE_CUDA with a gpu_index past the device count is INVALID_ARGUMENT",
          "[model][errors]") {
    int count = 0;
    REQUIRE(cudaGetDeviceCount(&count) == cudaSuccess);
    LoadOptions o;
    o.device = CAB_DEVICE_CUDA;
    o.gpu_index = count;
    try {
        Model::load(golden_model("tiny_llama"), o);
        FAIL("Model::load with gpu_index " << count << " of " << count << " devices succeeded");
    } catch (const Error &e) {
        INFO(e.what());
        CHECK(e.status() == CAB_ERR_INVALID_ARGUMENT);
        CHECK_THAT(e.what(), Catch::Contains("gpu_index"));
    }
}

TEST_CASE("model gpu: a KV pool larger than device memory is OUT_OF_MEMORY, then all still works",
          "[model][errors]") {
    const RandomModelSpec &s = random_specs()[1];
    RandomModel rm(s);
    const ModelPair &m = rm.models;
    size_t free_bytes = 0, total_bytes = 0;
    REQUIRE(cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess);
    // Twice the device's memory in bf16 K/V plus the four fp32 score accumulators per slot.
    const int64_t streams = int64_t{s.n_layer} * s.n_head_kv;
    const int64_t per_token = streams * (2 * s.head_dim * 2 + kScoreKinds * 4);
    CtxConfig huge;
    huge.capacity = static_cast<int64_t>(2 * total_bytes) / per_token;
    REQUIRE((huge.capacity / huge.block_size + 1) * streams < INT32_MAX);
    try {
        make_ctx(*m.gpu, huge);
        FAIL("a context of " << huge.capacity << " KV tokens fit in " << total_bytes << " bytes");
    } catch (const Error &e) {
        INFO(e.what());
        CHECK(e.status() == CAB_ERR_OUT_OF_MEMORY);
        CHECK(std::string(e.what()).size() > 10);
    }
    std::mt19937 rng(24);
    run_against_cpu(m, random_tokens(rng, 64, s.n_vocab), 2, rng);
}

TEST_CASE("model gpu: a KV block size that is not a power of two is UNSUPPORTED on CUDA only",
          "[model][errors]") {
    const RandomModelSpec &s = random_specs()[1];
    RandomModel rm(s);
    CtxConfig odd;
    odd.block_size = 12;
    try {
        make_ctx(*rm.models.gpu, odd);
        FAIL("a CUDA context with 12-token KV blocks was created");
    } catch (const Error &e) {
        INFO(e.what());
        CHECK(e.status() == CAB_ERR_UNSUPPORTED);
        CHECK_THAT(e.what(), Catch::Contains("kv_block_size 12"));
    }
    // The CPU backend takes it, and 8 and 32 work on both.
    CHECK(make_ctx(*rm.models.cpu, odd) != nullptr);
    for (const int32_t block : {8, 32}) {
        CtxConfig c;
        c.block_size = block;
        CHECK(make_ctx(*rm.models.gpu, c) != nullptr);
    }
}

}  // namespace cab::gpu_test
