// Deferred decode scores (attention/pending.h): decode steps that keep per-stream records leave
// each query's scores pending and apply the previous one, settle() applies what is pending.
// Checked over two steps (the second stream one key longer, as after an append) against the
// double-precision reference: scores untouched after the first step, the first query's
// contributions after the second, both after settle, nothing more after a second settle; a
// record of another epoch (a reset stream) is dropped, and a settle after a truncation adds only
// to the slots that remain.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <random>
#include <sstream>

#include "attention_fixture.h"

namespace cab::gpu_test {
namespace {

struct PendingCase {
    int n_head_kv, group, d;
    std::vector<int> lengths;  // per sequence, after the second step's append
    int splits;                // 0: heuristic
    int block_size = 16;
    attention::Kernel kernel = attention::Kernel::Auto;

    int n_head() const { return n_head_kv * group; }
    int streams() const { return static_cast<int>(lengths.size()) * n_head_kv; }
    std::string name() const {
        std::ostringstream s;
        s << "kv heads " << n_head_kv << " group " << group << " d " << d << " lengths";
        for (int l : lengths) s << " " << l;
        s << " splits " << splits << " block " << block_size;
        if (kernel == attention::Kernel::Sm80) s << " sm80 kernel";
        if (kernel == attention::Kernel::Sm90) s << " sm90 kernel";
        return s.str();
    }
};

// The streams, their scores and records on the device, and the host's expected scores.
class PendingFixture {
public:
    PendingFixture(const PendingCase &c, std::mt19937 &rng) : c_(c) {
        std::uniform_real_distribution<float> unit(0.0f, 2.0f);
        for (int length : c.lengths)
            for (int g = 0; g < c.n_head_kv; ++g) {
                host_.push_back(random_stream(std::max(2, length - 3 * g), c.d, 1.0f, rng));
                HostScores s;
                for (int j = 0; j < host_.back().length; ++j) {
                    s.score.push_back(unit(rng));
                    s.observers.push_back(std::floor(20.0f * unit(rng)));
                    s.window.push_back(unit(rng));
                    s.last.push_back(unit(rng));
                }
                expect_.push_back(s);
            }
        paged_ = std::make_unique<PagedStreams>(host_, c.d, c.block_size, &expect_, rng);
        views_ = std::vector<attention::DeviceStream>(host_.size());
        cuda_check(
            cudaMemcpy(views_.data(), paged_->streams(),
                       views_.size() * sizeof(attention::DeviceStream), cudaMemcpyDeviceToHost),
            "download streams");
        for (size_t i = 0; i < views_.size(); ++i) views_[i].id = static_cast<int>(i);
        device_views_ = DeviceBuffer(views_);
        record_bytes_ = attention::pending_record_bytes(c.group, c.d);
        REQUIRE(record_bytes_ > 0);
        records_ = DeviceBuffer(std::vector<uint8_t>(views_.size() * record_bytes_, 0));
    }

    // One decode step over every stream's first `length - drop` slots with epoch `epoch`; checks
    // the output, and returns each stream's column sums over the group (the step's scores).
    std::vector<std::vector<double>> step(int drop, uint32_t epoch, std::mt19937 &rng) {
        set_views(drop, epoch);
        const int batch = static_cast<int>(c_.lengths.size()), stride = c_.n_head() * c_.d;
        const std::vector<float> q = random_bf16(static_cast<size_t>(batch) * stride, 1.0f, rng);
        DeviceBuffer q_dev(bf16_bits(q)), out_dev(static_cast<size_t>(batch) * stride * 2);
        attention::DecodeArgs a;
        a.pool = paged_->pool();
        a.streams = device_views_.get<attention::DeviceStream>();
        a.batch = batch;
        a.n_head_kv = c_.n_head_kv;
        a.n_head = c_.n_head();
        a.max_length = longest();
        a.q = q_dev.get();
        a.q_stride = stride;
        a.out = out_dev.get();
        a.out_stride = stride;
        a.scores = true;
        a.splits = c_.splits;
        a.kernel = c_.kernel;
        a.pending = records_.get();
        a.pending_record_bytes = record_bytes_;
        const attention::DecodePlan plan = attention::plan_decode(a);
        DeviceBuffer ws(plan.workspace_bytes);
        a.workspace = ws.get();
        a.workspace_bytes = ws.bytes();
        attention::decode(a, nullptr);
        cuda_check(cudaDeviceSynchronize(), "decode");
        const std::vector<uint16_t> out = out_dev.download<uint16_t>();
        Compare o_cmp{1e-2, 6e-3};
        std::vector<std::vector<double>> cols(host_.size());
        std::vector<double> p, o;
        for (int b = 0; b < batch; ++b)
            for (int g = 0; g < c_.n_head_kv; ++g) {
                const size_t sid = static_cast<size_t>(b * c_.n_head_kv + g);
                const int visible = host_[sid].length - drop;
                cols[sid].assign(static_cast<size_t>(visible), 0.0);
                for (int hh = 0; hh < c_.group; ++hh) {
                    const int h = g * c_.group + hh;
                    reference_row(q.data() + static_cast<size_t>(b) * stride + h * c_.d, host_[sid],
                                  visible, c_.d, p, o);
                    for (int x = 0; x < c_.d; ++x)
                        o_cmp(from_bf16(out[static_cast<size_t>(b) * stride + h * c_.d + x]), o[x]);
                    for (int j = 0; j < visible; ++j) cols[sid][static_cast<size_t>(j)] += p[j];
                }
            }
        CHECK(o_cmp.bad == 0);
        return cols;
    }

    // settle() over every stream's first `length - drop` slots with epoch `epoch`.
    void settle(int drop, uint32_t epoch) {
        set_views(drop, epoch);
        attention::SettleArgs a;
        a.pool = paged_->pool();
        a.streams = device_views_.get<attention::DeviceStream>();
        a.count = static_cast<int>(views_.size());
        a.max_length = longest();
        a.group = c_.group;
        a.pending = records_.get();
        attention::settle(a, nullptr);
        cuda_check(cudaDeviceSynchronize(), "settle");
    }

    // The expected scores gain a query's column sums over the first cols[s].size() slots;
    // `last` becomes them only when settle applies them (a decode step applies an older query).
    void add(const std::vector<std::vector<double>> &cols, bool last) {
        for (size_t s = 0; s < cols.size(); ++s) {
            HostScores &e = expect_[s];
            for (size_t j = 0; j < cols[s].size(); ++j) {
                e.score[j] = static_cast<float>(e.score[j] + cols[s][j]);
                e.observers[j] += 1.0f;
                if (last) e.last[j] = static_cast<float>(cols[s][j]);
            }
        }
    }

    // Every stream's scores as expected: score and last to 1e-3 relative, observers and window
    // exactly; the pool outside the streams untouched.
    void verify(const char *when) {
        INFO(when);
        const ScoreSnapshot snap = paged_->download_scores();
        Compare cmp{1e-3, 1e-6};
        size_t exact_bad = 0;
        for (size_t s = 0; s < expect_.size(); ++s)
            for (int j = 0; j < host_[s].length; ++j) {
                cmp(snap.streams[s].score[j], expect_[s].score[j]);
                cmp(snap.streams[s].last[j], expect_[s].last[j]);
                exact_bad += snap.streams[s].observers[j] != expect_[s].observers[j];
                exact_bad +=
                    float_bits(snap.streams[s].window[j]) != float_bits(expect_[s].window[j]);
            }
        CHECK(cmp.bad == 0);
        CHECK(exact_bad == 0);
        CHECK(snap.poison_changed == 0);
    }

private:
    void set_views(int drop, uint32_t epoch) {
        for (size_t i = 0; i < views_.size(); ++i) {
            views_[i].length = host_[i].length - drop;
            views_[i].epoch = epoch;
        }
        device_views_.upload(views_);
    }
    int longest() const {
        int n = 1;
        for (const attention::DeviceStream &v : views_) n = std::max(n, v.length);
        return n;
    }

    PendingCase c_;
    std::vector<HostStream> host_;
    std::vector<HostScores> expect_;
    std::unique_ptr<PagedStreams> paged_;
    std::vector<attention::DeviceStream> views_;
    DeviceBuffer device_views_, records_;
    size_t record_bytes_ = 0;
};

void run_steps(const PendingCase &c, std::mt19937 &rng) {
    INFO(c.name());
    PendingFixture f(c, rng);
    const auto first = f.step(1, 0, rng);
    f.verify("after the first step: its scores pending");
    const auto second = f.step(0, 0, rng);
    f.add(first, false);
    f.verify("after the second step: the first step's scores applied");
    f.settle(0, 0);
    f.add(second, true);
    f.verify("after settle: both applied");
    f.settle(0, 0);
    f.verify("after a second settle: nothing more");
}

// run_steps on the mma.sync kernel, then on the Hopper one where the device and pool run it.
void run_steps_kernels(PendingCase c, std::mt19937 &rng) {
    c.kernel = attention::Kernel::Sm80;
    run_steps(c, rng);
    if (c.block_size < 4 || !attention::sm90_available()) return;
    c.kernel = attention::Kernel::Sm90;
    run_steps(c, rng);
}

void run_reset(const PendingCase &c, std::mt19937 &rng) {
    INFO(c.name());
    PendingFixture f(c, rng);
    f.step(1, 0, rng);
    const auto second = f.step(0, 1, rng);  // the streams were reset in between
    f.verify("a stale epoch's query is dropped");
    f.settle(0, 1);
    f.add(second, true);
    f.verify("after settle");
}

void run_truncate(const PendingCase &c, std::mt19937 &rng) {
    INFO(c.name());
    PendingFixture f(c, rng);
    const auto first = f.step(0, 0, rng);
    f.settle(1, 0);  // the last slot was truncated away before the settle
    auto kept = first;
    for (auto &col : kept) col.pop_back();
    f.add(kept, true);
    f.verify("settle after a truncation");
}

}  // namespace

TEST_CASE("decode: deferred scores over two steps and settle", "[decode][pending][small]") {
    std::mt19937 rng(std::random_device{}());
    run_steps_kernels({2, 7, 128, {2, 17, 64, 100, 700}, 0}, rng);
    run_steps_kernels({2, 7, 128, {70, 2000, 333}, 3}, rng);
    run_steps_kernels({2, 8, 64, {3000, 5, 257}, 0}, rng);
    run_steps_kernels({3, 1, 64, {40, 1025}, 0, 1}, rng);
    run_steps_kernels({1, 4, 128, {129, 64}, 1, 64}, rng);
}

TEST_CASE("decode: deferred scores through each merge kernel", "[decode][pending]") {
    // decode_merge (heuristics.h): the record completed by a merge CTA of vectors over the whole
    // group (up to 4 splits), of one row a CTA (5-32, a thread per column) and of vectors for one
    // row (over 32); the longest stream holds 256 keys a split.
    std::mt19937 rng(std::random_device{}());
    for (int splits : {4, 20, 40}) {
        run_steps_kernels({2, 7, 64, {256 * splits, 300, 3}, splits}, rng);
        run_steps_kernels({1, 8, 128, {256 * splits, 70}, splits}, rng);
    }
}

TEST_CASE("decode: a record of another epoch is dropped", "[decode][pending]") {
    std::mt19937 rng(std::random_device{}());
    run_reset({2, 7, 64, {30, 500}, 0}, rng);
    run_reset({2, 7, 128, {2, 300}, 1}, rng);
}

TEST_CASE("decode: settle after a truncation", "[decode][pending]") {
    std::mt19937 rng(std::random_device{}());
    run_truncate({2, 7, 128, {10, 1500}, 0}, rng);
    run_truncate({1, 3, 64, {2, 64, 65}, 0}, rng);
}

TEST_CASE("decode: bad pending arguments are errors", "[decode][pending][small]") {
    CHECK(attention::pending_record_bytes(9, 128) == 0);
    CHECK(attention::pending_record_bytes(7, 96) == 0);
    attention::SettleArgs a;
    a.pool.head_dim = 128;
    a.group = 7;
    a.count = 1;
    a.max_length = 10;
    a.pool.block_size = 16;
    CHECK_THROWS_WITH(attention::settle(a, nullptr), Catch::Contains("null"));
    a.group = 9;
    CHECK_THROWS_WITH(attention::settle(a, nullptr), Catch::Contains("group 9"));
    a.group = 7;
    a.pool.head_dim = 80;
    CHECK_THROWS_WITH(attention::settle(a, nullptr), Catch::Contains("head_dim 80"));
}

}  // namespace cab::gpu_test
