// The CPU executor: the reference implementation of every op of backend.h, in F32, spread over
// a thread pool. Elementwise and GEMM ops live in cpu_ops.cpp, KV and attention in
// cpu_attention.cpp, block copies in cpu_kv_copy.cpp, kv_select in cpu_kv_select.cpp; the fused
// ops use the Executor defaults.
#pragma once

#include <vector>

#include "backend/backend.h"
#include "backend/cpu/thread_pool.h"

namespace cab::cpu {

// Throws Error(INVALID_ARGUMENT) naming op and tensor when t is strided: most ops take dense
// tensors only (backend.h).
void require_dense(const Tensor &t, const char *op, const char *name);

class CpuExecutor final : public Executor {
public:
    explicit CpuExecutor(int32_t n_threads);

    void upload(const float *src, const Tensor &dst) override;
    void download(const Tensor &src, float *dst) override;
    void embedding(const Tensor &table, const int32_t *tokens, const Tensor &out) override;
    void matmul(const Tensor &x, const Tensor &w, const Tensor *bias, const Tensor &y) override;
    void rmsnorm(const Tensor &x, const Tensor &w, float eps, const Tensor &y) override;
    void rope(const Tensor &x, int32_t n_head, const int32_t *positions,
              const RopeParams &params) override;
    void swiglu(const Tensor &gate, const Tensor &up, const Tensor &out) override;
    void add(const Tensor &x, const Tensor &y) override;

    void kv_append(const KvPoolRef &pool, const StreamRef *streams, int32_t n_seqs,
                   int32_t rows_per_seq, const Tensor &k, const Tensor &v) override;
    void attention_prefill(const KvPoolRef &pool, const StreamRef *streams, int32_t n_head_kv,
                           const Tensor &q, int32_t n_head, const Tensor &out,
                           int32_t score_window) override;
    void attention_decode(const KvPoolRef &pool, const StreamRef *streams, int32_t n_head_kv,
                          const Tensor &q, int32_t n_head, const Tensor &out) override;
    void kv_compact(const KvPoolRef &pool, const StreamRef &stream, const int32_t *keep,
                    int32_t n_keep) override;
    void kv_compact_mixed(const KvPoolRef &pool, const StreamRef &src, const StreamRef &dst,
                          const int32_t *keep, int32_t n_keep) override;
    void kv_copy_blocks(const KvPoolRef &pool, const int32_t *src, const int32_t *dst,
                        int32_t n) override;
    void kv_quantize_blocks(const KvPoolRef &pool, const int32_t *src, const int32_t *dst,
                            int32_t n) override;
    void kv_read(const KvPoolRef &pool, const StreamRef &stream, bool values,
                 float *host_dst) override;
    void kv_read_scores(const KvPoolRef &pool, const StreamRef &stream, float *host_dst) override;
    void kv_read_score_kind(const KvPoolRef &pool, const StreamRef *streams, int32_t n,
                            int32_t kind, float *host_dst) override;
    void kv_select(const KvPoolRef &pool, const SelectUnit *units, int32_t n_units,
                   int32_t *host_keep) override;
    void argmax(const Tensor &x, int32_t *host_out) override;

private:
    // Attention with (kScores) or without score accumulation: one code path, so the two cannot
    // drift apart, and the path without scores pays nothing for them.
    template <bool kScores>
    void prefill_impl(const KvPoolRef &pool, const StreamRef *streams, int32_t n_head_kv,
                      const Tensor &q, int32_t n_head, const Tensor &out, int32_t score_window);
    template <bool kScores>
    void decode_impl(const KvPoolRef &pool, const StreamRef *streams, int32_t n_head_kv,
                     const Tensor &q, int32_t n_head, const Tensor &out);
    void sum_columns(int64_t n, int64_t len, int64_t n_window);

    ThreadPool pool_;
    // Attention scratch, grown on demand and kept: gathered K and V of one stream, and the
    // probabilities; with scores, the chunk's column sums (all queries, the window, the last).
    std::vector<float> k_buf_, v_buf_, scores_;
    std::vector<float> col_sum_, win_sum_, last_sum_;
};

}  // namespace cab::cpu
