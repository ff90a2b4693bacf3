// The fused ops of the CUDA executor (rmsnorm_matmul, rmsnorm_matmul_swiglu, matmul_add,
// rope_kv_append, rmsnorm_qkv_rope_append) against the base class's composition of the plain ops
// (Executor::..., which runs rmsnorm, cuBLAS, swiglu, add, rope and kv_append, or the fused ops
// it is made of) on the same executor and inputs: rows 1
// and gemv::kMaxRows (one GEMV kernel), kMaxRows + 1 and 64 (cuBLAS), outside and inside CUDA
// graph steps (captured, then replayed on new data), with programmatic dependent launch on and
// off, and with the GEMVs turned off (CAB_CUDA_GEMV=0). Outputs are row views of poisoned (NaN)
// tensors one row longer, whose last row must stay as it was. The kernels' own numerics are
// checked in test_gemv.cpp; here a wrong pointer, stride, row count or path shows as an O(1)
// error, and the tolerances only cover rounding: the fused GEMV rounds once where the
// composition rounds the normed input and each product (bf16: 2^-7 relative plus 2e-3 of the
// output's rms for the normed inputs that may round the other way; the residual add skips the
// composition's bf16 rounding of the product: 2^-8 of its largest magnitude). RoPE and the KV
// cache agree bit for bit, the scores that earlier prefills left to 1e-5; so does the QKV GEMV
// with RoPE in its epilogue, whose products add in the order of the plain GEMV's.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend_fixture.h"
#include "gemv/gemv.cuh"
#include "guarded_buffer.h"
#include "model/model.h"
#include "util/error.h"

namespace cab::gpu_test {
namespace {

constexpr int64_t kEmbd = 256, kOut = 392, kFf = 640, kVocab = 1001;
constexpr float kEps = 1e-6f;
constexpr double kBf16Two = 1.0 / 128.0;

// An executor made while the environment sets `name` to `value` (read when it is made).
std::unique_ptr<Executor> executor_with(const char *name, const char *value) {
    setenv(name, value, 1);
    std::unique_ptr<Executor> ex = gpu().make_executor(1);
    unsetenv(name);
    return ex;
}

struct Config {
    const char *name;
    std::function<std::unique_ptr<Executor>()> make;
};

std::vector<Config> configs() {
    return {{"default", [] { return gpu().make_executor(1); }},
            {"CAB_CUDA_PDL=0", [] { return executor_with("CAB_CUDA_PDL", "0"); }},
            {"CAB_CUDA_GEMV=0", [] { return executor_with("CAB_CUDA_GEMV", "0"); }}};
}

const std::vector<int64_t> kRows = {1, cab::cuda::gemv::kMaxRows, cab::cuda::gemv::kMaxRows + 1,
                                    64};

bool same_bits(float a, float b) {
    return std::memcmp(&a, &b, sizeof a) == 0;
}

// The first `rows` rows of got match ref within rel * |ref| + abs; the rows after keep the bits
// of `before`.
void check_rows(const std::vector<float> &got, const std::vector<float> &ref,
                const std::vector<float> &before, int64_t rows, int64_t cols, double rel,
                double abs, const std::string &what) {
    const size_t n = static_cast<size_t>(rows * cols);
    check_close(std::vector<float>(got.begin(), got.begin() + n),
                std::vector<float>(ref.begin(), ref.begin() + n), rel, abs, what);
    size_t changed = 0;
    for (size_t i = n; i < got.size(); ++i) changed += !same_bits(got[i], before[i]);
    INFO(what << ": " << changed << " elements past the rows changed");
    CHECK(changed == 0);
}

double rms_of(const std::vector<float> &v, size_t n) {
    return rms(std::vector<float>(v.begin(), v.begin() + n));
}

// The ops under test on one executor, each op run `runs` times with fresh inputs (written into
// the same tensors) inside graph steps when `graphs`, the reference always eagerly.
class Harness {
public:
    Harness(Executor &ex, std::mt19937 &rng) : ex_(ex), rng_(rng) {
        const float s = 1.0f / std::sqrt(float(kEmbd));
        norm_ = make_tensor(gpu(), ex, DType::F32, 1, kEmbd, norm_values(kEmbd));
        w_ = make_tensor(gpu(), ex, DType::BF16, kOut, kEmbd, bf16_values(kOut * kEmbd, s, rng));
        bias_ = make_tensor(gpu(), ex, DType::F32, 1, kOut, bf16_values(kOut, 0.5f, rng));
        wgu_ = make_tensor(gpu(), ex, DType::BF16, 2 * kFf, kEmbd,
                           bf16_values(2 * kFf * kEmbd, s, rng));
        wdown_ = make_tensor(gpu(), ex, DType::BF16, kEmbd, kFf,
                             bf16_values(kEmbd * kFf, 1.0f / std::sqrt(float(kFf)), rng));
        lm_ =
            make_tensor(gpu(), ex, DType::BF16, kVocab, kEmbd, bf16_values(kVocab * kEmbd, s, rng));
    }

    // Runs `op` on the tensors the step ops use, in a graph step when `graph`. A step's graph is
    // keyed by (rows, length bucket) and must run the same ops on the same tensors every time,
    // as the forward pass does; each op under test has tensors of its own, so it passes its own
    // `length` (a distinct bucket) to get a graph of its own.
    void run(bool graph, int64_t rows, int32_t length, const std::function<void()> &op) {
        if (graph) ex_.step_begin(static_cast<int32_t>(rows), length);
        op();
        if (graph) ex_.step_end();
    }

    void rmsnorm_matmul(bool graph, int64_t rows, bool f32, bool with_bias, int runs) {
        const Tensor &w = f32 ? lm_ : w_;
        const int64_t m = w.rows();
        const DType yt = f32 ? DType::F32 : DType::BF16;
        const Tensor x = alloc(DType::F32, rows, kEmbd), xn = alloc(DType::BF16, rows, kEmbd);
        const Tensor y = poisoned(gpu(), ex_, yt, rows + 1, m);
        const Tensor yr = poisoned(gpu(), ex_, yt, rows + 1, m);
        const Tensor *b = with_bias ? &bias_ : nullptr;
        for (int i = 0; i < runs; ++i) {
            ex_.upload(bf16_values(rows * kEmbd, 2.0f, rng_).data(), x);
            const std::vector<float> before = read(ex_, y);
            run(graph, rows, 256 << (2 * f32 + with_bias),
                [&] { ex_.rmsnorm_matmul(x, norm_, kEps, w, b, xn, y.rows_view(0, rows)); });
            ex_.Executor::rmsnorm_matmul(x, norm_, kEps, w, b, xn, yr.rows_view(0, rows));
            const std::vector<float> ref = read(ex_, yr);
            check_rows(read(ex_, y), ref, before, rows, m, f32 ? 1e-5 : kBf16Two,
                       2e-3 * rms_of(ref, rows * m), "rmsnorm_matmul run " + std::to_string(i));
        }
    }

    void rmsnorm_matmul_swiglu(bool graph, int64_t rows, int runs) {
        const Tensor x = alloc(DType::F32, rows, kEmbd), xn = alloc(DType::BF16, rows, kEmbd);
        // As the forward pass: out is the gate half of gu.
        const Tensor gu = poisoned(gpu(), ex_, DType::BF16, rows + 1, 2 * kFf);
        const Tensor gur = poisoned(gpu(), ex_, DType::BF16, rows + 1, 2 * kFf);
        const Tensor out = gu.rows_view(0, rows).cols_view(0, kFf);
        const Tensor outr = gur.rows_view(0, rows).cols_view(0, kFf);
        for (int i = 0; i < runs; ++i) {
            ex_.upload(bf16_values(rows * kEmbd, 2.0f, rng_).data(), x);
            const std::vector<float> before = read(ex_, gu);
            run(graph, rows, 256 << 3, [&] {
                ex_.rmsnorm_matmul_swiglu(x, norm_, kEps, wgu_, xn, gu.rows_view(0, rows), out);
            });
            ex_.Executor::rmsnorm_matmul_swiglu(x, norm_, kEps, wgu_, xn, gur.rows_view(0, rows),
                                                outr);
            const std::vector<float> got = read(ex_, gu), ref = read(ex_, gur);
            // Compare the gate halves; the up half is scratch, and the row after stays.
            std::vector<float> g, r, gb;
            for (int64_t row = 0; row <= rows; ++row)
                for (int64_t c = 0; c < kFf; ++c) {
                    const size_t at = static_cast<size_t>(row * 2 * kFf + c);
                    g.push_back(got[at]);
                    r.push_back(ref[at]);
                    gb.push_back(before[at]);
                }
            check_rows(g, r, gb, rows, kFf, 2 * kBf16Two, 2e-3 * rms_of(r, rows * kFf),
                       "rmsnorm_matmul_swiglu run " + std::to_string(i));
        }
    }

    // a: the gate half of a [rows, 2 * kFf] product (strided), as the forward pass's down-proj.
    void matmul_add(bool graph, int64_t rows, int runs) {
        const Tensor wide = alloc(DType::BF16, rows, 2 * kFf);
        const Tensor a = wide.cols_view(0, kFf), t = alloc(DType::BF16, rows, kEmbd);
        const Tensor x = alloc(DType::F32, rows + 1, kEmbd),
                     xr = alloc(DType::F32, rows + 1, kEmbd);
        for (int i = 0; i < runs; ++i) {
            ex_.upload(bf16_values(rows * 2 * kFf, 1.0f, rng_).data(), wide);
            const std::vector<float> x0 = bf16_values((rows + 1) * kEmbd, 4.0f, rng_);
            ex_.upload(x0.data(), x);
            ex_.upload(x0.data(), xr);
            run(graph, rows, 256 << 4, [&] { ex_.matmul_add(a, wdown_, x.rows_view(0, rows), t); });
            ex_.Executor::matmul_add(a, wdown_, xr.rows_view(0, rows), t);
            const std::vector<float> ref = read(ex_, xr);
            double largest = 0.0;
            for (size_t j = 0; j < static_cast<size_t>(rows * kEmbd); ++j)
                largest = std::max(largest, std::fabs(double(ref[j]) - x0[j]));
            check_rows(read(ex_, x), ref, x0, rows, kEmbd, 1e-6, largest / 256.0,
                       "matmul_add run " + std::to_string(i));
        }
    }

private:
    Tensor alloc(DType t, int64_t rows, int64_t cols) {
        return poisoned(gpu(), ex_, t, rows, cols);
    }
    std::vector<float> norm_values(int64_t n) {
        std::vector<float> v = bf16_values(n, 0.2f, rng_);
        for (float &x : v) x += 1.0f;
        return v;
    }

    Executor &ex_;
    std::mt19937 &rng_;
    Tensor norm_, w_, bias_, wgu_, wdown_, lm_;
};

TEST_CASE("Fused ops: the GEMV projections equal the composed ops", "[cuda][fused]") {
    const uint32_t seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    for (const Config &cfg : configs()) {
        auto ex = cfg.make();
        Harness h(*ex, rng);
        for (const bool graph : {false, true}) {
            for (const int64_t rows : kRows) {
                INFO(cfg.name << (graph ? ", graph steps" : ", eager") << ", rows " << rows);
                const int runs = graph ? 3 : 1;
                h.rmsnorm_matmul(graph, rows, false, true, runs);
                h.rmsnorm_matmul(graph, rows, false, false, runs);
                h.rmsnorm_matmul(graph, rows, true, false, runs);
                h.rmsnorm_matmul_swiglu(graph, rows, runs);
                h.matmul_add(graph, rows, runs);
            }
        }
    }
}

TEST_CASE("Fused ops: with CAB_CUDA_GEMV=0 rmsnorm_matmul is the composed path exactly",
          "[cuda][fused]") {
    std::mt19937 rng(std::random_device{}());
    auto ex = executor_with("CAB_CUDA_GEMV", "0");
    const Tensor x =
        make_tensor(gpu(), *ex, DType::F32, 2, kEmbd, bf16_values(2 * kEmbd, 2.0f, rng));
    const Tensor nw = make_tensor(gpu(), *ex, DType::F32, 1, kEmbd, bf16_values(kEmbd, 1.0f, rng));
    const Tensor w =
        make_tensor(gpu(), *ex, DType::BF16, kOut, kEmbd, bf16_values(kOut * kEmbd, 0.1f, rng));
    const Tensor xn = poisoned(gpu(), *ex, DType::BF16, 2, kEmbd);
    const Tensor y = poisoned(gpu(), *ex, DType::BF16, 2, kOut);
    const Tensor yr = poisoned(gpu(), *ex, DType::BF16, 2, kOut);
    ex->rmsnorm_matmul(x, nw, kEps, w, nullptr, xn, y);
    ex->Executor::rmsnorm_matmul(x, nw, kEps, w, nullptr, xn, yr);
    check_close(read(*ex, y), read(*ex, yr), 0.0, 0.0, "rmsnorm_matmul without GEMVs");
}

// What a RopeHarness step starts from: a QKV product (rope_kv_append), or the residual rows that
// rmsnorm_qkv_rope_append norms and projects, with or without the QKV bias.
enum class Source { Qkv, Residual, ResidualBias };

// rope_kv_append (or rmsnorm_qkv_rope_append) on one KV replica against the base class's
// composition on another, over Q, K and V column views of one QKV product each.
class RopeHarness {
public:
    static constexpr int32_t kHeads = 6, kHeadsKv = 2, kBlock = 16;

    RopeHarness(Executor &ex, int32_t d, int32_t n_seqs, std::mt19937 &rng)
        : ex_(ex), d_(d), n_seqs_(n_seqs), rng_(rng), kv_(256, kBlock, d, n_seqs * kHeadsKv, rng) {
        const int64_t width = int64_t{kHeads + 2 * kHeadsKv} * d;
        std::vector<float> norm = bf16_values(kEmbd, 0.2f, rng_);
        for (float &v : norm) v += 1.0f;
        norm_ = make_tensor(gpu(), ex, DType::F32, 1, kEmbd, norm);
        wqkv_ = make_tensor(gpu(), ex, DType::BF16, width, kEmbd,
                            bf16_values(width * kEmbd, 1.0f / std::sqrt(float(kEmbd)), rng_));
        bias_ = make_tensor(gpu(), ex, DType::F32, 1, width, bf16_values(width, 0.5f, rng_));
        kv_.add_replica(gpu(), ex);  // fused
        kv_.add_replica(gpu(), ex);  // composed
        // Earlier slots of every stream, the same on both replicas, with nonzero scores (from a
        // prefill over them), so that zeroing a slot other than the appended ones shows.
        for (int32_t s = 0; s < n_seqs; ++s) {
            const int32_t len = 3 + static_cast<int32_t>(rng_() % 40);
            const std::vector<int32_t> ids = streams({s});
            for (int32_t id : ids) kv_.grow(id, len);
            const auto refs = kv_.refs(ids);
            const auto k = bf16_values(size_t(len) * kHeadsKv * d, 1.0f, rng_);
            const auto v = bf16_values(size_t(len) * kHeadsKv * d, 1.0f, rng_);
            const auto q = bf16_values(size_t(len) * kHeads * d, 1.0f, rng_);
            for (const KvPoolRef &pool : kv_.pools) {
                const Tensor kt = make_tensor(gpu(), ex, DType::BF16, len, kHeadsKv * d, k);
                const Tensor vt = make_tensor(gpu(), ex, DType::BF16, len, kHeadsKv * d, v);
                const Tensor qt = make_tensor(gpu(), ex, DType::BF16, len, kHeads * d, q);
                const Tensor out = poisoned(gpu(), ex, DType::BF16, len, kHeads * d);
                ex.kv_append(pool, refs.data(), 1, len, kt, vt);
                ex.attention_prefill(pool, refs.data(), kHeadsKv, qt, kHeads, out, 0);
            }
        }
    }

    // Appends rows_per_seq rows to every sequence, fused (in a graph step when `graph`) and
    // composed, and compares Q, the caches and their scores bit for bit.
    void step(int32_t rows_per_seq, RopeStyle style, bool graph, const std::string &what,
              Source source = Source::Qkv) {
        const int64_t rows = int64_t{n_seqs_} * rows_per_seq;
        const int64_t qc = int64_t{kHeads} * d_, kvc = int64_t{kHeadsKv} * d_, width = qc + 2 * kvc;
        std::vector<int32_t> all, positions;
        for (int32_t s = 0; s < n_seqs_; ++s) {
            for (int32_t r = 0; r < rows_per_seq; ++r)
                positions.push_back(kv_.length(s * kHeadsKv) + r);
            all.push_back(s);
        }
        const std::vector<int32_t> ids = streams(all);
        int32_t longest = 0;
        for (int32_t id : ids) {
            kv_.grow(id, rows_per_seq);
            longest = std::max(longest, kv_.length(id));
        }
        const std::vector<StreamRef> refs = kv_.refs(ids);
        if (qkv_[0].empty() || qkv_[0].rows() != rows) {
            for (Tensor &t : qkv_) t = gpu().alloc(DType::BF16, rows, width);
            x_ = gpu().alloc(DType::F32, rows, kEmbd);
            xn_ = gpu().alloc(DType::BF16, rows, kEmbd);
        }
        if (source == Source::Qkv) {
            const auto values = bf16_values(rows * width, 1.0f, rng_);
            for (Tensor &t : qkv_) ex_.upload(values.data(), t);
        } else {
            ex_.upload(bf16_values(rows * kEmbd, 2.0f, rng_).data(), x_);
        }
        const Tensor *bias = source == Source::ResidualBias ? &bias_ : nullptr;
        const RopeParams params{style, 10000.0f, 1.0f};
        auto views = [&](const Tensor &t, Tensor &q, Tensor &k, Tensor &v) {
            q = t.cols_view(0, qc);
            k = t.cols_view(qc, kvc);
            v = t.cols_view(qc + kvc, kvc);
        };
        Tensor q, k, v, qr, kr, vr;
        views(qkv_[0], q, k, v);
        views(qkv_[1], qr, kr, vr);
        if (graph) ex_.step_begin(n_seqs_, longest);
        if (source == Source::Qkv) {
            ex_.rope_kv_append(kv_.pools[0], refs.data(), n_seqs_, rows_per_seq, q, kHeads, k, v,
                               kHeadsKv, positions.data(), params);
        } else {
            ex_.rmsnorm_qkv_rope_append(x_, norm_, kEps, wqkv_, bias, xn_, qkv_[0], kv_.pools[0],
                                        refs.data(), n_seqs_, rows_per_seq, kHeads, kHeadsKv,
                                        positions.data(), params);
        }
        if (graph) ex_.step_end();
        if (source == Source::Qkv) {
            ex_.Executor::rope_kv_append(kv_.pools[1], refs.data(), n_seqs_, rows_per_seq, qr,
                                         kHeads, kr, vr, kHeadsKv, positions.data(), params);
        } else {
            ex_.Executor::rmsnorm_qkv_rope_append(x_, norm_, kEps, wqkv_, bias, xn_, qkv_[1],
                                                  kv_.pools[1], refs.data(), n_seqs_, rows_per_seq,
                                                  kHeads, kHeadsKv, positions.data(), params);
        }
        const std::vector<float> got = read(ex_, qkv_[0]), ref = read(ex_, qkv_[1]);
        size_t q_bad = 0;
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < qc; ++c)
                q_bad += !same_bits(got[r * width + c], ref[r * width + c]);
        INFO(what << ": " << q_bad << " elements of q differ");
        CHECK(q_bad == 0);
        for (int32_t id : ids) {
            const StreamRef s = kv_.ref(id);
            const size_t len = static_cast<size_t>(s.length);
            for (const bool values_half : {false, true}) {
                std::vector<float> a(len * d_), b(len * d_);
                ex_.kv_read(kv_.pools[0], s, values_half, a.data());
                ex_.kv_read(kv_.pools[1], s, values_half, b.data());
                check_close(a, b, 0.0, 0.0,
                            what + (values_half ? ": V of stream " : ": K of stream ") +
                                std::to_string(id));
            }
            std::vector<float> a(len * 4), b(len * 4);
            ex_.kv_read_scores(kv_.pools[0], s, a.data());
            ex_.kv_read_scores(kv_.pools[1], s, b.data());
            // The prefills' sums may add in another order on the two replicas.
            check_close(a, b, 1e-5, 0.0, what + ": scores of stream " + std::to_string(id));
        }
    }

private:
    std::vector<int32_t> streams(const std::vector<int32_t> &seqs) const {
        std::vector<int32_t> ids;
        for (int32_t s : seqs)
            for (int32_t h = 0; h < kHeadsKv; ++h) ids.push_back(s * kHeadsKv + h);
        return ids;
    }

    Executor &ex_;
    int32_t d_, n_seqs_;
    std::mt19937 &rng_;
    PagedKv kv_;
    Tensor qkv_[2], x_, xn_, norm_, wqkv_, bias_;
};

TEST_CASE("Fused ops: rope_kv_append equals rope, rope and kv_append", "[cuda][fused][kv]") {
    const uint32_t seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    struct RopeCase {
        const char *config;
        int32_t d;
        RopeStyle style;
    };
    auto ex = gpu().make_executor(1);
    auto ex_no_pdl = executor_with("CAB_CUDA_PDL", "0");
    for (const RopeCase &c :
         {RopeCase{"default", 64, RopeStyle::Normal}, RopeCase{"default", 64, RopeStyle::NeoX},
          RopeCase{"default", 128, RopeStyle::NeoX}, RopeCase{"default", 40, RopeStyle::Normal},
          RopeCase{"CAB_CUDA_PDL=0", 128, RopeStyle::Normal}}) {
        Executor &e = std::strcmp(c.config, "default") == 0 ? *ex : *ex_no_pdl;
        const std::string what = std::string(c.config) + ", head_dim " + std::to_string(c.d) +
                                 (c.style == RopeStyle::NeoX ? ", NeoX" : ", normal");
        RopeHarness decode(e, c.d, 3, rng);
        // Steps of one row per sequence cross block boundaries; the graph steps are captured
        // once, then replayed with new positions, lengths and tables.
        for (int i = 0; i < 3; ++i)
            decode.step(1, c.style, false, what + ", eager decode step " + std::to_string(i));
        for (int i = 0; i < 3; ++i)
            decode.step(1, c.style, true, what + ", graph decode step " + std::to_string(i));
        RopeHarness prefill(e, c.d, 1, rng);
        prefill.step(37, c.style, false, what + ", prefill chunk of 37");
    }
}

TEST_CASE("Fused ops: rmsnorm_qkv_rope_append equals rmsnorm_matmul and rope_kv_append",
          "[cuda][fused][kv]") {
    const uint32_t seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    for (const Config &cfg : configs()) {
        for (const int32_t d : {64, 128, 40}) {
            for (const RopeStyle style : {RopeStyle::Normal, RopeStyle::NeoX}) {
                // An executor per harness: graph steps of one shape must run the same ops on the
                // same tensors (decode_graph.h), and another harness's tensors may reuse freed
                // addresses, so that its steps would look like the same step differing later.
                auto ex = cfg.make();
                const std::string what = std::string(cfg.name) + ", head_dim " + std::to_string(d) +
                                         (style == RopeStyle::NeoX ? ", NeoX" : ", normal");
                // Two sequences: graph steps of their own shape, apart from the other test's.
                RopeHarness decode(*ex, d, 2, rng);
                for (int i = 0; i < 3; ++i)
                    decode.step(1, style, false, what + ", eager decode step " + std::to_string(i),
                                Source::ResidualBias);
                decode.step(1, style, false, what + ", eager decode step without bias",
                            Source::Residual);
                for (int i = 0; i < 3; ++i)
                    decode.step(1, style, true, what + ", graph decode step " + std::to_string(i),
                                Source::ResidualBias);
                // A chunk of gemv::kMaxRows rows (one GEMV, rows_per_seq > 1) and one of 37
                // (the composition).
                RopeHarness prefill(*ex, d, 1, rng);
                prefill.step(cab::cuda::gemv::kMaxRows, style, false, what + ", prefill chunk of 8",
                             Source::ResidualBias);
                prefill.step(37, style, false, what + ", prefill chunk of 37",
                             Source::ResidualBias);
            }
        }
    }
}

TEST_CASE("Fused ops: refuse tensors that break their contracts", "[cuda][fused]") {
    std::mt19937 rng(5);
    auto ex = gpu().make_executor(1);
    const int64_t n = 2, e = 64;
    auto t = [&](DType dt, int64_t rows, int64_t cols) {
        return poisoned(gpu(), *ex, dt, rows, cols);
    };
    const Tensor x = t(DType::F32, n, e), nw = t(DType::F32, 1, e), w = t(DType::BF16, 32, e);
    const Tensor xn = t(DType::BF16, n, e), y = t(DType::BF16, n, 32),
                 wide = t(DType::F32, n, 2 * e);
    const Tensor gu = t(DType::BF16, n, 32), wbig = t(DType::BF16, 32, 2 * e);
    check_invalid([&] { ex->rmsnorm_matmul(wide.cols_view(0, e), nw, kEps, w, nullptr, xn, y); },
                  "rmsnorm_matmul: x");
    check_invalid([&] { ex->rmsnorm_matmul(x, nw, kEps, w, nullptr, xn, t(DType::BF16, n, 31)); },
                  "rmsnorm_matmul: y");
    check_invalid([&] { ex->rmsnorm_matmul(x, nw, kEps, w, &nw, xn, y); }, "rmsnorm_matmul: bias");
    check_invalid([&] { ex->rmsnorm_matmul(x, t(DType::F32, 1, e + 1), kEps, w, nullptr, xn, y); },
                  "rmsnorm_matmul: norm_w");
    check_invalid([&] { ex->rmsnorm_matmul_swiglu(x, nw, kEps, w, xn, gu, t(DType::BF16, n, 15)); },
                  "rmsnorm_matmul_swiglu: out");
    check_invalid([&] { ex->rmsnorm_matmul_swiglu(x, nw, kEps, w, xn, y.cols_view(0, 16), y); },
                  "rmsnorm_matmul_swiglu: gu");
    check_invalid([&] { ex->matmul_add(xn, w, wide.cols_view(0, 32), y); }, "matmul_add: x");
    check_invalid([&] { ex->matmul_add(xn, wbig, t(DType::F32, n, 32), y); }, "matmul_add: w");
    check_invalid([&] { ex->matmul_add(xn, w, t(DType::F32, n, 32), t(DType::F32, n, 32)); },
                  "matmul_add: t");
    PagedKv kv(8, 16, 64, 2, rng);
    kv.add_replica(gpu(), *ex);
    kv.grow(0, 1);
    kv.grow(1, 1);
    const std::vector<StreamRef> refs = kv.refs({0, 1});
    const Tensor qkv = t(DType::BF16, 1, 6 * 64);
    const std::vector<int32_t> pos = {0};
    const RopeParams p{RopeStyle::NeoX, 10000.0f, 1.0f};
    check_invalid(
        [&] {
            ex->rope_kv_append(kv.pools[0], refs.data(), 1, 1, qkv.cols_view(0, 128), 3,
                               qkv.cols_view(128, 128), qkv.cols_view(256, 128), 2, pos.data(), p);
        },
        "rope_kv_append: q");
    check_invalid(
        [&] {
            ex->rope_kv_append(kv.pools[0], refs.data(), 1, 1, qkv.cols_view(0, 128), 2,
                               qkv.cols_view(128, 128), qkv.cols_view(256, 64), 2, pos.data(), p);
        },
        "rope_kv_append: v");
    const Tensor wqkv = t(DType::BF16, 6 * 64, e);
    check_invalid(
        [&] {
            ex->rmsnorm_qkv_rope_append(x.rows_view(0, 1), nw, kEps, wqkv, nullptr,
                                        xn.rows_view(0, 1), t(DType::BF16, 1, 6 * 64 - 2),
                                        kv.pools[0], refs.data(), 1, 1, 2, 2, pos.data(), p);
        },
        "rmsnorm_qkv_rope_append: qkv");
    check_invalid(
        [&] {
            ex->rmsnorm_qkv_rope_append(x, nw, kEps, wqkv, nullptr, xn, t(DType::BF16, n, 6 * 64),
                                        kv.pools[0], refs.data(), 1, 1, 2, 2, pos.data(), p);
        },
        "rmsnorm_qkv_rope_append: n_seqs 1 x rows_per_seq 1 is not the 2 rows");
}

}  // namespace
}  // namespace cab::gpu_test
