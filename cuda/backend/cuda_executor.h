// The CUDA executor: every op of backend.h on one non-blocking stream of one GPU, with bf16
// activations and KV, cuBLAS GEMMs and the kernels of cuda/. Elementwise ops, GEMMs, transfers and
// steps are in cuda_executor.cpp; KV and attention ops in cuda_kv_ops.cpp, the staging of their
// streams in cuda_stream_staging.cpp; the fused ops of a transformer block (decode GEMVs of
// cuda/gemv, RoPE with KV append, both in one) in cuda_fused_ops.cpp.
//
// Host inputs of an op (tokens, positions, stream headers, keep lists) are staged: outside a CUDA
// graph step through a HostRing into one device buffer that every op reuses in stream order;
// inside one into the step's arena (decode_graph.h), where a replayed step only writes them.
// Block tables live on the device (block_tables.h); ops send what changed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "backend/backend.h"
#include "backend/block_tables.h"
#include "backend/decode_graph.h"
#include "backend/device_memory.h"
#include "backend/gemm.h"
#include "backend/staging.h"
#include "kv/paged.h"
#include "kv/rope_append.cuh"

namespace cab::cuda {

class CudaExecutor final : public Executor {
public:
    // On GPU `gpu`. The environment, read here, can turn off (with "0"): CUDA graphs for decode
    // steps (CAB_CUDA_GRAPHS), the fused GEMVs of small batches, which then run as rmsnorm,
    // cuBLAS and swiglu ops (CAB_CUDA_GEMV), RoPE and the KV append in the QKV GEMV's epilogue,
    // which then run as a kernel of their own after the QKV GEMV (CAB_CUDA_QKV_ROPE),
    // programmatic dependent launch (CAB_CUDA_PDL), and device copies of the block tables
    // (CAB_CUDA_BLOCK_TABLES), without which every op stages its streams' whole tables.
    explicit CudaExecutor(int gpu);
    ~CudaExecutor() override;

    void upload(const float *src, const Tensor &dst) override;
    void download(const Tensor &src, float *dst) override;
    void embedding(const Tensor &table, const int32_t *tokens, const Tensor &out) override;
    void matmul(const Tensor &x, const Tensor &w, const Tensor *bias, const Tensor &y) override;
    void rmsnorm(const Tensor &x, const Tensor &w, float eps, const Tensor &y) override;
    void rope(const Tensor &x, int32_t n_head, const int32_t *positions,
              const RopeParams &params) override;
    void swiglu(const Tensor &gate, const Tensor &up, const Tensor &out) override;
    void add(const Tensor &x, const Tensor &y) override;
    // cuda_fused_ops.cpp
    void rmsnorm_matmul(const Tensor &x, const Tensor &norm_w, float eps, const Tensor &w,
                        const Tensor *bias, const Tensor &xn, const Tensor &y) override;
    void rmsnorm_matmul_swiglu(const Tensor &x, const Tensor &norm_w, float eps,
                               const Tensor &w_gate_up, const Tensor &xn, const Tensor &gu,
                               const Tensor &out) override;
    void matmul_add(const Tensor &a, const Tensor &w, const Tensor &x, const Tensor &t) override;
    void rope_kv_append(const KvPoolRef &pool, const StreamRef *streams, int32_t n_seqs,
                        int32_t rows_per_seq, const Tensor &q, int32_t n_head, const Tensor &k,
                        const Tensor &v, int32_t n_head_kv, const int32_t *positions,
                        const RopeParams &params) override;
    void rmsnorm_qkv_rope_append(const Tensor &x, const Tensor &norm_w, float eps,
                                 const Tensor &w_qkv, const Tensor *bias, const Tensor &xn,
                                 const Tensor &qkv, const KvPoolRef &pool, const StreamRef *streams,
                                 int32_t n_seqs, int32_t rows_per_seq, int32_t n_head,
                                 int32_t n_head_kv, const int32_t *positions,
                                 const RopeParams &params) override;
    void argmax(const Tensor &x, int32_t *host_out) override;

    void kv_append(const KvPoolRef &pool, const StreamRef *streams, int32_t n_seqs,
                   int32_t rows_per_seq, const Tensor &k, const Tensor &v) override;
    void attention_prefill(const KvPoolRef &pool, const StreamRef *streams, int32_t n_head_kv,
                           const Tensor &q, int32_t n_head, const Tensor &out,
                           int32_t score_window) override;
    void attention_decode(const KvPoolRef &pool, const StreamRef *streams, int32_t n_head_kv,
                          const Tensor &q, int32_t n_head, const Tensor &out) override;
    void kv_compact(const KvPoolRef &pool, const StreamRef &stream, const int32_t *keep,
                    int32_t n_keep) override;
    // cuda_kv_select.cpp
    void kv_select(const KvPoolRef &pool, const SelectUnit *units, int32_t n_units,
                   int32_t *host_keep) override;
    // cuda_kv_copy.cpp
    void kv_copy_blocks(const KvPoolRef &pool, const int32_t *src, const int32_t *dst,
                        int32_t n) override;
    // cuda_kv_q8.cpp
    void kv_quantize_blocks(const KvPoolRef &pool, const int32_t *src, const int32_t *dst,
                            int32_t n) override;
    void kv_compact_mixed(const KvPoolRef &pool, const StreamRef &src, const StreamRef &dst,
                          const int32_t *keep, int32_t n_keep) override;
    void kv_read(const KvPoolRef &pool, const StreamRef &stream, bool values,
                 float *host_dst) override;
    void kv_read_scores(const KvPoolRef &pool, const StreamRef &stream, float *host_dst) override;
    void kv_read_score_kind(const KvPoolRef &pool, const StreamRef *streams, int32_t n,
                            int32_t kind, float *host_dst) override;
    void kv_read_key_means(const KvPoolRef &pool, const StreamRef *streams, int32_t n,
                           const int32_t *runs, float *host_dst) override;
    void settle_scores(const KvPoolRef &pool, const StreamRef *streams, int32_t n) override;

    void step_begin(int32_t n_seqs, int32_t max_length, bool q8_appends = false) override;
    void step_end() override;
    void step_abort() noexcept override;

private:
    using Staging = DecodeGraphs::Staging;

    // The streams of the last op as staged: DeviceStream[count], then (stride >= 0) an int32
    // table of `stride` entries per stream, or (stride -1) none: the headers point into the
    // pool's BlockTables. Kept so that the next op over the same streams (attention after
    // kv_append) reuses it instead of staging it again.
    struct StagedStreams {
        const void *pool = nullptr;
        const DeviceStream *host = nullptr;
        const DeviceStream *device = nullptr;
        int32_t count = 0;
        int64_t stride = 0;
    };

    // Runs an op body on the executor's device; when it throws, an open step is dropped first.
    // Inside a step (step_begin .. step_end, one forward pass on one thread) the device that
    // step_begin selected is still current: ops skip cudaSetDevice, which cost about as much
    // host time as the rest of a replayed op.
    template <class F>
    void guarded(F &&body);
    // Starts an op: records or checks it inside a graph step, and gives `bytes` of staging.
    Staging begin_op(const char *name, uint64_t signature, size_t bytes);
    // Copies an op's staged bytes to the device (outside a graph step; step_end copies them
    // inside one).
    void send(const Staging &s, size_t bytes);
    // False while a step is replayed: ops then only stage their inputs.
    bool launching() const { return graphs_.mode() != DecodeGraphs::Mode::Replay; }
    // Ops that cannot be recorded (transfers, compaction, KV reads) end an open step.
    void leave_step();
    cudaStream_t stream() const { return stream_.get(); }

    DevicePool device_pool(const KvPoolRef &pool, const char *op) const;
    // device_pool for an op that appends the last rows_per_seq slots of streams[0..count):
    // without its 8-bit blocks (so without the 8-bit append kernel) when no such slot is in
    // one. Inside a graph step, whose kernels are the same every step, the step's q8_appends
    // decides instead, and a slot in an 8-bit block of a step without it throws INTERNAL.
    DevicePool append_pool(const KvPoolRef &pool, const StreamRef *streams, int32_t count,
                           int32_t rows_per_seq, const char *op) const;
    static pos_enc::RopeStyle rope_style(RopeStyle s);
    // What the fused RoPE ops (rope_kv_append, rmsnorm_qkv_rope_append) rotate and where they
    // append, without the positions and block tables, which they stage.
    static kv::RopeTarget rope_target(const DevicePool &pool, int32_t rows_per_seq, int32_t n_head,
                                      int32_t n_head_kv, const RopeParams &params);
    // Stages the block tables of streams[0..count) (see StagedStreams) for op `name`, whose
    // signature without the streams is `signature`, after checking that every stream holds at
    // least min_length slots. Inside a graph step the tables have room for the step's length
    // bucket, and `max_length` is the bucket; outside, the longest stream.
    struct DeviceStreams {
        const DeviceStream *device = nullptr;
        int32_t max_length = 0;
    };
    DeviceStreams stage_streams(const char *name, uint64_t signature, const KvPoolRef &pool,
                                const StreamRef *streams, int32_t count, int32_t min_length);
    bool same_streams(const KvPoolRef &pool, const StreamRef *streams, int32_t count,
                      int64_t stride) const;
    // stage_streams for streams that `tables` mirrors: their headers only.
    DeviceStreams stage_mirrored(const char *name, uint64_t signature, const KvPoolRef &pool,
                                 BlockTables &tables, const StreamRef *streams, int32_t count,
                                 int32_t max_length);
    // The pool's BlockTables, made on first use; null when its stream ids are not known.
    BlockTables *block_tables(const KvPoolRef &pool);
    // Throws INVALID_ARGUMENT unless the streams' ids (those >= 0) are rows of the pool's
    // pending records (when it has them), and, if `distinct`, no two the same. (Decode, on the
    // path of every step, checks the range only: its streams come from the cache, one per id.)
    void check_stream_ids(const KvPoolRef &pool, const StreamRef *streams, int32_t n, bool distinct,
                          const char *op) const;
    // Applies the decode scores pending for streams[0..n) (attention::settle), whose last n_new
    // slots were appended since: before op `op` reads, moves or adds to their scores.
    void settle_streams(const KvPoolRef &pool, const StreamRef *streams, int32_t n, int32_t n_new,
                        const char *op);
    // Stages n_prefix ints (a keep list) and one stream's block table, outside steps, for
    // compaction and reads.
    struct StagedTable {
        const int32_t *table = nullptr;
        const int32_t *prefix = nullptr;
    };
    StagedTable stage_table(const char *name, const KvPoolRef &pool, const StreamRef &stream,
                            const int32_t *prefix, int32_t n_prefix);
    // Stages n host ints for an op that stages its block tables next (stage_streams): outside a
    // step into a buffer of their own, which the tables do not overwrite.
    const int32_t *stage_ints(const char *name, uint64_t signature, const int32_t *host, int32_t n);

    // Device buffers grown on demand. The decode workspace may be held by a graph, so a grown
    // one retires the old buffer instead of freeing it.
    void *eager_inputs(size_t bytes);
    void *scratch(size_t bytes);
    void *decode_workspace(size_t bytes);
    // Grow `buffer` to `bytes`: eager_buffer waits for the stream and frees the old one;
    // graph_buffer retires it instead while captured graphs may hold it.
    void *eager_buffer(DeviceBuffer &buffer, size_t bytes, const char *what);
    void *graph_buffer(DeviceBuffer &buffer, size_t bytes, const char *what);
    // Device-to-host copy through pinned memory; waits for the stream.
    void read_back(const void *device, void *host, size_t bytes);

    int gpu_;
    StreamHandle stream_;
    Gemm gemm_;
    bool gemv_;
    bool qkv_rope_;
    bool pdl_;
    bool mirror_tables_;
    bool step_q8_appends_ = false;  // step_begin's q8_appends
    HostRing ring_;
    DeviceBuffer eager_inputs_;
    DeviceBuffer eager_ints_;  // stage_ints outside steps
    DeviceBuffer scratch_;
    DeviceBuffer decode_ws_;
    DeviceBuffer bias_sum_;  // matmul: fp32 product + bias before the one rounding to bf16
    std::vector<DeviceBuffer> retired_;
    PinnedBuffer readback_;
    DecodeGraphs graphs_;
    StagedStreams staged_;
    std::vector<const int32_t *> mirrored_rows_;  // stage_mirrored's scratch
    std::vector<DeviceStream> mirrored_headers_;
    // Per pool (its storage's address), its block tables. One replaced (a new pool at the
    // address of another) is kept: queued work or a graph launch may still read its rows.
    std::unordered_map<const void *, std::unique_ptr<BlockTables>> tables_;
    std::vector<std::unique_ptr<BlockTables>> retired_tables_;
    // Per pool (its records' address), the stream ids whose decode scores may be pending: set
    // by attention_decode, cleared by settle_streams, so that settling streams that no decode
    // touched since (every prefill chunk, most reads) launches nothing.
    std::unordered_map<const void *, std::vector<bool>> maybe_pending_;
};

template <class F>
void CudaExecutor::guarded(F &&body) {
    try {
        if (!graphs_.in_step()) check(cudaSetDevice(gpu_), "cudaSetDevice");
        body();
    } catch (...) {
        graphs_.abort();
        staged_ = {};
        throw;
    }
}

}  // namespace cab::cuda
