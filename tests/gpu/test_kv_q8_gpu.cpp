// 8-bit KV blocks (int8 and fp8 E4M3) on the CUDA backend (issue 8), against the CPU backend and
// the host reference of the formats:
// - quantizing, compacting (slots keep their types), appending into an int8 block's free slots
//   and copying a sequence store exactly the CPU's int8 values and scales for the same
//   (bf16-representable) inputs, and move scores bit for bit;
// - decode (the tensor-core kernel: int8 tiles read in registers, the tile at the int8 / bf16
//   boundary widened in shared memory, bf16 tiles; split-K, deferred scores) and prefill
//   (the CUDA-core kernel) over streams split at a random point into int8 and bf16 blocks equal
//   attention over the same K/V dequantized to fp32 on the CPU, outputs and scores, to bf16's
//   rounding of Q and P, whatever 8-bit slot count the streams report (it moves decode's
//   splits).
// Head sizes 64 and 128, blocks of 4 (int8 / bf16 boundaries inside the decode kernel's tiles)
// and 16.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "backend_fixture.h"
#include "kv/kv_cache.h"
#include "kv/quant_q8.h"
#include "model/model.h"
#include "policy/key_means.h"

namespace cab::gpu_test {
namespace {

constexpr int32_t kHeadsKv = 2, kGroup = 4, kLayers = 2;

KvConfig config(int32_t head_dim, int32_t block_size, DType dtype, bool q8,
                Q8Type type = Q8Type::Int8) {
    KvConfig c;
    c.n_layer = kLayers;
    c.n_head_kv = kHeadsKv;
    c.n_head = kHeadsKv * kGroup;
    c.head_dim = head_dim;
    c.block_size = block_size;
    c.capacity_tokens = 3072;  // a copy of a 1300-slot sequence beside it
    c.q8_capacity_tokens = q8 ? 3072 : 0;
    c.q8_type = type;
    c.n_seq_max = 2;
    c.dtype = dtype;
    c.score_window = 4;
    return c;
}

// A cache on one backend, with the executor that runs its ops.
struct Rig {
    Backend &backend;
    std::unique_ptr<Executor> ex;
    KvCache kv;
    Rig(Backend &b, const KvConfig &c) : backend(b), ex(b.make_executor(1)), kv(b, c) {}

    DType act() const { return backend.act_dtype(); }
    Tensor tensor(int64_t rows, int64_t cols, const std::vector<float> &v) {
        return make_tensor(backend, *ex, act(), rows, cols, v);
    }

    // Appends rows (per layer: its own [n, n_head_kv * head_dim] K and V) to seq.
    void append(int32_t seq, const std::vector<std::vector<float>> &k,
                const std::vector<std::vector<float>> &v, int32_t n) {
        const KvConfig &c = kv.config();
        kv.reserve(&seq, &n, 1);
        for (int32_t l = 0; l < c.n_layer; ++l) {
            std::vector<StreamRef> refs;
            kv.stream_refs(l, &seq, 1, n, refs);
            const int64_t cols = int64_t{c.n_head_kv} * c.head_dim;
            ex->kv_append(kv.pool_ref(), refs.data(), 1, n, tensor(n, cols, k[l]),
                          tensor(n, cols, v[l]));
        }
        std::vector<int32_t> pos(static_cast<size_t>(n));
        const int32_t start = kv.stream(seq, 0, 0).length;
        for (int32_t i = 0; i < n; ++i) pos[i] = start + i;
        kv.commit(seq, n, pos.data(), pos.data());
    }

    std::vector<float> rows(int32_t seq, int32_t l, int32_t h, bool values) {
        std::vector<float> out(static_cast<size_t>(kv.stream(seq, l, h).length) *
                               kv.config().head_dim);
        ex->kv_read(kv.pool_ref(), kv.ref(seq, l, h), values, out.data());
        return out;
    }

    std::vector<float> scores(int32_t seq, int32_t l, int32_t h) {
        SlotScores s;
        kv.read_scores(*ex, seq, l, h, s);
        std::vector<float> all = s.score;
        all.insert(all.end(), s.observers.begin(), s.observers.end());
        all.insert(all.end(), s.window.begin(), s.window.end());
        return all;
    }

    // Attention of the last q.rows() queries (prefill chunk) or of one query (decode) in
    // layer l; the output as floats. q8_length >= 0 replaces the 8-bit slot count the streams
    // report (capped at their lengths), which only guides how decode splits its keys.
    std::vector<float> attend(int32_t seq, int32_t l, const std::vector<float> &q, int32_t n,
                              bool decode, int32_t q8_length = -1) {
        const KvConfig &c = kv.config();
        const int64_t cols = int64_t{c.n_head} * c.head_dim;
        const Tensor qt = tensor(n, cols, q);
        const Tensor out = poisoned(backend, *ex, act(), n, cols);
        std::vector<StreamRef> refs;
        kv.stream_refs(l, &seq, 1, 0, refs);
        if (q8_length >= 0)
            for (StreamRef &r : refs) r.q8_length = std::min(q8_length, r.length);
        if (decode) {
            ex->attention_decode(kv.pool_ref(), refs.data(), c.n_head_kv, qt, c.n_head, out);
        } else {
            ex->attention_prefill(kv.pool_ref(), refs.data(), c.n_head_kv, qt, c.n_head, out,
                                  c.score_window);
        }
        return read(*ex, out);
    }
};

using Layers = std::vector<std::vector<float>>;

Layers layer_values(int32_t n, int32_t cols, std::mt19937 &rng) {
    Layers out;
    for (int32_t l = 0; l < kLayers; ++l)
        out.push_back(bf16_values(static_cast<size_t>(n) * cols, 1.0f, rng));
    return out;
}

bool equal_rows(Rig &a, Rig &b, int32_t seq) {
    for (int32_t l = 0; l < kLayers; ++l)
        for (int32_t h = 0; h < kHeadsKv; ++h)
            for (bool values : {false, true})
                if (a.rows(seq, l, h, values) != b.rows(seq, l, h, values)) return false;
    return true;
}

}  // namespace

TEST_CASE(
    "kv q8 gpu: 8-bit blocks hold the CPU's values; attention over mixed streams equals "
    "attention over the dequantized K/V",
    "[kv][q8]") {
    const Q8Type type = GENERATE(Q8Type::Int8, Q8Type::Fp8E4M3);
    const int32_t d = GENERATE(64, 128);
    const int32_t bs = GENERATE(4, 16);
    const int draw = GENERATE(0, 1);  // two random draws of each
    const uint32_t seed = std::random_device{}();
    INFO((type == Q8Type::Int8 ? "int8" : "fp8 E4M3")
         << ", head_dim " << d << ", block_size " << bs << ", draw " << draw << ", seed " << seed);
    std::mt19937 rng(seed);
    const int32_t cols = kHeadsKv * d, q_cols = kHeadsKv * kGroup * d;
    // Up to ~10 of decode's 128-key int8 tiles, in one to several splits.
    const int32_t n = std::uniform_int_distribution<int32_t>(300, 1300)(rng);
    // A split at a random point: the int8 part is the whole blocks before the last `recent`.
    const int32_t recent = std::uniform_int_distribution<int32_t>(bs, 200)(rng);
    INFO(n << " slots, the last " << recent << " kept in bf16");

    Rig g(gpu(), config(d, bs, DType::BF16, true, type));
    Rig c(cpu(), config(d, bs, DType::F32, true, type));
    const Layers k0 = layer_values(n, cols, rng), v0 = layer_values(n, cols, rng);
    g.append(0, k0, v0, n);
    c.append(0, k0, v0, n);
    // Scores to move: a prefill pass over the GPU's bf16 cache before quantizing.
    const Layers qp = layer_values(8, q_cols, rng);
    for (int32_t l = 0; l < kLayers; ++l) g.attend(0, l, qp[l], 8, false);
    std::vector<std::vector<float>> scores_before;
    for (int32_t l = 0; l < kLayers; ++l)
        for (int32_t h = 0; h < kHeadsKv; ++h) scores_before.push_back(g.scores(0, l, h));

    const int64_t moved = g.kv.quantize(*g.ex, 0, recent);
    REQUIRE(c.kv.quantize(*c.ex, 0, recent) == moved);
    const int32_t n8 = (n - recent) / bs * bs;
    REQUIRE(moved == int64_t{kLayers} * kHeadsKv * n8);
    REQUIRE(n8 > 0);
    CHECK(g.kv.q8_blocks(g.kv.stream(0, 1, 1)) == n8 / bs);
    CHECK(equal_rows(g, c, 0));  // the same 8-bit values and scales
    // And the host reference of the format (kv/quant_q8.h) on the same rows.
    for (int32_t l = 0; l < kLayers; ++l)
        for (int32_t h = 0; h < kHeadsKv; ++h)
            for (bool values : {false, true}) {
                const std::vector<float> got = g.rows(0, l, h, values);
                std::vector<float> want(got.size()), row(static_cast<size_t>(d));
                std::vector<int8_t> q(static_cast<size_t>(d));
                for (int32_t r = 0; r < n; ++r) {
                    const float *x = (values ? v0 : k0)[l].data() + int64_t{r} * cols + h * d;
                    float *out = want.data() + int64_t{r} * d;
                    if (r >= n8) {
                        std::copy(x, x + d, out);
                    } else if (type == Q8Type::Int8) {
                        dequantize_row_q8(q.data(), quantize_row_q8(x, d, q.data()), d, out);
                    } else {
                        auto *codes = reinterpret_cast<uint8_t *>(q.data());
                        dequantize_row_fp8(codes, quantize_row_fp8(x, d, codes), d, out);
                    }
                }
                INFO("layer " << l << ", kv head " << h << (values ? ", V" : ", K"));
                CHECK(got == want);
            }
    for (int32_t l = 0, i = 0; l < kLayers; ++l)
        for (int32_t h = 0; h < kHeadsKv; ++h, ++i) CHECK(g.scores(0, l, h) == scores_before[i]);
    // cab-frc's key means over the mixed streams, runs across the 8-bit / bf16 boundary: the
    // same bits as key_means over the keys kv_read gives.
    for (const int32_t run : {1, 7, 3 * bs + 1}) {
        std::vector<int32_t> runs(static_cast<size_t>(kLayers * kHeadsKv), run);
        runs.back() = n;  // one run over the whole stream
        std::vector<float> got;
        g.kv.read_key_means(*g.ex, 0, runs, got);
        size_t at = 0;
        for (int32_t l = 0, i = 0; l < kLayers; ++l)
            for (int32_t h = 0; h < kHeadsKv; ++h, ++i) {
                const std::vector<float> keys = g.rows(0, l, h, false);
                std::vector<float> want(static_cast<size_t>(run_count(n, runs[i]) * d));
                key_means(keys.data(), n, d, runs[i], want.data());
                INFO("key means, run " << runs[i] << ", layer " << l << ", kv head " << h);
                REQUIRE(at + want.size() <= got.size());
                CHECK(std::equal(want.begin(), want.end(), got.begin() + at));
                at += want.size();
            }
        CHECK(at == got.size());
    }

    SECTION("decode and prefill over the mixed streams") {
        // The twin: the GPU's dequantized K/V in fp32 on the CPU, no int8 blocks.
        Rig t(cpu(), config(d, bs, DType::F32, false));
        Layers kt(kLayers), vt(kLayers);
        for (int32_t l = 0; l < kLayers; ++l) {
            kt[l].resize(static_cast<size_t>(n) * cols);
            vt[l].resize(kt[l].size());
            for (int32_t h = 0; h < kHeadsKv; ++h) {
                const std::vector<float> kr = g.rows(0, l, h, false), vr = g.rows(0, l, h, true);
                for (int32_t r = 0; r < n; ++r)
                    for (int32_t e = 0; e < d; ++e) {
                        kt[l][static_cast<size_t>(r) * cols + h * d + e] = kr[r * d + e];
                        vt[l][static_cast<size_t>(r) * cols + h * d + e] = vr[r * d + e];
                    }
            }
        }
        t.append(0, kt, vt, n);
        for (int step = 0; step < 3; ++step) {
            // The streams' true 8-bit slot count, then none, then all: the splits move, the
            // output and scores stay.
            const int32_t q8_length = step == 0 ? -1 : step == 1 ? 0 : n + 3;
            INFO("decode step " << step << ", q8_length " << q8_length);
            const Layers k1 = layer_values(1, cols, rng), v1 = layer_values(1, cols, rng);
            g.append(0, k1, v1, 1);
            t.append(0, k1, v1, 1);
            for (int32_t l = 0; l < kLayers; ++l) {
                const std::vector<float> q = bf16_values(static_cast<size_t>(q_cols), 1.0f, rng);
                check_close(g.attend(0, l, q, 1, true, q8_length), t.attend(0, l, q, 1, true), 2e-2,
                            1e-2, "decode output");
            }
        }
        const int32_t m = 6;
        const Layers k2 = layer_values(m, cols, rng), v2 = layer_values(m, cols, rng);
        g.append(0, k2, v2, m);
        t.append(0, k2, v2, m);
        for (int32_t l = 0; l < kLayers; ++l) {
            const std::vector<float> q = bf16_values(static_cast<size_t>(m) * q_cols, 1.0f, rng);
            check_close(g.attend(0, l, q, m, false), t.attend(0, l, q, m, false), 2e-2, 1e-2,
                        "prefill output");
        }
        // The decode steps' and the chunk's scores against the twin's, which started at zero: the
        // GPU's score and observers less those of the pass before quantizing (the chunk rewrote
        // `window` on both).
        for (int32_t l = 0, i = 0; l < kLayers; ++l)
            for (int32_t h = 0; h < kHeadsKv; ++h, ++i) {
                INFO("layer " << l << ", kv head " << h);
                std::vector<float> got = g.scores(0, l, h), want = t.scores(0, l, h);
                const int32_t len = n + 3 + m;
                REQUIRE(got.size() == static_cast<size_t>(3 * len));
                for (int32_t kind = 0; kind < 2; ++kind)
                    for (int32_t j = 0; j < n; ++j)
                        got[static_cast<size_t>(kind) * len + j] -=
                            scores_before[i][static_cast<size_t>(kind) * n + j];
                check_close(got, want, 2e-2, 2e-3, "scores");
            }
    }

    SECTION("compaction keeps each slot's type; appends into int8 slots are quantized") {
        // Random kept slots, then (every other stream) only int8 ones, so that the stream ends
        // inside an int8 block and the next appends land there.
        for (int32_t l = 0; l < kLayers; ++l)
            for (int32_t h = 0; h < kHeadsKv; ++h) {
                std::vector<int32_t> keep;
                const bool int8_only = (l + h) % 2 == 1;
                for (int32_t j = 0; j < (int8_only ? n8 : n); ++j)
                    if (rng() % 3 != 0) keep.push_back(j);
                if (int8_only && keep.size() % bs == 0) keep.pop_back();
                const std::vector<float> before = g.scores(0, l, h);
                g.kv.compact(*g.ex, 0, l, h, keep.data(), static_cast<int32_t>(keep.size()));
                c.kv.compact(*c.ex, 0, l, h, keep.data(), static_cast<int32_t>(keep.size()));
                const std::vector<float> after = g.scores(0, l, h);
                const size_t kept = keep.size();
                REQUIRE(after.size() == 3 * kept);
                bool moved_scores = true;
                for (size_t kind = 0; kind < 3; ++kind)
                    for (size_t i = 0; i < kept; ++i)
                        moved_scores =
                            moved_scores && after[kind * kept + i] == before[kind * n + keep[i]];
                CHECK(moved_scores);
                CHECK(g.kv.stream(0, l, h).blocks.ids() == c.kv.stream(0, l, h).blocks.ids());
            }
        CHECK(equal_rows(g, c, 0));
        // Streams of different lengths now: append through each stream's own refs.
        const Layers k3 = layer_values(5, cols, rng), v3 = layer_values(5, cols, rng);
        g.append(0, k3, v3, 5);
        c.append(0, k3, v3, 5);
        CHECK(equal_rows(g, c, 0));
        CHECK(g.kv.q8_blocks_free() == c.kv.q8_blocks_free());
        // Decode over them: streams of different lengths, half ending inside an int8 block (the
        // step's own key then int8). The CPU reads the same int8 values and exact bf16 ones.
        const Layers k4 = layer_values(1, cols, rng), v4 = layer_values(1, cols, rng);
        g.append(0, k4, v4, 1);
        c.append(0, k4, v4, 1);
        for (int32_t l = 0; l < kLayers; ++l) {
            const std::vector<float> q = bf16_values(static_cast<size_t>(q_cols), 1.0f, rng);
            check_close(g.attend(0, l, q, 1, true), c.attend(0, l, q, 1, true), 2e-2, 1e-2,
                        "decode output after compaction");
        }
    }

    SECTION("a copied sequence holds the same int8 and bf16 blocks' contents") {
        g.kv.copy_seq(*g.ex, 0, 1);
        for (int32_t l = 0; l < kLayers; ++l)
            for (int32_t h = 0; h < kHeadsKv; ++h) {
                CHECK(g.kv.q8_blocks(g.kv.stream(1, l, h)) == n8 / bs);
                for (bool values : {false, true})
                    CHECK(g.rows(1, l, h, values) == g.rows(0, l, h, values));
                CHECK(g.scores(1, l, h) == g.scores(0, l, h));
            }
    }
}

TEST_CASE(
    "kv q8 gpu: the fused RoPE-append paths store into 8-bit slots what rope, then append, store",
    "[kv][q8]") {
    const Q8Type type = GENERATE(Q8Type::Int8, Q8Type::Fp8E4M3);
    const int32_t d = GENERATE(64, 128);
    const RopeStyle style = GENERATE(RopeStyle::Normal, RopeStyle::NeoX);
    const uint32_t seed = std::random_device{}();
    INFO((type == Q8Type::Int8 ? "int8" : "fp8 E4M3")
         << ", head_dim " << d << (style == RopeStyle::NeoX ? ", NeoX" : ", normal") << ", seed "
         << seed);
    std::mt19937 rng(seed);
    constexpr int32_t bs = 16, n = 100, rows = 3, embd = 64;
    const int32_t n_head = kHeadsKv * kGroup, width = (n_head + 2 * kHeadsKv) * d;
    const Layers k0 = layer_values(n, kHeadsKv * d, rng), v0 = layer_values(n, kHeadsKv * d, rng);
    // Four caches with the same contents: every stream int8 but for one free slot of its last
    // int8 block, so that the next rows go to an int8 slot, then to a new bf16 block.
    std::vector<std::unique_ptr<Rig>> rigs;
    for (int i = 0; i < 4; ++i) {
        rigs.push_back(std::make_unique<Rig>(gpu(), config(d, bs, DType::BF16, true, type)));
        Rig &r = *rigs.back();
        r.append(0, k0, v0, n);
        REQUIRE(r.kv.quantize(*r.ex, 0, 0) > 0);
        std::vector<int32_t> keep(n / bs * bs - 1);
        for (size_t j = 0; j < keep.size(); ++j) keep[j] = static_cast<int32_t>(j);
        for (int32_t l = 0; l < kLayers; ++l)
            for (int32_t h = 0; h < kHeadsKv; ++h)
                r.kv.compact(*r.ex, 0, l, h, keep.data(), static_cast<int32_t>(keep.size()));
    }
    const int32_t seq = 0, start = rigs[0]->kv.stream(0, 0, 0).length;
    std::vector<int32_t> pos(rows);
    for (int32_t i = 0; i < rows; ++i) pos[i] = start + i;
    const RopeParams params{style, 10000.0f, 1.0f};
    const std::vector<float> qkv_values = bf16_values(size_t{rows} * width, 1.0f, rng);
    const std::vector<float> x_values = bf16_values(size_t{rows} * embd, 2.0f, rng);
    std::vector<float> norm = bf16_values(embd, 0.2f, rng);
    for (float &v : norm) v += 1.0f;
    const std::vector<float> w = bf16_values(static_cast<size_t>(width) * embd, 0.125f, rng);
    std::vector<std::vector<float>> q_out(4);
    for (int i = 0; i < 4; ++i) {
        Rig &r = *rigs[i];
        int32_t count = rows;
        r.kv.reserve(&seq, &count, 1);
        for (int32_t l = 0; l < kLayers; ++l) {
            std::vector<StreamRef> refs;
            r.kv.stream_refs(l, &seq, 1, rows, refs);
            REQUIRE(r.kv.pool_ref().is_q8(refs[0].blocks[start / bs]));
            const Tensor qkv = make_tensor(gpu(), *r.ex, DType::BF16, rows, width, qkv_values);
            const Tensor q = qkv.cols_view(0, int64_t{n_head} * d);
            const Tensor k = qkv.cols_view(int64_t{n_head} * d, int64_t{kHeadsKv} * d);
            const Tensor v = qkv.cols_view(int64_t{n_head + kHeadsKv} * d, int64_t{kHeadsKv} * d);
            const Tensor x = make_tensor(gpu(), *r.ex, DType::F32, rows, embd, x_values);
            const Tensor nw = make_tensor(gpu(), *r.ex, DType::F32, 1, embd, norm);
            const Tensor wqkv = make_tensor(gpu(), *r.ex, DType::BF16, width, embd, w);
            const Tensor xn = r.backend.alloc(DType::BF16, rows, embd);
            const KvPoolRef pool = r.kv.pool_ref();
            if (i == 0) {  // fused: the RoPE-append kernel, then the int8 rows' kernel
                r.ex->rope_kv_append(pool, refs.data(), 1, rows, q, n_head, k, v, kHeadsKv,
                                     pos.data(), params);
            } else if (i == 1) {  // rope, rope, kv_append
                r.ex->Executor::rope_kv_append(pool, refs.data(), 1, rows, q, n_head, k, v,
                                               kHeadsKv, pos.data(), params);
            } else if (i == 2) {  // fused: the QKV GEMV's RoPE epilogue
                r.ex->rmsnorm_qkv_rope_append(x, nw, 1e-5f, wqkv, nullptr, xn, qkv, pool,
                                              refs.data(), 1, rows, n_head, kHeadsKv, pos.data(),
                                              params);
            } else {  // rmsnorm_matmul, then rope_kv_append (rig 0's path)
                r.ex->Executor::rmsnorm_qkv_rope_append(x, nw, 1e-5f, wqkv, nullptr, xn, qkv, pool,
                                                        refs.data(), 1, rows, n_head, kHeadsKv,
                                                        pos.data(), params);
            }
            if (l == 0) {
                const std::vector<float> all = read(*r.ex, qkv);
                for (int32_t row = 0; row < rows; ++row)
                    q_out[i].insert(q_out[i].end(), all.begin() + int64_t{row} * width,
                                    all.begin() + int64_t{row} * width + int64_t{n_head} * d);
            }
        }
        r.kv.commit(seq, rows, pos.data(), pos.data());
    }
    CHECK(q_out[0] == q_out[1]);
    CHECK(q_out[2] == q_out[3]);
    CHECK(equal_rows(*rigs[0], *rigs[1], 0));  // int8 values and scales, bf16 rows
    CHECK(equal_rows(*rigs[2], *rigs[3], 0));
    for (int32_t l = 0; l < kLayers; ++l)
        for (int32_t h = 0; h < kHeadsKv; ++h)
            CHECK(rigs[0]->scores(0, l, h) == rigs[1]->scores(0, l, h));
}

}  // namespace cab::gpu_test
