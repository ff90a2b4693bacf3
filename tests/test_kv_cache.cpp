// The paged KV cache: pool accounting, all-or-nothing reservations (KV_FULL changes nothing),
// compaction, and attention over paged streams against dense attention.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "backend/backend.h"
#include "kv/kv_cache.h"
#include "model/model.h"
#include "util/error.h"

using namespace cab;

namespace {

KvConfig small_config() {
    KvConfig c;
    c.n_layer = 2;
    c.n_head_kv = 2;
    c.head_dim = 4;
    c.block_size = 4;
    c.capacity_tokens = 10;  // 3 blocks per stream, 12 in the pool
    c.n_seq_max = 2;
    return c;
}

// Everything observable about the cache, to compare before and after a failed call.
struct Snapshot {
    int32_t free = 0;
    std::vector<std::vector<int32_t>> blocks, pos, token;
    std::vector<int32_t> lengths;
    bool operator==(const Snapshot &o) const {
        return free == o.free && blocks == o.blocks && pos == o.pos && token == o.token &&
               lengths == o.lengths;
    }
};

Snapshot snapshot(const KvCache &kv) {
    Snapshot s;
    s.free = kv.blocks_free();
    const KvConfig &c = kv.config();
    for (int32_t q = 0; q < c.n_seq_max; ++q)
        for (int32_t l = 0; l < c.n_layer; ++l)
            for (int32_t h = 0; h < c.n_head_kv; ++h) {
                const Stream &st = kv.stream(q, l, h);
                s.blocks.emplace_back(st.blocks.begin(), st.blocks.end());
                s.pos.push_back(st.pos);
                s.token.push_back(st.token);
                s.lengths.push_back(st.length);
            }
    return s;
}

// Reserves and commits n tokens of seq with positions from its current length.
void append(KvCache &kv, int32_t seq, int32_t n) {
    kv.reserve(&seq, &n, 1);
    int32_t start = kv.stream(seq, 0, 0).length;
    std::vector<int32_t> pos(static_cast<size_t>(n)), tok(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i) {
        pos[i] = start + i;
        tok[i] = 1000 * seq + start + i;
    }
    kv.commit(seq, n, pos.data(), tok.data());
}

const float *slot_key(const KvCache &kv, const Stream &s, int32_t slot) {
    const KvPoolRef &p = kv.pool_ref();
    int64_t row = int64_t{s.blocks[slot / p.block_size]} * 2 * p.block_size + slot % p.block_size;
    return p.storage.as<float>() + row * p.head_dim;
}

}  // namespace

TEST_CASE("KV cache: pool accounting is exact through reserve, commit and reset", "[kv]") {
    auto backend = make_cpu_backend(1);
    KvCache kv(*backend, small_config());
    REQUIRE(kv.blocks_total() == 12);
    REQUIRE(kv.blocks_free() == 12);
    CHECK(kv.bytes_per_block() == 2 * 4 * 4 * sizeof(float));

    append(kv, 0, 5);  // 2 blocks in each of 4 streams
    CHECK(kv.blocks_free() == 4);
    CHECK(kv.blocks_used(0).full == 8);
    CHECK(kv.lengths(0) == std::vector<int32_t>{5, 5, 5, 5});
    append(kv, 0, 3);  // 8 slots still fit in 2 blocks
    CHECK(kv.blocks_free() == 4);
    append(kv, 1, 1);
    CHECK(kv.blocks_free() == 0);
    CHECK(kv.blocks_used(1).full == 4);
    // Every block is held by exactly one stream.
    std::vector<int32_t> all;
    for (int32_t q = 0; q < 2; ++q)
        for (int32_t l = 0; l < 2; ++l)
            for (int32_t h = 0; h < 2; ++h)
                for (int32_t b : kv.stream(q, l, h).blocks) all.push_back(b);
    std::sort(all.begin(), all.end());
    CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
    CHECK(all.size() == 12);

    const Stream &s = kv.stream(0, 1, 1);
    CHECK(s.pos == std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7});
    CHECK(s.token[7] == 7);

    kv.reset(1);
    CHECK(kv.blocks_free() == 4);
    CHECK(kv.lengths(1) == std::vector<int32_t>{0, 0, 0, 0});
    kv.reset(0);
    CHECK(kv.blocks_free() == 12);

    // An unused reservation is returned whole.
    int32_t seq = 0, n = 6;
    kv.reserve(&seq, &n, 1);
    CHECK(kv.blocks_free() == 4);
    kv.release_unused(0);
    CHECK(kv.blocks_free() == 12);
}

TEST_CASE("KV cache: a stream's refs carry a new table version whenever its blocks change",
          "[kv]") {
    auto backend = make_cpu_backend(1);
    auto ex = backend->make_executor(1);
    KvConfig config = small_config();
    config.capacity_tokens = 20;  // room for a copy of sequence 0
    KvCache kv(*backend, config);
    CHECK(kv.pool_ref().n_streams == 2 * 2 * 2);
    std::vector<uint64_t> seen;
    auto version = [&](int32_t seq) { return kv.ref(seq, 1, 0).version; };
    // A version never seen before, on a stream whose table changed.
    auto check_new = [&](uint64_t v) {
        CHECK(v != 0);
        CHECK(std::find(seen.begin(), seen.end(), v) == seen.end());
        seen.push_back(v);
    };
    check_new(version(0));
    CHECK(version(0) != version(1));
    append(kv, 0, 2);  // a block taken
    check_new(version(0));
    const uint64_t one_block = version(0);
    append(kv, 0, 2);  // the same block: same table
    CHECK(version(0) == one_block);
    CHECK(kv.ref(0, 1, 0, 1).version == one_block);  // a ref for one more slot: same table
    append(kv, 0, 3);                                // another block
    check_new(version(0));
    const std::vector<int32_t> keep = {0, 1};
    kv.compact(*ex, 0, 1, 0, keep.data(), keep.size());  // a block back to the pool
    check_new(version(0));
    const uint64_t before_copy = version(1);
    kv.copy_seq(*ex, 0, 1);
    check_new(version(1));
    CHECK(version(1) != before_copy);
    kv.reset(0);  // a fresh table: still a version of its own
    check_new(version(0));
    // Streams the call did not touch keep theirs.
    const uint64_t other = kv.ref(1, 0, 1).version;
    kv.reset(0);
    CHECK(kv.ref(1, 0, 1).version == other);
}

TEST_CASE("KV cache: KV_FULL is all or nothing, for one sequence and for a batch", "[kv]") {
    auto backend = make_cpu_backend(1);
    KvCache kv(*backend, small_config());
    append(kv, 0, 6);  // 8 blocks
    append(kv, 1, 2);  // 4 blocks: the pool is empty, seq 0 has room for 2 more, seq 1 for 2
    REQUIRE(kv.blocks_free() == 0);
    const Snapshot before = snapshot(kv);

    int32_t seq = 0, n = 3;
    try {
        kv.reserve(&seq, &n, 1);
        FAIL("reserve should have thrown KV_FULL");
    } catch (const Error &e) {
        CHECK(e.status() == CAB_ERR_KV_FULL);
        CHECK_THAT(e.what(), Catch::Contains("needs 4 blocks") && Catch::Contains("0 free"));
    }
    CHECK(snapshot(kv) == before);

    // A batch where one sequence fits and the other does not changes neither.
    kv.reset(1);
    append(kv, 1, 4);
    const Snapshot full = snapshot(kv);
    const int32_t seqs[] = {0, 1}, counts[] = {1, 1};
    CHECK_THROWS_AS(kv.reserve(seqs, counts, 2), Error);
    CHECK(snapshot(kv) == full);
    // What fits still works.
    const int32_t fits[] = {2, 0};
    kv.reserve(seqs, fits, 2);
    CHECK(kv.blocks_free() == 0);
}

TEST_CASE("KV cache: truncate undoes appends and returns their blocks", "[kv]") {
    auto backend = make_cpu_backend(1);
    KvCache kv(*backend, small_config());
    append(kv, 0, 3);
    const std::vector<int32_t> lengths = kv.lengths(0);
    const Snapshot before = snapshot(kv);
    append(kv, 0, 6);
    CHECK(kv.blocks_free() == 0);
    kv.truncate(0, lengths);
    CHECK(snapshot(kv) == before);
}

TEST_CASE("KV cache: compact keeps slots in order with their data and frees tail blocks", "[kv]") {
    auto backend = make_cpu_backend(1);
    auto ex = backend->make_executor(1);
    KvConfig c = small_config();
    c.capacity_tokens = 16;
    KvCache kv(*backend, c);
    const int32_t seq = 0, n = 11;
    kv.reserve(&seq, &n, 1);
    // Distinct K/V per (slot, kv head): k = 100 * slot + 10 * head + dim, v = -k.
    const int64_t cols = int64_t{c.n_head_kv} * c.head_dim;
    Tensor k = backend->alloc(DType::F32, n, cols), v = backend->alloc(DType::F32, n, cols);
    for (int64_t r = 0; r < n; ++r)
        for (int64_t j = 0; j < cols; ++j) {
            k.as<float>()[r * cols + j] =
                static_cast<float>(100 * r + 10 * (j / c.head_dim) + j % c.head_dim);
            v.as<float>()[r * cols + j] = -k.as<float>()[r * cols + j];
        }
    for (int32_t l = 0; l < c.n_layer; ++l) {
        std::vector<StreamRef> refs;
        kv.stream_refs(l, &seq, 1, n, refs);
        ex->kv_append(kv.pool_ref(), refs.data(), 1, n, k, v);
    }
    std::vector<int32_t> pos(n), tok(n);
    for (int32_t i = 0; i < n; ++i) {
        pos[i] = i;
        tok[i] = 50 + i;
    }
    kv.commit(seq, n, pos.data(), tok.data());
    REQUIRE(kv.blocks_used(0).full == 12);

    const std::vector<int32_t> keep = {0, 2, 3, 9, 10};
    kv.compact(*ex, 0, 1, 1, keep.data(), keep.size());
    const Stream &s = kv.stream(0, 1, 1);
    CHECK(s.length == 5);
    CHECK(s.blocks.size() == 2);  // 3 blocks -> 2: one went back to the pool
    CHECK(kv.blocks_free() == 16 - 11);
    CHECK(s.pos == keep);
    CHECK(s.token == std::vector<int32_t>{50, 52, 53, 59, 60});
    CHECK(s.n_evicted == 6);
    for (int32_t i = 0; i < 5; ++i) {
        INFO("slot " << i);
        const float *key = slot_key(kv, s, i);
        CHECK(key[2] == static_cast<float>(100 * keep[i] + 10 + 2));
        CHECK(key[c.head_dim * c.block_size + 0] == -key[0]);  // its V row, a block later
    }
    // Other streams are untouched.
    CHECK(kv.stream(0, 1, 0).length == n);
    CHECK(slot_key(kv, kv.stream(0, 1, 0), 9)[1] == 901.0f);

    const std::vector<int32_t> bad = {3, 2};
    CHECK_THROWS_AS(kv.compact(*ex, 0, 0, 0, bad.data(), bad.size()), Error);
    const std::vector<int32_t> out_of_range = {0, 11};
    CHECK_THROWS_AS(kv.compact(*ex, 0, 0, 0, out_of_range.data(), out_of_range.size()), Error);
    CHECK(kv.stream(0, 0, 0).length == n);

    kv.compact(*ex, 0, 1, 1, nullptr, 0);
    CHECK(kv.stream(0, 1, 1).blocks.empty());
    kv.reset(0);
    CHECK(kv.blocks_free() == kv.blocks_total());
}

namespace {

// A host copy of what one sequence's streams (one layer) should hold, to check kernels against.
struct Mirror {
    std::vector<std::vector<float>> k, v;  // per kv head: rows of head_dim
};

// Appends rows random K/V rows to seq's streams in the cache and in the mirror.
void append_random(KvCache &kv, Executor &ex, Backend &backend, int32_t seq, int32_t rows,
                   Mirror &m, std::mt19937 &rng) {
    const KvConfig &c = kv.config();
    std::normal_distribution<float> nd;
    const int64_t cols = int64_t{c.n_head_kv} * c.head_dim;
    Tensor k = backend.alloc(DType::F32, rows, cols), v = backend.alloc(DType::F32, rows, cols);
    for (int64_t i = 0; i < rows * cols; ++i) {
        k.as<float>()[i] = nd(rng);
        v.as<float>()[i] = nd(rng);
    }
    kv.reserve(&seq, &rows, 1);
    std::vector<StreamRef> refs;
    kv.stream_refs(0, &seq, 1, rows, refs);
    ex.kv_append(kv.pool_ref(), refs.data(), 1, rows, k, v);
    std::vector<int32_t> pos(static_cast<size_t>(rows), 0);
    kv.commit(seq, rows, pos.data(), pos.data());
    m.k.resize(static_cast<size_t>(c.n_head_kv));
    m.v.resize(static_cast<size_t>(c.n_head_kv));
    for (int64_t r = 0; r < rows; ++r)
        for (int32_t h = 0; h < c.n_head_kv; ++h) {
            const float *kr = k.as<float>() + r * cols + h * c.head_dim;
            const float *vr = v.as<float>() + r * cols + h * c.head_dim;
            m.k[h].insert(m.k[h].end(), kr, kr + c.head_dim);
            m.v[h].insert(m.v[h].end(), vr, vr + c.head_dim);
        }
}

// Dense softmax(q K^T / sqrt(d)) V over the first `visible` rows of a mirror head.
std::vector<float> dense_attention(const float *q, const Mirror &m, int32_t g, int64_t visible,
                                   int32_t d) {
    std::vector<double> s(static_cast<size_t>(visible));
    double mx = -1e300, sum = 0.0;
    for (int64_t j = 0; j < visible; ++j) {
        double dot = 0.0;
        for (int32_t t = 0; t < d; ++t) dot += double{q[t]} * m.k[g][j * d + t];
        s[j] = dot / std::sqrt(static_cast<double>(d));
        mx = std::max(mx, s[j]);
    }
    for (double &x : s) sum += (x = std::exp(x - mx));
    std::vector<float> out(static_cast<size_t>(d), 0.0f);
    for (int64_t j = 0; j < visible; ++j)
        for (int32_t t = 0; t < d; ++t)
            out[t] += static_cast<float>(s[j] / sum * m.v[g][j * d + t]);
    return out;
}

}  // namespace

TEST_CASE(
    "KV cache: paged attention equals dense causal attention (GQA, fragmented pool, "
    "uneven streams)",
    "[kv][attention]") {
    auto backend = make_cpu_backend(2);
    auto ex = backend->make_executor(2);
    KvConfig c;
    c.n_layer = 1;
    c.n_head_kv = 2;
    c.head_dim = 8;
    c.block_size = 4;
    c.capacity_tokens = 64;
    c.n_seq_max = 3;
    KvCache kv(*backend, c);
    const int32_t n_head = 4, d = c.head_dim;
    std::mt19937 rng(7);
    std::normal_distribution<float> nd;
    Mirror m0, m1, m2;
    // Interleave sequences so that each stream's blocks are scattered through the pool.
    append_random(kv, *ex, *backend, 1, 5, m1, rng);
    append_random(kv, *ex, *backend, 0, 6, m0, rng);
    append_random(kv, *ex, *backend, 2, 3, m2, rng);
    append_random(kv, *ex, *backend, 0, 7, m0, rng);
    kv.reset(1);
    // Kv head 1 of sequence 0 keeps every other token, as after eviction.
    std::vector<int32_t> keep;
    for (int32_t i = 0; i < 13; i += 2) keep.push_back(i);
    kv.compact(*ex, 0, 0, 1, keep.data(), keep.size());
    std::vector<float> k1, v1;
    for (int32_t i : keep) {
        k1.insert(k1.end(), m0.k[1].begin() + i * d, m0.k[1].begin() + (i + 1) * d);
        v1.insert(v1.end(), m0.v[1].begin() + i * d, m0.v[1].begin() + (i + 1) * d);
    }
    m0.k[1] = k1;
    m0.v[1] = v1;

    SECTION("prefill chunk: query i sees its stream's slots up to its own") {
        const int32_t n = 5, seq = 0;
        append_random(kv, *ex, *backend, seq, n, m0, rng);
        Tensor q = backend->alloc(DType::F32, n, n_head * d),
               out = backend->alloc(DType::F32, n, n_head * d);
        for (int64_t i = 0; i < q.rows() * q.cols(); ++i) q.as<float>()[i] = nd(rng);
        std::vector<StreamRef> refs;
        kv.stream_refs(0, &seq, 1, 0, refs);
        REQUIRE(refs[0].length == 18);
        REQUIRE(refs[1].length == 12);
        ex->attention_prefill(kv.pool_ref(), refs.data(), c.n_head_kv, q, n_head, out, 0);
        for (int32_t i = 0; i < n; ++i)
            for (int32_t h = 0; h < n_head; ++h) {
                int32_t g = h / 2;
                auto want = dense_attention(q.as<float>() + i * q.cols() + h * d, m0, g,
                                            refs[g].length - n + i + 1, d);
                for (int32_t t = 0; t < d; ++t)
                    CHECK(out.as<float>()[i * out.cols() + h * d + t] ==
                          Approx(want[t]).margin(1e-5));
            }
    }
    SECTION("decode batch: each row sees all of its own sequence's slots") {
        const int32_t seqs[] = {2, 0}, ones[] = {1, 1};
        kv.reserve(seqs, ones, 2);
        const int64_t cols = int64_t{c.n_head_kv} * d;
        Tensor k = backend->alloc(DType::F32, 2, cols), v = backend->alloc(DType::F32, 2, cols);
        Tensor q = backend->alloc(DType::F32, 2, n_head * d),
               out = backend->alloc(DType::F32, 2, n_head * d);
        for (int64_t i = 0; i < 2 * cols; ++i) {
            k.as<float>()[i] = nd(rng);
            v.as<float>()[i] = nd(rng);
        }
        for (int64_t i = 0; i < q.rows() * q.cols(); ++i) q.as<float>()[i] = nd(rng);
        std::vector<StreamRef> refs;
        kv.stream_refs(0, seqs, 2, 1, refs);
        ex->kv_append(kv.pool_ref(), refs.data(), 2, 1, k, v);
        ex->attention_decode(kv.pool_ref(), refs.data(), c.n_head_kv, q, n_head, out);
        Mirror *mirrors[] = {&m2, &m0};
        for (int32_t s = 0; s < 2; ++s) {
            for (int32_t g = 0; g < 2; ++g) {
                const float *kr = k.as<float>() + s * cols + g * d,
                            *vr = v.as<float>() + s * cols + g * d;
                mirrors[s]->k[g].insert(mirrors[s]->k[g].end(), kr, kr + d);
                mirrors[s]->v[g].insert(mirrors[s]->v[g].end(), vr, vr + d);
            }
            for (int32_t h = 0; h < n_head; ++h) {
                int32_t g = h / 2;
                auto want = dense_attention(q.as<float>() + s * q.cols() + h * d, *mirrors[s], g,
                                            refs[s * 2 + g].length, d);
                for (int32_t t = 0; t < d; ++t)
                    CHECK(out.as<float>()[s * out.cols() + h * d + t] ==
                          Approx(want[t]).margin(1e-5));
            }
        }
    }
}
