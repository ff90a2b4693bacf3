// Mixed-precision KV, the cache and the CPU backend: the int8 row format (kv/quant_q8.h),
// KvCache::quantize moving a stream's oldest blocks into the 8-bit pool with their scores, and
// every KV op over streams of mixed blocks (attention, compaction, appends, copies) against the
// same ops over a full-precision cache that holds the dequantized values, for both 8-bit types
// (int8, fp8 E4M3).
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "backend/backend.h"
#include "kv/kv_cache.h"
#include "kv/quant_q8.h"
#include "util/error.h"

using namespace cab;

namespace {

KvConfig mixed_config(int64_t q8_tokens, Q8Type type = Q8Type::Int8) {
    KvConfig c;
    c.n_layer = 2;
    c.n_head_kv = 2;
    c.n_head = 4;
    c.head_dim = 8;
    c.block_size = 4;
    c.capacity_tokens = 32;  // 8 blocks per stream
    c.q8_capacity_tokens = q8_tokens;
    c.q8_type = type;
    c.n_seq_max = 2;
    return c;
}

// The 8-bit block count the cache keeps per stream as its blocks change (Stream::q8_blocks)
// against the blocks' types, and the 8-bit slots a StreamRef reports from it.
void check_q8_prefix(const KvCache &kv) {
    const KvConfig &c = kv.config();
    for (int32_t seq = 0; seq < c.n_seq_max; ++seq)
        for (int32_t l = 0; l < c.n_layer; ++l)
            for (int32_t h = 0; h < c.n_head_kv; ++h) {
                const Stream &s = kv.stream(seq, l, h);
                int32_t n = 0;
                while (n < static_cast<int32_t>(s.blocks.size()) &&
                       kv.pool_ref().is_q8(s.blocks[static_cast<size_t>(n)]))
                    ++n;
                INFO("sequence " << seq << ", layer " << l << ", kv head " << h);
                CHECK(kv.q8_blocks(s) == n);
                CHECK(kv.ref(seq, l, h).q8_length == std::min(s.length, n * c.block_size));
                CHECK(kv.ref(seq, l, h, 3).q8_length == std::min(s.length + 3, n * c.block_size));
            }
}

Tensor random_rows(Backend &backend, int64_t rows, int64_t cols, std::mt19937 &rng) {
    std::normal_distribution<float> nd;
    Tensor t = backend.alloc(DType::F32, rows, cols);
    for (int64_t i = 0; i < rows * cols; ++i) t.as<float>()[i] = nd(rng);
    return t;
}

// Appends the rows of k and v (one per token, every kv head) to seq in every layer; positions
// continue the stream's.
void append_rows(KvCache &kv, Executor &ex, int32_t seq, const Tensor &k, const Tensor &v) {
    const auto n = static_cast<int32_t>(k.rows());
    kv.reserve(&seq, &n, 1);
    for (int32_t l = 0; l < kv.config().n_layer; ++l) {
        std::vector<StreamRef> refs;
        kv.stream_refs(l, &seq, 1, n, refs);
        ex.kv_append(kv.pool_ref(), refs.data(), 1, n, k, v);
    }
    std::vector<int32_t> pos(static_cast<size_t>(n));
    const int32_t start = kv.stream(seq, 0, 0).length;
    for (int32_t i = 0; i < n; ++i) pos[i] = start + i;
    kv.commit(seq, n, pos.data(), pos.data());
}

// A prefill chunk of the last n slots of seq's streams in every layer, with scores.
void prefill(KvCache &kv, Executor &ex, Backend &backend, int32_t seq, const Tensor &q,
             Tensor &out) {
    const KvConfig &c = kv.config();
    out = backend.alloc(DType::F32, q.rows(), q.cols());
    for (int32_t l = 0; l < c.n_layer; ++l) {
        std::vector<StreamRef> refs;
        kv.stream_refs(l, &seq, 1, 0, refs);
        ex.attention_prefill(kv.pool_ref(), refs.data(), c.n_head_kv, q, c.n_head, out,
                             c.score_window);
    }
}

std::vector<float> keys(KvCache &kv, Executor &ex, int32_t seq, int32_t l, int32_t h, bool values) {
    const Stream &s = kv.stream(seq, l, h);
    std::vector<float> out(static_cast<size_t>(s.length) * kv.config().head_dim);
    ex.kv_read(kv.pool_ref(), kv.ref(seq, l, h), values, out.data());
    return out;
}

// Largest |a - b| / (1 + |b|) over two equally long vectors.
double worst(const std::vector<float> &a, const std::vector<float> &b) {
    REQUIRE(a.size() == b.size());
    double w = 0.0;
    for (size_t i = 0; i < a.size(); ++i)
        w = std::max(w, std::fabs(double{a[i]} - b[i]) / (1.0 + std::fabs(double{b[i]})));
    return w;
}

// Whether `got` is `want` quantized: every element within half a step of the row's scale.
bool within_half_step(const float *got, const float *want, int64_t d) {
    float amax = 0.0f;
    for (int64_t i = 0; i < d; ++i) amax = std::max(amax, std::fabs(want[i]));
    const float half = amax / kQ8Max / 2 * (1 + 1e-5f) + 1e-30f;
    for (int64_t i = 0; i < d; ++i)
        if (std::fabs(got[i] - want[i]) > half) return false;
    return true;
}

// Whether `got` is exactly `want` quantized as a row of `type` by the reference (kv/quant_q8.h)
// and dequantized.
bool is_quantized(Q8Type type, const float *got, const float *want, int64_t d) {
    std::vector<float> back(static_cast<size_t>(d));
    if (type == Q8Type::Fp8E4M3) {
        std::vector<uint8_t> q(back.size());
        dequantize_row_fp8(q.data(), quantize_row_fp8(want, d, q.data()), d, back.data());
    } else {
        std::vector<int8_t> q(back.size());
        dequantize_row_q8(q.data(), quantize_row_q8(want, d, q.data()), d, back.data());
    }
    return std::equal(back.begin(), back.end(), got);
}

const char *type_name(Q8Type type) {
    return type == Q8Type::Fp8E4M3 ? "fp8 E4M3" : "int8";
}

// CPU memory, but no int8 blocks: what the cache must refuse.
class NoQ8Backend final : public Backend {
public:
    NoQ8Backend() : cpu_(make_cpu_backend(1)) {}
    const char *name() const override { return "test"; }
    DType act_dtype() const override { return DType::F32; }
    DType kv_dtype() const override { return DType::F32; }
    Tensor alloc(DType dtype, int64_t rows, int64_t cols) override {
        return cpu_->alloc(dtype, rows, cols);
    }
    std::vector<Tensor> load_weights(const std::vector<WeightSource> &,
                                     const std::function<bool(size_t, size_t)> &) override {
        fail(CAB_ERR_INTERNAL, "test backend: no weights");
    }
    std::unique_ptr<Executor> make_executor(int32_t n) override { return cpu_->make_executor(n); }

private:
    std::unique_ptr<Backend> cpu_;
};

}  // namespace

TEST_CASE("int8 KV rows: the largest element kept, the others within half a step", "[kv][q8]") {
    std::mt19937 rng(11);
    std::normal_distribution<float> nd;
    for (int64_t n : {1, 7, 64, 128}) {
        for (float spread : {1e-3f, 1.0f, 300.0f}) {
            INFO("n " << n << " spread " << spread);
            std::vector<float> x(static_cast<size_t>(n)), back(x.size());
            for (float &e : x) e = nd(rng) * spread;
            x[static_cast<size_t>(n / 2)] = -40.0f * spread;  // an outlier, negative
            std::vector<int8_t> q(x.size());
            const float scale = quantize_row_q8(x.data(), n, q.data());
            CHECK(scale == Approx(40.0f * spread / kQ8Max).epsilon(1e-6));
            CHECK(q[static_cast<size_t>(n / 2)] == -127);
            dequantize_row_q8(q.data(), scale, n, back.data());
            CHECK(within_half_step(back.data(), x.data(), n));
            CHECK(std::fabs(back[static_cast<size_t>(n / 2)] - x[static_cast<size_t>(n / 2)]) <=
                  1e-6f * 40.0f * spread);
        }
    }
    std::vector<float> zeros(16, 0.0f), back(16, 1.0f);
    std::vector<int8_t> q(16, 5);
    CHECK(quantize_row_q8(zeros.data(), 16, q.data()) == 0.0f);
    CHECK(std::all_of(q.begin(), q.end(), [](int8_t e) { return e == 0; }));
    dequantize_row_q8(q.data(), 0.0f, 16, back.data());
    CHECK(back == zeros);
}

TEST_CASE("KvCache::quantize moves a stream's oldest full blocks to the 8-bit pool",
          "[kv][q8][fp8]") {
    const Q8Type type = GENERATE(Q8Type::Int8, Q8Type::Fp8E4M3);
    INFO(type_name(type));
    auto backend = make_cpu_backend(1);
    auto ex = backend->make_executor(1);
    KvCache kv(*backend, mixed_config(16, type));  // 4 8-bit blocks per stream
    REQUIRE(kv.blocks_total() == 32);
    REQUIRE(kv.q8_blocks_total() == 16);
    std::mt19937 rng(3);
    const int64_t cols = 2 * 8;
    const Tensor k = random_rows(*backend, 14, cols, rng), v = random_rows(*backend, 14, cols, rng);
    append_rows(kv, *ex, 0, k, v);
    Tensor out;
    prefill(kv, *ex, *backend, 0, random_rows(*backend, 14, 4 * 8, rng), out);
    SlotScores before_scores;
    kv.read_scores(*ex, 0, 1, 1, before_scores);
    const std::vector<float> k_before = keys(kv, *ex, 0, 1, 1, false),
                             v_before = keys(kv, *ex, 0, 1, 1, true);
    const int32_t free_before = kv.blocks_free();

    // 14 slots, the last 5 recent: blocks 0 and 1 (slots 0..7) of each of the 4 streams.
    CHECK(kv.quantize(*ex, 0, 5) == 4 * 2 * 4);
    const Stream &s = kv.stream(0, 1, 1);
    CHECK(kv.q8_blocks(s) == 2);
    CHECK(s.length == 14);
    CHECK(kv.q8_blocks_free() == 16 - 8);
    CHECK(kv.blocks_free() == free_before + 8);
    SlotScores after_scores;
    kv.read_scores(*ex, 0, 1, 1, after_scores);
    CHECK(after_scores.score == before_scores.score);  // moved with their blocks, bit for bit
    CHECK(after_scores.observers == before_scores.observers);
    CHECK(after_scores.window == before_scores.window);
    const std::vector<float> k_after = keys(kv, *ex, 0, 1, 1, false),
                             v_after = keys(kv, *ex, 0, 1, 1, true);
    for (int32_t slot = 0; slot < 14; ++slot) {
        INFO("slot " << slot);
        const size_t at = static_cast<size_t>(slot) * 8;
        if (slot < 8) {
            CHECK(is_quantized(type, k_after.data() + at, k_before.data() + at, 8));
            CHECK(is_quantized(type, v_after.data() + at, v_before.data() + at, 8));
            if (type == Q8Type::Int8) {
                CHECK(within_half_step(k_after.data() + at, k_before.data() + at, 8));
                CHECK(within_half_step(v_after.data() + at, v_before.data() + at, 8));
            }
        } else {
            CHECK(
                std::equal(k_after.begin() + at, k_after.begin() + at + 8, k_before.begin() + at));
        }
    }
    CHECK(kv.quantize(*ex, 0, 5) == 0);          // nothing older is left in full blocks
    CHECK(kv.quantize(*ex, 0, 0) == 4 * 1 * 4);  // slots 8..11: one more block each
    CHECK(kv.q8_blocks(kv.stream(0, 0, 0)) == 3);
    kv.reset(0);
    CHECK(kv.blocks_free() == kv.blocks_total());
    CHECK(kv.q8_blocks_free() == kv.q8_blocks_total());
}

TEST_CASE("KvCache::quantize is all or nothing when the int8 pool is short", "[kv][q8]") {
    auto backend = make_cpu_backend(1);
    auto ex = backend->make_executor(1);
    std::mt19937 rng(5);
    for (int64_t q8_tokens : {0, 4}) {
        INFO("int8 capacity " << q8_tokens);
        KvCache kv(*backend, mixed_config(q8_tokens));
        append_rows(kv, *ex, 0, random_rows(*backend, 14, 16, rng),
                    random_rows(*backend, 14, 16, rng));
        const std::vector<int32_t> blocks = kv.stream(0, 1, 0).blocks.ids();
        const int32_t free = kv.blocks_free(), free_q8 = kv.q8_blocks_free();
        // 3 blocks for each of 4 streams, against 0 or 4 free.
        CHECK_THROWS_WITH(kv.quantize(*ex, 0, 0), Catch::Contains("needs 12 int8 blocks") &&
                                                      Catch::Contains("KV cache full"));
        CHECK(kv.stream(0, 1, 0).blocks.ids() == blocks);
        CHECK(kv.blocks_free() == free);
        CHECK(kv.q8_blocks_free() == free_q8);
    }
    KvCache kv(*backend, mixed_config(16));
    CHECK_THROWS_WITH(kv.quantize(*ex, 0, -1), Catch::Contains("negative"));
    KvConfig bad = mixed_config(-4);
    CHECK_THROWS_WITH(KvCache(*backend, bad), Catch::Contains("negative"));
    NoQ8Backend no_q8;
    CHECK_THROWS_WITH(KvCache(no_q8, mixed_config(16)),
                      Catch::Contains("int8 KV blocks are not supported on the test backend"));
    CHECK_THROWS_WITH(KvCache(no_q8, mixed_config(16, Q8Type::Fp8E4M3)),
                      Catch::Contains("fp8 E4M3 KV blocks are not supported on the test backend"));
    KvCache plain(no_q8, mixed_config(0));  // no int8 blocks asked for: fine
    CHECK(plain.q8_blocks_total() == 0);
}

TEST_CASE("Streams of mixed blocks: every KV op equals a cache of the dequantized values",
          "[kv][q8][fp8][attention]") {
    const Q8Type type = GENERATE(Q8Type::Int8, Q8Type::Fp8E4M3);
    INFO(type_name(type));
    auto backend = make_cpu_backend(2);
    auto ex = backend->make_executor(2);
    KvCache mixed(*backend, mixed_config(16, type)), twin(*backend, mixed_config(0));
    const KvConfig &c = mixed.config();
    const int64_t cols = int64_t{c.n_head_kv} * c.head_dim, q_cols = int64_t{c.n_head} * c.head_dim;
    std::mt19937 rng(9);
    append_rows(mixed, *ex, 0, random_rows(*backend, 13, cols, rng),
                random_rows(*backend, 13, cols, rng));
    REQUIRE(mixed.quantize(*ex, 0, 4) == 4 * 2 * 4);  // slots 0..7 of every stream in 8 bits
    check_q8_prefix(mixed);
    // The twin holds what the mixed cache now holds, in full precision: its dequantized rows.
    {
        Tensor k = backend->alloc(DType::F32, 13, cols), v = backend->alloc(DType::F32, 13, cols);
        for (int32_t l = 0; l < c.n_layer; ++l) {
            for (int32_t h = 0; h < c.n_head_kv; ++h) {
                const std::vector<float> kh = keys(mixed, *ex, 0, l, h, false),
                                         vh = keys(mixed, *ex, 0, l, h, true);
                for (int64_t r = 0; r < 13; ++r)
                    for (int64_t t = 0; t < c.head_dim; ++t) {
                        k.as<float>()[r * cols + h * c.head_dim + t] = kh[r * c.head_dim + t];
                        v.as<float>()[r * cols + h * c.head_dim + t] = vh[r * c.head_dim + t];
                    }
            }
            // Layers hold different rows: append each layer's own.
            const int32_t seq = 0, n = 13;
            if (l == 0) twin.reserve(&seq, &n, 1);
            std::vector<StreamRef> refs;
            twin.stream_refs(l, &seq, 1, n, refs);
            ex->kv_append(twin.pool_ref(), refs.data(), 1, n, k, v);
        }
        std::vector<int32_t> pos(13);
        for (int32_t i = 0; i < 13; ++i) pos[i] = i;
        twin.commit(0, 13, pos.data(), pos.data());
    }
    for (int32_t l = 0; l < c.n_layer; ++l)
        for (int32_t h = 0; h < c.n_head_kv; ++h)
            REQUIRE(keys(twin, *ex, 0, l, h, true) == keys(mixed, *ex, 0, l, h, true));

    // Score increments of one op in both caches, stream by stream.
    auto scores = [&](KvCache &kv) {
        std::vector<std::vector<float>> all;
        for (int32_t l = 0; l < c.n_layer; ++l)
            for (int32_t h = 0; h < c.n_head_kv; ++h) {
                SlotScores s;
                kv.read_scores(*ex, 0, l, h, s);
                all.push_back(s.score);
                all.push_back(s.observers);
                all.push_back(s.window);
            }
        return all;
    };
    auto both_equal = [&](const char *what) {
        INFO(what);
        const auto sm = scores(mixed), st = scores(twin);
        for (size_t i = 0; i < sm.size(); ++i) CHECK(worst(sm[i], st[i]) < 1e-5);
        for (int32_t l = 0; l < c.n_layer; ++l)
            for (int32_t h = 0; h < c.n_head_kv; ++h)
                for (bool values : {false, true}) {
                    const auto a = keys(mixed, *ex, 0, l, h, values);
                    const auto b = keys(twin, *ex, 0, l, h, values);
                    CHECK(worst(a, b) == 0.0);
                }
    };

    SECTION("prefill chunk and decode steps over the mixed streams") {
        const Tensor k = random_rows(*backend, 3, cols, rng),
                     v = random_rows(*backend, 3, cols, rng);
        const Tensor q = random_rows(*backend, 3, q_cols, rng);
        append_rows(mixed, *ex, 0, k, v);
        append_rows(twin, *ex, 0, k, v);
        Tensor out_m, out_t;
        prefill(mixed, *ex, *backend, 0, q, out_m);
        prefill(twin, *ex, *backend, 0, q, out_t);
        std::vector<float> om(out_m.as<float>(), out_m.as<float>() + 3 * q_cols),
            ot(out_t.as<float>(), out_t.as<float>() + 3 * q_cols);
        CHECK(worst(om, ot) < 1e-5);
        both_equal("after a prefill chunk");
        for (int step = 0; step < 3; ++step) {
            const Tensor k1 = random_rows(*backend, 1, cols, rng),
                         v1 = random_rows(*backend, 1, cols, rng),
                         q1 = random_rows(*backend, 1, q_cols, rng);
            append_rows(mixed, *ex, 0, k1, v1);
            append_rows(twin, *ex, 0, k1, v1);
            Tensor dm = backend->alloc(DType::F32, 1, q_cols),
                   dt = backend->alloc(DType::F32, 1, q_cols);
            for (int32_t l = 0; l < c.n_layer; ++l) {
                const int32_t seq = 0;
                std::vector<StreamRef> rm, rt;
                mixed.stream_refs(l, &seq, 1, 0, rm);
                twin.stream_refs(l, &seq, 1, 0, rt);
                ex->attention_decode(mixed.pool_ref(), rm.data(), c.n_head_kv, q1, c.n_head, dm);
                ex->attention_decode(twin.pool_ref(), rt.data(), c.n_head_kv, q1, c.n_head, dt);
                CHECK(worst(std::vector<float>(dm.as<float>(), dm.as<float>() + q_cols),
                            std::vector<float>(dt.as<float>(), dt.as<float>() + q_cols)) < 1e-5);
            }
        }
        both_equal("after three decode steps");
        check_q8_prefix(mixed);
    }

    SECTION("compaction keeps each slot's type, freeing 8-bit blocks from the middle") {
        // Slots 0..7 are 8-bit (blocks 0, 1), 8..12 full precision (blocks 2, 3). Kept: two 8-bit
        // slots, which fill 8-bit block 0 with 9 and 10 (quantized: fewer than a block of them
        // land in its tail); 12 goes to the first full-precision block. 8-bit block 1 and
        // full-precision block 3 are freed.
        const std::vector<int32_t> keep = {1, 5, 9, 10, 12};
        const auto k_twin = keys(twin, *ex, 0, 1, 0, false);
        const std::vector<int32_t> old_blocks = mixed.stream(0, 1, 0).blocks.ids();
        const int32_t hi_free = mixed.blocks_free(), q8_free = mixed.q8_blocks_free();
        mixed.compact(*ex, 0, 1, 0, keep.data(), keep.size());
        twin.compact(*ex, 0, 1, 0, keep.data(), keep.size());
        const Stream &s = mixed.stream(0, 1, 0);
        CHECK(s.length == 5);
        CHECK(s.blocks.ids() == std::vector<int32_t>{old_blocks[0], old_blocks[2]});
        CHECK(mixed.q8_blocks(s) == 1);
        CHECK(mixed.blocks_free() == hi_free + 1);
        CHECK(mixed.q8_blocks_free() == q8_free + 1);
        const auto km = keys(mixed, *ex, 0, 1, 0, false);
        for (int32_t i = 0; i < 5; ++i) {
            INFO("slot " << i << " from " << keep[i]);
            const float *want = k_twin.data() + keep[i] * 8;
            if (i == 2 || i == 3) {
                CHECK(is_quantized(type, km.data() + i * 8, want, 8));
            } else {  // an 8-bit row moved as it is, or a full-precision one
                CHECK(std::equal(km.begin() + i * 8, km.begin() + i * 8 + 8, want));
            }
        }
        SlotScores sm, st;
        mixed.read_scores(*ex, 0, 1, 0, sm);
        twin.read_scores(*ex, 0, 1, 0, st);
        CHECK(sm.score == st.score);
        // Appends after it go to full-precision blocks: slots 5..7 in block 2's tail, 8 in a
        // new one.
        const Tensor k = random_rows(*backend, 4, cols, rng),
                     v = random_rows(*backend, 4, cols, rng);
        append_rows(mixed, *ex, 0, k, v);
        const auto after = keys(mixed, *ex, 0, 1, 0, false);
        REQUIRE(after.size() == 9 * 8);
        for (int32_t r = 0; r < 4; ++r) {
            INFO("appended row " << r);
            const float *want = k.as<float>() + r * cols;  // kv head 0
            CHECK(std::equal(after.begin() + (5 + r) * 8, after.begin() + (6 + r) * 8, want));
        }
        CHECK(mixed.q8_blocks(mixed.stream(0, 1, 0)) == 1);
        check_q8_prefix(mixed);
    }

    SECTION("an append into the last 8-bit block's free slots is quantized") {
        // Keep only 8-bit slots 0..5: the stream ends inside 8-bit block 1.
        const std::vector<int32_t> keep = {0, 1, 2, 3, 4, 5};
        mixed.compact(*ex, 0, 0, 0, keep.data(), keep.size());
        CHECK(mixed.stream(0, 0, 0).blocks.size() == 2);
        CHECK(mixed.q8_blocks(mixed.stream(0, 0, 0)) == 2);
        const Tensor k = random_rows(*backend, 3, cols, rng),
                     v = random_rows(*backend, 3, cols, rng);
        append_rows(mixed, *ex, 0, k, v);
        const auto after = keys(mixed, *ex, 0, 0, 0, false);
        for (int32_t r = 0; r < 3; ++r) {
            INFO("appended row " << r);
            const float *want = k.as<float>() + r * cols;
            if (r < 2) {
                CHECK(is_quantized(type, after.data() + (6 + r) * 8, want, 8));
            } else {
                CHECK(std::equal(after.begin() + 8 * 8, after.begin() + 9 * 8, want));
            }
        }
        check_q8_prefix(mixed);
    }

    SECTION("a copied sequence holds the same blocks' contents, of the same types") {
        const int32_t q8_free = mixed.q8_blocks_free(), hi_free = mixed.blocks_free();
        mixed.copy_seq(*ex, 0, 1);
        CHECK(mixed.q8_blocks_free() == q8_free - 8);
        CHECK(mixed.blocks_free() == hi_free - 4 * 2);  // slots 8..12: two blocks per stream
        for (int32_t l = 0; l < c.n_layer; ++l)
            for (int32_t h = 0; h < c.n_head_kv; ++h) {
                CHECK(mixed.q8_blocks(mixed.stream(1, l, h)) == 2);
                for (bool values : {false, true})
                    CHECK(keys(mixed, *ex, 1, l, h, values) == keys(mixed, *ex, 0, l, h, values));
            }
        check_q8_prefix(mixed);
        mixed.reset(0);
        mixed.reset(1);
        CHECK(mixed.q8_blocks_free() == mixed.q8_blocks_total());
        CHECK(mixed.blocks_free() == mixed.blocks_total());
        check_q8_prefix(mixed);
    }
}
