// Prefill attention with fused scores against the double-precision reference, on fresh random
// inputs every run, outputs poisoned before each launch, scores read through the paged score
// pool whose unused floats must stay poisoned. Head sizes 64 and 128 run every case on both
// tensor-core kernels: the mma.sync one and, on an sm_90 device, the wgmma one.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <sstream>

#include "attention_fixture.h"

namespace cab::gpu_test {
namespace {

struct PrefillCase {
    int n_head_kv, group, d, n;
    std::vector<int> cached;  // slots before the chunk, per kv head (streams may differ)
    int window;               // score_window; 0 leaves window untouched
    bool scores;
    float key_scale;  // > 1 makes the softmax sharp (large logits)
    int block_size = 16;
    attention::Kernel kernel = attention::Kernel::Auto;
    int cta_rows = 0;  // PrefillArgs::sm90_cta_rows

    std::string name() const {
        std::ostringstream s;
        s << "kv heads " << n_head_kv << " group " << group << " d " << d << " n " << n
          << " cached";
        for (int c : cached) s << " " << c;
        s << " window " << window << (scores ? " scores" : " no scores") << " key scale "
          << key_scale << " block " << block_size;
        if (kernel == attention::Kernel::Sm80) s << " sm80 kernel";
        if (kernel == attention::Kernel::Sm90) s << " sm90 kernel";
        if (cta_rows != 0) s << " of " << cta_rows << " rows";
        return s.str();
    }
};

constexpr float kWindowSentinel = 12345.0f;  // window must stay as it was when window == 0

void run_case(const PrefillCase &c, std::mt19937 &rng) {
    INFO(c.name());
    const int n_head = c.n_head_kv * c.group, d = c.d;
    const int q_stride = n_head * d + 8, out_stride = n_head * d + 16;  // padded rows
    std::vector<HostStream> streams;
    std::vector<HostScores> init;
    std::uniform_real_distribution<float> unit(0.0f, 2.0f);
    int max_length = 0;
    for (int g = 0; g < c.n_head_kv; ++g) {
        int len = c.cached[g] + c.n;
        max_length = std::max(max_length, len);
        streams.push_back(random_stream(len, d, c.key_scale, rng));
        HostScores s;
        for (int j = 0; j < len; ++j) {
            s.score.push_back(unit(rng));
            s.observers.push_back(std::floor(20.0f * unit(rng)));
            s.window.push_back(c.window > 0 ? NAN : kWindowSentinel);
            s.last.push_back(NAN);
        }
        init.push_back(s);
    }
    std::vector<float> q = random_bf16(static_cast<size_t>(c.n) * q_stride, 1.0f, rng);
    PagedStreams paged(streams, d, c.block_size, c.scores ? &init : nullptr, rng);
    DeviceBuffer q_dev(bf16_bits(q));
    DeviceBuffer out_dev(static_cast<size_t>(c.n) * out_stride * 2);
    out_dev.poison();

    attention::PrefillArgs args;
    args.pool = paged.pool();
    args.streams = paged.streams();
    args.n_head_kv = c.n_head_kv;
    args.n_head = n_head;
    args.n = c.n;
    args.max_length = max_length;
    args.q = q_dev.get();
    args.q_stride = q_stride;
    args.out = out_dev.get();
    args.out_stride = out_stride;
    args.scores = c.scores;
    args.score_window = c.window;
    args.kernel = c.kernel;
    args.sm90_cta_rows = c.cta_rows;
    attention::prefill(args, nullptr);
    cuda_check(cudaDeviceSynchronize(), "prefill");

    std::vector<uint16_t> out = out_dev.download<uint16_t>();
    const ScoreSnapshot snap = paged.download_scores();
    const std::vector<HostScores> &got = snap.streams;
    Compare o_cmp{1e-2, 6e-3}, s_cmp{1e-3, 1e-6};
    double err2 = 0.0, ref2 = 0.0;
    size_t padding_touched = 0;
    std::vector<double> p, o;
    for (int g = 0; g < c.n_head_kv; ++g) {
        const HostStream &st = streams[g];
        const int first = st.length - c.n, n_window = std::min(c.window, c.n);
        std::vector<double> col(st.length, 0.0), win(st.length, 0.0), last(st.length, 0.0);
        for (int i = 0; i < c.n; ++i) {
            for (int hh = 0; hh < c.group; ++hh) {
                const int h = g * c.group + hh;
                reference_row(q.data() + static_cast<size_t>(i) * q_stride + h * d, st,
                              first + i + 1, d, p, o);
                for (int x = 0; x < d; ++x) {
                    double v = from_bf16(out[static_cast<size_t>(i) * out_stride + h * d + x]);
                    o_cmp(v, o[x]);
                    err2 += (v - o[x]) * (v - o[x]);
                    ref2 += o[x] * o[x];
                }
                for (int j = 0; j <= first + i; ++j) {
                    col[j] += p[j];
                    if (i >= c.n - n_window) win[j] += p[j];
                    if (i == c.n - 1) last[j] += p[j];
                }
            }
            for (int x = n_head * d; x < out_stride; ++x)
                padding_touched += out[static_cast<size_t>(i) * out_stride + x] != 0xffff;
        }
        if (!c.scores) continue;
        for (int j = 0; j < st.length; ++j) {
            s_cmp(got[g].score[j], init[g].score[j] + col[j]);
            double seen = c.n - std::max(0, j - first);
            CHECK(got[g].observers[j] == init[g].observers[j] + seen);
            if (c.window > 0) {
                s_cmp(got[g].window[j], win[j]);
            } else {
                CHECK(got[g].window[j] == kWindowSentinel);
            }
            s_cmp(got[g].last[j], last[j]);
        }
    }
    // One line per case: the accuracy actually reached, for the record (docs/PERFORMANCE.md).
    std::printf(
        "prefill %s: output rel. norm error %.1e, worst |error| / bound %.2f; scores "
        "worst |error| / bound %.3f over %zu values\n",
        c.name().c_str(), std::sqrt(err2 / ref2), o_cmp.worst, s_cmp.worst, s_cmp.checked);
    CHECK(o_cmp.bad == 0);
    CHECK(std::sqrt(err2 / ref2) < 1e-2);
    CHECK(s_cmp.bad == 0);
    CHECK(padding_touched == 0);
    CHECK(snap.poison_changed == 0);  // no score write outside the streams' slots
}

// The case on the mma.sync kernel, then on the wgmma kernel where the device runs it: at
// head_dim 64 on each of its CTA sizes, which the grid's size would otherwise choose between.
void run_kernels(PrefillCase c, std::mt19937 &rng) {
    c.kernel = attention::Kernel::Sm80;
    run_case(c, rng);
    if (!attention::sm90_available()) {
        WARN("no sm_90 device: the wgmma prefill kernel was not tested");
        return;
    }
    c.kernel = attention::Kernel::Sm90;
    if (c.d != 64) {
        run_case(c, rng);
        return;
    }
    for (int rows : {64, 128, 192}) {
        c.cta_rows = rows;
        run_case(c, rng);
    }
}

}  // namespace

TEST_CASE("prefill: GQA 7:1, d 128, tile-unaligned lengths, scores", "[prefill][small]") {
    std::mt19937 rng(std::random_device{}());
    run_kernels({2, 7, 128, 77, {0, 45}, 32, true, 1.0f}, rng);
}

TEST_CASE("prefill: single query, empty cache", "[prefill][small]") {
    std::mt19937 rng(std::random_device{}());
    run_kernels({2, 7, 128, 1, {0, 0}, 32, true, 1.0f}, rng);
    run_kernels({1, 4, 64, 1, {0}, 32, true, 1.0f}, rng);
    run_kernels({1, 4, 64, 1, {300}, 0, true, 1.0f}, rng);
}

TEST_CASE("prefill: GQA 4:1, d 64, cached prefix, window larger than the chunk", "[prefill]") {
    std::mt19937 rng(std::random_device{}());
    run_kernels({3, 4, 64, 20, {130, 0, 511}, 32, true, 1.0f}, rng);
    run_kernels({2, 4, 64, 200, {0, 64}, 32, true, 1.0f}, rng);
}

TEST_CASE("prefill: long chunks over many tiles, sharp softmax", "[prefill]") {
    std::mt19937 rng(std::random_device{}());
    run_kernels({2, 7, 128, 300, {700, 333}, 32, true, 3.0f}, rng);
    run_kernels({2, 7, 64, 257, {0, 129}, 16, true, 3.0f}, rng);
}

TEST_CASE("prefill: without scores, and scores without a window", "[prefill]") {
    std::mt19937 rng(std::random_device{}());
    run_kernels({2, 7, 128, 150, {10, 200}, 32, false, 1.0f}, rng);
    run_kernels({2, 4, 64, 90, {50, 0}, 0, true, 1.0f}, rng);
    run_kernels({1, 1, 128, 100, {37}, 32, true, 1.0f}, rng);
    run_kernels({1, 16, 64, 33, {5}, 32, true, 1.0f}, rng);
}

TEST_CASE("prefill: a long chunk over many CTAs and a long cached prefix", "[prefill]") {
    std::mt19937 rng(std::random_device{}());
    run_kernels({2, 7, 128, 520, {2100, 111}, 32, true, 2.0f}, rng);
    run_kernels({2, 7, 64, 613, {0, 1500}, 32, true, 1.0f}, rng);
}

// The cases above launch at most a few CTAs per SM, which prefill.cu orders heads-first; 64 kv
// heads of 16 query heads over 140 queries are 1,152 CTAs, over four per SM on any GPU of up to
// 288 SMs, which it orders head by head (PrefillCta).
TEST_CASE("prefill: a grid of many CTAs per SM", "[prefill]") {
    std::mt19937 rng(std::random_device{}());
    std::vector<int> cached(64);
    for (int g = 0; g < 64; ++g) cached[static_cast<size_t>(g)] = (g * 37) % 90;
    run_kernels({64, 16, 64, 140, cached, 32, true, 1.0f}, rng);
}

TEST_CASE("prefill: blocks of other sizes page K, V and scores alike", "[prefill]") {
    std::mt19937 rng(std::random_device{}());
    run_kernels({2, 4, 64, 70, {100, 37}, 32, true, 1.0f, 1}, rng);
    run_kernels({2, 7, 128, 77, {0, 45}, 32, true, 1.0f, 8}, rng);
    run_kernels({2, 4, 64, 50, {10, 20}, 32, false, 1.0f, 32}, rng);
    run_kernels({2, 4, 64, 150, {300, 0}, 16, true, 2.0f, 64}, rng);
    run_kernels({1, 7, 128, 129, {400}, 32, true, 1.0f, 256}, rng);
    // Many blocks per 128-key tile: the Hopper kernel's tensor copies take one box per block.
    run_kernels({2, 7, 128, 300, {500, 77}, 32, true, 1.0f, 4}, rng);
    run_kernels({2, 4, 64, 260, {400, 3}, 32, true, 2.0f, 8}, rng);
    // Score steps of 192 keys at head_dim 64 span 48 such blocks (cp.async) or one part of a
    // large block (boxes of 64 rows).
    run_kernels({2, 4, 64, 300, {500, 77}, 32, true, 1.0f, 4}, rng);
    run_kernels({1, 4, 64, 129, {400}, 32, true, 1.0f, 256}, rng);
}

TEST_CASE("prefill: other head sizes go to the generic kernel", "[prefill][generic]") {
    std::mt19937 rng(std::random_device{}());
    run_case({2, 4, 96, 40, {0, 30}, 32, true, 1.0f}, rng);
    run_case({1, 2, 256, 20, {45}, 8, true, 1.0f, 32}, rng);
    run_case({1, 3, 80, 10, {5}, 0, false, 1.0f}, rng);
}

TEST_CASE("prefill: bad arguments are errors", "[prefill][small]") {
    attention::PrefillArgs args;
    args.pool.head_dim = 300;
    CHECK_THROWS_WITH(attention::prefill(args, nullptr), Catch::Contains("head_dim 300"));
    args.pool.head_dim = 64;
    args.n_head_kv = 2;
    args.n_head = 7;
    CHECK_THROWS_WITH(attention::prefill(args, nullptr), Catch::Contains("n_head 7"));
    DeviceBuffer dummy(256);
    args.n_head = 8;
    args.n = 1;
    args.max_length = 1;
    args.pool.data = dummy.get();
    args.streams = dummy.get<attention::DeviceStream>();
    args.q = dummy.get();
    args.out = dummy.get();
    args.scores = true;
    CHECK_THROWS_WITH(attention::prefill(args, nullptr), Catch::Contains("null pool.scores"));
    args.scores = false;
    args.sm90_cta_rows = 96;
    CHECK_THROWS_WITH(attention::prefill(args, nullptr), Catch::Contains("sm90_cta_rows 96"));
    args.pool.head_dim = 128;
    args.n_head = 2;
    args.sm90_cta_rows = 64;
    CHECK_THROWS_WITH(attention::prefill(args, nullptr),
                      Catch::Contains("sm90_cta_rows 64 at head_dim 128"));
    args.sm90_cta_rows = 192;
    CHECK_THROWS_WITH(attention::prefill(args, nullptr),
                      Catch::Contains("sm90_cta_rows 192 at head_dim 128"));
}

}  // namespace cab::gpu_test
