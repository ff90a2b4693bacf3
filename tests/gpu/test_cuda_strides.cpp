// Strided tensors on the CUDA executor (backend.h): the ops that take column views of a fused
// product (matmul x, rope, swiglu, kv_append k/v, attention q) give what they give on dense copies
// of the same data, never writing outside the view; every other op refuses a strided tensor with
// INVALID_ARGUMENT. Everything but the matmul runs the same kernel on the same values either way,
// so it must agree bit for bit; the matmul (cuBLAS may pick another algorithm for another leading
// dimension) within one bf16 rounding.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend_fixture.h"
#include "model/model.h"
#include "util/error.h"

namespace cab::gpu_test {
namespace {

constexpr double kBf16Rel = 1.0 / 256.0;

// Columns [first, first + n) of a host [rows, width] matrix, dense.
std::vector<float> columns(const std::vector<float> &m, int64_t width, int64_t first, int64_t n) {
    std::vector<float> out;
    for (size_t r = 0; r < m.size() / static_cast<size_t>(width); ++r)
        for (int64_t c = 0; c < n; ++c) out.push_back(m[r * width + first + c]);
    return out;
}

// f must throw INVALID_ARGUMENT whose message contains `needle`.
void expect_invalid(const std::function<void()> &f, const char *what,
                    const char *needle = "must be dense") {
    INFO(what);
    try {
        f();
        FAIL("no error");
    } catch (const Error &e) {
        CHECK(e.status() == CAB_ERR_INVALID_ARGUMENT);
        CHECK_THAT(e.what(), Catch::Contains(needle));
    }
}

TEST_CASE("CUDA strides: matmul, rope and swiglu on column views equal dense copies",
          "[cuda][backend][strides]") {
    std::mt19937 rng(71);
    auto ex = gpu().make_executor(1);
    const int64_t rows = 5, e = 128;

    SECTION("matmul reads a strided x, with and without bias") {
        for (const int64_t n : {int64_t{1}, rows}) {
            const int64_t width = 3 * e;
            const auto wide = bf16_values(n * width, 1.0f, rng);
            const Tensor xw = make_tensor(gpu(), *ex, DType::BF16, n, width, wide);
            const Tensor x = xw.cols_view(e, e);
            const Tensor xd =
                make_tensor(gpu(), *ex, DType::BF16, n, e, columns(wide, width, e, e));
            const Tensor w = make_tensor(gpu(), *ex, DType::BF16, 200, e,
                                         bf16_values(200 * e, 1.0f / std::sqrt(float(e)), rng));
            const Tensor b =
                make_tensor(gpu(), *ex, DType::F32, 1, 200, bf16_values(200, 1.0f, rng));
            for (const Tensor *bias : {static_cast<const Tensor *>(nullptr), &b}) {
                INFO("rows " << n << (bias ? " with bias" : ""));
                const Tensor y = poisoned(gpu(), *ex, DType::BF16, n, 200);
                const Tensor yd = poisoned(gpu(), *ex, DType::BF16, n, 200);
                ex->matmul(x, w, bias, y);
                ex->matmul(xd, w, bias, yd);
                check_close(read(*ex, y), read(*ex, yd), kBf16Rel, 1e-3, "matmul");
                check_close(read(*ex, xw), wide, 0.0, 0.0, "x untouched");
            }
        }
    }
    SECTION("rope over Q and K of a QKV product, V untouched") {
        const int32_t heads = 4, heads_kv = 2, d = 32;
        const int64_t width = (heads + 2 * heads_kv) * d, qk = (heads + heads_kv) * d;
        std::vector<int32_t> pos(rows);
        for (auto &p : pos) p = static_cast<int32_t>(rng() % 5000);
        for (const RopeStyle style : {RopeStyle::Normal, RopeStyle::NeoX}) {
            const auto wide = bf16_values(rows * width, 1.0f, rng);
            const Tensor qkv = make_tensor(gpu(), *ex, DType::BF16, rows, width, wide);
            const Tensor xd =
                make_tensor(gpu(), *ex, DType::BF16, rows, qk, columns(wide, width, 0, qk));
            const RopeParams p{style, 10000.0f, 1.0f};
            ex->rope(qkv.cols_view(0, qk), heads + heads_kv, pos.data(), p);
            ex->rope(xd, heads + heads_kv, pos.data(), p);
            const auto got = read(*ex, qkv);
            check_close(columns(got, width, 0, qk), read(*ex, xd), 0.0, 0.0, "rotated Q and K");
            check_close(columns(got, width, qk, width - qk), columns(wide, width, qk, width - qk),
                        0.0, 0.0, "V untouched");
        }
    }
    SECTION("swiglu of the gate and up views into the gate view") {
        const int64_t ff = 300;
        const auto wide = bf16_values(rows * 2 * ff, 2.0f, rng);
        const Tensor gu = make_tensor(gpu(), *ex, DType::BF16, rows, 2 * ff, wide);
        const Tensor gd =
            make_tensor(gpu(), *ex, DType::BF16, rows, ff, columns(wide, 2 * ff, 0, ff));
        const Tensor ud =
            make_tensor(gpu(), *ex, DType::BF16, rows, ff, columns(wide, 2 * ff, ff, ff));
        const Tensor od = poisoned(gpu(), *ex, DType::BF16, rows, ff);
        ex->swiglu(gu.cols_view(0, ff), gu.cols_view(ff, ff), gu.cols_view(0, ff));
        ex->swiglu(gd, ud, od);
        const auto got = read(*ex, gu);
        check_close(columns(got, 2 * ff, 0, ff), read(*ex, od), 0.0, 0.0, "gate <- swiglu");
        check_close(columns(got, 2 * ff, ff, ff), columns(wide, 2 * ff, ff, ff), 0.0, 0.0,
                    "up untouched");
    }
}

TEST_CASE("CUDA strides: kv_append and attention read K, V and Q from one QKV product",
          "[cuda][backend][strides]") {
    for (const int32_t d : {64, 128, 40}) {
        INFO("head_dim " << d);
        std::mt19937 rng(static_cast<uint32_t>(d));
        auto ex = gpu().make_executor(1);
        const int32_t heads = 6, heads_kv = 2, bs = 16, seqs = 3;
        const int64_t qc = int64_t{heads} * d, kvc = int64_t{heads_kv} * d, width = qc + 2 * kvc;
        PagedKv kv(64, bs, d, seqs * heads_kv, rng);
        kv.add_replica(gpu(), *ex);  // fed by views
        kv.add_replica(gpu(), *ex);  // fed by dense copies
        auto step = [&](const std::vector<int32_t> &seq_ids, int32_t rows_per_seq) {
            std::vector<int32_t> ids;
            for (int32_t s : seq_ids)
                for (int32_t h = 0; h < heads_kv; ++h) ids.push_back(s * heads_kv + h);
            for (int32_t s : ids) kv.grow(s, rows_per_seq);
            const std::vector<StreamRef> refs = kv.refs(ids);
            const int64_t n = int64_t(seq_ids.size()) * rows_per_seq;
            const auto wide = bf16_values(n * width, 1.0f, rng);
            const Tensor qkv = make_tensor(gpu(), *ex, DType::BF16, n, width, wide);
            const Tensor q = qkv.cols_view(0, qc), k = qkv.cols_view(qc, kvc),
                         v = qkv.cols_view(qc + kvc, kvc);
            const Tensor qd =
                make_tensor(gpu(), *ex, DType::BF16, n, qc, columns(wide, width, 0, qc));
            const Tensor kd =
                make_tensor(gpu(), *ex, DType::BF16, n, kvc, columns(wide, width, qc, kvc));
            const Tensor vd =
                make_tensor(gpu(), *ex, DType::BF16, n, kvc, columns(wide, width, qc + kvc, kvc));
            const Tensor out = poisoned(gpu(), *ex, DType::BF16, n, qc);
            const Tensor outd = poisoned(gpu(), *ex, DType::BF16, n, qc);
            const int32_t ns = static_cast<int32_t>(seq_ids.size());
            ex->kv_append(kv.pools[0], refs.data(), ns, rows_per_seq, k, v);
            ex->kv_append(kv.pools[1], refs.data(), ns, rows_per_seq, kd, vd);
            if (rows_per_seq == 1) {
                ex->attention_decode(kv.pools[0], refs.data(), heads_kv, q, heads, out);
                ex->attention_decode(kv.pools[1], refs.data(), heads_kv, qd, heads, outd);
            } else {
                ex->attention_prefill(kv.pools[0], refs.data(), heads_kv, q, heads, out, 4);
                ex->attention_prefill(kv.pools[1], refs.data(), heads_kv, qd, heads, outd, 4);
            }
            check_close(read(*ex, out), read(*ex, outd), 0.0, 0.0, "attention output");
            check_close(read(*ex, qkv), wide, 0.0, 0.0, "qkv untouched");
            for (int32_t s : ids) {
                const StreamRef ref = kv.ref(s);
                for (const bool values : {false, true}) {
                    std::vector<float> a(static_cast<size_t>(ref.length) * d), b(a.size());
                    ex->kv_read(kv.pools[0], ref, values, a.data());
                    ex->kv_read(kv.pools[1], ref, values, b.data());
                    check_close(a, b, 0.0, 0.0, values ? "values" : "keys");
                }
                std::vector<float> a(static_cast<size_t>(ref.length) * kScoreKinds), b(a.size());
                ex->kv_read_scores(kv.pools[0], ref, a.data());
                ex->kv_read_scores(kv.pools[1], ref, b.data());
                // The generic kernel (head_dim 40) adds each query row's probabilities with
                // atomics, in an order that differs between runs: a few float roundings.
                check_close(a, b, d == 64 || d == 128 ? 0.0 : 1e-5, 0.0, "scores");
            }
        };
        step({0}, 21);
        step({2}, 7);
        step({0, 1, 2}, 1);
        step({0, 2}, 1);
    }
}

TEST_CASE("CUDA strides: ops that take dense tensors refuse strided ones",
          "[cuda][backend][strides]") {
    std::mt19937 rng(72);
    auto ex = gpu().make_executor(1);
    const int64_t n = 3, e = 64;
    const Tensor wide_f32 =
        make_tensor(gpu(), *ex, DType::F32, n, 2 * e, bf16_values(n * 2 * e, 1.0f, rng));
    const Tensor wide =
        make_tensor(gpu(), *ex, DType::BF16, n, 2 * e, bf16_values(n * 2 * e, 1.0f, rng));
    const Tensor sf = wide_f32.cols_view(0, e), sb = wide.cols_view(0, e);
    const Tensor xf = make_tensor(gpu(), *ex, DType::F32, n, e, bf16_values(n * e, 1.0f, rng));
    const Tensor xb = make_tensor(gpu(), *ex, DType::BF16, n, e, bf16_values(n * e, 1.0f, rng));
    const Tensor w = make_tensor(gpu(), *ex, DType::F32, 1, e, bf16_values(e, 1.0f, rng));
    const Tensor mat = make_tensor(gpu(), *ex, DType::BF16, e, e, bf16_values(e * e, 1.0f, rng));
    std::vector<float> host(static_cast<size_t>(n * e));
    const std::vector<int32_t> tokens = {0, 1, 2};
    expect_invalid([&] { ex->upload(host.data(), sf); }, "upload");
    expect_invalid([&] { ex->download(sf, host.data()); }, "download f32");
    expect_invalid([&] { ex->download(sb, host.data()); }, "download bf16");
    expect_invalid([&] { ex->embedding(mat, tokens.data(), sf); }, "embedding out");
    expect_invalid([&] { ex->matmul(xb, mat, nullptr, sb); }, "matmul y");
    const Tensor y3 = poisoned(gpu(), *ex, DType::BF16, n, n);
    expect_invalid([&] { ex->matmul(xb, wide.cols_view(e, e), nullptr, y3); }, "matmul w");
    expect_invalid([&] { ex->rmsnorm(sf, w, 1e-5f, xb); }, "rmsnorm x");
    expect_invalid([&] { ex->rmsnorm(xf, w, 1e-5f, sb); }, "rmsnorm y");
    expect_invalid([&] { ex->add(sf, xb); }, "add x");
    expect_invalid([&] { ex->add(xf, sb); }, "add y");

    const int32_t d = 64;
    PagedKv kv(8, 16, d, 2, rng);
    kv.add_replica(gpu(), *ex);
    kv.grow(0, static_cast<int32_t>(n));
    kv.grow(1, static_cast<int32_t>(n));
    const std::vector<StreamRef> one = kv.refs({0}), two = kv.refs({0, 1});
    const Tensor qkv =
        make_tensor(gpu(), *ex, DType::BF16, n, 4 * d, bf16_values(n * 4 * d, 1.0f, rng));
    const Tensor q = qkv.cols_view(0, 2 * d), k = qkv.cols_view(2 * d, d),
                 v = qkv.cols_view(3 * d, d);
    const Tensor vd = make_tensor(gpu(), *ex, DType::BF16, n, d, bf16_values(n * d, 1.0f, rng));
    expect_invalid(
        [&] { ex->kv_append(kv.pools[0], one.data(), 1, static_cast<int32_t>(n), k, vd); },
        "kv_append k and v of different strides", "row strides");
    ex->kv_append(kv.pools[0], one.data(), 1, static_cast<int32_t>(n), k, v);
    const Tensor out = qkv.cols_view(2 * d, 2 * d);
    expect_invalid([&] { ex->attention_prefill(kv.pools[0], one.data(), 1, q, 2, out, 0); },
                   "attention_prefill out");
    expect_invalid(
        [&] {
            ex->attention_decode(kv.pools[0], two.data(), 1, q.rows_view(0, 2), 2,
                                 out.rows_view(0, 2));
        },
        "attention_decode out");
}

}  // namespace
}  // namespace cab::gpu_test
