// Random paged KV streams on the device, and the naive reference the attention kernels are
// checked against: softmax(q K^T / sqrt(d)) in double over the same bf16-rounded inputs.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "attention/attention.h"
#include "device_buffer.h"

namespace cab::gpu_test {

namespace attention = cab::cuda::attention;

// bf16-rounded normal values times `scale`.
inline std::vector<float> random_bf16(size_t n, float scale, std::mt19937 &rng) {
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> x(n);
    for (float &v : x) v = round_bf16(scale * dist(rng));
    return x;
}

inline std::vector<uint16_t> bf16_bits(const std::vector<float> &x) {
    std::vector<uint16_t> h(x.size());
    for (size_t i = 0; i < x.size(); ++i) h[i] = to_bf16(x[i]);
    return h;
}

// One stream's keys and values, [length][d].
struct HostStream {
    int length = 0;
    std::vector<float> k, v;
};

inline HostStream random_stream(int length, int d, float key_scale, std::mt19937 &rng) {
    HostStream s;
    s.length = length;
    s.k = random_bf16(static_cast<size_t>(length) * d, key_scale, rng);
    s.v = random_bf16(static_cast<size_t>(length) * d, 1.0f, rng);
    return s;
}

// Score accumulators of one stream (DeviceScores on the host).
struct HostScores {
    std::vector<float> score, observers, window, last;
};

// Streams in a pool of block_size-token blocks handed out in random order (as a pool that has
// seen evictions does); every pool row no stream owns holds NaN, so a kernel that reads past a
// stream's end is caught.
class PagedStreams {
public:
    PagedStreams(const std::vector<HostStream> &streams, int d, int block_size,
                 const std::vector<HostScores> *scores, std::mt19937 &rng)
        : d_(d), block_size_(block_size) {
        const size_t n = streams.size();
        std::vector<int> n_blocks(n);
        int total = 2;  // spare blocks no stream owns
        for (size_t i = 0; i < n; ++i) {
            n_blocks[i] = (streams[i].length + block_size - 1) / block_size;
            total += n_blocks[i];
        }
        std::vector<int32_t> ids(total);
        std::iota(ids.begin(), ids.end(), 0);
        std::shuffle(ids.begin(), ids.end(), rng);
        std::vector<uint16_t> pool(static_cast<size_t>(total) * 2 * block_size * d, 0x7fc0);
        std::vector<int32_t> tables;
        std::vector<size_t> table_at(n), score_at(n);
        size_t next = 0, slots = 0;
        for (size_t i = 0; i < n; ++i) {
            table_at[i] = tables.size();
            score_at[i] = slots;
            slots += streams[i].length;
            for (int b = 0; b < n_blocks[i]; ++b) tables.push_back(ids[next++]);
            for (int j = 0; j < streams[i].length; ++j) {
                size_t block = tables[table_at[i] + j / block_size];
                for (int half = 0; half < 2; ++half) {
                    size_t row = (block * 2 + half) * block_size + j % block_size;
                    const float *src =
                        (half ? streams[i].v : streams[i].k).data() + static_cast<size_t>(j) * d;
                    for (int c = 0; c < d; ++c) pool[row * d + c] = to_bf16(src[c]);
                }
            }
        }
        pool_ = DeviceBuffer(pool);
        tables_ = DeviceBuffer(tables);
        slots_ = slots;
        if (scores) {
            std::vector<float> host(4 * slots);
            for (size_t i = 0; i < n; ++i) {
                const HostScores &s = (*scores)[i];
                for (int a = 0; a < 4; ++a) {
                    const std::vector<float> &src = a == 0   ? s.score
                                                    : a == 1 ? s.observers
                                                    : a == 2 ? s.window
                                                             : s.last;
                    std::copy(src.begin(), src.end(), host.begin() + a * slots + score_at[i]);
                }
            }
            score_buf_ = DeviceBuffer(host);
        }
        std::vector<attention::DeviceStream> views(n);
        for (size_t i = 0; i < n; ++i) {
            views[i].blocks = tables_.get<int32_t>() + table_at[i];
            views[i].length = streams[i].length;
            if (scores) {
                float *base = score_buf_.get<float>() + score_at[i];
                views[i].scores = {base, base + slots, base + 2 * slots, base + 3 * slots};
            }
        }
        lengths_.resize(n);
        for (size_t i = 0; i < n; ++i) lengths_[i] = streams[i].length;
        score_at_ = score_at;
        views_ = DeviceBuffer(views);
    }

    attention::DevicePool pool() const { return {pool_.get(), block_size_, d_}; }
    const attention::DeviceStream *streams() const { return views_.get<attention::DeviceStream>(); }

    std::vector<HostScores> download_scores() const {
        std::vector<float> host = score_buf_.download<float>();
        std::vector<HostScores> out(lengths_.size());
        for (size_t i = 0; i < lengths_.size(); ++i) {
            auto at = [&](int a) {
                auto first = host.begin() + a * slots_ + score_at_[i];
                return std::vector<float>(first, first + lengths_[i]);
            };
            out[i] = {at(0), at(1), at(2), at(3)};
        }
        return out;
    }

private:
    int d_, block_size_;
    size_t slots_ = 0;
    std::vector<int> lengths_;
    std::vector<size_t> score_at_;
    DeviceBuffer pool_, tables_, score_buf_, views_;
};

// Softmax of one query over keys [0, visible) of a stream, in double: p[j] and o = sum p v.
inline void reference_row(const float *q, const HostStream &s, int visible, int d,
                          std::vector<double> &p, std::vector<double> &o) {
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

// Accumulates mismatches of GPU values against a reference: |got - want| <= rel * |want| + abs,
// and NaN never passes.
struct Compare {
    double rel, abs;
    size_t checked = 0, bad = 0;
    double worst = 0.0;  // largest |got - want| / (rel * |want| + abs)
    void operator()(double got, double want) {
        ++checked;
        double bound = rel * std::fabs(want) + abs;
        double ratio = std::fabs(got - want) / bound;
        if (!(ratio <= 1.0)) ++bad;
        if (!(ratio <= worst)) worst = std::isnan(ratio) ? INFINITY : ratio;
    }
};

}  // namespace cab::gpu_test
