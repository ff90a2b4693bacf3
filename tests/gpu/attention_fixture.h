// Random paged KV streams on the device, and the naive reference the attention kernels are
// checked against: softmax(q K^T / sqrt(d)) in double over the same bf16-rounded inputs.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
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

// Score accumulators of one stream, one value per slot of each kind (ScoreKind).
struct HostScores {
    std::vector<float> score, observers, window, last;
};

// The score pool after a kernel: every stream's accumulators read through its block table, and
// how many floats that held the poison pattern before no longer do.
struct ScoreSnapshot {
    std::vector<HostScores> streams;
    size_t poison_changed = 0;
};

// Every score float outside the streams' slots (unused blocks, a last block's tail slots) holds
// this NaN, compared bit for bit: any arithmetic on it yields the canonical NaN instead.
constexpr uint32_t kScorePoison = 0x7fc0deadu;

inline uint32_t float_bits(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    return u;
}

inline float bits_float(uint32_t u) {
    float x;
    std::memcpy(&x, &u, 4);
    return x;
}

// Streams in a pool of block_size-token blocks handed out in random order (as a pool that has
// seen evictions does); every pool row no stream owns holds NaN, so a kernel that reads past a
// stream's end is caught. The score pool is paged the same way (kv/paged.h): the given initial
// accumulators at the streams' slots, kScorePoison everywhere else, or everywhere when `scores`
// is null.
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
        size_t next = 0;
        table_at_.resize(n);
        lengths_.resize(n);
        for (size_t i = 0; i < n; ++i) {
            table_at_[i] = tables_host_.size();
            lengths_[i] = streams[i].length;
            for (int b = 0; b < n_blocks[i]; ++b) tables_host_.push_back(ids[next++]);
            for (int j = 0; j < streams[i].length; ++j) {
                size_t block = tables_host_[table_at_[i] + j / block_size];
                for (int half = 0; half < 2; ++half) {
                    size_t row = (block * 2 + half) * block_size + j % block_size;
                    const float *src =
                        (half ? streams[i].v : streams[i].k).data() + static_cast<size_t>(j) * d;
                    for (int c = 0; c < d; ++c) pool[row * d + c] = to_bf16(src[c]);
                }
            }
        }
        initial_.assign(static_cast<size_t>(total) * 4 * block_size, kScorePoison);
        if (scores) {
            for (size_t i = 0; i < n; ++i) {
                const HostScores &s = (*scores)[i];
                for (int j = 0; j < lengths_[i]; ++j) {
                    initial_[score_index(i, j, 0)] = float_bits(s.score[j]);
                    initial_[score_index(i, j, 1)] = float_bits(s.observers[j]);
                    initial_[score_index(i, j, 2)] = float_bits(s.window[j]);
                    initial_[score_index(i, j, 3)] = float_bits(s.last[j]);
                }
            }
        }
        pool_ = DeviceBuffer(pool);
        tables_ = DeviceBuffer(tables_host_);
        scores_ = DeviceBuffer(initial_);
        std::vector<attention::DeviceStream> views(n);
        for (size_t i = 0; i < n; ++i) {
            views[i].blocks = tables_.get<int32_t>() + table_at_[i];
            views[i].length = streams[i].length;
        }
        views_ = DeviceBuffer(views);
    }

    attention::DevicePool pool() const {
        return {pool_.get(), block_size_, d_, scores_.get<float>()};
    }
    const attention::DeviceStream *streams() const { return views_.get<attention::DeviceStream>(); }

    // Entries [dst, dst + count) of the device stream array become copies of entries [src, src +
    // count): what an executor does to the arrays a captured CUDA graph reads.
    void redirect(size_t dst, size_t src, size_t count) {
        auto *views = views_.get<attention::DeviceStream>();
        cuda_check(cudaMemcpy(views + dst, views + src, count * sizeof(attention::DeviceStream),
                              cudaMemcpyDeviceToDevice),
                   "redirect streams");
    }

    ScoreSnapshot download_scores() const {
        const std::vector<uint32_t> now = scores_.download<uint32_t>();
        ScoreSnapshot snap;
        for (size_t k = 0; k < now.size(); ++k)
            snap.poison_changed += initial_[k] == kScorePoison && now[k] != kScorePoison;
        snap.streams.resize(lengths_.size());
        for (size_t i = 0; i < lengths_.size(); ++i) {
            auto kind = [&](int k) {
                std::vector<float> v(lengths_[i]);
                for (int j = 0; j < lengths_[i]; ++j) v[j] = bits_float(now[score_index(i, j, k)]);
                return v;
            };
            snap.streams[i] = {kind(0), kind(1), kind(2), kind(3)};
        }
        return snap;
    }

private:
    // Kind k of slot j of stream i: row k of the slot's block, [block * 4 + k][block_size].
    size_t score_index(size_t i, int j, int k) const {
        const size_t block = tables_host_[table_at_[i] + j / block_size_];
        return (block * 4 + k) * block_size_ + j % block_size_;
    }

    int d_, block_size_;
    std::vector<int> lengths_;
    std::vector<int32_t> tables_host_;
    std::vector<size_t> table_at_;
    std::vector<uint32_t> initial_;
    DeviceBuffer pool_, tables_, scores_, views_;
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
