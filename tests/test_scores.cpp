// Score accumulation inside attention (DESIGN.md section 4) against dense softmax column sums
// computed by an independent reference forward pass (tests/reference_forward.h): Q and K come
// from the reference's own arithmetic on the model weights, never from the library's kernels.
// Covered: several prefill chunks, single and batched decode steps, GQA (the tiny models have 4
// query heads over 2 kv heads), compaction of some streams, and a prefill after decoding.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "backend/backend.h"
#include "cpu_device.h"
#include "kv/kv_cache.h"
#include "model/model.h"
#include "reference_forward.h"
#include "runtime/forward.h"
#include "test_paths.h"

using namespace cab;

namespace {

constexpr int32_t kWindow = 5;

std::unique_ptr<Model> load_tiny(const std::string &name) {
    const std::string path = test::golden_path(name + ".gguf");
    INFO("model " << path << " is missing (regenerate with tools/golden/make_tiny_models.py)");
    REQUIRE(test::file_exists(path));
    return Model::load(path, test::cpu_load());
}

// What one stream's slot should hold, keyed by position.
struct Expected {
    double score = 0.0, observers = 0.0, window = 0.0, last = 0.0;
};

// Drives Forward and KvCache directly for two sequences and mirrors every step in a reference
// per sequence, accumulating the expected scores from the reference's probabilities.
class Harness {
public:
    explicit Harness(const Model &model)
        : model_(model), hp_(model.hparams()), ex_(model.backend().make_executor(2)) {
        KvConfig c;
        c.n_layer = hp_.n_layer;
        c.n_head_kv = hp_.n_head_kv;
        c.head_dim = hp_.head_dim;
        c.block_size = 4;
        c.capacity_tokens = 128;
        c.n_seq_max = 2;
        c.score_window = kWindow;
        kv_ = std::make_unique<KvCache>(model.backend(), c);
        fwd_ = std::make_unique<Forward>(model, *ex_, 16, 2);
        for (int32_t s = 0; s < 2; ++s) {
            seqs_.push_back(Seq{test::ReferenceForward(model), {}, 0});
            seqs_.back().expected.resize(static_cast<size_t>(hp_.n_layer) * hp_.n_head_kv);
        }
    }

    void prefill(int32_t seq, const std::vector<int32_t> &tokens) {
        Seq &sq = seqs_[static_cast<size_t>(seq)];
        const int32_t n = static_cast<int32_t>(tokens.size());
        std::vector<int32_t> pos(tokens.size());
        for (int32_t i = 0; i < n; ++i) pos[i] = sq.next + i;
        const test::ReferenceForward::Visible before = cached(seq);
        kv_->reserve(&seq, &n, 1);
        std::vector<float> logits(static_cast<size_t>(hp_.n_vocab));
        fwd_->prefill(*kv_, seq, tokens.data(), pos.data(), n, logits.data(), false);
        kv_->commit(seq, n, pos.data(), tokens.data());

        std::vector<std::map<int32_t, double>> window(before.size());
        std::vector<double> ref_logits;
        for (int32_t i = 0; i < n; ++i) {
            test::ReferenceForward::Visible visible = before;
            for (auto &v : visible) v.insert(v.end(), pos.begin(), pos.begin() + i);
            ref_logits =
                observe(sq, tokens[i], pos[i], visible, i >= n - kWindow ? &window : nullptr);
        }
        for (size_t st = 0; st < window.size(); ++st)
            for (auto &e : sq.expected[st]) e.second.window = window[st][e.first];
        sq.next += n;
        check_logits(logits.data(), ref_logits);
    }

    // One decode step of every sequence in `seqs` at once.
    void decode(const std::vector<int32_t> &seqs, const std::vector<int32_t> &tokens) {
        const int32_t n = static_cast<int32_t>(seqs.size());
        std::vector<int32_t> pos, ones(seqs.size(), 1);
        std::vector<test::ReferenceForward::Visible> before;
        for (int32_t s : seqs) {
            pos.push_back(seqs_[static_cast<size_t>(s)].next);
            before.push_back(cached(s));
        }
        kv_->reserve(seqs.data(), ones.data(), seqs.size());
        fwd_->decode(*kv_, seqs.data(), tokens.data(), pos.data(), n);
        std::vector<float> logits(static_cast<size_t>(n) * hp_.n_vocab);
        for (int32_t i = 0; i < n; ++i)
            fwd_->read_logits(i, logits.data() + int64_t{i} * hp_.n_vocab);
        for (int32_t i = 0; i < n; ++i) {
            kv_->commit(seqs[i], 1, &pos[i], &tokens[i]);
            Seq &sq = seqs_[static_cast<size_t>(seqs[i])];
            const std::vector<double> ref = observe(sq, tokens[i], pos[i], before[i], nullptr);
            ++sq.next;
            check_logits(logits.data() + int64_t{i} * hp_.n_vocab, ref);
        }
    }

    // Keeps every `stride`-th slot of stream (layer, head), starting at `offset`.
    void compact(int32_t seq, int32_t layer, int32_t head, int32_t stride, int32_t offset) {
        const Stream &s = kv_->stream(seq, layer, head);
        std::vector<int32_t> keep;
        for (int32_t j = offset; j < s.length; j += stride) keep.push_back(j);
        std::map<int32_t, Expected> &exp =
            seqs_[static_cast<size_t>(seq)].expected[stream_index(layer, head)];
        std::map<int32_t, Expected> kept;
        for (int32_t j : keep) kept[s.pos[j]] = exp.at(s.pos[j]);
        kv_->compact(*ex_, seq, layer, head, keep.data(), keep.size());
        exp.swap(kept);
    }

    // Every slot of every stream against the expected sums; observers exactly.
    void check_scores() const {
        for (int32_t seq = 0; seq < 2; ++seq)
            for (int32_t l = 0; l < hp_.n_layer; ++l)
                for (int32_t g = 0; g < hp_.n_head_kv; ++g) {
                    const Stream &s = kv_->stream(seq, l, g);
                    const auto &exp = seqs_[static_cast<size_t>(seq)].expected[stream_index(l, g)];
                    REQUIRE(static_cast<size_t>(s.length) == exp.size());
                    SlotScores sc;
                    kv_->read_scores(*ex_, seq, l, g, sc);
                    REQUIRE(sc.score.size() == static_cast<size_t>(s.length));
                    for (int32_t j = 0; j < s.length; ++j) {
                        INFO("seq " << seq << " layer " << l << " kv head " << g << " slot " << j
                                    << " position " << s.pos[j]);
                        const Expected &e = exp.at(s.pos[j]);
                        CHECK(close(sc.score[j], e.score));
                        CHECK(sc.observers[j] == static_cast<float>(e.observers));
                        CHECK(close(sc.window[j], e.window));
                        CHECK(close(sc.last[j], e.last));
                    }
                }
        // The same scores one kind at a time, for every stream of a sequence in one call.
        for (int32_t seq = 0; seq < 2; ++seq)
            for (int32_t kind = 0; kind < kScoreKinds; ++kind) {
                INFO("seq " << seq << " kind " << kind);
                std::vector<float> all;
                kv_->read_score_kind(*ex_, seq, kind, all);
                size_t at = 0;
                for (int32_t l = 0; l < hp_.n_layer; ++l)
                    for (int32_t g = 0; g < hp_.n_head_kv; ++g) {
                        SlotScores sc;
                        kv_->read_scores(*ex_, seq, l, g, sc);
                        const std::vector<float> *of[kScoreKinds] = {&sc.score, &sc.observers,
                                                                     &sc.window, &sc.last};
                        const std::vector<float> &want = *of[kind];
                        REQUIRE(at + want.size() <= all.size());
                        CHECK(std::equal(want.begin(), want.end(),
                                         all.begin() + static_cast<std::ptrdiff_t>(at)));
                        at += want.size();
                    }
                CHECK(at == all.size());
            }
    }

    const KvCache &kv() const { return *kv_; }

private:
    struct Seq {
        test::ReferenceForward ref;
        std::vector<std::map<int32_t, Expected>> expected;  // [layer * n_head_kv + g]
        int32_t next;
    };

    size_t stream_index(int32_t layer, int32_t g) const {
        return static_cast<size_t>(layer) * hp_.n_head_kv + g;
    }

    test::ReferenceForward::Visible cached(int32_t seq) const {
        test::ReferenceForward::Visible v;
        for (int32_t l = 0; l < hp_.n_layer; ++l)
            for (int32_t g = 0; g < hp_.n_head_kv; ++g) v.push_back(kv_->stream(seq, l, g).pos);
        return v;
    }

    // Runs the reference for one query and folds its probabilities into the expected sums:
    // score and observers grow, `last` is replaced, and the window sums grow when given.
    std::vector<double> observe(Seq &sq, int32_t token, int32_t pos,
                                const test::ReferenceForward::Visible &visible,
                                std::vector<std::map<int32_t, double>> *window) {
        test::ReferenceForward::Probs probs;
        std::vector<double> logits = sq.ref.step(token, pos, visible, &probs);
        const int32_t group = hp_.n_head / hp_.n_head_kv;
        for (int32_t l = 0; l < hp_.n_layer; ++l)
            for (int32_t g = 0; g < hp_.n_head_kv; ++g) {
                std::map<int32_t, Expected> &exp = sq.expected[stream_index(l, g)];
                exp[pos];  // the query's own slot joins the stream
                for (auto &e : exp) e.second.last = 0.0;
                for (int32_t h = g * group; h < (g + 1) * group; ++h)
                    for (const auto &[p, prob] : probs[l][h]) {
                        Expected &e = exp.at(p);
                        e.score += prob;
                        e.last += prob;
                        if (window != nullptr) (*window)[stream_index(l, g)][p] += prob;
                    }
                for (const auto &entry : probs[l][g * group]) exp.at(entry.first).observers += 1;
            }
        return logits;
    }

    static bool close(float got, double want) {
        return std::fabs(got - want) <= 1e-5 * (1.0 + std::fabs(want));
    }

    void check_logits(const float *got, const std::vector<double> &want) const {
        double diff = 0.0, scale = 0.0;
        for (size_t i = 0; i < want.size(); ++i) {
            diff = std::max(diff, std::fabs(got[i] - want[i]));
            scale = std::max(scale, std::fabs(want[i]));
        }
        CHECK(diff / scale < 1e-5);
    }

    const Model &model_;
    const HParams &hp_;
    std::unique_ptr<Executor> ex_;
    std::unique_ptr<KvCache> kv_;
    std::unique_ptr<Forward> fwd_;
    std::vector<Seq> seqs_;
};

std::vector<int32_t> random_tokens(std::mt19937 &rng, int32_t n, int32_t n_vocab) {
    std::uniform_int_distribution<int32_t> dist(0, n_vocab - 1);
    std::vector<int32_t> out(static_cast<size_t>(n));
    for (auto &t : out) t = dist(rng);
    return out;
}

}  // namespace

TEST_CASE(
    "scores: equal dense softmax column sums over prefill chunks, decode steps and "
    "compactions (GQA)",
    "[scores]") {
    for (const char *name : {"tiny_llama", "tiny_qwen2"}) {
        SECTION(name) {
            auto model = load_tiny(name);
            REQUIRE(model->hparams().n_head == 2 * model->hparams().n_head_kv);
            const int32_t n_vocab = model->hparams().n_vocab;
            std::mt19937 rng(11);
            Harness h(*model);

            // Three prefill chunks of sequence 0 (the window restarts with each), one of seq 1.
            h.prefill(0, random_tokens(rng, 13, n_vocab));
            h.check_scores();
            h.prefill(0, random_tokens(rng, 3, n_vocab));  // shorter than the window
            h.prefill(0, random_tokens(rng, 9, n_vocab));
            h.prefill(1, random_tokens(rng, 7, n_vocab));
            h.check_scores();

            // Decode: sequence 0 alone (one-query prefill kernel), then both batched.
            h.decode({0}, {5});
            h.decode({1, 0}, {17, 200});
            h.decode({0, 1}, {3, 4});
            h.check_scores();

            // Compaction of some streams, differently per head: scores move with their tokens.
            h.compact(0, 0, 0, 2, 0);
            h.compact(0, 1, 1, 3, 1);
            h.compact(1, 0, 1, 2, 1);
            REQUIRE(h.kv().stream(0, 0, 0).length != h.kv().stream(0, 0, 1).length);
            h.check_scores();

            // Keep going on the compacted cache: decode, then a new prefill chunk.
            h.decode({0, 1}, {9, 10});
            h.decode({0}, {11});
            h.prefill(0, random_tokens(rng, 6, n_vocab));
            h.decode({1, 0}, {250, 1});
            h.check_scores();
        }
    }
}

TEST_CASE("scores: a cache without scores leaves the accumulators empty", "[scores]") {
    auto model = load_tiny("tiny_llama");
    const HParams &hp = model->hparams();
    auto ex = model->backend().make_executor(1);
    KvConfig c;
    c.n_layer = hp.n_layer;
    c.n_head_kv = hp.n_head_kv;
    c.head_dim = hp.head_dim;
    c.block_size = 4;
    c.capacity_tokens = 32;
    c.scores = false;
    KvCache kv(model->backend(), c);
    Forward fwd(*model, *ex, 16, 1);
    const std::vector<int32_t> tokens = {1, 2, 3, 4, 5}, pos = {0, 1, 2, 3, 4};
    const int32_t seq = 0, n = 5;
    std::vector<float> logits(static_cast<size_t>(hp.n_vocab));
    kv.reserve(&seq, &n, 1);
    fwd.prefill(kv, 0, tokens.data(), pos.data(), n, logits.data(), false);
    kv.commit(0, n, pos.data(), tokens.data());
    CHECK(kv.stream(0, 0, 0).length == 5);
    CHECK(kv.pool_ref().scores.empty());
    SlotScores sc;
    CHECK_THROWS_WITH(kv.read_scores(*ex, 0, 0, 0, sc), Catch::Contains("keeps no scores"));
    std::vector<float> all;
    CHECK_THROWS_WITH(kv.read_score_kind(*ex, 0, kScore, all), Catch::Contains("keeps no scores"));
}

TEST_CASE("scores: reading one kind checks its arguments", "[scores]") {
    auto model = load_tiny("tiny_llama");
    auto ex = model->backend().make_executor(1);
    const KvPoolRef pool{};
    StreamRef stream;
    float out = 0.0f;
    CHECK_THROWS_WITH(ex->kv_read_score_kind(pool, &stream, 1, 4, &out), Catch::Contains("kind 4"));
    CHECK_THROWS_WITH(ex->kv_read_score_kind(pool, &stream, 1, -1, &out),
                      Catch::Contains("kind -1"));
    CHECK_THROWS_WITH(ex->kv_read_score_kind(pool, nullptr, 1, kScore, &out),
                      Catch::Contains("null streams"));
    stream.length = 2;
    CHECK_THROWS_WITH(ex->kv_read_score_kind(pool, &stream, 1, kScore, nullptr),
                      Catch::Contains("null output"));
    stream.length = -3;
    CHECK_THROWS_WITH(ex->kv_read_score_kind(pool, &stream, 1, kScore, &out),
                      Catch::Contains("length -3"));
    CHECK_NOTHROW(ex->kv_read_score_kind(pool, nullptr, 0, kScore, nullptr));
}
