// The backend seam: device memory, dtype-tagged tensors and the ops of the forward pass.
// The forward pass (runtime/forward.cpp) is written once against this interface and knows nothing
// of CPU vs CUDA. Ops are at the granularity of device kernels (a GEMM, a fused norm, attention
// over paged KV streams), never element loops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "kv/quant_q8.h"
#include "model/ggml_types.h"
#include "policy/keep_plan.h"
#include "util/error.h"

namespace cab {

enum class RopeStyle;

// I8 holds the int8 rows of quantized KV blocks (kv/quant_q8.h), nothing else.
enum class DType : uint8_t { F32, F16, BF16, I8 };

inline size_t dtype_size(DType dtype) {
    return dtype == DType::F32 ? 4 : dtype == DType::I8 ? 1 : 2;
}

// A row-major 2-D tensor in one backend's memory. Copies share the storage (weights can be
// aliased, e.g. a tied LM head); row and column views share it too. Rows are `stride` elements
// apart: cols for a tensor from Backend::alloc (dense), more for a column view. Few ops take
// strided tensors (see Executor); the others require dense ones.
class Tensor {
public:
    Tensor() = default;
    Tensor(std::shared_ptr<void> storage, DType dtype, int64_t rows, int64_t cols)
        : storage_(std::move(storage)), dtype_(dtype), rows_(rows), cols_(cols), stride_(cols) {}

    bool empty() const { return storage_ == nullptr; }
    DType dtype() const { return dtype_; }
    int64_t rows() const { return rows_; }
    int64_t cols() const { return cols_; }
    // Elements from the start of one row to the start of the next.
    int64_t stride() const { return stride_; }
    // Whether the elements are contiguous (rows stride_ == cols apart, or at most one row).
    bool dense() const { return stride_ == cols_ || rows_ <= 1; }
    // Bytes of one row's elements, and of all of them (contiguous for a dense tensor).
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
        t.offset_ += static_cast<size_t>(first) * static_cast<size_t>(stride_) * dtype_size(dtype_);
        t.rows_ = n;
        return t;
    }
    // Columns [first, first + n) of every row, sharing the storage; the stride stays, so the
    // view of fewer columns than the stride is strided (e.g. Q, K and V of one fused QKV
    // product). The caller keeps the range inside the tensor.
    Tensor cols_view(int64_t first, int64_t n) const {
        Tensor t = *this;
        t.offset_ += static_cast<size_t>(first) * dtype_size(dtype_);
        t.cols_ = n;
        return t;
    }

private:
    std::shared_ptr<void> storage_;
    size_t offset_ = 0;
    DType dtype_ = DType::F32;
    int64_t rows_ = 0;
    int64_t cols_ = 0;
    int64_t stride_ = 0;
};

struct RopeParams {
    RopeStyle style;
    float theta = 10000.0f;
    float freq_scale = 1.0f;  // positions are multiplied by this (linear scaling)
};

// Per-slot score accumulators (DESIGN.md section 4), paged like K/V so that they cost memory only
// for blocks in use and move with their slots on compaction. Row `kind` of block b is row
// b * kScoreKinds + kind of KvPoolRef::scores, one float per slot of the block:
// - Score: += P[q][j] summed over the step's queries q and the GQA group's query heads;
// - Observers: += the number of the step's queries that can see slot j (queries, not heads);
// - Window: P[q][j] summed over the last score_window queries of a prefill chunk and the group's
//   heads (recomputed for every slot; decode leaves it as it is);
// - Last: P[q][j] of the step's last query, summed over the group's heads.
// P is the same normalized probability that weights V. kv_append zeroes an appended slot's four.
enum ScoreKind : int32_t { kScore = 0, kObservers = 1, kWindow = 2, kLast = 3 };
constexpr int32_t kScoreKinds = 4;

// The kind a keep plan ranks by (KeepPlan::source).
inline ScoreKind score_kind(RankSource source) {
    return source == RankSource::Score ? kScore : source == RankSource::Window ? kWindow : kLast;
}

// The paged KV pool as kernels see it. Storage holds the first_q8 full-precision blocks; block b
// is K[block_size][head_dim] at rows [b * 2 * block_size, b * 2 * block_size + block_size)
// followed by V[block_size][head_dim]. Keys are stored after RoPE. Its dtype is the backend's
// kv_dtype(). Block ids from first_q8 on are int8 blocks (kv/quant_q8.h), laid out alike in
// storage_q8 (I8) at block b - first_q8, with one F32 scale per row in scales_q8 ([rows, 1]); a
// stream's int8 blocks come before its full-precision ones (its oldest slots). Scores are
// indexed by block id, whatever its type.
struct KvPoolRef {
    Tensor storage;
    Tensor scores;      // F32 [n_blocks * kScoreKinds, block_size]; empty when no scores are kept
    Tensor storage_q8;  // empty when the pool has no int8 blocks
    Tensor scales_q8;
    int32_t first_q8 = 0;  // ids >= first_q8 are int8 blocks (when storage_q8 is not empty)
    Q8Type q8_type = Q8Type::Int8;  // their element type: int8, or fp8 E4M3 codes in the bytes
    // Per-stream state of a backend that defers decode scores (Backend::alloc_pending_scores),
    // one row per StreamRef::id; empty on backends that accumulate them at once.
    Tensor pending;
    int32_t block_size = 0;
    int32_t head_dim = 0;
    // Stream ids (StreamRef::id) of the pool's cache are in [0, n_streams); 0: not known.
    int32_t n_streams = 0;

    bool is_q8(int64_t block) const { return !storage_q8.empty() && block >= first_q8; }
};

// One stream (sequence, layer, kv head) as ops see it: slot s lives in block
// blocks[s / block_size] at row s % block_size. `blocks` is host memory (the cache's metadata);
// a device backend copies the tables it needs. `length` counts the slots of the stream as it is
// after the current step, i.e. including the tokens this step appends. `id` (a row of
// KvPoolRef::pending, fixed for the stream's lifetime in its cache; -1 for none) and `epoch`
// (bumped when the stream is reset) let a backend keep deferred scores per stream. `version`
// (kv/block_table.h) names the table's contents: a backend that keeps a copy of the table by id
// may skip comparing it while the version is the one it copied; 0: unversioned, compare.
// `q8_length` counts the slots in 8-bit blocks, which come first: a backend may balance work by
// it (8-bit slots are half the bytes), but reads each block's type from the pool, so a wrong
// count costs time, never correctness.
struct StreamRef {
    const int32_t *blocks = nullptr;
    int32_t length = 0;
    int32_t id = -1;
    uint32_t epoch = 0;
    uint64_t version = 0;
    int32_t q8_length = 0;
};

// One unit of Executor::kv_select.
struct SelectUnit {
    const StreamRef *streams = nullptr;
    int32_t n_streams = 0;
    KeepPlan plan;
};

// Runs ops on one backend (a CPU thread pool, or a CUDA stream with its cuBLAS handle). A context
// owns one; it is used by one thread at a time. Ops may run asynchronously: download and the
// kv_read* calls wait for everything queued before them. The residual stream and logits are F32;
// the other activations (matmul inputs and outputs, Q/K/V, attention and FFN outputs) are in the
// backend's act_dtype(). An op's tensors are in the dtypes its comment gives, and are dense
// except those its comment marks "any stride" (column views of a fused product: Q, K and V of
// one QKV matmul, gate and up of one gate/up matmul); a strided tensor anywhere else is
// Error(INVALID_ARGUMENT).
class Executor {
public:
    virtual ~Executor() = default;

    // F32 host rows in and out; the tensor may be F32 or act_dtype (converted).
    virtual void upload(const float *src, const Tensor &dst) = 0;
    virtual void download(const Tensor &src, float *dst) = 0;

    // out[i] = table[tokens[i]] for i < out.rows(); table in the weight dtype, out F32; tokens
    // are host memory, already validated.
    virtual void embedding(const Tensor &table, const int32_t *tokens, const Tensor &out) = 0;
    // y[n, m] = x[n, k] . w[m, k]^T (+ bias[m] when bias is non-null). x act (any stride), w a
    // weight matrix, bias an F32 vector [1, m], y act or F32 (the logits).
    virtual void matmul(const Tensor &x, const Tensor &w, const Tensor *bias, const Tensor &y) = 0;
    // y = x / rms(x) * w, per row: x F32, w F32 [1, cols], y act.
    virtual void rmsnorm(const Tensor &x, const Tensor &w, float eps, const Tensor &y) = 0;
    // Rotates every head of x[n, n_head * head_dim] (act, any stride) in place; row i has
    // position positions[i] (host memory).
    virtual void rope(const Tensor &x, int32_t n_head, const int32_t *positions,
                      const RopeParams &params) = 0;
    // out = silu(gate) * up, all act (any stride); out may alias gate (the same view).
    virtual void swiglu(const Tensor &gate, const Tensor &up, const Tensor &out) = 0;
    // x += y: x F32 (the residual stream), y act.
    virtual void add(const Tensor &x, const Tensor &y) = 0;

    // Fused forms of the ops above, for the steps of a transformer block. Each default composes
    // the plain ops through the scratch tensor it is given; a GPU backend runs one kernel where
    // that pays (small batches, where a decode step is a chain of short weight reads).
    //
    // y = rmsnorm(x) * norm_w . w^T (+ bias): x F32, norm_w F32 [1, cols], xn act scratch
    // [x.rows, x.cols] (may be left untouched), bias F32 [1, m] or null, y act or F32 (logits).
    virtual void rmsnorm_matmul(const Tensor &x, const Tensor &norm_w, float eps, const Tensor &w,
                                const Tensor *bias, const Tensor &xn, const Tensor &y) {
        rmsnorm(x, norm_w, eps, xn);
        matmul(xn, w, bias, y);
    }
    // out = swiglu of the gate and up halves of rmsnorm(x) * norm_w . w_gate_up^T: w_gate_up
    // [2 * n_ff, cols] stacks the gate rows over the up rows; gu act scratch [x.rows, 2 * n_ff];
    // out act [x.rows, n_ff] (any stride; may be the gate half of gu).
    virtual void rmsnorm_matmul_swiglu(const Tensor &x, const Tensor &norm_w, float eps,
                                       const Tensor &w_gate_up, const Tensor &xn, const Tensor &gu,
                                       const Tensor &out) {
        rmsnorm(x, norm_w, eps, xn);
        matmul(xn, w_gate_up, nullptr, gu);
        const int64_t n_ff = gu.cols() / 2;
        swiglu(gu.cols_view(0, n_ff), gu.cols_view(n_ff, n_ff), out);
    }
    // x += a . w^T: the residual add in the projection's epilogue. a act (any stride), x F32,
    // t act scratch [a.rows, w.rows] (may be left untouched).
    virtual void matmul_add(const Tensor &a, const Tensor &w, const Tensor &x, const Tensor &t) {
        matmul(a, w, nullptr, t);
        add(x, t);
    }

    // Writes K/V rows (act) into their streams and zeroes the appended slots' scores.
    // streams[s * n_head_kv + h] is kv head h of sequence s; sequence s owns rows
    // [s * rows_per_seq, (s + 1) * rows_per_seq) of k and v ([rows, n_head_kv * head_dim], any
    // stride, the same for both), which go to its last rows_per_seq slots.
    virtual void kv_append(const KvPoolRef &pool, const StreamRef *streams, int32_t n_seqs,
                           int32_t rows_per_seq, const Tensor &k, const Tensor &v) = 0;
    // Rotates q's heads (in place) and k's, then appends k and v as kv_append does: q [rows,
    // n_head * head_dim] and k, v [rows, n_head_kv * head_dim], all act, any stride. k's own
    // columns may be left rotated or not; only the cache's copy is defined.
    virtual void rope_kv_append(const KvPoolRef &pool, const StreamRef *streams, int32_t n_seqs,
                                int32_t rows_per_seq, const Tensor &q, int32_t n_head,
                                const Tensor &k, const Tensor &v, int32_t n_head_kv,
                                const int32_t *positions, const RopeParams &params) {
        rope(q, n_head, positions, params);
        rope(k, n_head_kv, positions, params);
        kv_append(pool, streams, n_seqs, rows_per_seq, k, v);
    }
    // The start of an attention block: qkv = rmsnorm(x) * norm_w . w_qkv^T (+ bias) as
    // rmsnorm_matmul computes it, then rope_kv_append of its column views q (the first n_head
    // heads of pool.head_dim), k and v (n_head_kv heads each). qkv act [x.rows, w_qkv.rows]
    // dense; its q columns are left rotated, its k and v columns undefined.
    virtual void rmsnorm_qkv_rope_append(const Tensor &x, const Tensor &norm_w, float eps,
                                         const Tensor &w_qkv, const Tensor *bias, const Tensor &xn,
                                         const Tensor &qkv, const KvPoolRef &pool,
                                         const StreamRef *streams, int32_t n_seqs,
                                         int32_t rows_per_seq, int32_t n_head, int32_t n_head_kv,
                                         const int32_t *positions, const RopeParams &params) {
        rmsnorm_matmul(x, norm_w, eps, w_qkv, bias, xn, qkv);
        const int64_t q_cols = int64_t{n_head} * pool.head_dim,
                      kv_cols = int64_t{n_head_kv} * pool.head_dim;
        rope_kv_append(pool, streams, n_seqs, rows_per_seq, qkv.cols_view(0, q_cols), n_head,
                       qkv.cols_view(q_cols, kv_cols), qkv.cols_view(q_cols + kv_cols, kv_cols),
                       n_head_kv, positions, params);
    }
    // Causal attention of one prefill chunk. q: [n, n_head * head_dim] (act, any stride), the
    // chunk's queries, which are the last n slots of each of the n_head_kv streams; query i of a
    // stream of length L sees slots [0, L - n + i]. GQA: query head h reads kv head h / (n_head /
    // n_head_kv). out: [n, n_head * head_dim] (act). When the pool keeps scores they are
    // accumulated; score_window > 0 recomputes `window` from the last min(score_window, n)
    // queries, 0 leaves it.
    virtual void attention_prefill(const KvPoolRef &pool, const StreamRef *streams,
                                   int32_t n_head_kv, const Tensor &q, int32_t n_head,
                                   const Tensor &out, int32_t score_window) = 0;
    // One query per sequence: row s of q (any stride) sees every slot of streams
    // [s * n_head_kv, (s + 1) * n_head_kv). Scores as for prefill, `window` untouched; when the
    // pool has `pending` state they may be deferred (see settle_scores).
    virtual void attention_decode(const KvPoolRef &pool, const StreamRef *streams,
                                  int32_t n_head_kv, const Tensor &q, int32_t n_head,
                                  const Tensor &out) = 0;
    // Moves slots keep[0..n_keep) (host memory, strictly increasing) of a stream to slots
    // [0, n_keep), order preserved, with their K, V and scores. The caller then releases the
    // blocks past the new length.
    virtual void kv_compact(const KvPoolRef &pool, const StreamRef &stream, const int32_t *keep,
                            int32_t n_keep) = 0;
    // kv_compact for a stream with int8 blocks, whose slots keep their types: slot i of `dst`
    // (the stream's new block list, its first blocks int8) receives slot keep[i] of `src` (the
    // old list) with its K, V and scores; a full-precision slot moving into an int8 block is
    // quantized, an int8 one moves as it is. dst's blocks are src's, in order, less some, so that
    // every slot is written at or before where a later one is read. Backends whose
    // Backend::kv_q8_supported(pool.q8_type) is false throw Error(UNSUPPORTED).
    virtual void kv_compact_mixed(const KvPoolRef &pool, const StreamRef &src, const StreamRef &dst,
                                  const int32_t *keep, int32_t n_keep) {
        (void)pool;
        (void)src;
        (void)dst;
        (void)keep;
        (void)n_keep;
        fail(CAB_ERR_UNSUPPORTED, "int8 KV blocks are not supported on this backend");
    }
    // Ranks and compacts whole selection units where the scores are: unit u's streams (one
    // stream, or every kv head of a layer that shares its selection; of equal length) have their
    // scores summed slot by slot, units[u].plan picks the kept slots over the sums (as
    // apply_keep_plan does), and every stream of the unit is compacted to them as kv_compact
    // does. host_keep receives each unit's kept slots, ascending, unit after unit,
    // keep_count(plan, length) of them. The pool must keep scores when a plan ranks (k > 0).
    // The default reads the scores to the host and compacts stream by stream.
    virtual void kv_select(const KvPoolRef &pool, const struct SelectUnit *units, int32_t n_units,
                           int32_t *host_keep);
    // Copies whole blocks src[i] -> dst[i] (K, V and, when kept, their scores), i < n; host
    // arrays of distinct block indices, no block both a source and a destination: what copying
    // a sequence (cab_seq_copy) does to every stream.
    virtual void kv_copy_blocks(const KvPoolRef &pool, const int32_t *src, const int32_t *dst,
                                int32_t n) = 0;
    // Quantizes whole full-precision blocks src[i] into int8 blocks dst[i] (kv/quant_q8.h: K and
    // V rows, one scale per row) and moves their scores, i < n; host arrays of distinct indices.
    // What KvCache::quantize does to a stream's oldest blocks. Backends whose
    // Backend::kv_q8_supported(pool.q8_type) is false throw Error(UNSUPPORTED).
    virtual void kv_quantize_blocks(const KvPoolRef &pool, const int32_t *src, const int32_t *dst,
                                    int32_t n) {
        (void)pool;
        (void)src;
        (void)dst;
        (void)n;
        fail(CAB_ERR_UNSUPPORTED, "int8 KV blocks are not supported on this backend");
    }
    // Copies the keys (or values) of slots [0, stream.length) to host memory, [length, head_dim]
    // F32 row-major: what a policy that reads keys (cab-frc) gets.
    virtual void kv_read(const KvPoolRef &pool, const StreamRef &stream, bool values,
                         float *host_dst) = 0;
    // Copies the scores of slots [0, stream.length) to host memory as [kScoreKinds][length] F32
    // (kind-major). The pool must keep scores.
    virtual void kv_read_scores(const KvPoolRef &pool, const StreamRef &stream,
                                float *host_dst) = 0;
    // One score kind (ScoreKind) of slots [0, length) of each of streams[0..n), stream after
    // stream, to host memory as F32: what a selection that ranks by one kind reads, in one call
    // for many streams. The pool must keep scores. The default reads each stream's scores with
    // kv_read_scores.
    virtual void kv_read_score_kind(const KvPoolRef &pool, const StreamRef *streams, int32_t n,
                                    int32_t kind, float *host_dst);
    // The mean keys of runs of runs[i] consecutive slots of streams[i] (policy/key_means.h's
    // key_means over the keys kv_read gives, bit for bit), stream after stream, each
    // [run_count(length, runs[i])][head_dim] F32, to host memory: what cab-frc's key graph reads,
    // in one call for many streams and without the keys leaving the device. The default reads
    // each stream's keys with kv_read.
    virtual void kv_read_key_means(const KvPoolRef &pool, const StreamRef *streams, int32_t n,
                                   const int32_t *runs, float *host_dst);
    // A backend whose pool has `pending` state may leave a decode step's score contributions
    // pending per stream (DESIGN.md section 4) and add them during the stream's next decode
    // step. This applies what is pending for streams[0..n) (distinct ids; lengths are the
    // committed slots), so that their scores are those the CPU backend would hold. The ops
    // that read, move or extend a stream's scores (attention_prefill, kv_compact, kv_select,
    // kv_read_scores) settle their streams themselves; kv_copy_blocks, which sees only blocks,
    // needs its source streams settled first.
    virtual void settle_scores(const KvPoolRef &pool, const StreamRef *streams, int32_t n) {
        (void)pool;
        (void)streams;
        (void)n;
    }

    // host_out[r] = the index of the largest element of row r of x (F32 rows): the lowest such
    // index on ties, NaN counted as -inf (a row of only NaN and -inf gives 0). Waits for the
    // result: greedy sampling without copying the logits to the host.
    virtual void argmax(const Tensor &x, int32_t *host_out) = 0;

    // A decode step of n_seqs sequences whose longest stream will hold max_length slots: the
    // ops between step_begin and step_end may be recorded once and replayed for later steps of
    // the same shape (CUDA graphs). Ops in between take the same tensors in the same order every
    // step; only host inputs (tokens, positions, block tables) and lengths change. No download
    // in between. q8_appends: whether some row the step appends lands in an 8-bit block (when
    // false, the 8-bit append kernels are left out of the step; an append that would need them
    // is then Error(INTERNAL), never lost). The CPU backend runs ops as they come.
    virtual void step_begin(int32_t n_seqs, int32_t max_length, bool q8_appends = false) {
        (void)n_seqs;
        (void)max_length;
        (void)q8_appends;
    }
    virtual void step_end() {}
    // Drops the open step, if any, when the forward pass fails between step_begin and step_end:
    // a step never outlives the call that opened it.
    virtual void step_abort() noexcept {}

protected:
    // Calls fn(i) for every i in [0, n), in any order and possibly concurrently.
    using ForEach = std::function<void(size_t n, const std::function<void(size_t)> &fn)>;
    // The default kv_select with every unit's selection (the score kinds its plan ranks by read
    // with kv_read_score_kind and summed, then apply_keep_plan) run through for_each: all of them
    // after the checks and before the first compaction, which then runs unit by unit.
    // kv_read_score_kind must be safe to call concurrently for a for_each that runs fn
    // concurrently.
    void kv_select_on_host(const KvPoolRef &pool, const SelectUnit *units, int32_t n_units,
                           int32_t *host_keep, const ForEach &for_each);
};

// A device: owns memory, places weights, makes executors. Shared (immutable) by a model and
// every context made from it.
class Backend {
public:
    virtual ~Backend() = default;

    virtual const char *name() const = 0;
    // Activations between ops (see Executor) and the KV pool's element type.
    virtual DType act_dtype() const = 0;
    virtual DType kv_dtype() const = 0;
    // Whether the KV pool's kernels take blocks of `block_size` tokens (the CUDA attention
    // kernels index slots by shift and mask: powers of two only).
    virtual bool kv_block_size_supported(int32_t block_size) const {
        (void)block_size;
        return true;
    }
    // Whether the executors take pools with 8-bit blocks of this type (KvPoolRef::storage_q8,
    // q8_type) in every KV op.
    virtual bool kv_q8_supported(Q8Type type) const {
        (void)type;
        return false;
    }
    // Uninitialised device memory. Throws Error(OUT_OF_MEMORY).
    virtual Tensor alloc(DType dtype, int64_t rows, int64_t cols) = 0;
    // The zeroed per-stream state (KvPoolRef::pending) for n_streams streams of a model with
    // n_head query heads over n_head_kv kv heads of head_dim, when this backend defers decode
    // scores for that shape; an empty tensor when it does not (the default).
    virtual Tensor alloc_pending_scores(int64_t n_streams, int32_t n_head, int32_t n_head_kv,
                                        int32_t head_dim) {
        (void)n_streams;
        (void)n_head;
        (void)n_head_kv;
        (void)head_dim;
        return {};
    }
    // Places weights from a GGUF file on the device, one [rows, cols] tensor per source: matrices
    // in the backend's weight dtype (the CPU backend dequantizes to F32, CUDA to BF16), vectors
    // (rows == 1: norm weights, biases) in F32. A source is one GGUF tensor, or several joined:
    // the elements of its parts, one part after another in row-major order, make the tensor,
    // i.e. matrices of equal cols stacked by rows (the fused Q/K/V and gate/up projections) or
    // vectors joined into one (their biases); parts whose sizes do not add up to rows * cols are
    // Error(INVALID_ARGUMENT). One call takes many tensors so that the backend can convert them
    // in parallel. progress(done, total) is called from the calling thread as sources complete;
    // when it returns false loading stops with Error(STATE).
    struct WeightSource {
        // One GGUF tensor: rows of cols elements of `type`.
        struct Part {
            ggml::Type type;
            const void *data;
            int64_t rows;
            int64_t cols;
        };
        WeightSource(ggml::Type type, const void *data, int64_t n_rows, int64_t n_cols)
            : parts{{type, data, n_rows, n_cols}}, rows(n_rows), cols(n_cols) {}
        WeightSource(std::vector<Part> joined, int64_t n_rows, int64_t n_cols)
            : parts(std::move(joined)), rows(n_rows), cols(n_cols) {}

        std::vector<Part> parts;
        int64_t rows;
        int64_t cols;
    };
    virtual std::vector<Tensor> load_weights(
        const std::vector<WeightSource> &sources,
        const std::function<bool(size_t done, size_t total)> &progress) = 0;
    virtual std::unique_ptr<Executor> make_executor(int32_t n_threads) = 0;
};

// Executor::kv_read_key_means's argument checks, shared by its implementations: Error
// (INVALID_ARGUMENT) for null streams or runs, a run below 1, a negative length, or a null output
// where some stream holds slots.
void check_key_means_read(const StreamRef *streams, int32_t n, const int32_t *runs,
                          int32_t head_dim, const float *host_dst);

// Executor::kv_read_score_kind's argument checks, shared by its implementations: Error
// (INVALID_ARGUMENT) for null streams, a kind outside ScoreKind, a negative length, or a null
// output where some stream holds slots.
void check_score_kind_read(const StreamRef *streams, int32_t n, int32_t kind,
                           const float *host_dst);

// The CPU backend (reference semantics); n_threads for loading (0: hardware concurrency).
std::unique_ptr<Backend> make_cpu_backend(int32_t n_threads);

#ifdef CAB_HAVE_CUDA
// The CUDA backend on GPU `gpu_index` (cuda/backend/). Throws Error(DEVICE) when the device cannot
// be used, with the CUDA message.
std::unique_ptr<Backend> make_cuda_backend(int gpu_index);
#endif

}  // namespace cab
