// Split-K decode attention with fused scores against the double-precision reference, over a
// batch of sequences of mixed lengths, with the split count forced and chosen by the heuristic,
// max_length above the real lengths (a CUDA graph's bucket), and one graph replayed while the
// lengths, block tables and queries in device memory change. Scores are read through the paged
// score pool, whose unused floats must stay poisoned.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <sstream>
#include <type_traits>

#include "attention_fixture.h"

namespace cab::gpu_test {
namespace {

struct DecodeCase {
    int n_head_kv, group, d;
    std::vector<int> lengths;  // per sequence; 0 is an empty (padding) sequence
    bool scores;
    int splits;  // 0: heuristic
    float key_scale;
    int max_length = 0;  // 0: the longest stream; more: the bound of a length bucket
    int block_size = 16;
    attention::Kernel kernel = attention::Kernel::Auto;
    bool pdl = false;  // launched as a programmatic dependent (its plan may differ)

    int n_head() const { return n_head_kv * group; }
    int q_stride() const { return n_head() * d + 8; }  // padded rows
    int out_stride() const { return n_head() * d + 16; }
    int bound() const {
        int longest = 1;
        for (int l : lengths) longest = std::max(longest, l);
        return max_length > 0 ? max_length : longest;
    }
    std::string name() const {
        std::ostringstream s;
        s << "kv heads " << n_head_kv << " group " << group << " d " << d << " lengths";
        for (int l : lengths) s << " " << l;
        s << (scores ? " scores" : " no scores") << " splits " << splits << " key scale "
          << key_scale << " max_length " << bound() << " block " << block_size;
        if (kernel == attention::Kernel::Sm80) s << " sm80 kernel";
        if (kernel == attention::Kernel::Sm90) s << " sm90 kernel";
        if (pdl) s << " pdl";
        return s.str();
    }
};

constexpr float kWindowSentinel = -4321.0f;  // decode leaves window alone

// One decode step on the host: streams [batch * n_head_kv] (sequence-major), their initial
// scores, and the queries [batch][q_stride].
struct Step {
    std::vector<HostStream> streams;
    std::vector<HostScores> init;
    std::vector<float> q;
};

Step random_step(const DecodeCase &c, std::mt19937 &rng) {
    Step step;
    std::uniform_real_distribution<float> unit(0.0f, 2.0f);
    for (int length : c.lengths) {
        for (int g = 0; g < c.n_head_kv; ++g) {
            // Heads of a sequence may hold different numbers of slots after per-head eviction.
            int len = length == 0 ? 0 : std::max(1, length - 3 * g);
            step.streams.push_back(random_stream(len, c.d, c.key_scale, rng));
            HostScores s;
            for (int j = 0; j < len; ++j) {
                s.score.push_back(unit(rng));
                s.observers.push_back(std::floor(20.0f * unit(rng)));
                s.window.push_back(kWindowSentinel);
                s.last.push_back(NAN);
            }
            step.init.push_back(s);
        }
    }
    step.q = random_bf16(c.lengths.size() * c.q_stride(), 1.0f, rng);
    return step;
}

attention::DecodeArgs decode_args(const DecodeCase &c, const PagedStreams &paged,
                                  const DeviceBuffer &q, const DeviceBuffer &out) {
    attention::DecodeArgs args;
    args.pool = paged.pool();
    args.streams = paged.streams();
    args.batch = static_cast<int>(c.lengths.size());
    args.n_head_kv = c.n_head_kv;
    args.n_head = c.n_head();
    args.max_length = c.bound();
    args.q = q.get();
    args.q_stride = c.q_stride();
    args.out = out.get();
    args.out_stride = c.out_stride();
    args.scores = c.scores;
    args.splits = c.splits;
    args.kernel = c.kernel;
    args.pdl = c.pdl;
    return args;
}

// Checks a step's output and the scores of its streams (from `first` on in the snapshot).
void verify(const DecodeCase &c, const Step &step, const std::vector<uint16_t> &out,
            const ScoreSnapshot &snap, size_t first, int splits) {
    const int batch = static_cast<int>(c.lengths.size()), d = c.d;
    Compare o_cmp{1e-2, 6e-3}, s_cmp{1e-3, 1e-6};
    double err2 = 0.0, ref2 = 0.0;
    size_t padding_touched = 0;
    std::vector<double> p, o;
    for (int b = 0; b < batch; ++b) {
        for (int g = 0; g < c.n_head_kv; ++g) {
            const int sid = b * c.n_head_kv + g;
            const HostStream &st = step.streams[sid];
            std::vector<double> col(st.length, 0.0);
            for (int hh = 0; hh < c.group; ++hh) {
                const int h = g * c.group + hh;
                // An empty stream's reference row is all zeros.
                reference_row(step.q.data() + static_cast<size_t>(b) * c.q_stride() + h * d, st,
                              st.length, d, p, o);
                for (int x = 0; x < d; ++x) {
                    double v = from_bf16(out[static_cast<size_t>(b) * c.out_stride() + h * d + x]);
                    o_cmp(v, o[x]);
                    err2 += (v - o[x]) * (v - o[x]);
                    ref2 += o[x] * o[x];
                }
                for (int j = 0; j < st.length; ++j) col[j] += p[j];
            }
            if (!c.scores) continue;
            const HostScores &got = snap.streams[first + sid];
            const HostScores &init = step.init[sid];
            for (int j = 0; j < st.length; ++j) {
                s_cmp(got.score[j], init.score[j] + col[j]);
                CHECK(got.observers[j] == init.observers[j] + 1.0f);
                CHECK(got.window[j] == kWindowSentinel);
                s_cmp(got.last[j], col[j]);
            }
        }
        for (int x = c.n_head() * d; x < c.out_stride(); ++x)
            padding_touched += out[static_cast<size_t>(b) * c.out_stride() + x] != 0xffff;
    }
    // One line per case: the accuracy actually reached, for the record (docs/PERFORMANCE.md).
    std::printf(
        "decode %s (%d splits): output rel. norm error %.1e, worst |error| / bound %.2f; "
        "scores worst |error| / bound %.3f over %zu values\n",
        c.name().c_str(), splits, std::sqrt(err2 / ref2), o_cmp.worst, s_cmp.worst, s_cmp.checked);
    CHECK(o_cmp.bad == 0);
    CHECK(std::sqrt(err2 / ref2) < 1e-2);
    CHECK(s_cmp.bad == 0);
    CHECK(padding_touched == 0);
    CHECK(snap.poison_changed == 0);  // no score write outside the streams' slots
}

void run_one(const DecodeCase &c, std::mt19937 &rng) {
    INFO(c.name());
    const Step step = random_step(c, rng);
    PagedStreams paged(step.streams, c.d, c.block_size, c.scores ? &step.init : nullptr, rng);
    DeviceBuffer q_dev(bf16_bits(step.q));
    DeviceBuffer out_dev(c.lengths.size() * c.out_stride() * 2);
    out_dev.poison();
    attention::DecodeArgs args = decode_args(c, paged, q_dev, out_dev);
    const attention::DecodePlan plan = attention::plan_decode(args);
    INFO("plan: " << plan.splits << " splits of " << plan.chunk << " keys, workspace "
                  << plan.workspace_bytes << " bytes");
    DeviceBuffer workspace(plan.workspace_bytes);
    if (workspace.bytes() > 0) workspace.poison();
    args.workspace = workspace.get();
    args.workspace_bytes = workspace.bytes();
    attention::decode(args, nullptr);
    cuda_check(cudaDeviceSynchronize(), "decode");
    verify(c, step, out_dev.download<uint16_t>(), paged.download_scores(), 0, plan.splits);
}

// Whether the Hopper kernel (tensor copies) runs a case: bf16 blocks of at least 4 keys.
bool sm90_runs(const DecodeCase &c) {
    return c.block_size >= 4 && attention::sm90_available();
}

// The case on the mma.sync kernel, then on the Hopper one where the device and pool run it.
void run_case(DecodeCase c, std::mt19937 &rng) {
    c.kernel = attention::Kernel::Sm80;
    run_one(c, rng);
    if (!sm90_runs(c)) {
        if (c.block_size >= 4) WARN("no sm_90 device: the Hopper decode kernel was not tested");
        return;
    }
    c.kernel = attention::Kernel::Sm90;
    run_one(c, rng);
}

template <class Handle, cudaError_t (*destroy)(Handle)>
struct CudaDeleter {
    void operator()(Handle h) const { destroy(h); }
};
template <class Handle, cudaError_t (*destroy)(Handle)>
using CudaHandle = std::unique_ptr<std::remove_pointer_t<Handle>, CudaDeleter<Handle, destroy>>;
using StreamHandle = CudaHandle<cudaStream_t, cudaStreamDestroy>;
using GraphHandle = CudaHandle<cudaGraph_t, cudaGraphDestroy>;
using GraphExecHandle = CudaHandle<cudaGraphExec_t, cudaGraphExecDestroy>;

// As the executor runs decode: captured once into a CUDA graph for a batch size and a length
// bucket (first.max_length, first.splits), then replayed for step `second` of the same batch
// size after only device memory changed: the stream array now points at other streams (other
// lengths and block tables) and q holds other queries. Both steps' streams live in one pool.
void run_graph_case(const DecodeCase &first, const DecodeCase &second, std::mt19937 &rng) {
    INFO("graph captured for " << first.name() << ", replayed for " << second.name());
    const Step a = random_step(first, rng), b = random_step(second, rng);
    const size_t n = a.streams.size();
    std::vector<HostStream> streams = a.streams;
    streams.insert(streams.end(), b.streams.begin(), b.streams.end());
    std::vector<HostScores> init = a.init;
    init.insert(init.end(), b.init.begin(), b.init.end());
    PagedStreams paged(streams, first.d, first.block_size, first.scores ? &init : nullptr, rng);
    DeviceBuffer q_dev(bf16_bits(a.q));
    DeviceBuffer out_dev(first.lengths.size() * first.out_stride() * 2);
    attention::DecodeArgs args = decode_args(first, paged, q_dev, out_dev);
    const attention::DecodePlan plan = attention::plan_decode(args);
    DeviceBuffer workspace(plan.workspace_bytes);
    args.workspace = workspace.get();
    args.workspace_bytes = workspace.bytes();

    cudaStream_t raw_stream = nullptr;
    cuda_check(cudaStreamCreate(&raw_stream), "stream");
    StreamHandle stream(raw_stream);
    cuda_check(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeThreadLocal), "capture");
    attention::decode(args, stream.get());
    cudaGraph_t raw_graph = nullptr;
    cuda_check(cudaStreamEndCapture(stream.get(), &raw_graph), "end capture");
    GraphHandle graph(raw_graph);
    cudaGraphExec_t raw_exec = nullptr;
    cuda_check(cudaGraphInstantiate(&raw_exec, graph.get(), 0), "instantiate");
    GraphExecHandle exec(raw_exec);
    auto replay = [&] {
        out_dev.poison();
        if (workspace.bytes() > 0) workspace.poison();
        cuda_check(cudaGraphLaunch(exec.get(), stream.get()), "graph launch");
        cuda_check(cudaStreamSynchronize(stream.get()), "graph replay");
    };

    replay();
    const ScoreSnapshot after_a = paged.download_scores();
    verify(first, a, out_dev.download<uint16_t>(), after_a, 0, plan.splits);
    if (first.scores) {
        // The second step's streams are not referenced yet, so their scores keep their initial
        // values (without scores the whole pool is poison, which verify() already checks).
        size_t untouched_changed = 0;
        for (size_t i = 0; i < b.streams.size(); ++i)
            for (int j = 0; j < b.streams[i].length; ++j)
                untouched_changed +=
                    float_bits(after_a.streams[n + i].score[j]) != float_bits(b.init[i].score[j]);
        CHECK(untouched_changed == 0);
    }

    paged.redirect(0, n, n);
    q_dev.upload(bf16_bits(b.q));
    replay();
    verify(second, b, out_dev.download<uint16_t>(), paged.download_scores(), n, plan.splits);
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

TEST_CASE("decode: each merge kernel and mapping", "[decode]") {
    // decode_merge (heuristics.h): up to 4 splits a CTA of vectors takes the whole group (16
    // heads at d 128: two rounds of vectors), 5-32 a CTA per row with a thread per column, over
    // 32 a CTA per row of vectors. The longest stream holds 256 keys a split; the others fewer
    // splits than the grid has.
    std::mt19937 rng(std::random_device{}());
    for (int splits : {3, 4, 5, 32, 33, 64}) {
        run_case({3, 7, 64, {256 * splits, 1000, 5}, true, splits, 1.0f}, rng);
        run_case({2, 7, 128, {256 * splits, 300}, splits % 2 == 0, splits, 1.0f}, rng);
    }
    run_case({1, 16, 128, {256 * 4, 40}, true, 4, 1.0f}, rng);
    run_case({1, 16, 128, {256 * 40, 40}, false, 40, 1.0f}, rng);
    run_case({1, 16, 64, {256 * 3, 3}, true, 3, 1.0f}, rng);
}

TEST_CASE("decode: GQA 4:1, d 64, long and short sequences", "[decode]") {
    std::mt19937 rng(std::random_device{}());
    run_case({3, 4, 64, {3000, 1, 15, 16, 17, 1025}, true, 0, 1.0f}, rng);
    run_case({3, 4, 64, {3000, 1, 15, 16, 17, 1025}, false, 0, 3.0f}, rng);
    run_case({1, 16, 64, {90, 4000}, true, 0, 1.0f}, rng);
    run_case({4, 1, 128, {1000}, true, 0, 1.0f}, rng);
}

TEST_CASE("decode: max_length above every stream, empty sequences", "[decode][small]") {
    std::mt19937 rng(std::random_device{}());
    run_case({2, 7, 128, {1, 17, 300}, true, 8, 1.0f, 4096}, rng);
    run_case({1, 4, 64, {5, 0, 33}, false, 1, 1.0f, 64}, rng);  // one split: no merge
    run_case({1, 4, 64, {5, 0, 33}, true, 1, 1.0f, 64}, rng);
    // Up to 256 keys the heuristic takes one split, which writes output and scores itself.
    run_case({2, 7, 128, {1, 17, 200, 256, 0}, true, 0, 1.0f, 256}, rng);
    run_case({2, 7, 64, {130, 3}, true, 0, 2.0f, 256}, rng);
}

TEST_CASE("decode: length buckets far above the streams", "[decode]") {
    std::mt19937 rng(std::random_device{}());
    run_case({2, 7, 128, {1, 17, 300, 64}, false, 8, 1.0f, 4096}, rng);
    run_case({2, 7, 128, {1, 17, 300, 64}, true, 0, 1.0f, 4096}, rng);
    run_case({3, 4, 64, {0, 1000, 2}, true, 3, 2.0f, 2048}, rng);
    run_case({2, 4, 64, {700, 9}, false, 0, 1.0f, 32768}, rng);
}

TEST_CASE("decode: 1 against 32k keys in one batch", "[decode]") {
    std::mt19937 rng(std::random_device{}());
    run_case({2, 7, 128, {1, 32768}, true, 0, 1.0f}, rng);
    run_case({2, 4, 64, {32768, 1, 7}, false, 0, 1.0f}, rng);
}

TEST_CASE("decode: blocks of other sizes page K, V and scores alike", "[decode]") {
    std::mt19937 rng(std::random_device{}());
    run_case({2, 7, 128, {1, 17, 64, 100, 700}, true, 0, 1.0f, 0, 1}, rng);
    run_case({2, 7, 128, {5, 2000, 333}, true, 3, 1.0f, 0, 8}, rng);
    run_case({3, 4, 64, {3000, 1, 15}, true, 5, 1.0f, 0, 64}, rng);
    run_case({3, 4, 64, {1100, 40}, false, 2, 1.0f, 0, 256}, rng);
}

TEST_CASE("decode: one CUDA graph replayed over steps of other lengths", "[decode][graph]") {
    std::mt19937 rng(std::random_device{}());
    DecodeCase first{2, 7, 128, {1, 20000, 300, 17}, true, 32, 1.0f, 32768};
    DecodeCase second = first;
    second.lengths = {32768, 0, 4000, 1};
    run_graph_case(first, second, rng);
    DecodeCase direct{2, 4, 64, {5, 0, 60}, false, 1, 1.0f, 64};  // one split: no merge
    DecodeCase direct_next = direct;
    direct_next.lengths = {64, 1, 0};
    run_graph_case(direct, direct_next, rng);
}

TEST_CASE("decode: launched as a programmatic dependent, on its own plan", "[decode][pdl]") {
    // The engine's decode steps launch it so; on the H100 these take more, shorter splits than
    // launched alone (heuristics.h: 64 against 32, 43 against 16), and their keys fall elsewhere.
    std::mt19937 rng(std::random_device{}());
    DecodeCase c{2, 7, 128, {32768, 9000}, true, 0, 1.0f};
    c.pdl = true;
    run_case(c, rng);
    c = {2, 7, 64, {16384, 3, 12000, 800}, true, 0, 1.0f};
    c.pdl = true;
    run_case(c, rng);
}

TEST_CASE("decode: other head sizes go to the generic kernel", "[decode][generic]") {
    std::mt19937 rng(std::random_device{}());
    run_case({2, 4, 96, {1, 50, 300}, true, 0, 1.0f}, rng);
    run_case({1, 20, 256, {7, 130}, true, 0, 1.0f, 1024}, rng);
    run_case({2, 3, 80, {0, 10}, false, 0, 1.0f, 64, 32}, rng);
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
    DeviceBuffer dummy(256);
    args.pool.data = dummy.get();
    args.streams = dummy.get<attention::DeviceStream>();
    args.q = dummy.get();
    args.out = dummy.get();
    CHECK_THROWS_WITH(attention::decode(args, nullptr), Catch::Contains("null pool.scores"));
    args.pool.head_dim = 300;
    CHECK_THROWS_WITH(attention::plan_decode(args), Catch::Contains("head_dim 300"));
    // The Hopper kernel copies whole blocks of at least 4 keys: smaller ones cannot force it.
    args.pool.head_dim = 128;
    args.pool.block_size = 2;
    args.kernel = attention::Kernel::Sm90;
    CHECK_THROWS_WITH(attention::plan_decode(args), Catch::Contains("sm_90a kernel"));
    args.kernel = attention::Kernel::Sm80;
    CHECK(attention::plan_decode(args).splits >= 1);
}

}  // namespace cab::gpu_test
