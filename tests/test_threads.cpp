// Threads (issue 9): one cab_model shared by contexts on several OS threads, through the public
// API only. Concurrent generation must give the same tokens as running the contexts one after
// another, and cab_last_error must stay per thread. Run under TSan too (docs/RELIABILITY.md).
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "api_handles.h"
#include "cab/cab.h"

namespace {

using cab::test::CtxPtr;
using cab::test::ModelPtr;

ModelPtr load_stories() {
    const std::string path = std::string(CAB_MODELS_DIR) + "/stories260K.gguf";
    if (!std::ifstream(path).good())
        FAIL(path << " is missing: run tools/prepare_models.sh (tools/test.sh does)");
    return cab::test::load_c_model(path);
}

// Releases every waiting thread at once, so the generations overlap from their first call.
class StartGate {
public:
    explicit StartGate(int n) : waiting_(n) {}
    void arrive_and_wait() {
        std::unique_lock<std::mutex> lock(mutex_);
        if (--waiting_ == 0) {
            cv_.notify_all();
            return;
        }
        cv_.wait(lock, [this] { return waiting_ == 0; });
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    int waiting_;
};

constexpr int kContexts = 4;
constexpr int kGenerate = 64;

const char *const kPrompts[kContexts] = {
    "Once upon a time, there was a little girl named Lily.",
    "The dog ran to the park and saw a big red ball.",
    "Tom and his mom went to the store to buy some milk.",
    "One day, a bird flew over the tall tree and sang a song.",
};

// Context 3 evicts by itself with a budget far below prompt + generation, so eviction (scoring,
// selection, block copies) runs concurrently with the plain decodes.
constexpr int kEvicting = 3;

// What one context produced; checked on the main thread (Catch2 assertions are not thread-safe).
struct Run {
    cab_status status = CAB_OK;
    std::string where;
    std::string error;
    std::vector<cab_token> tokens;
    int64_t evicted = 0;
};

std::vector<cab_token> tokenize(const cab_model *model, const char *text) {
    std::vector<cab_token> tokens(256);
    size_t n = 0;
    const std::string s(text);
    REQUIRE(cab_tokenize(model, s.data(), s.size(), CAB_TOKENIZE_ADD_BOS, tokens.data(),
                         tokens.size(), &n) == CAB_OK);
    tokens.resize(n);
    return tokens;
}

bool failed(Run &run, cab_status status, const char *where) {
    if (status == CAB_OK) return false;
    run.status = status;
    run.where = where;
    run.error = cab_last_error();
    return true;
}

// Creates a fresh context (1 compute thread), prefills the prompt and generates greedily.
Run generate(const cab_model *model, const std::vector<cab_token> &prompt, bool evicting) {
    Run run;
    cab_evict_params evict;
    cab_evict_default_params(&evict);
    evict.policy = "h2o";
    evict.budget_tokens = 24;
    cab_ctx_params params;
    cab_ctx_default_params(&params);
    params.device = CAB_DEVICE_CPU;
    params.n_threads = 1;
    params.kv_capacity_tokens = 256;
    if (evicting) {
        params.auto_evict = &evict;
        params.auto_evict_slack = 8;
    }
    cab_ctx *raw = nullptr;
    if (failed(run, cab_ctx_create(model, &params, &raw), "cab_ctx_create")) return run;
    const CtxPtr ctx(raw);
    if (failed(run, cab_prefill(ctx.get(), 0, prompt.data(), prompt.size()), "cab_prefill"))
        return run;
    const cab_seq seq = 0;
    for (int i = 0; i < kGenerate; ++i) {
        cab_token token = 0;
        if (failed(run, cab_sample(ctx.get(), seq, nullptr, &token), "cab_sample")) return run;
        run.tokens.push_back(token);
        if (failed(run, cab_decode(ctx.get(), &seq, &token, 1), "cab_decode")) return run;
    }
    cab_kv_stats stats;
    stats.struct_size = sizeof stats;
    if (failed(run, cab_kv_stats_get(ctx.get(), seq, &stats), "cab_kv_stats_get")) return run;
    run.evicted = stats.tokens_evicted;
    return run;
}

void require_ok(const Run &run, int index) {
    INFO("context " << index << ": " << run.where << " failed: " << run.error);
    REQUIRE(run.status == CAB_OK);
    REQUIRE(run.tokens.size() == static_cast<size_t>(kGenerate));
}

}  // namespace

TEST_CASE("threads: 4 contexts sharing one model generate concurrently as they do one by one",
          "[threads]") {
    const ModelPtr model = load_stories();
    std::vector<std::vector<cab_token>> prompts;
    for (const char *p : kPrompts) prompts.push_back(tokenize(model.get(), p));

    std::vector<Run> reference;
    for (int c = 0; c < kContexts; ++c) {
        reference.push_back(generate(model.get(), prompts[c], c == kEvicting));
        require_ok(reference[c], c);
    }
    // The evicting context must really evict, and the prompts must lead to different text, or
    // a mix-up between contexts could go unseen.
    REQUIRE(reference[kEvicting].evicted > 0);
    for (int c = 0; c < kContexts; ++c)
        if (c != kEvicting) REQUIRE(reference[c].evicted == 0);
    for (int a = 0; a < kContexts; ++a)
        for (int b = a + 1; b < kContexts; ++b) REQUIRE(reference[a].tokens != reference[b].tokens);

    for (int round = 0; round < 3; ++round) {
        std::vector<Run> runs(kContexts);
        StartGate gate(kContexts);
        std::vector<std::thread> threads;
        for (int c = 0; c < kContexts; ++c)
            threads.emplace_back([&, c] {
                gate.arrive_and_wait();
                runs[c] = generate(model.get(), prompts[c], c == kEvicting);
            });
        for (std::thread &t : threads) t.join();
        for (int c = 0; c < kContexts; ++c) {
            INFO("round " << round << ", context " << c);
            require_ok(runs[c], c);
            CHECK(runs[c].tokens == reference[c].tokens);
            CHECK(runs[c].evicted == reference[c].evicted);
        }
    }
}

TEST_CASE("threads: cab_last_error is per thread while other threads fail or succeed",
          "[threads]") {
    const ModelPtr model = load_stories();
    constexpr int kIterations = 200;
    // Thread 0 asks for an out-of-range sequence, thread 1 for logits before any prefill,
    // thread 2 only succeeds: each must read back its own message, the last one "".
    std::string seen[3];
    bool wrong_status[3] = {false, false, false};
    StartGate gate(3);
    auto worker = [&](int who) {
        cab_ctx_params params;
        cab_ctx_default_params(&params);
        params.device = CAB_DEVICE_CPU;
        params.n_threads = 1;
        params.kv_capacity_tokens = 64;
        cab_ctx *raw = nullptr;
        if (cab_ctx_create(model.get(), &params, &raw) != CAB_OK) {
            wrong_status[who] = true;
            return;
        }
        const CtxPtr ctx(raw);
        const cab_token token = 1;
        gate.arrive_and_wait();
        for (int i = 0; i < kIterations; ++i) {
            cab_status status = CAB_OK, expected = CAB_OK;
            if (who == 0) {
                status = cab_prefill(ctx.get(), 7, &token, 1);
                expected = CAB_ERR_INVALID_ARGUMENT;
            } else if (who == 1) {
                const float *logits = nullptr;
                status = cab_logits(ctx.get(), 0, &logits);
                expected = CAB_ERR_STATE;
            } else {
                size_t n = 0;
                cab_token out[8];
                status = cab_tokenize(model.get(), "Lily", 4, 0, out, 8, &n);
            }
            if (status != expected) wrong_status[who] = true;
            const std::string message = cab_last_error();
            if (i == 0)
                seen[who] = message;
            else if (message != seen[who])
                wrong_status[who] = true;  // the message changed under this thread
        }
    };
    std::vector<std::thread> threads;
    for (int who = 0; who < 3; ++who) threads.emplace_back(worker, who);
    for (std::thread &t : threads) t.join();

    for (int who = 0; who < 3; ++who) {
        INFO("thread " << who << " saw \"" << seen[who] << "\"");
        CHECK_FALSE(wrong_status[who]);
    }
    CHECK(seen[0].find('7') != std::string::npos);
    CHECK(seen[1] != "");
    CHECK(seen[1] != seen[0]);
    CHECK(seen[2] == "");
}
