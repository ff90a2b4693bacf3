// Eviction equivalence, for every policy and the selection / allocation / budget variants:
// "evicting, then going on, equals a forward pass that masks exactly the evicted (layer, kv
// head, position) entries". The library runs through the C API; the reference is the naive
// dense forward pass of tests/reference_forward.h, fed the positions each query could see (read
// back with cab_kv_positions). Logits must agree to fp32 rounding: a max relative error (max
// |a - b| / max |b|) below 1e-5; the library computes in fp32, the reference in fp64.
#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cpu_device.h"
#include "evict_helpers.h"
#include "model/model.h"
#include "reference_forward.h"

using namespace cab;
using test::ReferenceForward;

namespace {

constexpr double kTolerance = 1e-5;

double rel_error(const float *got, const std::vector<double> &want) {
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < want.size(); ++i) {
        diff = std::max(diff, std::fabs(got[i] - want[i]));
        scale = std::max(scale, std::fabs(want[i]));
    }
    return diff / scale;
}

// One sequence run through the C API and mirrored, token by token, in the reference.
class Mirrored {
public:
    Mirrored(const cab_model *c_model, const Model &model, const cab_ctx_params &params)
        : ctx_(test::make_c_ctx(c_model, params)), ref_(model), n_vocab_(model.hparams().n_vocab) {}

    cab_ctx *ctx() const { return ctx_.get(); }

    // Each prompt token sees what was cached before the call plus the prompt tokens before it.
    void prefill(const std::vector<int32_t> &tokens) {
        const ReferenceForward::Visible before = test::all_positions(ctx(), 0);
        REQUIRE(cab_prefill(ctx(), 0, tokens.data(), tokens.size()) == CAB_OK);
        std::vector<double> want;
        std::vector<int32_t> own;
        for (int32_t t : tokens) {
            ReferenceForward::Visible visible = before;
            for (auto &v : visible) v.insert(v.end(), own.begin(), own.end());
            want = ref_.step(t, next_, visible);
            own.push_back(next_++);
        }
        check_logits(want);
    }

    // With automatic eviction the context may evict before the step: the query then saw what
    // the streams hold after the call, less its own slot.
    void decode(int32_t token) {
        REQUIRE(cab_decode(ctx(), &seq_, &token, 1) == CAB_OK);
        ReferenceForward::Visible visible = test::all_positions(ctx(), 0);
        for (auto &v : visible) {
            REQUIRE(v.back() == next_);  // positions continue: the token took the next one
            v.pop_back();
        }
        check_logits(ref_.step(token, next_++, visible));
    }

    cab_evict_report evict(const cab_evict_params &params) {
        cab_evict_report r{};
        r.struct_size = sizeof r;
        const int64_t free_before = test::kv_stats(ctx(), CAB_SEQ_ALL).blocks_free;
        const cab_status st = cab_evict(ctx(), 0, &params, &r);
        INFO(cab_last_error());
        REQUIRE(st == CAB_OK);
        const cab_kv_stats after = test::kv_stats(ctx(), 0);
        CHECK(after.blocks_free == free_before + r.blocks_freed);
        CHECK(r.tokens_kept == after.tokens_cached);
        CHECK(r.tokens_evicted == r.tokens_before - r.tokens_kept);
        CHECK(r.bytes_freed == static_cast<uint64_t>(r.blocks_freed) * after.bytes_total /
                                   static_cast<uint64_t>(after.blocks_total));
        int64_t length = 0;
        REQUIRE(cab_seq_length(ctx(), 0, &length) == CAB_OK);
        CHECK(length == next_);  // eviction never renumbers positions
        return r;
    }

private:
    void check_logits(const std::vector<double> &want) {
        const float *got = nullptr;
        REQUIRE(cab_logits(ctx(), 0, &got) == CAB_OK);
        INFO("position " << next_ - 1);
        CHECK(rel_error(got, want) < kTolerance);
    }

    test::CtxPtr ctx_;
    ReferenceForward ref_;
    int32_t n_vocab_;
    int32_t next_ = 0;
    cab_seq seq_ = 0;
};

struct Variant {
    const char *label;
    const char *policy;
    std::function<void(cab_evict_params &)> tweak;
};

std::vector<Variant> variants() {
    const auto none = [](cab_evict_params &) {};
    return {
        {"full", "full", none},
        {"random", "random", [](cab_evict_params &p) { p.seed = 7; }},
        {"window", "window", none},
        {"h2o", "h2o", none},
        {"h2o normalized", "h2o", [](cab_evict_params &p) { p.h2o_normalize = 1; }},
        {"h2o window score", "h2o", [](cab_evict_params &p) { p.score_source = CAB_SCORE_WINDOW; }},
        {"tova", "tova", none},
        {"snapkv", "snapkv", [](cab_evict_params &p) { p.snapkv_window = 4; }},
        {"cab", "cab", none},
        {"cab window score", "cab", [](cab_evict_params &p) { p.score_source = CAB_SCORE_WINDOW; }},
        {"cab-frc", "cab-frc", [](cab_evict_params &p) { p.frc_block = 4; }},
        {"cab shared per layer", "cab",
         [](cab_evict_params &p) { p.selection = CAB_SELECTION_SHARED_PER_LAYER; }},
        {"cab-frc shared per layer", "cab-frc",
         [](cab_evict_params &p) {
             p.selection = CAB_SELECTION_SHARED_PER_LAYER;
             p.frc_block = 2;
         }},
        {"h2o pyramid", "h2o",
         [](cab_evict_params &p) {
             p.allocation = CAB_ALLOCATION_PYRAMID;
             p.pyramid_beta = 4.0f;
         }},
        {"snapkv adaptive", "snapkv",
         [](cab_evict_params &p) {
             p.allocation = CAB_ALLOCATION_ADAPTIVE;
             p.snapkv_window = 4;
         }},
        {"tova with recent", "tova",
         [](cab_evict_params &p) {
             p.n_recent = 3;
             p.n_sinks = 2;
         }},
    };
}

}  // namespace

TEST_CASE("evict: next logits equal a reference that masks exactly the evicted entries",
          "[evict]") {
    for (const char *name : {"tiny_llama", "tiny_qwen2"}) {
        const std::string path = test::tiny_path(name);
        const test::ModelPtr c_model = test::load_c_model(path);
        const std::unique_ptr<Model> model = Model::load(path, test::cpu_load());
        const int32_t n_vocab = model->hparams().n_vocab;
        for (const Variant &v : variants()) {
            SECTION(std::string(name) + ": " + v.label) {
                std::mt19937 rng(3);
                Mirrored run(c_model.get(), *model, test::small_ctx_params(256));
                run.prefill(test::random_tokens(rng, 30, n_vocab));
                for (int i = 0; i < 3; ++i) run.decode(test::random_tokens(rng, 1, n_vocab)[0]);

                cab_evict_params params = test::evict_params(v.policy, 11);
                v.tweak(params);
                const cab_evict_report first = run.evict(params);
                CHECK(first.tokens_before == 33 * 4);  // 2 layers x 2 kv heads
                if (std::string(v.policy) == "full") {
                    CHECK(first.tokens_evicted == 0);
                } else {
                    CHECK(first.tokens_kept == 11 * 4);
                    CHECK(first.blocks_freed > 0);
                }
                for (int i = 0; i < 4; ++i) run.decode(test::random_tokens(rng, 1, n_vocab)[0]);

                // A second eviction by share, then a prompt chunk and more decoding.
                params.budget_unit = CAB_BUDGET_RATIO;
                params.budget_ratio = 0.6;
                run.evict(params);
                run.prefill(test::random_tokens(rng, 5, n_vocab));
                for (int i = 0; i < 3; ++i) run.decode(test::random_tokens(rng, 1, n_vocab)[0]);
                if (params.selection == CAB_SELECTION_SHARED_PER_LAYER) {
                    for (int32_t l = 0; l < 2; ++l)
                        CHECK(test::kv_positions(run.ctx(), 0, l, 0) ==
                              test::kv_positions(run.ctx(), 0, l, 1));
                }
            }
        }
    }
}

TEST_CASE(
    "evict: automatic eviction during decode equals the reference masked by what each query "
    "saw",
    "[evict][auto]") {
    for (const char *name : {"tiny_llama", "tiny_qwen2"}) {
        const std::string path = test::tiny_path(name);
        const test::ModelPtr c_model = test::load_c_model(path);
        const std::unique_ptr<Model> model = Model::load(path, test::cpu_load());
        const int32_t n_vocab = model->hparams().n_vocab;
        for (const char *policy : {"window", "h2o", "tova", "snapkv", "cab", "cab-frc", "random"}) {
            SECTION(std::string(name) + ": " + policy) {
                cab_evict_params auto_evict = test::evict_params(policy, 12);
                auto_evict.snapkv_window = 4;
                auto_evict.frc_block = 4;
                cab_ctx_params p = test::small_ctx_params(64);
                p.auto_evict = &auto_evict;
                p.auto_evict_slack = 5;
                std::mt19937 rng(5);
                Mirrored run(c_model.get(), *model, p);
                // The prompt fits in budget + slack: no eviction inside it, except for a
                // question-aware policy, which evicts to budget right after it.
                run.prefill(test::random_tokens(rng, 16, n_vocab));
                const int32_t after_prompt = std::string(policy) == "snapkv" ? 12 : 16;
                CHECK(test::kv_stats(run.ctx(), 0).stream_max == after_prompt);
                for (int i = 0; i < 30; ++i) run.decode(test::random_tokens(rng, 1, n_vocab)[0]);
                const cab_kv_stats st = test::kv_stats(run.ctx(), 0);
                CHECK(st.stream_max <= 12 + 5);
                CHECK(st.tokens_evicted > 0);
            }
        }
    }
}

// Policies without a keep plan select on the host, each stream's selection on one of the
// context's n_threads, and the CPU executor runs keep plans (cab's here) on its n_threads too:
// the streams' selections are independent (random's seed is the stream's index), so any number
// of threads keeps the same slots.
TEST_CASE("evict: selections on several threads keep what one thread keeps", "[evict][threads]") {
    const std::string path = test::tiny_path("tiny_qwen2");
    const test::ModelPtr c_model = test::load_c_model(path);
    std::mt19937 rng(11);
    const std::vector<int32_t> prompt = test::random_tokens(rng, 40, 256);
    for (const char *policy : {"random", "cab", "cab-frc"}) {
        for (bool shared : {false, true}) {
            INFO(policy << (shared ? ", shared per layer" : ", per head"));
            std::vector<std::vector<std::vector<int32_t>>> kept;
            for (int32_t threads : {1, 7}) {
                cab_ctx_params p = test::small_ctx_params(64);
                p.n_threads = threads;
                const test::CtxPtr ctx = test::make_c_ctx(c_model.get(), p);
                REQUIRE(cab_prefill(ctx.get(), 0, prompt.data(), prompt.size()) == CAB_OK);
                cab_evict_params e = test::evict_params(policy, 12);
                e.frc_block = 4;
                if (shared) e.selection = CAB_SELECTION_SHARED_PER_LAYER;
                REQUIRE(cab_evict(ctx.get(), 0, &e, nullptr) == CAB_OK);
                kept.push_back(test::all_positions(ctx.get(), 0));
                CHECK(test::kv_stats(ctx.get(), 0).stream_max == 12);
            }
            CHECK(kept[0] == kept[1]);
        }
    }
}
