// Helpers of the CUDA backend tests: the backends, tensors filled through an executor, tolerance
// checks, and a paged KV cache mirrored on several backends (the same block tables, one pool
// each), so that the CUDA executor can be run side by side with the CPU executor or with another
// CUDA executor.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "device_buffer.h"

namespace cab::gpu_test {

// The backends, made on first use; inline, so the whole binary shares one of each.
inline Backend &gpu() {
    static std::unique_ptr<Backend> b = make_cuda_backend(0);
    return *b;
}

// The CPU backend: the reference the CUDA backend is compared against.
inline Backend &cpu() {
    static std::unique_ptr<Backend> b = make_cpu_backend(2);
    return *b;
}

// bf16-representable normal values times `scale`, so that the CPU (F32) and CUDA (BF16)
// backends start from the same numbers.
inline std::vector<float> bf16_values(size_t n, float scale, std::mt19937 &rng) {
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> v(n);
    for (float &x : v) x = round_bf16(scale * dist(rng));
    return v;
}

inline std::vector<float> nan_values(size_t n) {
    return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN());
}

inline Tensor make_tensor(Backend &b, Executor &ex, DType dtype, int64_t rows, int64_t cols,
                          const std::vector<float> &values) {
    Tensor t = b.alloc(dtype, rows, cols);
    REQUIRE(values.size() == static_cast<size_t>(rows * cols));
    ex.upload(values.data(), t);
    return t;
}

// An output tensor filled with NaN, so that an element an op fails to write is caught.
inline Tensor poisoned(Backend &b, Executor &ex, DType dtype, int64_t rows, int64_t cols) {
    return make_tensor(b, ex, dtype, rows, cols, nan_values(static_cast<size_t>(rows * cols)));
}

inline std::vector<float> read(Executor &ex, const Tensor &t) {
    std::vector<float> v(static_cast<size_t>(t.rows() * t.cols()));
    ex.download(t, v.data());
    return v;
}

// Every element within rel * |ref| + abs of the reference (NaN never is); reports the first
// element off and how many are.
inline void check_close(const std::vector<float> &got, const std::vector<float> &ref, double rel,
                        double abs, const std::string &what) {
    REQUIRE(got.size() == ref.size());
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        const double g = got[i], r = ref[i];
        if (!(std::fabs(g - r) <= rel * std::fabs(r) + abs) && bad++ == 0) first = i;
    }
    INFO(what << ": " << bad << " of " << ref.size() << " off; first at " << first << ": got "
              << (bad ? got[first] : 0.0f) << ", expected " << (bad ? ref[first] : 0.0f));
    CHECK(bad == 0);
}

inline double rms(const std::vector<float> &v) {
    double s = 0.0;
    for (float x : v) s += static_cast<double>(x) * x;
    return v.empty() ? 0.0 : std::sqrt(s / static_cast<double>(v.size()));
}

// Executors made while CAB_CUDA_GRAPHS is set to `value` (read when an executor is made).
inline std::unique_ptr<Executor> executor_with_graphs(Backend &b, bool graphs) {
    setenv("CAB_CUDA_GRAPHS", graphs ? "1" : "0", 1);
    std::unique_ptr<Executor> ex = b.make_executor(1);
    unsetenv("CAB_CUDA_GRAPHS");
    return ex;
}

// A paged KV cache of `n_streams` streams whose block tables are shared by every replica; each
// replica is one backend's pool. Blocks are handed out in a random order, as in a pool that has
// seen evictions, and every pool element starts as NaN, so that reading a slot no stream owns
// poisons the result. Refs name no stream id unless asked for `ided` ones: ids 0..n_streams-1
// (for a pool made with `ided`, whose n_streams a device backend may key its copies of the
// tables by), with a version bumped whenever the table changes on even streams and none
// (compare) on odd ones.
class PagedKv {
public:
    PagedKv(int32_t n_blocks, int32_t block_size, int32_t head_dim, int32_t n_streams,
            std::mt19937 &rng)
        : n_blocks_(n_blocks),
          block_size_(block_size),
          head_dim_(head_dim),
          tables_(n_streams),
          versions_(n_streams, 1),
          lengths_(n_streams, 0),
          free_(n_blocks) {
        std::iota(free_.begin(), free_.end(), 0);
        std::shuffle(free_.begin(), free_.end(), rng);
    }

    // A pool on `b` in its kv_dtype, with scores.
    void add_replica(Backend &b, Executor &ex, bool ided = false) {
        KvPoolRef p;
        p.block_size = block_size_;
        p.head_dim = head_dim_;
        p.n_streams = ided ? static_cast<int32_t>(tables_.size()) : 0;
        p.storage = poisoned(b, ex, b.kv_dtype(), int64_t{n_blocks_} * 2 * block_size_, head_dim_);
        p.scores = poisoned(b, ex, DType::F32, int64_t{n_blocks_} * 4, block_size_);
        pools.push_back(p);
    }

    // Gives stream s blocks for n more slots (its length grows by n).
    void grow(int32_t s, int32_t n) {
        lengths_[s] += n;
        while (static_cast<int64_t>(tables_[s].size()) * block_size_ < lengths_[s]) {
            REQUIRE(!free_.empty());
            tables_[s].push_back(free_.back());
            free_.pop_back();
            ++versions_[s];
        }
    }

    // Moves block i of stream s to a free block on every replica (the block's K, V and scores
    // copied by `ex[r]`), as a defragmentation would: the table changes below its end.
    void relocate(int32_t s, size_t i, const std::vector<Executor *> &ex) {
        REQUIRE(!free_.empty());
        const int32_t from = tables_[s][i], to = free_.back();
        for (size_t r = 0; r < pools.size(); ++r) ex[r]->kv_copy_blocks(pools[r], &from, &to, 1);
        free_.back() = from;
        tables_[s][i] = to;
        ++versions_[s];
    }

    // After a compaction to n slots: frees the blocks past them.
    void truncate(int32_t s, int32_t n) {
        lengths_[s] = n;
        while (!tables_[s].empty() &&
               static_cast<int64_t>(tables_[s].size() - 1) * block_size_ >= n) {
            free_.push_back(tables_[s].back());
            tables_[s].pop_back();
            ++versions_[s];
        }
    }

    StreamRef ref(int32_t s, bool ided = false) const {
        StreamRef r{tables_[s].data(), lengths_[s]};
        if (ided) {
            r.id = s;
            r.version = s % 2 == 0 ? versions_[s] : 0;
        }
        return r;
    }
    int32_t length(int32_t s) const { return lengths_[s]; }

    // Refs of the given streams, in order.
    std::vector<StreamRef> refs(const std::vector<int32_t> &streams, bool ided = false) const {
        std::vector<StreamRef> r;
        for (int32_t s : streams) r.push_back(ref(s, ided));
        return r;
    }

    std::vector<KvPoolRef> pools;

private:
    int32_t n_blocks_, block_size_, head_dim_;
    std::vector<std::vector<int32_t>> tables_;
    std::vector<uint64_t> versions_;
    std::vector<int32_t> lengths_;
    std::vector<int32_t> free_;
};

}  // namespace cab::gpu_test
