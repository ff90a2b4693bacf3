// Strided tensors on the CPU backend (backend.h): the ops that take column views (matmul x, rope,
// swiglu, kv_append k/v, attention q) give exactly what they give on dense copies of the same
// data, and never touch the columns outside the view; every other op refuses a strided tensor
// with INVALID_ARGUMENT. Also the views themselves, and load_weights joining several GGUF
// tensors into one.
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "backend/backend.h"
#include "model/model.h"
#include "util/error.h"

using namespace cab;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Cpu {
    std::unique_ptr<Backend> backend = make_cpu_backend(2);
    std::unique_ptr<Executor> ex = backend->make_executor(2);

    Tensor random(int64_t rows, int64_t cols, std::mt19937 &rng) {
        std::normal_distribution<float> dist(0.0f, 1.0f);
        std::vector<float> v(static_cast<size_t>(rows * cols));
        for (float &x : v) x = dist(rng);
        Tensor t = backend->alloc(DType::F32, rows, cols);
        ex->upload(v.data(), t);
        return t;
    }
    Tensor filled(int64_t rows, int64_t cols, float value) {
        std::vector<float> v(static_cast<size_t>(rows * cols), value);
        Tensor t = backend->alloc(DType::F32, rows, cols);
        ex->upload(v.data(), t);
        return t;
    }
    // A dense copy of a (possibly strided) F32 tensor.
    Tensor dense_copy(const Tensor &t) {
        Tensor d = backend->alloc(DType::F32, t.rows(), t.cols());
        for (int64_t r = 0; r < t.rows(); ++r)
            for (int64_t c = 0; c < t.cols(); ++c)
                d.as<float>()[r * t.cols() + c] = t.as<float>()[r * t.stride() + c];
        return d;
    }
};

// The elements of a (possibly strided) F32 tensor, row by row.
std::vector<float> values(const Tensor &t) {
    std::vector<float> v;
    for (int64_t r = 0; r < t.rows(); ++r)
        for (int64_t c = 0; c < t.cols(); ++c) v.push_back(t.as<float>()[r * t.stride() + c]);
    return v;
}

std::vector<float> all_values(const Tensor &dense) {
    return std::vector<float>(dense.as<float>(), dense.as<float>() + dense.rows() * dense.cols());
}

// Exactly equal, element by element (NaN equal to NaN: untouched poison).
bool same(const std::vector<float> &a, const std::vector<float> &b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
    return true;
}

void check_invalid(const std::function<void()> &f, const std::string &what) {
    INFO(what);
    try {
        f();
        FAIL("no error");
    } catch (const Error &e) {
        CHECK(e.status() == CAB_ERR_INVALID_ARGUMENT);
        CHECK(std::string(e.what()).find("dense") != std::string::npos);
    }
}

// A paged pool of n_streams streams of `len` slots each, the blocks of stream s interleaved
// with the others' (block s + n_streams * i), NaN everywhere.
struct Pool {
    KvPoolRef ref;
    std::vector<std::vector<int32_t>> tables;
    std::vector<StreamRef> streams;

    Pool(Cpu &cpu, int32_t n_streams, int32_t len, int32_t head_dim, int32_t block_size) {
        const int32_t per_stream = (len + block_size - 1) / block_size;
        const int32_t n_blocks = n_streams * per_stream;
        ref.block_size = block_size;
        ref.head_dim = head_dim;
        ref.storage = cpu.filled(int64_t{n_blocks} * 2 * block_size, head_dim, kNaN);
        ref.scores = cpu.filled(int64_t{n_blocks} * kScoreKinds, block_size, kNaN);
        tables.resize(static_cast<size_t>(n_streams));
        for (int32_t s = 0; s < n_streams; ++s)
            for (int32_t i = 0; i < per_stream; ++i) tables[s].push_back(s + n_streams * i);
        for (int32_t s = 0; s < n_streams; ++s) streams.push_back({tables[s].data(), len});
    }
};

}  // namespace

TEST_CASE("Tensor views: cols_view keeps the stride, rows_view steps by it", "[backend][strides]") {
    Cpu cpu;
    Tensor t = cpu.filled(4, 10, 0.0f);
    for (int64_t i = 0; i < 40; ++i) t.as<float>()[i] = static_cast<float>(i);
    CHECK(t.dense());
    CHECK(t.stride() == 10);
    const Tensor v = t.cols_view(3, 5);
    CHECK(v.rows() == 4);
    CHECK(v.cols() == 5);
    CHECK(v.stride() == 10);
    CHECK_FALSE(v.dense());
    CHECK(v.as<float>()[0] == 3.0f);
    const Tensor r = v.rows_view(2, 2);
    CHECK(r.as<float>()[0] == 23.0f);
    CHECK(r.as<float>()[r.stride() + 4] == 37.0f);
    CHECK_FALSE(r.dense());
    CHECK(v.rows_view(1, 1).dense());  // one row is contiguous
    CHECK(t.cols_view(0, 10).dense());
}

TEST_CASE("matmul: a strided x equals its dense copy", "[backend][strides]") {
    Cpu cpu;
    std::mt19937 rng(1);
    for (int64_t n : {int64_t{1}, int64_t{7}}) {
        INFO("rows " << n);
        const Tensor wide = cpu.random(n, 96, rng), x = wide.cols_view(16, 48);
        const Tensor xd = cpu.dense_copy(x), w = cpu.random(80, 48, rng),
                     b = cpu.random(1, 80, rng);
        for (const Tensor *bias : {static_cast<const Tensor *>(nullptr), &b}) {
            const Tensor y = cpu.filled(n, 80, kNaN), yd = cpu.filled(n, 80, kNaN);
            const std::vector<float> before = all_values(wide);
            cpu.ex->matmul(x, w, bias, y);
            cpu.ex->matmul(xd, w, bias, yd);
            CHECK(same(all_values(y), all_values(yd)));
            CHECK(same(all_values(wide), before));
        }
    }
}

TEST_CASE("rope: a strided x equals its dense copy, other columns untouched",
          "[backend][strides]") {
    Cpu cpu;
    std::mt19937 rng(2);
    for (RopeStyle style : {RopeStyle::Normal, RopeStyle::NeoX}) {
        const int32_t n = 5, heads = 3, d = 8;
        const std::vector<int32_t> pos = {0, 7, 3, 100, 2};
        const Tensor wide = cpu.random(n, 40, rng), x = wide.cols_view(8, heads * d);
        const Tensor xd = cpu.dense_copy(x);
        const std::vector<float> before = all_values(wide), x_before = values(x);
        const RopeParams p{style, 10000.0f, 1.0f};
        cpu.ex->rope(x, heads, pos.data(), p);
        cpu.ex->rope(xd, heads, pos.data(), p);
        CHECK(same(values(x), all_values(xd)));
        CHECK_FALSE(same(values(x), x_before));
        for (int64_t r = 0; r < n; ++r)
            for (int64_t c = 0; c < 40; ++c)
                if (c < 8 || c >= 8 + heads * d)
                    CHECK(wide.as<float>()[r * 40 + c] == before[static_cast<size_t>(r * 40 + c)]);
    }
}

TEST_CASE("swiglu: gate and up as views of one product, out over gate", "[backend][strides]") {
    Cpu cpu;
    std::mt19937 rng(3);
    const int64_t n = 6, ff = 50;
    const Tensor gu = cpu.random(n, 2 * ff, rng), gate = gu.cols_view(0, ff),
                 up = gu.cols_view(ff, ff);
    const Tensor gd = cpu.dense_copy(gate), ud = cpu.dense_copy(up), od = cpu.filled(n, ff, kNaN);
    const std::vector<float> up_before = values(up);
    cpu.ex->swiglu(gd, ud, od);
    cpu.ex->swiglu(gate, up, gate);
    CHECK(same(values(gate), all_values(od)));
    CHECK(same(values(up), up_before));
    // Three separate strided tensors.
    const Tensor out_wide = cpu.filled(n, ff + 3, kNaN), out = out_wide.cols_view(1, ff);
    const Tensor gu2 = cpu.random(n, 2 * ff + 6, rng);
    const Tensor g2 = gu2.cols_view(2, ff), u2 = gu2.cols_view(ff + 4, ff);
    const Tensor o2 = cpu.filled(n, ff, kNaN);
    cpu.ex->swiglu(g2, u2, out);
    cpu.ex->swiglu(cpu.dense_copy(g2), cpu.dense_copy(u2), o2);
    CHECK(same(values(out), all_values(o2)));
    for (int64_t r = 0; r < n; ++r) {
        CHECK(std::isnan(out_wide.as<float>()[r * (ff + 3)]));
        CHECK(std::isnan(out_wide.as<float>()[r * (ff + 3) + ff + 1]));
    }
}

TEST_CASE("kv_append and attention: K, V and Q as views of one QKV product", "[backend][strides]") {
    Cpu cpu;
    std::mt19937 rng(4);
    const int32_t d = 16, heads = 4, heads_kv = 2, bs = 4;
    const int64_t qc = heads * d, kvc = heads_kv * d, width = qc + 2 * kvc;

    SECTION("prefill: one sequence of several rows") {
        const int32_t n = 9;
        Pool strided(cpu, heads_kv, n, d, bs), dense(cpu, heads_kv, n, d, bs);
        const Tensor qkv = cpu.random(n, width, rng);
        const Tensor q = qkv.cols_view(0, qc), k = qkv.cols_view(qc, kvc),
                     v = qkv.cols_view(qc + kvc, kvc);
        cpu.ex->kv_append(strided.ref, strided.streams.data(), 1, n, k, v);
        cpu.ex->kv_append(dense.ref, dense.streams.data(), 1, n, cpu.dense_copy(k),
                          cpu.dense_copy(v));
        CHECK(same(all_values(strided.ref.storage), all_values(dense.ref.storage)));
        const Tensor out = cpu.filled(n, qc, kNaN), outd = cpu.filled(n, qc, kNaN);
        cpu.ex->attention_prefill(strided.ref, strided.streams.data(), heads_kv, q, heads, out, 3);
        cpu.ex->attention_prefill(dense.ref, dense.streams.data(), heads_kv, cpu.dense_copy(q),
                                  heads, outd, 3);
        CHECK(same(all_values(out), all_values(outd)));
        CHECK(same(all_values(strided.ref.scores), all_values(dense.ref.scores)));
        for (float o : all_values(out)) CHECK_FALSE(std::isnan(o));
    }
    SECTION("decode: several sequences of one row") {
        const int32_t seqs = 3, len = 6;
        Pool strided(cpu, seqs * heads_kv, len, d, bs), dense(cpu, seqs * heads_kv, len, d, bs);
        // Fill the first len - 1 slots of every stream alike, then append one row each.
        for (Pool *p : {&strided, &dense}) {
            std::mt19937 same_rng(40);
            const Tensor kv = cpu.random(len - 1, kvc, same_rng);
            for (int32_t s = 0; s < seqs; ++s) {
                std::vector<StreamRef> prior(p->streams.begin() + s * heads_kv,
                                             p->streams.begin() + (s + 1) * heads_kv);
                for (StreamRef &r : prior) r.length = len - 1;
                cpu.ex->kv_append(p->ref, prior.data(), 1, len - 1, kv, kv);
            }
        }
        const Tensor qkv = cpu.random(seqs, width, rng);
        const Tensor q = qkv.cols_view(0, qc), k = qkv.cols_view(qc, kvc),
                     v = qkv.cols_view(qc + kvc, kvc);
        cpu.ex->kv_append(strided.ref, strided.streams.data(), seqs, 1, k, v);
        cpu.ex->kv_append(dense.ref, dense.streams.data(), seqs, 1, cpu.dense_copy(k),
                          cpu.dense_copy(v));
        CHECK(same(all_values(strided.ref.storage), all_values(dense.ref.storage)));
        const Tensor out = cpu.filled(seqs, qc, kNaN), outd = cpu.filled(seqs, qc, kNaN);
        cpu.ex->attention_decode(strided.ref, strided.streams.data(), heads_kv, q, heads, out);
        cpu.ex->attention_decode(dense.ref, dense.streams.data(), heads_kv, cpu.dense_copy(q),
                                 heads, outd);
        CHECK(same(all_values(out), all_values(outd)));
        CHECK(same(all_values(strided.ref.scores), all_values(dense.ref.scores)));
        for (float o : all_values(out)) CHECK_FALSE(std::isnan(o));
    }
}

TEST_CASE("ops that take dense tensors refuse strided ones", "[backend][strides]") {
    Cpu cpu;
    std::mt19937 rng(5);
    const int64_t n = 3, e = 16;
    const Tensor wide = cpu.random(n, 2 * e, rng), s = wide.cols_view(0, e);
    const Tensor x = cpu.random(n, e, rng), y = cpu.filled(n, e, 0.0f), w = cpu.random(1, e, rng);
    const Tensor mat = cpu.random(e, e, rng);
    std::vector<float> host(static_cast<size_t>(n * e), 1.0f);
    const std::vector<int32_t> tokens = {0, 1, 2};
    check_invalid([&] { cpu.ex->upload(host.data(), s); }, "upload");
    check_invalid([&] { cpu.ex->download(s, host.data()); }, "download");
    check_invalid([&] { cpu.ex->embedding(mat, tokens.data(), s); }, "embedding out");
    check_invalid(
        [&] { cpu.ex->embedding(cpu.random(e, 2 * e, rng).cols_view(1, e), tokens.data(), y); },
        "embedding table");
    check_invalid([&] { cpu.ex->matmul(x, mat, nullptr, s); }, "matmul y");
    check_invalid([&] { cpu.ex->matmul(x, cpu.random(e, 2 * e, rng).cols_view(0, e), nullptr, y); },
                  "matmul w");
    check_invalid([&] { cpu.ex->rmsnorm(s, w, 1e-5f, y); }, "rmsnorm x");
    check_invalid([&] { cpu.ex->rmsnorm(x, w, 1e-5f, s); }, "rmsnorm y");
    check_invalid([&] { cpu.ex->add(s, x); }, "add x");
    check_invalid([&] { cpu.ex->add(y, s); }, "add y");

    const int32_t d = 8, heads = 2, heads_kv = 1;
    Pool pool(cpu, heads_kv, n, d, 4);
    const Tensor qkv = cpu.random(n, 4 * d, rng);
    const Tensor q = qkv.cols_view(0, heads * d);
    const Tensor k = qkv.cols_view(2 * d, d), v = qkv.cols_view(3 * d, d);
    cpu.ex->kv_append(pool.ref, pool.streams.data(), 1, static_cast<int32_t>(n), k, v);
    const Tensor out_wide = cpu.filled(n, 3 * d, 0.0f), out = out_wide.cols_view(0, heads * d);
    check_invalid(
        [&] {
            cpu.ex->attention_prefill(pool.ref, pool.streams.data(), heads_kv, q, heads, out, 0);
        },
        "attention_prefill out");
    const std::vector<StreamRef> two = {pool.streams[0], pool.streams[0]};
    check_invalid(
        [&] {
            cpu.ex->attention_decode(pool.ref, two.data(), heads_kv, q.rows_view(0, 2), heads,
                                     out.rows_view(0, 2));
        },
        "attention_decode out");
    // K and V of different strides are not one layout.
    try {
        cpu.ex->kv_append(pool.ref, pool.streams.data(), 1, static_cast<int32_t>(n), k,
                          cpu.dense_copy(v));
        FAIL("no error");
    } catch (const Error &err) {
        CHECK(err.status() == CAB_ERR_INVALID_ARGUMENT);
    }
}

TEST_CASE("load_weights joins parts: matrices by rows, vectors end to end", "[backend][strides]") {
    Cpu cpu;
    std::vector<float> a(3 * 4), b(2 * 4), va(3), vb(5);
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i);
    for (size_t i = 0; i < b.size(); ++i) b[i] = 100.0f + static_cast<float>(i);
    for (size_t i = 0; i < va.size(); ++i) va[i] = -1.0f - static_cast<float>(i);
    for (size_t i = 0; i < vb.size(); ++i) vb[i] = 0.5f + static_cast<float>(i);
    using Part = Backend::WeightSource::Part;
    std::vector<Backend::WeightSource> src;
    src.emplace_back(
        std::vector<Part>{{ggml::Type::F32, a.data(), 3, 4}, {ggml::Type::F32, b.data(), 2, 4}}, 5,
        4);
    src.emplace_back(
        std::vector<Part>{{ggml::Type::F32, va.data(), 1, 3}, {ggml::Type::F32, vb.data(), 1, 5}},
        1, 8);
    src.emplace_back(ggml::Type::F32, a.data(), 3, 4);
    const std::vector<Tensor> t = cpu.backend->load_weights(src, nullptr);
    REQUIRE(t.size() == 3);
    std::vector<float> ab(a);
    ab.insert(ab.end(), b.begin(), b.end());
    std::vector<float> vab(va);
    vab.insert(vab.end(), vb.begin(), vb.end());
    CHECK((t[0].rows() == 5 && t[0].cols() == 4));
    CHECK(all_values(t[0]) == ab);
    CHECK((t[1].rows() == 1 && t[1].cols() == 8));
    CHECK(all_values(t[1]) == vab);
    CHECK(all_values(t[2]) == a);

    std::vector<Backend::WeightSource> bad;
    bad.emplace_back(std::vector<Part>{{ggml::Type::F32, a.data(), 3, 4}}, 4, 4);
    try {
        cpu.backend->load_weights(bad, nullptr);
        FAIL("no error");
    } catch (const Error &e) {
        CHECK(e.status() == CAB_ERR_INVALID_ARGUMENT);
        CHECK(std::string(e.what()).find("4 x 4") != std::string::npos);
    }
}
