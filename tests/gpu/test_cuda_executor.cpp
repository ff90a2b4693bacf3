// The CUDA executor (cuda/backend) op by op: matmul against a double reference, every other op
// against the CPU executor (the reference semantics) on the same bf16-representable inputs, with
// every output poisoned (NaN) first. Tolerances: a bf16 output is within 2^-8 relative (one
// rounding, 2^-9, plus fp32-vs-double slack); attention outputs also carry the kernels' bf16
// probabilities (1.5e-2 absolute on values of scale 1); K/V read back exactly; scores within 1e-3
// relative.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend_fixture.h"
#include "model/model.h"
#include "policy/key_means.h"
#include "util/error.h"

namespace cab::gpu_test {
namespace {

constexpr double kBf16Rel = 1.0 / 256.0;

TEST_CASE("CUDA executor: matmul matches a double reference", "[cuda][backend]") {
    std::mt19937 rng(1234);
    auto ex = gpu().make_executor(1);
    struct Shape {
        int64_t n, m, k;
    };
    for (const Shape sh : {Shape{1, 96, 64}, Shape{7, 200, 136}, Shape{33, 1000, 520}}) {
        for (const bool y_f32 : {false, true}) {
            for (const bool with_bias : {false, true}) {
                INFO("n " << sh.n << " m " << sh.m << " k " << sh.k << (y_f32 ? " f32" : " bf16")
                          << (with_bias ? " bias" : ""));
                const auto x = bf16_values(sh.n * sh.k, 1.0f, rng);
                const auto w = bf16_values(sh.m * sh.k, 1.0f / std::sqrt(float(sh.k)), rng);
                const auto bias = bf16_values(sh.m, 0.5f, rng);
                // x and y are row views inside larger tensors: rows around them stay untouched.
                Tensor xs = make_tensor(gpu(), *ex, DType::BF16, sh.n + 2, sh.k,
                                        bf16_values((sh.n + 2) * sh.k, 1.0f, rng));
                ex->upload(x.data(), xs.rows_view(1, sh.n));
                Tensor wt = make_tensor(gpu(), *ex, DType::BF16, sh.m, sh.k, w);
                Tensor bt = make_tensor(gpu(), *ex, DType::F32, 1, sh.m, bias);
                const DType yt = y_f32 ? DType::F32 : DType::BF16;
                Tensor ys = poisoned(gpu(), *ex, yt, sh.n + 2, sh.m);
                ex->matmul(xs.rows_view(1, sh.n), wt, with_bias ? &bt : nullptr,
                           ys.rows_view(1, sh.n));
                const auto got = read(*ex, ys);
                std::vector<float> ref(got.size(), 0.0f), mid;
                for (int64_t i = 0; i < sh.n; ++i)
                    for (int64_t j = 0; j < sh.m; ++j) {
                        double acc = with_bias ? bias[j] : 0.0;
                        for (int64_t c = 0; c < sh.k; ++c)
                            acc += double(x[i * sh.k + c]) * w[j * sh.k + c];
                        ref[(i + 1) * sh.m + j] = static_cast<float>(acc);
                    }
                mid.assign(got.begin() + sh.m, got.end() - sh.m);
                check_close(mid, std::vector<float>(ref.begin() + sh.m, ref.end() - sh.m),
                            y_f32 ? 1e-5 : kBf16Rel, y_f32 ? 1e-5 : 1e-3, "matmul");
                for (int64_t j = 0; j < sh.m; ++j) {
                    CHECK(std::isnan(got[j]));
                    CHECK(std::isnan(got[(sh.n + 1) * sh.m + j]));
                }
            }
        }
    }
}

TEST_CASE("CUDA executor: elementwise ops match the CPU executor", "[cuda][backend]") {
    std::mt19937 rng(99);
    auto ge = gpu().make_executor(1);
    auto ce = cpu().make_executor(1);
    const int64_t rows = 7, cols = 128;

    SECTION("embedding") {
        const auto table = bf16_values(50 * cols, 1.0f, rng);
        std::vector<int32_t> tokens(rows);
        for (auto &t : tokens) t = static_cast<int32_t>(rng() % 50);
        Tensor gt = make_tensor(gpu(), *ge, DType::BF16, 50, cols, table);
        Tensor ct = make_tensor(cpu(), *ce, DType::F32, 50, cols, table);
        Tensor go = poisoned(gpu(), *ge, DType::F32, rows, cols);
        Tensor co = cpu().alloc(DType::F32, rows, cols);
        ge->embedding(gt, tokens.data(), go);
        ce->embedding(ct, tokens.data(), co);
        check_close(read(*ge, go), read(*ce, co), 0.0, 0.0, "embedding");
    }
    SECTION("rmsnorm of the f32 residual") {
        std::normal_distribution<float> d(0.0f, 2.0f);
        std::vector<float> x(rows * cols);
        for (float &v : x) v = d(rng);
        const auto w = bf16_values(cols, 1.0f, rng);
        Tensor gx = make_tensor(gpu(), *ge, DType::F32, rows, cols, x);
        Tensor cx = make_tensor(cpu(), *ce, DType::F32, rows, cols, x);
        Tensor gw = make_tensor(gpu(), *ge, DType::F32, 1, cols, w);
        Tensor cw = make_tensor(cpu(), *ce, DType::F32, 1, cols, w);
        Tensor gy = poisoned(gpu(), *ge, DType::BF16, rows, cols);
        Tensor cy = cpu().alloc(DType::F32, rows, cols);
        ge->rmsnorm(gx, gw, 1e-5f, gy);
        ce->rmsnorm(cx, cw, 1e-5f, cy);
        check_close(read(*ge, gy), read(*ce, cy), kBf16Rel, 1e-6, "rmsnorm");
    }
    SECTION("rope, both pairings") {
        for (const RopeStyle style : {RopeStyle::Normal, RopeStyle::NeoX}) {
            const int32_t n_head = 4;  // head_dim 32
            const auto x = bf16_values(rows * cols, 1.0f, rng);
            std::vector<int32_t> pos(rows);
            for (auto &p : pos) p = static_cast<int32_t>(rng() % 5000);
            Tensor gx = make_tensor(gpu(), *ge, DType::BF16, rows, cols, x);
            Tensor cx = make_tensor(cpu(), *ce, DType::F32, rows, cols, x);
            const RopeParams params{style, 10000.0f, 0.5f};
            ge->rope(gx, n_head, pos.data(), params);
            ce->rope(cx, n_head, pos.data(), params);
            check_close(read(*ge, gx), read(*ce, cx), kBf16Rel, 1e-4,
                        style == RopeStyle::NeoX ? "rope neox" : "rope normal");
        }
    }
    SECTION("swiglu into its gate, and the residual add") {
        const auto gate = bf16_values(rows * cols, 2.0f, rng),
                   up = bf16_values(rows * cols, 1.0f, rng);
        Tensor gg = make_tensor(gpu(), *ge, DType::BF16, rows, cols, gate);
        Tensor cg = make_tensor(cpu(), *ce, DType::F32, rows, cols, gate);
        Tensor gu = make_tensor(gpu(), *ge, DType::BF16, rows, cols, up);
        Tensor cu = make_tensor(cpu(), *ce, DType::F32, rows, cols, up);
        ge->swiglu(gg, gu, gg);
        ce->swiglu(cg, cu, cg);
        const auto g_out = read(*ge, gg);
        check_close(g_out, read(*ce, cg), kBf16Rel, 1e-6, "swiglu");

        std::normal_distribution<float> d(0.0f, 3.0f);
        std::vector<float> x(rows * cols);
        for (float &v : x) v = d(rng);
        Tensor gx = make_tensor(gpu(), *ge, DType::F32, rows, cols, x);
        ge->add(gx, gg);
        std::vector<float> ref(x.size());
        for (size_t i = 0; i < x.size(); ++i) ref[i] = x[i] + g_out[i];
        check_close(read(*ge, gx), ref, 1e-7, 0.0, "add");
    }
}

// One layer's KV over 3 sequences: prefill chunks, batched decode steps, a compaction, and reads,
// on the CPU and the CUDA executor with the same block tables.
void run_kv_case(int32_t head_dim) {
    INFO("head_dim " << head_dim);
    std::mt19937 rng(static_cast<uint32_t>(head_dim));
    const int32_t n_head_kv = 2, n_head = 6, bs = 16, n_seqs = 3;
    const int64_t q_cols = int64_t{n_head} * head_dim, kv_cols = int64_t{n_head_kv} * head_dim;
    auto ge = gpu().make_executor(1);
    auto ce = cpu().make_executor(1);
    PagedKv kv(64, bs, head_dim, n_seqs * n_head_kv, rng);
    kv.add_replica(cpu(), *ce);
    kv.add_replica(gpu(), *ge);
    auto streams_of = [&](const std::vector<int32_t> &seqs) {
        std::vector<int32_t> s;
        for (int32_t q : seqs)
            for (int32_t h = 0; h < n_head_kv; ++h) s.push_back(q * n_head_kv + h);
        return s;
    };
    // Runs kv_append + attention for rows_per_seq rows of each of `seqs` on both executors.
    auto step = [&](const std::vector<int32_t> &seqs, int32_t rows_per_seq, int32_t window,
                    const std::string &what) {
        const std::vector<int32_t> ids = streams_of(seqs);
        for (int32_t s : ids) kv.grow(s, rows_per_seq);
        const std::vector<StreamRef> refs = kv.refs(ids);
        const int64_t n = int64_t(seqs.size()) * rows_per_seq;
        const auto k = bf16_values(n * kv_cols, 1.0f, rng), v = bf16_values(n * kv_cols, 1.0f, rng);
        const auto q = bf16_values(n * q_cols, 1.0f, rng);
        Executor *exs[2] = {ce.get(), ge.get()};
        Backend *bes[2] = {&cpu(), &gpu()};
        std::vector<float> outs[2];
        for (int r = 0; r < 2; ++r) {
            const DType act = bes[r]->act_dtype();
            Tensor kt = make_tensor(*bes[r], *exs[r], act, n, kv_cols, k);
            Tensor vt = make_tensor(*bes[r], *exs[r], act, n, kv_cols, v);
            Tensor qt = make_tensor(*bes[r], *exs[r], act, n, q_cols, q);
            Tensor out = poisoned(*bes[r], *exs[r], act, n, q_cols);
            exs[r]->kv_append(kv.pools[r], refs.data(), int32_t(seqs.size()), rows_per_seq, kt, vt);
            if (rows_per_seq == 1 && seqs.size() > 1) {
                exs[r]->attention_decode(kv.pools[r], refs.data(), n_head_kv, qt, n_head, out);
            } else {
                exs[r]->attention_prefill(kv.pools[r], refs.data(), n_head_kv, qt, n_head, out,
                                          window);
            }
            outs[r] = read(*exs[r], out);
        }
        check_close(outs[1], outs[0], 2 * kBf16Rel, 1.5e-2, what + ": attention output");
    };
    auto compare_streams = [&](const std::string &what) {
        for (int32_t s = 0; s < n_seqs * n_head_kv; ++s) {
            const StreamRef ref = kv.ref(s);
            const size_t len = static_cast<size_t>(ref.length);
            for (const bool values : {false, true}) {
                std::vector<float> g(len * head_dim), c(len * head_dim);
                ge->kv_read(kv.pools[1], ref, values, g.data());
                ce->kv_read(kv.pools[0], ref, values, c.data());
                check_close(g, c, 0.0, 0.0, what + (values ? ": values" : ": keys"));
            }
            std::vector<float> g(len * 4), c(len * 4);
            ge->kv_read_scores(kv.pools[1], ref, g.data());
            ce->kv_read_scores(kv.pools[0], ref, c.data());
            check_close(g, c, 1e-3, 1e-4, what + ": scores of stream " + std::to_string(s));
        }
        // One kind of every stream in one call, as eviction's host path reads them.
        std::vector<StreamRef> refs;
        size_t total = 0;
        for (int32_t s = 0; s < n_seqs * n_head_kv; ++s) {
            refs.push_back(kv.ref(s));
            total += static_cast<size_t>(refs.back().length);
        }
        for (int32_t kind = 0; kind < kScoreKinds; ++kind) {
            std::vector<float> g(total), c(total);
            const auto n = static_cast<int32_t>(refs.size());
            ge->kv_read_score_kind(kv.pools[1], refs.data(), n, kind, g.data());
            ce->kv_read_score_kind(kv.pools[0], refs.data(), n, kind, c.data());
            check_close(g, c, 1e-3, 1e-4, what + ": score kind " + std::to_string(kind));
        }
        float out = 0.0f;
        CHECK_THROWS_WITH(ge->kv_read_score_kind(kv.pools[1], refs.data(), 1, kScoreKinds, &out),
                          Catch::Contains("kind 4"));
        // cab-frc's key means of every stream in one call, over runs that cut the streams
        // unevenly: the same bits as the CPU executor's, which pools kv_read's keys on the host.
        const auto n = static_cast<int32_t>(refs.size());
        for (const int32_t run : {1, 3, 16, 1000}) {
            std::vector<int32_t> runs(refs.size(), run);
            runs[0] = 5;
            size_t floats = 0;
            for (size_t i = 0; i < refs.size(); ++i)
                floats += static_cast<size_t>(run_count(refs[i].length, runs[i])) * head_dim;
            std::vector<float> g(floats, std::numeric_limits<float>::quiet_NaN()), c(floats);
            ge->kv_read_key_means(kv.pools[1], refs.data(), n, runs.data(), g.data());
            ce->kv_read_key_means(kv.pools[0], refs.data(), n, runs.data(), c.data());
            check_close(g, c, 0.0, 0.0, what + ": key means over runs of " + std::to_string(run));
        }
        const int32_t zero = 0;
        CHECK_THROWS_WITH(ge->kv_read_key_means(kv.pools[1], refs.data(), 1, &zero, &out),
                          Catch::Contains("run 0"));
    };

    step({0}, 37, 8, "prefill seq 0");
    step({0}, 20, 8, "second chunk of seq 0");
    step({1}, 5, 8, "prefill seq 1");
    step({2}, 70, 32, "prefill seq 2");
    step({0, 1, 2}, 1, 0, "decode step 1");
    step({0, 1, 2}, 1, 0, "decode step 2");
    step({1}, 1, 0, "single-sequence decode");
    compare_streams("before compaction");

    // Keep a random half of stream 1 (seq 0, kv head 1); the others stay whole.
    const int32_t victim = 1;
    std::vector<int32_t> keep;
    for (int32_t i = 0; i < kv.length(victim); ++i)
        if (rng() % 2) keep.push_back(i);
    ge->kv_compact(kv.pools[1], kv.ref(victim), keep.data(), int32_t(keep.size()));
    ce->kv_compact(kv.pools[0], kv.ref(victim), keep.data(), int32_t(keep.size()));
    kv.truncate(victim, int32_t(keep.size()));
    compare_streams("after compaction");
    step({0, 1, 2}, 1, 0, "decode after compaction");
    compare_streams("end");
}

TEST_CASE("CUDA executor: KV and attention ops match the CPU executor", "[cuda][backend]") {
    run_kv_case(64);
    run_kv_case(128);
}

TEST_CASE("CUDA executor: transfers round-trip and errors are clean", "[cuda][backend]") {
    std::mt19937 rng(7);
    auto ex = gpu().make_executor(1);
    SECTION("upload and download, F32 exact and BF16 rounded to nearest even, in pieces") {
        std::normal_distribution<float> d(0.0f, 1.0f);
        std::vector<float> x(3 * 1024 * 1024 +
                             17);  // past the 1 MiB upload and 8 MiB download pieces
        for (float &v : x) v = d(rng);
        Tensor f = make_tensor(gpu(), *ex, DType::F32, 1, int64_t(x.size()), x);
        check_close(read(*ex, f), x, 0.0, 0.0, "f32 round trip");
        Tensor b = make_tensor(gpu(), *ex, DType::BF16, 1, int64_t(x.size()), x);
        std::vector<float> ref(x.size());
        for (size_t i = 0; i < x.size(); ++i) ref[i] = round_bf16(x[i]);
        check_close(read(*ex, b), ref, 0.0, 0.0, "bf16 round trip");
    }
    SECTION("an allocation past the device memory is OUT_OF_MEMORY with the free memory") {
        try {
            gpu().alloc(DType::F32, int64_t{1} << 20, int64_t{1} << 20);  // 4 TiB
            FAIL("no error");
        } catch (const Error &e) {
            CHECK(e.status() == CAB_ERR_OUT_OF_MEMORY);
            CHECK(std::string(e.what()).find("MiB free") != std::string::npos);
        }
        Tensor t = make_tensor(gpu(), *ex, DType::F32, 1, 4, {1, 2, 3, 4});
        CHECK(read(*ex, t) == std::vector<float>{1, 2, 3, 4});
    }
    SECTION("mismatched shapes are INVALID_ARGUMENT naming the op") {
        Tensor x = poisoned(gpu(), *ex, DType::BF16, 2, 64);
        Tensor w = poisoned(gpu(), *ex, DType::BF16, 8, 32);
        Tensor y = poisoned(gpu(), *ex, DType::BF16, 2, 8);
        try {
            ex->matmul(x, w, nullptr, y);
            FAIL("no error");
        } catch (const Error &e) {
            CHECK(e.status() == CAB_ERR_INVALID_ARGUMENT);
            CHECK(std::string(e.what()).find("matmul") != std::string::npos);
        }
    }
    SECTION("a GPU index past the devices is a DEVICE error") {
        try {
            make_cuda_backend(1000);
            FAIL("no error");
        } catch (const Error &e) {
            CHECK(e.status() == CAB_ERR_DEVICE);
        }
    }
}

TEST_CASE("CUDA executor: stream ids of deferred scores are checked", "[cuda][backend][small]") {
    auto ex = gpu().make_executor(1);
    constexpr int32_t kHeadKv = 2, kHead = 14, kDim = 64, kBlock = 16;
    KvPoolRef pool;
    pool.block_size = kBlock;
    pool.head_dim = kDim;
    pool.storage = poisoned(gpu(), *ex, gpu().kv_dtype(), 4 * 2 * kBlock, kDim);
    pool.scores = poisoned(gpu(), *ex, DType::F32, 4 * 4, kBlock);
    pool.pending = gpu().alloc_pending_scores(3, kHead, kHeadKv, kDim);
    REQUIRE(pool.pending.rows() == 3);
    Tensor q = poisoned(gpu(), *ex, DType::BF16, 1, kHead * kDim);
    Tensor out = poisoned(gpu(), *ex, DType::BF16, 1, kHead * kDim);
    auto expect_invalid = [](const auto &op, const char *what) {
        try {
            op();
            FAIL("no error");
        } catch (const Error &e) {
            CHECK(e.status() == CAB_ERR_INVALID_ARGUMENT);
            CHECK(std::string(e.what()).find(what) != std::string::npos);
        }
    };
    // Empty streams: a decode writes zero rows and leaves nothing to apply, but it still names
    // the records, whose ids must exist.
    StreamRef past[kHeadKv] = {{nullptr, 0, 0, 0}, {nullptr, 0, 3, 0}};
    expect_invalid([&] { ex->attention_decode(pool, past, kHeadKv, q, kHead, out); },
                   "past the pool's 3 pending records");
    StreamRef ok[kHeadKv] = {{nullptr, 0, 0, 0}, {nullptr, 0, 1, 0}};
    ex->attention_decode(pool, ok, kHeadKv, q, kHead, out);
    ex->settle_scores(pool, ok, kHeadKv);
    StreamRef twice[kHeadKv] = {{nullptr, 0, 1, 0}, {nullptr, 0, 1, 0}};
    ex->attention_decode(pool, ok, kHeadKv, q, kHead, out);
    expect_invalid([&] { ex->settle_scores(pool, twice, kHeadKv); }, "which an earlier stream has");
    std::vector<float> zeros(static_cast<size_t>(kHead) * kDim, 0.0f);
    check_close(read(*ex, out), zeros, 0.0, 0.0, "empty streams' output rows");
}

}  // namespace
}  // namespace cab::gpu_test
