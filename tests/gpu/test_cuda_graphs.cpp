// CUDA graphs of decode steps (step_begin / step_end): a small one-layer model decodes the same
// tokens on three CUDA executors, each with its own KV pool under the same block tables: one
// with CAB_CUDA_GRAPHS=0 whose streams name no ids (tables staged whole by every op), one
// replaying graphs and one with CAB_CUDA_GRAPHS=0, both with stream ids, so that the executor
// keeps device copies of the tables and sends only what changed (backend/block_tables.h). Every
// step changes tokens, positions, lengths and sometimes the batch, and crosses block and
// length-bucket boundaries, and blocks move between steps, so a replay that used the captured
// step's inputs, or a stale or misplaced table, gives other logits. The eager executors agree
// bit for bit; the graph one differs by the decode split count (the bucket's vs the real
// length's), so logits agree to 2e-2 relative, K/V exactly and scores to 1e-3.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend_fixture.h"
#include "model/model.h"
#include "util/error.h"

namespace cab::gpu_test {
namespace {

constexpr int64_t kEmbd = 128, kHead = 4, kHeadKv = 2, kHeadDim = 64, kVocab = 50, kMaxRows = 4;
constexpr float kEps = 1e-5f;

struct Weights {
    Tensor tok, wq, wk, wv, bv, wo, norm1, norm2, lm;
};

// Loads random weights through load_weights (F32 sources: matrices become BF16).
Weights load_random_weights(std::mt19937 &rng) {
    std::vector<std::vector<float>> data;
    std::vector<Backend::WeightSource> src;
    auto add = [&](int64_t rows, int64_t cols, float scale) {
        data.push_back(bf16_values(static_cast<size_t>(rows * cols), scale, rng));
        src.push_back({ggml::Type::F32, data.back().data(), rows, cols});
    };
    const float s = 1.0f / std::sqrt(float(kEmbd));
    add(kVocab, kEmbd, 1.0f);
    add(kHead * kHeadDim, kEmbd, s);
    add(kHeadKv * kHeadDim, kEmbd, s);
    add(kHeadKv * kHeadDim, kEmbd, s);
    add(1, kHeadKv * kHeadDim, 0.5f);
    add(kEmbd, kHead * kHeadDim, 1.0f / std::sqrt(float(kHead * kHeadDim)));
    add(1, kEmbd, 1.0f);
    add(1, kEmbd, 1.0f);
    add(kVocab, kEmbd, s);
    std::vector<Tensor> t = gpu().load_weights(src, nullptr);
    return {t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8]};
}

struct Activations {
    Tensor x, xn, q, k, v, att, logits;
    explicit Activations(Executor &ex) {
        x = poisoned(gpu(), ex, DType::F32, kMaxRows, kEmbd);
        xn = poisoned(gpu(), ex, DType::BF16, kMaxRows, kEmbd);
        q = poisoned(gpu(), ex, DType::BF16, kMaxRows, kHead * kHeadDim);
        k = poisoned(gpu(), ex, DType::BF16, kMaxRows, kHeadKv * kHeadDim);
        v = poisoned(gpu(), ex, DType::BF16, kMaxRows, kHeadKv * kHeadDim);
        att = poisoned(gpu(), ex, DType::BF16, kMaxRows, kHead * kHeadDim);
        logits = poisoned(gpu(), ex, DType::F32, kMaxRows, kVocab);
    }
};

// The ops of one decode step of the one-layer model, as runtime/forward.cpp issues them.
void step_ops(Executor &ex, const Weights &w, const Tensor &table, Activations &a,
              const KvPoolRef &pool, const std::vector<StreamRef> &refs, const int32_t *tokens,
              const int32_t *positions, int32_t n) {
    const Tensor x = a.x.rows_view(0, n), xn = a.xn.rows_view(0, n), q = a.q.rows_view(0, n),
                 k = a.k.rows_view(0, n), v = a.v.rows_view(0, n), att = a.att.rows_view(0, n);
    const RopeParams rope{RopeStyle::NeoX, 10000.0f, 1.0f};
    ex.embedding(table, tokens, x);
    ex.rmsnorm(x, w.norm1, kEps, xn);
    ex.matmul(xn, w.wq, nullptr, q);
    ex.matmul(xn, w.wk, nullptr, k);
    ex.matmul(xn, w.wv, &w.bv, v);
    ex.rope(q, kHead, positions, rope);
    ex.rope(k, kHeadKv, positions, rope);
    ex.kv_append(pool, refs.data(), n, 1, k, v);
    if (n > 1) {
        ex.attention_decode(pool, refs.data(), kHeadKv, q, kHead, att);
    } else {
        ex.attention_prefill(pool, refs.data(), kHeadKv, q, kHead, att, 0);
    }
    ex.matmul(att, w.wo, nullptr, xn);
    ex.add(x, xn);
    ex.rmsnorm(x, w.norm2, kEps, xn);
    ex.matmul(xn, w.lm, nullptr, a.logits.rows_view(0, n));
}

struct Replica {
    std::unique_ptr<Executor> ex;
    std::unique_ptr<Activations> acts;
    bool ided = false;
};

class Harness {
public:
    explicit Harness(std::mt19937 &rng)
        : rng_(rng), w_(load_random_weights(rng)), kv_(256, 16, kHeadDim, 3 * kHeadKv, rng) {
        for (const bool graphs : {false, true, false}) {
            Replica r;
            r.ex = executor_with_graphs(gpu(), graphs);
            r.acts = std::make_unique<Activations>(*r.ex);
            r.ided = !reps_.empty();
            kv_.add_replica(gpu(), *r.ex, r.ided);
            reps_.push_back(std::move(r));
        }
    }

    // Fills sequence `seq` with `len` random K/V rows on both replicas (no step).
    void prefill(int32_t seq, int32_t len) {
        const std::vector<int32_t> ids = streams_of({seq});
        for (int32_t s : ids) kv_.grow(s, len);
        const auto k = bf16_values(size_t(len) * kHeadKv * kHeadDim, 1.0f, rng_);
        const auto v = bf16_values(size_t(len) * kHeadKv * kHeadDim, 1.0f, rng_);
        for (size_t r = 0; r < reps_.size(); ++r) {
            Executor &ex = *reps_[r].ex;
            const auto refs = kv_.refs(ids, reps_[r].ided);
            Tensor kt = make_tensor(gpu(), ex, DType::BF16, len, kHeadKv * kHeadDim, k);
            Tensor vt = make_tensor(gpu(), ex, DType::BF16, len, kHeadKv * kHeadDim, v);
            ex.kv_append(kv_.pools[r], refs.data(), 1, len, kt, vt);
        }
    }

    // Moves block `block` of sequence seq's streams to other blocks, on every replica.
    void relocate(int32_t seq, size_t block) {
        std::vector<Executor *> ex;
        for (Replica &r : reps_) ex.push_back(r.ex.get());
        for (int32_t s : streams_of({seq})) kv_.relocate(s, block, ex);
    }

    // One decode step of `seqs` on both replicas (a graph step on the second); compares logits.
    // `table` replaces the embedding table (another first op than the usual steps').
    void step(const std::vector<int32_t> &seqs, const std::string &what,
              const Tensor *table = nullptr) {
        const int32_t n = int32_t(seqs.size());
        const std::vector<int32_t> ids = streams_of(seqs);
        std::vector<int32_t> tokens, positions;
        int32_t longest = 0;
        for (int32_t q : seqs) {
            tokens.push_back(int32_t(rng_() % kVocab));
            positions.push_back(kv_.length(q * kHeadKv));
        }
        for (int32_t s : ids) {
            kv_.grow(s, 1);
            longest = std::max(longest, kv_.length(s));
        }
        std::vector<float> logits[3];
        for (size_t r = 0; r < reps_.size(); ++r) {
            Executor &ex = *reps_[r].ex;
            ex.step_begin(n, longest);
            step_ops(ex, w_, table ? *table : w_.tok, *reps_[r].acts, kv_.pools[r],
                     kv_.refs(ids, reps_[r].ided), tokens.data(), positions.data(), n);
            ex.step_end();
            logits[r] = read(ex, reps_[r].acts->logits.rows_view(0, n));
        }
        check_close(logits[1], logits[0], 2e-2, 2e-2 * rms(logits[0]), what + ": logits");
        check_close(logits[2], logits[0], 0.0, 0.0, what + ": logits, eager with stream ids");
    }

    // K/V exactly and scores closely, every stream, graph replica against eager.
    void compare_kv() {
        for (int32_t s = 0; s < 3 * kHeadKv; ++s) {
            const StreamRef ref = kv_.ref(s);
            const size_t len = size_t(ref.length);
            std::vector<float> got[3], scores[3];
            for (size_t r = 0; r < 3; ++r) {
                got[r].resize(len * kHeadDim * 2);
                reps_[r].ex->kv_read(kv_.pools[r], ref, false, got[r].data());
                reps_[r].ex->kv_read(kv_.pools[r], ref, true, got[r].data() + len * kHeadDim);
                scores[r].resize(len * 4);
                reps_[r].ex->kv_read_scores(kv_.pools[r], ref, scores[r].data());
            }
            check_close(got[1], got[0], 0.0, 0.0, "K/V of stream " + std::to_string(s));
            check_close(scores[1], scores[0], 1e-3, 1e-4, "scores of stream " + std::to_string(s));
            check_close(got[2], got[0], 0.0, 0.0, "K/V of stream " + std::to_string(s) + ", ids");
            check_close(scores[2], scores[0], 0.0, 0.0,
                        "scores of stream " + std::to_string(s) + ", ids");
        }
    }

    Executor &graph_executor() { return *reps_[1].ex; }
    Activations &graph_acts() { return *reps_[1].acts; }
    const Weights &weights() const { return w_; }

private:
    static std::vector<int32_t> streams_of(const std::vector<int32_t> &seqs) {
        std::vector<int32_t> s;
        for (int32_t q : seqs)
            for (int32_t h = 0; h < kHeadKv; ++h) s.push_back(q * kHeadKv + int32_t(h));
        return s;
    }

    std::mt19937 &rng_;
    Weights w_;
    PagedKv kv_;
    std::vector<Replica> reps_;
};

TEST_CASE("CUDA graphs: replayed decode steps match eager ones", "[cuda][graphs]") {
    std::mt19937 rng(2024);
    Harness h(rng);
    h.prefill(0, 250);
    h.prefill(1, 120);
    h.prefill(2, 254);
    // (3, 256) captured then replayed; seq 2 passes 256 slots: (3, 512) captured.
    for (int i = 0; i < 3; ++i) h.step({0, 1, 2}, "batch of 3, step " + std::to_string(i));
    h.step({0, 2}, "batch of 2, capture");
    h.step({0, 2}, "batch of 2, replay");
    h.step({1}, "one sequence (attention_prefill), capture");
    h.step({1}, "one sequence, replay");
    for (int i = 0; i < 5; ++i) h.step({0, 1, 2}, "batch of 3 again, step " + std::to_string(i));
    h.compare_kv();
    // Tables that change below their ends between replayed steps (versioned and not).
    h.relocate(0, 3);
    h.relocate(2, 0);
    h.step({0, 1, 2}, "after moving blocks of sequences 0 and 2");
    h.relocate(2, 5);
    for (int i = 0; i < 3; ++i)
        h.step({0, 1, 2}, "after moving another block, step " + std::to_string(i));
    h.compare_kv();

    SECTION("a step whose first op differs is recaptured, one that differs later fails") {
        h.step({0, 1, 2}, "another embedding table: recaptured", &h.weights().lm);
        h.step({0, 1, 2}, "the usual table again: recaptured");
        h.step({0, 1, 2}, "replayed");
        Executor &ex = h.graph_executor();
        Activations &a = h.graph_acts();
        const int32_t tokens[3] = {1, 2, 3};
        ex.step_begin(3, 280);
        ex.embedding(h.weights().tok, tokens, a.x.rows_view(0, 3));
        try {
            ex.matmul(a.xn.rows_view(0, 3), h.weights().wq, nullptr, a.q.rows_view(0, 3));
            FAIL("no error");
        } catch (const Error &e) {
            CHECK(e.status() == CAB_ERR_INTERNAL);
            CHECK(std::string(e.what()).find("captured") != std::string::npos);
        }
        for (int i = 0; i < 3; ++i)
            h.step({0, 1, 2}, "after the failed replay " + std::to_string(i));
        h.compare_kv();
    }
    SECTION("a download inside a step ends it, and step_end says so") {
        Executor &ex = h.graph_executor();
        Activations &a = h.graph_acts();
        std::vector<float> out(static_cast<size_t>(kEmbd));
        ex.step_begin(1, 140);
        ex.download(a.x.rows_view(0, 1), out.data());
        try {
            ex.step_end();
            FAIL("no error");
        } catch (const Error &e) {
            CHECK(e.status() == CAB_ERR_INTERNAL);
        }
        h.step({1}, "after the ended step");
        h.step({0, 1, 2}, "batch after the ended step");
        h.compare_kv();
    }
}

TEST_CASE("CUDA graphs: more shapes than the cache holds are recaptured", "[cuda][graphs]") {
    std::mt19937 rng(5);
    const int64_t rows = 24, cols = 64, out_cols = 80;
    auto eager = executor_with_graphs(gpu(), false);
    auto graphs = executor_with_graphs(gpu(), true);
    const auto table = bf16_values(size_t(kVocab * cols), 1.0f, rng);
    const auto wdata = bf16_values(size_t(out_cols * cols), 0.125f, rng);
    Tensor tab = make_tensor(gpu(), *eager, DType::BF16, kVocab, cols, table);
    Tensor w = make_tensor(gpu(), *eager, DType::BF16, out_cols, cols, wdata);
    Tensor norm = make_tensor(gpu(), *eager, DType::F32, 1, cols, std::vector<float>(cols, 1.0f));
    read(*eager, norm);  // the uploads ran on eager's stream: wait for them before `graphs` reads
    Executor *exs[2] = {eager.get(), graphs.get()};
    Tensor x[2], xn[2], y[2];
    for (int r = 0; r < 2; ++r) {
        x[r] = poisoned(gpu(), *exs[r], DType::F32, rows, cols);
        xn[r] = poisoned(gpu(), *exs[r], DType::BF16, rows, cols);
        y[r] = poisoned(gpu(), *exs[r], DType::F32, rows, out_cols);
    }
    // 20 batch sizes, then the first ones again (dropped from the 16-graph cache by then).
    for (int round = 0; round < 2; ++round) {
        for (int32_t n = 1; n <= 20; ++n) {
            std::vector<int32_t> tokens(static_cast<size_t>(n));
            for (auto &t : tokens) t = int32_t(rng() % kVocab);
            std::vector<float> out[2];
            for (int r = 0; r < 2; ++r) {
                exs[r]->step_begin(n, 100);
                exs[r]->embedding(tab, tokens.data(), x[r].rows_view(0, n));
                exs[r]->rmsnorm(x[r].rows_view(0, n), norm, kEps, xn[r].rows_view(0, n));
                exs[r]->matmul(xn[r].rows_view(0, n), w, nullptr, y[r].rows_view(0, n));
                exs[r]->step_end();
                out[r] = read(*exs[r], y[r].rows_view(0, n));
            }
            check_close(out[1], out[0], 1e-6, 1e-6,
                        "round " + std::to_string(round) + ", batch " + std::to_string(n));
        }
    }
}

}  // namespace
}  // namespace cab::gpu_test
