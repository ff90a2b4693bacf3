// Split-K decode attention with fused scores against the double-precision reference, over a
// batch of sequences of mixed lengths, with the split count forced and chosen by the heuristic,
// max_length above the real lengths (a CUDA graph's bucket), and one graph replayed while the
// lengths, block tables and queries in device memory change. Scores are read through the paged
// score pool, whose unused floats must stay poisoned. Both ways scores are finished are checked:
// by the decode kernel itself when a launch has a single split (one kernel launched, counted in
// a captured graph), by the merge kernel else (two).
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
    return args;
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

StreamHandle new_stream() {
    cudaStream_t raw = nullptr;
    cuda_check(cudaStreamCreate(&raw), "stream");
    return StreamHandle(raw);
}

// decode(args) captured into a CUDA graph on `stream` (the launches are recorded, not run).
GraphHandle capture_decode(const attention::DecodeArgs &args, cudaStream_t stream) {
    cuda_check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "capture");
    attention::decode(args, stream);
    cudaGraph_t raw = nullptr;
    cuda_check(cudaStreamEndCapture(stream, &raw), "end capture");
    return GraphHandle(raw);
}

// Kernels a captured decode launches: the decode kernel alone when the plan has one split (it
// writes the output and finishes the scores itself), else the decode and merge kernels.
size_t graph_kernels(cudaGraph_t graph) {
    size_t n = 0;
    cuda_check(cudaGraphGetNodes(graph, nullptr, &n), "graph nodes");
    return n;
}

size_t expected_kernels(const attention::DecodePlan &plan) {
    return plan.splits == 1 ? 1 : 2;
}

// Checks a step's output and the scores of its streams (from `first` on in the snapshot).
//
// Score error budget. Decode stores each key's probability per head as fp16, scaled so that its
// 16-key slice's largest lies in [1, 2) (decode.cuh), so a key's probability p of head h is
// within 2^-11 p (fp16 half-ulp, normal range) + 2^-25 pmax (subnormal range; pmax the largest
// p of the key's slice for h). Allowed on top: 1% of that for the fp32 factors that scale it,
// and 2e-4 p for fp32 logits, lse, ex2.approx and sums (about 1e-5 p at worst). Summed over the
// group, `last` and the increment of `score` (plus 2^-23 of score for its fp32 add) must keep
// within this budget: it is tight (a host emulation of the kernel reaches 0.97 of it), and a
// coarser store (bf16: 2^-9 p) or one relative to the running max instead of the slice (small
// probabilities then only within 2^-25 of that max) exceed it, the latter by up to 1000x at key
// scale 3. The budget also keeps the error under 0.7 of s_cmp's 1e-3 relative + 1e-6 absolute
// bound (<= 6.9e-4 sum + 16 * 1.01 * 2^-25; 0.42 in the emulation).
void verify(const DecodeCase &c, const Step &step, const std::vector<uint16_t> &out,
            const ScoreSnapshot &snap, size_t first, int splits) {
    const int batch = static_cast<int>(c.lengths.size()), d = c.d;
    Compare o_cmp{1e-2, 6e-3}, s_cmp{1e-3, 1e-6};
    double err2 = 0.0, ref2 = 0.0, budget_worst = 0.0;
    size_t padding_touched = 0, over_budget = 0;
    std::vector<double> p, o;
    for (int b = 0; b < batch; ++b) {
        for (int g = 0; g < c.n_head_kv; ++g) {
            const int sid = b * c.n_head_kv + g;
            const HostStream &st = step.streams[sid];
            // 1e-30: ex2.approx.ftz flushes probabilities below 2^-126 to 0.
            std::vector<double> col(st.length, 0.0), budget(st.length, 1e-30);
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
                for (int j0 = 0; j0 < st.length; j0 += 16) {
                    const int j1 = std::min(st.length, j0 + 16);
                    const double pmax = *std::max_element(p.begin() + j0, p.begin() + j1);
                    for (int j = j0; j < j1; ++j) {
                        col[j] += p[j];
                        budget[j] +=
                            1.01 * (std::ldexp(p[j], -11) + std::ldexp(pmax, -25)) + 2e-4 * p[j];
                    }
                }
            }
            if (!c.scores) continue;
            const HostScores &got = snap.streams[first + sid];
            const HostScores &init = step.init[sid];
            for (int j = 0; j < st.length; ++j) {
                const double want = init.score[j] + col[j];
                s_cmp(got.score[j], want);
                CHECK(got.observers[j] == init.observers[j] + 1.0f);
                CHECK(got.window[j] == kWindowSentinel);
                s_cmp(got.last[j], col[j]);
                const double over =
                    std::max(std::fabs(got.last[j] - col[j]) / budget[j],
                             std::fabs(got.score[j] - want) / (budget[j] + std::ldexp(want, -23)));
                over_budget += !(over <= 1.0);
                if (!(over <= budget_worst)) budget_worst = std::isnan(over) ? INFINITY : over;
            }
        }
        for (int x = c.n_head() * d; x < c.out_stride(); ++x)
            padding_touched += out[static_cast<size_t>(b) * c.out_stride() + x] != 0xffff;
    }
    // One line per case: the accuracy actually reached, for the record (docs/PERFORMANCE.md).
    std::printf(
        "decode %s (%d splits): output rel. norm error %.1e, worst |error| / bound %.2f; "
        "scores worst |error| / bound %.3f, / fp16 budget %.3f over %zu values\n",
        c.name().c_str(), splits, std::sqrt(err2 / ref2), o_cmp.worst, s_cmp.worst, budget_worst,
        s_cmp.checked);
    CHECK(o_cmp.bad == 0);
    CHECK(std::sqrt(err2 / ref2) < 1e-2);
    CHECK(s_cmp.bad == 0);
    CHECK(over_budget == 0);
    CHECK(padding_touched == 0);
    CHECK(snap.poison_changed == 0);  // no score write outside the streams' slots
}

void run_case(const DecodeCase &c, std::mt19937 &rng) {
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
    if (c.d == 64 || c.d == 128) {  // the tensor-core kernels: is the merge left out with 1 split?
        const StreamHandle stream = new_stream();
        CHECK(graph_kernels(capture_decode(args, stream.get()).get()) == expected_kernels(plan));
    }
}

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

    const StreamHandle stream = new_stream();
    const GraphHandle graph = capture_decode(args, stream.get());
    CHECK(graph_kernels(graph.get()) == expected_kernels(plan));
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
    run_case({1, 4, 64, {5, 0, 33}, true, 1, 1.0f, 64}, rng);   // nor with scores
}

// Scores finished by the decode kernel itself (one split: it holds every key and the exact lse)
// and by the merge kernel (4 splits), on the same shapes: both head sizes, GQA groups 1, 2 and 7,
// an empty sequence, lengths off the 64-key tile and odd (a last key pair of one), and streams
// longer than one block of the in-kernel score update (1024 keys at d 128, 512 at d 64). Key
// scale 3 spreads the logits, so that many slices lie far below the running max (the error
// budget in verify() then tells a slice-relative store from one relative to the running max).
TEST_CASE("decode: scores finished in the decode kernel (one split) and by the merge", "[decode]") {
    std::mt19937 rng(std::random_device{}());
    for (int d : {64, 128})
        for (int group : {1, 2, 7})
            for (int splits : {1, 4})
                run_case({2, group, d, {0, 1, 63, 65, 1537, 2501}, true, splits, 3.0f}, rng);
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
    run_case({2, 7, 128, {1, 17, 64, 100, 1300}, true, 1, 1.0f, 0, 1}, rng);  // in-kernel scores
    run_case({3, 2, 64, {1100, 0, 41}, true, 1, 1.0f, 0, 8}, rng);
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

// The plan belongs to the launch, so to the graph: one split planned for the bucket keeps the
// score update in the decode kernel for lengths that a plan of their own would split, and many
// splits keep the merge for lengths that each fit one split.
TEST_CASE("decode: graphs keep their plan, scores in the decode kernel or merged",
          "[decode][graph]") {
    std::mt19937 rng(std::random_device{}());
    DecodeCase one{2, 2, 64, {5, 0, 1500, 77}, true, 1, 2.0f, 2048};
    DecodeCase one_next = one;
    one_next.lengths = {2048, 1, 0, 1001};
    run_graph_case(one, one_next, rng);
    DecodeCase one_mha{3, 1, 128, {100, 0, 64}, true, 1, 1.0f, 128};
    DecodeCase one_mha_next = one_mha;
    one_mha_next.lengths = {128, 65, 0};
    run_graph_case(one_mha, one_mha_next, rng);
    DecodeCase many{2, 7, 64, {1, 700, 0}, true, 4, 2.0f, 1024};  // chunks of 256 keys
    DecodeCase many_next = many;
    many_next.lengths = {3, 0, 255};
    run_graph_case(many, many_next, rng);
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
}

}  // namespace cab::gpu_test
