// The backend seam: device memory, dtype-tagged tensors and the ops of the forward pass.
// The forward pass (runtime/forward.cpp) is written once against this interface and knows nothing
// of CPU vs CUDA. Ops are at the granularity of device kernels (a GEMM, a fused norm, attention
// over paged KV streams), never element loops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "model/ggml_types.h"

namespace cab {

enum class RopeStyle;

enum class DType : uint8_t { F32, F16, BF16 };

inline size_t dtype_size(DType dtype) {
    return dtype == DType::F32 ? 4 : 2;
}

// A dense, row-major 2-D tensor in one backend's memory. Copies share the storage (weights can be
// aliased, e.g. a tied LM head); a row view shares it too.
class Tensor {
public:
    Tensor() = default;
    Tensor(std::shared_ptr<void> storage, DType dtype, int64_t rows, int64_t cols)
        : storage_(std::move(storage)), dtype_(dtype), rows_(rows), cols_(cols) {}

    bool empty() const { return storage_ == nullptr; }
    DType dtype() const { return dtype_; }
    int64_t rows() const { return rows_; }
    int64_t cols() const { return cols_; }
    size_t row_bytes() const { return static_cast<size_t>(cols_) * dtype_size(dtype_); }
    size_t nbytes() const { return static_cast<size_t>(rows_) * row_bytes(); }
    // Device address of the first element (a host pointer on the CPU backend).
    void *data() const { return static_cast<char *>(storage_.get()) + offset_; }
    template <typename T>
    T *as() const {
        return static_cast<T *>(data());
    }
    // Rows [first, first + n) of this tensor, sharing its storage. The caller keeps the range
    // inside the tensor.
    Tensor rows_view(int64_t first, int64_t n) const {
        Tensor t = *this;
        t.offset_ += static_cast<size_t>(first) * row_bytes();
        t.rows_ = n;
        return t;
    }

private:
    std::shared_ptr<void> storage_;
    size_t offset_ = 0;
    DType dtype_ = DType::F32;
    int64_t rows_ = 0;
    int64_t cols_ = 0;
};

struct RopeParams {
    RopeStyle style;
    float theta = 10000.0f;
    float freq_scale = 1.0f;  // positions are multiplied by this (linear scaling)
};

// The paged KV pool as kernels see it. Storage holds n_blocks blocks; block b is
// K[block_size][head_dim] at rows [b * 2 * block_size, b * 2 * block_size + block_size) followed
// by V[block_size][head_dim]. Keys are stored after RoPE.
struct KvPoolRef {
    Tensor storage;
    int32_t block_size = 0;
    int32_t head_dim = 0;
};

// Per-slot score accumulators of one stream (DESIGN.md section 4), `length` floats each, in the
// backend's memory. All null when the cache keeps no scores: attention then computes none.
// Attention writes them from the same normalized probabilities P that weight V:
// - score[j] += P[q][j] summed over the step's queries q and the GQA group's query heads;
// - observers[j] += the number of the step's queries that can see slot j (queries, not heads);
// - window[j] = P[q][j] summed over the last score_window queries of a prefill chunk and the
//   group's heads (recomputed for every slot; decode leaves it as it is);
// - last[j] = P[q][j] of the step's last query, summed over the group's heads.
struct ScoreRef {
    float *score = nullptr;
    float *observers = nullptr;
    float *window = nullptr;
    float *last = nullptr;
};

// One stream (sequence, layer, kv head) as kernels see it: slot s lives in block
// blocks[s / block_size] at row s % block_size. `length` counts the slots of the stream as it is
// after the current step, i.e. including the tokens this step appends.
struct StreamRef {
    const int32_t *blocks = nullptr;
    int32_t length = 0;
    ScoreRef scores;
};

// Runs ops on one backend (a CPU thread pool, later a CUDA stream with its cuBLAS handle).
// A context owns one; it is used by one thread at a time. Activations are F32.
class Executor {
public:
    virtual ~Executor() = default;

    virtual void upload(const float *src, const Tensor &dst) = 0;  // F32, dst.nbytes() bytes
    virtual void download(const Tensor &src, float *dst) = 0;      // F32, src.nbytes() bytes

    // out[i] = table[tokens[i]] for i < out.rows(); tokens are host memory, already validated.
    virtual void embedding(const Tensor &table, const int32_t *tokens, const Tensor &out) = 0;
    // y[n, m] = x[n, k] . w[m, k]^T (+ bias[m] when bias is non-null).
    virtual void matmul(const Tensor &x, const Tensor &w, const Tensor *bias, const Tensor &y) = 0;
    // y = x / rms(x) * w, per row.
    virtual void rmsnorm(const Tensor &x, const Tensor &w, float eps, const Tensor &y) = 0;
    // Rotates every head of x[n, n_head * head_dim] in place; row i has position positions[i].
    virtual void rope(const Tensor &x, int32_t n_head, const int32_t *positions,
                      const RopeParams &params) = 0;
    // out = silu(gate) * up.
    virtual void swiglu(const Tensor &gate, const Tensor &up, const Tensor &out) = 0;
    // x += y.
    virtual void add(const Tensor &x, const Tensor &y) = 0;

    // Writes K/V rows into their streams. streams[s * n_head_kv + h] is kv head h of sequence s;
    // sequence s owns rows [s * rows_per_seq, (s + 1) * rows_per_seq) of k and v
    // ([rows, n_head_kv * head_dim]), which go to its last rows_per_seq slots.
    virtual void kv_append(const KvPoolRef &pool, const StreamRef *streams, int32_t n_seqs,
                           int32_t rows_per_seq, const Tensor &k, const Tensor &v) = 0;
    // Causal attention of one prefill chunk. q: [n, n_head * head_dim], the chunk's queries,
    // which are the last n slots of each of the n_head_kv streams; query i of a stream of
    // length L sees slots [0, L - n + i]. GQA: query head h reads kv head h / (n_head /
    // n_head_kv). out: [n, n_head * head_dim]. When the streams carry scores (ScoreRef), they
    // are accumulated; score_window > 0 recomputes `window` from the last min(score_window, n)
    // queries, 0 leaves it (a single-sequence decode step also runs here).
    virtual void attention_prefill(const KvPoolRef &pool, const StreamRef *streams,
                                   int32_t n_head_kv, const Tensor &q, int32_t n_head,
                                   const Tensor &out, int32_t score_window) = 0;
    // One query per sequence: row s of q sees every slot of streams
    // [s * n_head_kv, (s + 1) * n_head_kv). Scores as for prefill, `window` untouched.
    virtual void attention_decode(const KvPoolRef &pool, const StreamRef *streams,
                                  int32_t n_head_kv, const Tensor &q, int32_t n_head,
                                  const Tensor &out) = 0;
    // Moves slots keep[0..n_keep) (strictly increasing) of a stream to slots [0, n_keep),
    // order preserved. The caller then releases the blocks past the new length.
    virtual void kv_compact(const KvPoolRef &pool, const StreamRef &stream, const int32_t *keep,
                            int32_t n_keep) = 0;
    // Copies the keys (or values) of slots [0, stream.length) to host memory, [length, head_dim]
    // F32 row-major: what a policy that reads keys (cab-frc) gets.
    virtual void kv_read(const KvPoolRef &pool, const StreamRef &stream, bool values,
                         float *host_dst) = 0;
};

// A device: owns memory, places weights, makes executors. Shared (immutable) by a model and
// every context made from it.
class Backend {
public:
    virtual ~Backend() = default;

    virtual const char *name() const = 0;
    // Uninitialised device memory. Throws Error(OUT_OF_MEMORY).
    virtual Tensor alloc(DType dtype, int64_t rows, int64_t cols) = 0;
    // Places weight matrices from a GGUF file (rows of cols elements of `type`) on the device, in
    // the backend's weight dtype (the CPU backend dequantizes to F32). One call takes many
    // tensors so that the backend can convert them in parallel. progress(done, total) is called
    // from the calling thread as tensors complete; when it returns false loading stops with
    // Error(STATE).
    struct WeightSource {
        ggml::Type type;
        const void *data;
        int64_t rows;
        int64_t cols;
    };
    virtual std::vector<Tensor> load_weights(
        const std::vector<WeightSource> &sources,
        const std::function<bool(size_t done, size_t total)> &progress) = 0;
    virtual std::unique_ptr<Executor> make_executor(int32_t n_threads) = 0;
};

// The CPU backend (reference semantics); n_threads for loading (0: hardware concurrency).
std::unique_ptr<Backend> make_cpu_backend(int32_t n_threads);

}  // namespace cab
