// The CUDA-core attention of generic.h (head sizes the tensor-core kernels do not take) against a
// double-precision host reference on fresh random inputs: prefill chunks after cached prefixes and
// decode batches of mixed lengths, GQA groups (more than one head chunk too), shuffled block
// tables, scores read back through the paged layout, outputs poisoned before each launch, and
// every pool entry that no stream owns checked untouched.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "attention/generic.h"
#include "device_buffer.h"

namespace cab::gpu_test {
namespace {

namespace attention = cab::cuda::attention;

constexpr int kKinds = 4;                // score, observers, window, last (ScoreKind)
constexpr float kUnowned = -777.0f;      // score entries of slots no stream holds
constexpr float kWindowKept = 12345.0f;  // window must stay as it was when not recomputed
constexpr uint16_t kPoison = 0xffff;     // bf16 NaN: output bytes before the launch

// bf16-rounded normal values times `scale`.
std::vector<float> random_bf16(size_t n, float scale, std::mt19937 &rng) {
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> x(n);
    for (float &v : x) v = round_bf16(scale * dist(rng));
    return x;
}

std::vector<uint16_t> bf16_bits(const std::vector<float> &x) {
    std::vector<uint16_t> h(x.size());
    for (size_t i = 0; i < x.size(); ++i) h[i] = to_bf16(x[i]);
    return h;
}

struct HostScores {
    std::vector<float> kind[kKinds];
};

// One stream's keys and values [length][d] and its scores before the launch.
struct HostStream {
    int length = 0;
    std::vector<float> k, v;
    HostScores scores;
};

// window_init: the value every slot's window starts from.
HostStream random_stream(int length, int d, float key_scale, float window_init, std::mt19937 &rng) {
    HostStream s;
    s.length = length;
    s.k = random_bf16(static_cast<size_t>(length) * d, key_scale, rng);
    s.v = random_bf16(static_cast<size_t>(length) * d, 1.0f, rng);
    std::uniform_real_distribution<float> unit(0.0f, 2.0f);
    for (int j = 0; j < length; ++j) {
        s.scores.kind[0].push_back(unit(rng));
        s.scores.kind[1].push_back(std::floor(20.0f * unit(rng)));
        s.scores.kind[2].push_back(window_init);
        s.scores.kind[3].push_back(NAN);  // always rewritten
    }
    return s;
}

// The streams in a pool of blocks handed out in shuffled order (as in a pool that has seen
// evictions), with spare blocks no stream owns. K/V rows no stream owns hold NaN, so a kernel that
// reads past a stream's end is caught; score entries no stream owns hold kUnowned, so one that
// writes past it is caught.
class PagedPool {
public:
    PagedPool(const std::vector<HostStream> &streams, int d, int block_size, bool scores,
              std::mt19937 &rng)
        : d_(d), block_size_(block_size) {
        int total = 3;  // spare blocks
        for (const HostStream &s : streams) total += (s.length + block_size - 1) / block_size;
        std::vector<int32_t> ids(total);
        std::iota(ids.begin(), ids.end(), 0);
        std::shuffle(ids.begin(), ids.end(), rng);
        kv_init_.assign(static_cast<size_t>(total) * 2 * block_size * d, 0x7fc0);
        score_init_.assign(static_cast<size_t>(total) * kKinds * block_size, kUnowned);
        size_t next = 0;
        for (const HostStream &s : streams) {
            table_at_.push_back(tables_.size());
            lengths_.push_back(s.length);
            for (int b = 0; b < (s.length + block_size - 1) / block_size; ++b)
                tables_.push_back(ids[next++]);
            const size_t stream = lengths_.size() - 1;
            for (int j = 0; j < s.length; ++j) {
                for (int half = 0; half < 2; ++half) {
                    const float *src = (half ? s.v : s.k).data() + static_cast<size_t>(j) * d;
                    uint16_t *dst = kv_init_.data() + kv_row(stream, j, half) * d;
                    for (int c = 0; c < d; ++c) dst[c] = to_bf16(src[c]);
                }
                for (int k = 0; k < kKinds; ++k)
                    score_init_[score_index(stream, k, j)] = s.scores.kind[k][j];
            }
        }
        kv_ = DeviceBuffer(kv_init_);
        if (scores) scores_ = DeviceBuffer(score_init_);
        tables_dev_ = DeviceBuffer(std::max<size_t>(tables_.size(), 1) * sizeof(int32_t));
        tables_dev_.upload(tables_);
        std::vector<attention::DeviceStream> views(streams.size());
        for (size_t i = 0; i < streams.size(); ++i) {
            views[i].blocks = tables_dev_.get<int32_t>() + table_at_[i];
            views[i].length = streams[i].length;
        }
        views_ = DeviceBuffer(views);
    }

    attention::DevicePool pool() const {
        attention::DevicePool p;
        p.data = kv_.get();
        p.block_size = block_size_;
        p.head_dim = d_;
        p.scores = scores_.get<float>();
        return p;
    }
    const attention::DeviceStream *streams() const { return views_.get<attention::DeviceStream>(); }

    // Every stream's scores, read through its block table.
    std::vector<HostScores> download_scores() const {
        const std::vector<float> all = scores_.download<float>();
        std::vector<HostScores> out(lengths_.size());
        for (size_t i = 0; i < lengths_.size(); ++i)
            for (int k = 0; k < kKinds; ++k)
                for (int j = 0; j < lengths_[i]; ++j)
                    out[i].kind[k].push_back(all[score_index(i, k, j)]);
        return out;
    }

    // Pool entries that changed but must not: any K/V element, and score entries no stream owns.
    size_t stray_writes() const {
        size_t bad = 0;
        const std::vector<uint16_t> kv = kv_.download<uint16_t>();
        for (size_t i = 0; i < kv.size(); ++i) bad += kv[i] != kv_init_[i];
        if (scores_.get() == nullptr) return bad;
        std::vector<char> owned(score_init_.size(), 0);
        for (size_t i = 0; i < lengths_.size(); ++i)
            for (int k = 0; k < kKinds; ++k)
                for (int j = 0; j < lengths_[i]; ++j) owned[score_index(i, k, j)] = 1;
        const std::vector<float> all = scores_.download<float>();
        for (size_t i = 0; i < all.size(); ++i)
            if (!owned[i]) bad += std::memcmp(&all[i], &score_init_[i], sizeof(float)) != 0;
        return bad;
    }

private:
    // Pool row of the key (half 0) or value (half 1) of slot j of a stream.
    size_t kv_row(size_t stream, int j, int half) const {
        const size_t block = tables_[table_at_[stream] + j / block_size_];
        return (block * 2 + half) * block_size_ + j % block_size_;
    }
    size_t score_index(size_t stream, int kind, int j) const {
        const size_t block = tables_[table_at_[stream] + j / block_size_];
        return (block * kKinds + kind) * block_size_ + j % block_size_;
    }

    int d_, block_size_;
    std::vector<int32_t> tables_;
    std::vector<size_t> table_at_;
    std::vector<int> lengths_;
    std::vector<uint16_t> kv_init_;
    std::vector<float> score_init_;
    DeviceBuffer kv_, scores_, tables_dev_, views_;
};

// Softmax of one query over keys [0, visible) of a stream, in double: p[j] and o = sum p v (zeros
// when nothing is visible).
void reference_row(const float *q, const HostStream &s, int visible, int d, std::vector<double> &p,
                   std::vector<double> &o) {
    const double scale = 1.0 / std::sqrt(static_cast<double>(d));
    p.assign(visible, 0.0);
    double mx = -INFINITY;
    for (int j = 0; j < visible; ++j) {
        const float *k = s.k.data() + static_cast<size_t>(j) * d;
        double dot = 0.0;
        for (int c = 0; c < d; ++c) dot += static_cast<double>(q[c]) * k[c];
        p[j] = dot * scale;
        mx = std::max(mx, p[j]);
    }
    double sum = 0.0;
    for (int j = 0; j < visible; ++j) sum += (p[j] = std::exp(p[j] - mx));
    o.assign(d, 0.0);
    for (int j = 0; j < visible; ++j) {
        p[j] /= sum;
        const float *v = s.v.data() + static_cast<size_t>(j) * d;
        for (int c = 0; c < d; ++c) o[c] += p[j] * v[c];
    }
}

// Mismatches against a reference: |got - want| <= rel * |want| + abs; NaN never passes.
struct Compare {
    double rel, abs;
    size_t checked = 0, bad = 0;
    double worst = 0.0;  // largest |got - want| / (rel * |want| + abs)
    void operator()(double got, double want) {
        ++checked;
        const double ratio = std::fabs(got - want) / (rel * std::fabs(want) + abs);
        if (!(ratio <= 1.0)) ++bad;
        if (!(ratio <= worst)) worst = std::isnan(ratio) ? INFINITY : ratio;
    }
};

// What one launch got against the reference: output rows [rows][out_stride] of the GPU compared
// per (row, head) by the caller, the poisoned padding past n_head * d, and the score checks.
struct Result {
    std::vector<uint16_t> bits;
    int out_stride, width;
    Compare out{1e-2, 6e-3};     // bf16 rounding of values up to ~3, fp32 accumulation
    Compare scores{1e-3, 1e-6};  // fp32 probabilities and sums against double
    double err2 = 0.0, ref2 = 0.0;
    size_t padding_touched = 0, observers_bad = 0, window_kept_bad = 0;

    void check_head(int row, int h, int d, const std::vector<double> &o) {
        for (int c = 0; c < d; ++c) {
            const double got = from_bf16(bits[static_cast<size_t>(row) * out_stride + h * d + c]);
            out(got, o[c]);
            err2 += (got - o[c]) * (got - o[c]);
            ref2 += o[c] * o[c];
        }
    }
    // Checks everything, with one line of the accuracy reached, for the record.
    void finish(const char *op, const std::string &name, int rows, const PagedPool &paged) {
        for (int r = 0; r < rows; ++r)
            for (int x = width; x < out_stride; ++x)
                padding_touched += bits[static_cast<size_t>(r) * out_stride + x] != kPoison;
        const double rel_norm = ref2 > 0.0 ? std::sqrt(err2 / ref2) : 0.0;
        std::printf(
            "%s %s: output rel. norm error %.1e, worst |error| / bound %.2f; scores worst %.3f "
            "over %zu values\n",
            op, name.c_str(), rel_norm, out.worst, scores.worst, scores.checked);
        CHECK(out.bad == 0);
        CHECK(rel_norm < 1e-2);
        CHECK(padding_touched == 0);
        CHECK(scores.bad == 0);
        CHECK(observers_bad == 0);
        CHECK(window_kept_bad == 0);
        CHECK(paged.stray_writes() == 0);
    }
};

struct PrefillCase {
    int n_head_kv, group, d, n;
    std::vector<int> cached;  // slots before the chunk, per kv head
    int window;               // score_window; 0 leaves window untouched
    bool scores;
    float key_scale;  // > 1 makes the softmax sharp
    int block_size;

    std::string name() const {
        std::ostringstream s;
        s << "kv heads " << n_head_kv << " group " << group << " d " << d << " n " << n
          << " cached";
        for (int c : cached) s << " " << c;
        s << " window " << window << (scores ? " scores" : " no scores") << " key scale "
          << key_scale << " block " << block_size;
        return s.str();
    }
};

void run_prefill(const PrefillCase &c, std::mt19937 &rng) {
    INFO(c.name());
    const int n_head = c.n_head_kv * c.group, d = c.d, width = n_head * d;
    // Odd paddings: the generic kernel takes strides with no alignment.
    const int q_stride = width + 3, out_stride = width + 5;
    std::vector<HostStream> streams;
    int max_length = 0;
    for (int g = 0; g < c.n_head_kv; ++g) {
        const int len = c.cached[g] + c.n;
        max_length = std::max(max_length, len);
        streams.push_back(
            random_stream(len, d, c.key_scale, c.window > 0 ? NAN : kWindowKept, rng));
    }
    const std::vector<float> q = random_bf16(static_cast<size_t>(c.n) * q_stride, 1.0f, rng);
    PagedPool paged(streams, d, c.block_size, c.scores, rng);
    DeviceBuffer q_dev(bf16_bits(q));
    DeviceBuffer out_dev(static_cast<size_t>(c.n) * out_stride * sizeof(uint16_t));
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
    attention::prefill_generic(args, nullptr);
    cuda_check(cudaDeviceSynchronize(), "prefill_generic");

    Result r{out_dev.download<uint16_t>(), out_stride, width};
    std::vector<HostScores> got;
    if (c.scores) got = paged.download_scores();
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
                r.check_head(i, h, d, o);
                for (int j = 0; j <= first + i; ++j) {
                    col[j] += p[j];
                    if (i >= c.n - n_window) win[j] += p[j];
                    if (i == c.n - 1) last[j] += p[j];
                }
            }
        }
        if (!c.scores) continue;
        const HostScores &init = st.scores;
        for (int j = 0; j < st.length; ++j) {
            r.scores(got[g].kind[0][j], init.kind[0][j] + col[j]);
            const double seen = c.n - std::max(0, j - first);
            r.observers_bad += got[g].kind[1][j] != init.kind[1][j] + seen;
            if (c.window > 0) {
                r.scores(got[g].kind[2][j], win[j]);
            } else {
                r.window_kept_bad += got[g].kind[2][j] != kWindowKept;
            }
            r.scores(got[g].kind[3][j], last[j]);
        }
    }
    r.finish("prefill_generic", c.name(), c.n, paged);
}

struct DecodeCase {
    int n_head_kv, group, d;
    std::vector<int> lengths;  // per sequence; kv head g holds max(0, length - 3 g) slots
    bool scores;
    float key_scale;
    int block_size;
    int max_length_extra;  // max_length over-estimates the longest stream by this (a bucket)

    std::string name() const {
        std::ostringstream s;
        s << "kv heads " << n_head_kv << " group " << group << " d " << d << " lengths";
        for (int l : lengths) s << " " << l;
        s << (scores ? " scores" : " no scores") << " key scale " << key_scale << " block "
          << block_size << " max_length +" << max_length_extra;
        return s.str();
    }
};

void run_decode(const DecodeCase &c, std::mt19937 &rng) {
    INFO(c.name());
    const int batch = static_cast<int>(c.lengths.size()), n_head = c.n_head_kv * c.group;
    const int d = c.d, width = n_head * d, q_stride = width + 1, out_stride = width + 7;
    std::vector<HostStream> streams;
    int max_length = 0;
    for (int b = 0; b < batch; ++b) {
        for (int g = 0; g < c.n_head_kv; ++g) {
            // Heads of a sequence may hold different numbers of slots after per-head eviction;
            // an empty stream is a padding entry of a batch bucket.
            const int len = std::max(0, c.lengths[b] - 3 * g);
            max_length = std::max(max_length, len);
            streams.push_back(random_stream(len, d, c.key_scale, kWindowKept, rng));
        }
    }
    const std::vector<float> q = random_bf16(static_cast<size_t>(batch) * q_stride, 1.0f, rng);
    PagedPool paged(streams, d, c.block_size, c.scores, rng);
    DeviceBuffer q_dev(bf16_bits(q));
    DeviceBuffer out_dev(static_cast<size_t>(batch) * out_stride * sizeof(uint16_t));
    out_dev.poison();

    attention::DecodeArgs args;
    args.pool = paged.pool();
    args.streams = paged.streams();
    args.batch = batch;
    args.n_head_kv = c.n_head_kv;
    args.n_head = n_head;
    args.max_length = std::max(1, max_length + c.max_length_extra);
    args.q = q_dev.get();
    args.q_stride = q_stride;
    args.out = out_dev.get();
    args.out_stride = out_stride;
    args.scores = c.scores;
    args.splits = 3;  // ignored by the generic kernel, as is the (absent) workspace
    attention::decode_generic(args, nullptr);
    cuda_check(cudaDeviceSynchronize(), "decode_generic");

    Result r{out_dev.download<uint16_t>(), out_stride, width};
    std::vector<HostScores> got;
    if (c.scores) got = paged.download_scores();
    std::vector<double> p, o;
    for (int b = 0; b < batch; ++b) {
        for (int g = 0; g < c.n_head_kv; ++g) {
            const size_t idx = static_cast<size_t>(b) * c.n_head_kv + g;
            const HostStream &st = streams[idx];
            std::vector<double> col(st.length, 0.0);
            for (int hh = 0; hh < c.group; ++hh) {
                const int h = g * c.group + hh;
                reference_row(q.data() + static_cast<size_t>(b) * q_stride + h * d, st, st.length,
                              d, p, o);
                r.check_head(b, h, d, o);
                for (int j = 0; j < st.length; ++j) col[j] += p[j];
            }
            if (!c.scores) continue;
            const HostScores &init = st.scores;
            for (int j = 0; j < st.length; ++j) {
                r.scores(got[idx].kind[0][j], init.kind[0][j] + col[j]);
                r.observers_bad += got[idx].kind[1][j] != init.kind[1][j] + 1.0f;
                r.window_kept_bad += got[idx].kind[2][j] != kWindowKept;
                r.scores(got[idx].kind[3][j], col[j]);
            }
        }
    }
    r.finish("decode_generic", c.name(), batch, paged);
}

}  // namespace

TEST_CASE("prefill_generic: stories260K shape (d 8, GQA 2:1), cached prefixes", "[generic]") {
    std::mt19937 rng(std::random_device{}());
    run_prefill({4, 2, 8, 37, {0, 5, 40, 100}, 32, true, 1.0f, 16}, rng);
    run_prefill({4, 2, 8, 1, {0, 0, 17, 255}, 32, true, 1.0f, 16}, rng);
}

TEST_CASE("prefill_generic: d 16, 32, 80, 96 and 64, GQA 1, 2 and 4", "[generic]") {
    std::mt19937 rng(std::random_device{}());
    run_prefill({2, 4, 16, 70, {130, 0}, 16, true, 1.0f, 8}, rng);
    run_prefill({1, 1, 32, 1, {0}, 32, true, 1.0f, 16}, rng);
    run_prefill({1, 1, 32, 90, {300}, 32, true, 1.0f, 16}, rng);
    run_prefill({2, 4, 80, 100, {61, 200}, 32, true, 3.0f, 32}, rng);
    run_prefill({3, 2, 96, 65, {0, 33, 1000}, 128, true, 1.0f, 16}, rng);
    run_prefill({2, 4, 64, 50, {70, 10}, 32, true, 1.0f, 16}, rng);
}

TEST_CASE("prefill_generic: without scores, and scores without a window", "[generic]") {
    std::mt19937 rng(std::random_device{}());
    run_prefill({2, 2, 96, 45, {10, 90}, 32, false, 1.0f, 16}, rng);
    run_prefill({2, 4, 80, 40, {20, 0}, 0, true, 1.0f, 16}, rng);
}

TEST_CASE("prefill_generic: odd and extreme head sizes, block sizes 1 and 64", "[generic]") {
    std::mt19937 rng(std::random_device{}());
    run_prefill({1, 2, 1, 33, {7}, 8, true, 1.0f, 1}, rng);
    run_prefill({2, 1, 3, 40, {0, 64}, 32, true, 2.0f, 64}, rng);
    run_prefill({1, 2, 255, 35, {30}, 32, true, 1.0f, 16}, rng);
    run_prefill({1, 8, 256, 20, {50}, 4, true, 1.0f, 16}, rng);
}

TEST_CASE("prefill_generic: groups over one CTA's heads (chunks of the group)", "[generic]") {
    std::mt19937 rng(std::random_device{}());
    run_prefill({1, 9, 8, 30, {20}, 32, true, 1.0f, 16}, rng);
    run_prefill({2, 12, 16, 25, {3, 70}, 10, true, 3.0f, 8}, rng);
    run_prefill({1, 17, 32, 12, {40}, 32, true, 1.0f, 16}, rng);
}

TEST_CASE("prefill_generic: long chunk over many tiles", "[generic]") {
    std::mt19937 rng(std::random_device{}());
    run_prefill({2, 2, 80, 400, {600, 0}, 32, true, 3.0f, 16}, rng);
}

TEST_CASE("generic attention: long streams (many tiles per CTA)", "[generic]") {
    std::mt19937 rng(std::random_device{}());
    run_prefill({1, 2, 16, 3, {70000}, 32, true, 1.0f, 16}, rng);
    run_decode({2, 2, 8, {100000, 5}, true, 1.0f, 16, 0}, rng);
}

TEST_CASE("decode_generic: batches of mixed lengths", "[generic]") {
    std::mt19937 rng(std::random_device{}());
    run_decode({4, 2, 8, {1, 17, 100, 33}, true, 1.0f, 16, 0}, rng);
    run_decode({2, 4, 80, {700, 4, 64}, true, 3.0f, 32, 0}, rng);
    run_decode({3, 1, 96, {5, 300, 40}, true, 1.0f, 16, 0}, rng);
    run_decode({2, 2, 16, {1, 1, 2}, true, 1.0f, 1, 0}, rng);
    run_decode({2, 8, 64, {129, 31}, true, 1.0f, 16, 0}, rng);
}

TEST_CASE("decode_generic: empty padding streams, over-estimated max_length, no scores",
          "[generic]") {
    std::mt19937 rng(std::random_device{}());
    run_decode({2, 2, 32, {0, 50, 2}, true, 1.0f, 16, 0}, rng);
    run_decode({2, 2, 32, {90, 6}, true, 1.0f, 16, 38}, rng);
    run_decode({2, 4, 96, {200, 3}, false, 1.0f, 16, 0}, rng);
}

TEST_CASE("decode_generic: groups over one CTA's heads, odd head sizes", "[generic]") {
    std::mt19937 rng(std::random_device{}());
    run_decode({1, 12, 16, {80, 1, 33}, true, 1.0f, 16, 0}, rng);
    run_decode({2, 9, 3, {45, 7}, true, 2.0f, 8, 0}, rng);
    run_decode({1, 2, 255, {70}, true, 1.0f, 64, 0}, rng);
}

TEST_CASE("generic attention: bad arguments are errors", "[generic]") {
    DeviceBuffer dummy(64);
    attention::PrefillArgs args;
    args.pool.data = dummy.get();
    args.pool.head_dim = 257;
    args.pool.block_size = 16;
    args.streams = static_cast<const attention::DeviceStream *>(dummy.get());
    args.q = args.out = dummy.get();
    args.q_stride = args.out_stride = 1024;
    args.n_head_kv = 1;
    args.n_head = 2;
    args.n = 1;
    args.max_length = 1;
    CHECK_THROWS_WITH(attention::prefill_generic(args, nullptr), Catch::Contains("head_dim 257"));
    args.pool.head_dim = 0;
    CHECK_THROWS_WITH(attention::prefill_generic(args, nullptr), Catch::Contains("head_dim 0"));
    args.pool.head_dim = 8;
    args.n_head = 3;
    args.n_head_kv = 2;
    CHECK_THROWS_WITH(attention::prefill_generic(args, nullptr), Catch::Contains("n_head 3"));
    args.n_head = 2;
    args.pool.block_size = 24;
    CHECK_THROWS_WITH(attention::prefill_generic(args, nullptr), Catch::Contains("block_size 24"));
    args.pool.block_size = 16;
    args.scores = true;
    CHECK_THROWS_WITH(attention::prefill_generic(args, nullptr), Catch::Contains("keeps none"));
    args.scores = false;
    args.q_stride = 15;
    CHECK_THROWS_WITH(attention::prefill_generic(args, nullptr), Catch::Contains("q_stride 15"));

    attention::DecodeArgs dec;
    dec.pool = args.pool;
    dec.streams = args.streams;
    dec.n_head_kv = 1;
    dec.n_head = 1;
    dec.q = dec.out = dummy.get();
    dec.q_stride = dec.out_stride = 8;
    dec.max_length = 1;
    CHECK_THROWS_WITH(attention::decode_generic(dec, nullptr), Catch::Contains("batch 0"));
}

}  // namespace cab::gpu_test
