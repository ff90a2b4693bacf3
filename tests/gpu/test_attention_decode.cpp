// Split-K decode attention with fused scores against the double-precision reference, over a
// batch of sequences of mixed lengths, with the split count forced and chosen by the heuristic.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <sstream>

#include "attention_fixture.h"

namespace cab::gpu_test {
namespace {

struct DecodeCase {
    int n_head_kv, group, d;
    std::vector<int> lengths;  // per sequence
    bool scores;
    int splits;  // 0: heuristic
    float key_scale;

    std::string name() const {
        std::ostringstream s;
        s << "kv heads " << n_head_kv << " group " << group << " d " << d << " lengths";
        for (int l : lengths) s << " " << l;
        s << (scores ? " scores" : " no scores") << " splits " << splits << " key scale "
          << key_scale;
        return s.str();
    }
};

constexpr float kWindowSentinel = -4321.0f;  // decode leaves window alone

void run_case(const DecodeCase &c, std::mt19937 &rng) {
    INFO(c.name());
    const int batch = static_cast<int>(c.lengths.size()), n_head = c.n_head_kv * c.group;
    const int d = c.d, q_stride = n_head * d + 8, out_stride = n_head * d + 16;
    std::vector<HostStream> streams;
    std::vector<HostScores> init;
    std::uniform_real_distribution<float> unit(0.0f, 2.0f);
    int max_length = 0;
    for (int b = 0; b < batch; ++b) {
        max_length = std::max(max_length, c.lengths[b]);
        for (int g = 0; g < c.n_head_kv; ++g) {
            // Heads of a sequence may hold different numbers of slots after per-head eviction.
            int len = std::max(1, c.lengths[b] - 3 * g);
            streams.push_back(random_stream(len, d, c.key_scale, rng));
            HostScores s;
            for (int j = 0; j < len; ++j) {
                s.score.push_back(unit(rng));
                s.observers.push_back(std::floor(20.0f * unit(rng)));
                s.window.push_back(kWindowSentinel);
                s.last.push_back(NAN);
            }
            init.push_back(s);
        }
    }
    std::vector<float> q = random_bf16(static_cast<size_t>(batch) * q_stride, 1.0f, rng);
    PagedStreams paged(streams, d, 16, c.scores ? &init : nullptr, rng);
    DeviceBuffer q_dev(bf16_bits(q));
    DeviceBuffer out_dev(static_cast<size_t>(batch) * out_stride * 2);
    out_dev.poison();

    attention::DecodeArgs args;
    args.pool = paged.pool();
    args.streams = paged.streams();
    args.batch = batch;
    args.n_head_kv = c.n_head_kv;
    args.n_head = n_head;
    args.max_length = max_length;
    args.q = q_dev.get();
    args.q_stride = q_stride;
    args.out = out_dev.get();
    args.out_stride = out_stride;
    args.scores = c.scores;
    args.splits = c.splits;
    attention::DecodePlan plan = attention::plan_decode(args);
    INFO("plan: " << plan.splits << " splits of " << plan.chunk << " keys, workspace "
                  << plan.workspace_bytes << " bytes");
    DeviceBuffer workspace(plan.workspace_bytes);
    workspace.poison();
    args.workspace = workspace.get();
    args.workspace_bytes = workspace.bytes();
    attention::decode(args, nullptr);
    cuda_check(cudaDeviceSynchronize(), "decode");

    std::vector<uint16_t> out = out_dev.download<uint16_t>();
    std::vector<HostScores> got;
    if (c.scores) got = paged.download_scores();
    Compare o_cmp{1e-2, 6e-3}, s_cmp{1e-3, 1e-6};
    double err2 = 0.0, ref2 = 0.0;
    size_t padding_touched = 0;
    std::vector<double> p, o;
    for (int b = 0; b < batch; ++b) {
        for (int g = 0; g < c.n_head_kv; ++g) {
            const int sid = b * c.n_head_kv + g;
            const HostStream &st = streams[sid];
            std::vector<double> col(st.length, 0.0);
            for (int hh = 0; hh < c.group; ++hh) {
                const int h = g * c.group + hh;
                reference_row(q.data() + static_cast<size_t>(b) * q_stride + h * d, st, st.length,
                              d, p, o);
                for (int x = 0; x < d; ++x) {
                    double v = from_bf16(out[static_cast<size_t>(b) * out_stride + h * d + x]);
                    o_cmp(v, o[x]);
                    err2 += (v - o[x]) * (v - o[x]);
                    ref2 += o[x] * o[x];
                }
                for (int j = 0; j < st.length; ++j) col[j] += p[j];
            }
            if (!c.scores) continue;
            for (int j = 0; j < st.length; ++j) {
                s_cmp(got[sid].score[j], init[sid].score[j] + col[j]);
                CHECK(got[sid].observers[j] == init[sid].observers[j] + 1.0f);
                CHECK(got[sid].window[j] == kWindowSentinel);
                s_cmp(got[sid].last[j], col[j]);
            }
        }
        for (int x = n_head * d; x < out_stride; ++x)
            padding_touched += out[static_cast<size_t>(b) * out_stride + x] != 0xffff;
    }
    // One line per case: the accuracy actually reached, for the record (docs/PERFORMANCE.md).
    std::printf(
        "decode %s (%d splits): output rel. norm error %.1e, worst |error| / bound %.2f; "
        "scores worst |error| / bound %.3f over %zu values\n",
        c.name().c_str(), plan.splits, std::sqrt(err2 / ref2), o_cmp.worst, s_cmp.worst,
        s_cmp.checked);
    CHECK(o_cmp.bad == 0);
    CHECK(std::sqrt(err2 / ref2) < 1e-2);
    CHECK(s_cmp.bad == 0);
    CHECK(padding_touched == 0);
}

}  // namespace

TEST_CASE("decode: mixed lengths, GQA 7:1, d 128, scores", "[decode][small]") {
    std::mt19937 rng(std::random_device{}());
    run_case({2, 7, 128, {1, 17, 64, 100, 700}, true, 0, 1.0f}, rng);
}

TEST_CASE("decode: split counts forced from 1 to many", "[decode]") {
    std::mt19937 rng(std::random_device{}());
    for (int splits : {1, 3, 40}) {
        run_case({2, 7, 128, {5, 2000, 333, 64}, true, splits, 2.0f}, rng);
        run_case({2, 7, 128, {5, 2000, 333, 64}, false, splits, 2.0f}, rng);
    }
}

TEST_CASE("decode: GQA 4:1, d 64, long and short sequences", "[decode]") {
    std::mt19937 rng(std::random_device{}());
    run_case({3, 4, 64, {3000, 1, 15, 16, 17, 1025}, true, 0, 1.0f}, rng);
    run_case({3, 4, 64, {3000, 1, 15, 16, 17, 1025}, false, 0, 3.0f}, rng);
    run_case({1, 16, 64, {90, 4000}, true, 0, 1.0f}, rng);
    run_case({4, 1, 128, {1000}, true, 0, 1.0f}, rng);
}

TEST_CASE("decode: bad arguments are errors", "[decode][small]") {
    attention::DecodeArgs args;
    args.pool.head_dim = 128;
    args.batch = 1;
    args.n_head_kv = 1;
    args.n_head = 32;
    args.max_length = 10;
    CHECK_THROWS_WITH(attention::plan_decode(args), Catch::Contains("at most 16"));
    args.n_head = 8;
    args.workspace_bytes = 0;
    args.scores = true;
    CHECK_THROWS_WITH(attention::decode(args, nullptr), Catch::Contains("null"));
}

}  // namespace cab::gpu_test
