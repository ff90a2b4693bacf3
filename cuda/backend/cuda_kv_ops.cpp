// The KV and attention ops of the CUDA executor: their streams staged (cuda_stream_staging.cpp),
// then the kernels of cuda/kv and cuda/attention.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "backend/cuda_executor.h"
#include "kv/kv_append.cuh"
#include "kv/kv_compact.cuh"
#include "kv/kv_gather.cuh"
#include "policy/key_means.h"
#include "util/batches.h"

namespace cab::cuda {

namespace {

enum OpKind : uint64_t { kKvAppend = 101, kPrefill, kDecode, kSettle };

// A BF16 tensor, of any row stride unless `dense`.
void require_act(const Tensor &t, const char *op, const char *name, bool dense) {
    if (t.empty() || t.dtype() != DType::BF16)
        fail(CAB_ERR_INVALID_ARGUMENT, std::string(op) + ": " + name + " must be a BF16 tensor");
    if (dense && !t.dense())
        fail(CAB_ERR_INVALID_ARGUMENT, std::string(op) + ": " + name + " of row stride " +
                                           std::to_string(t.stride()) + " must be dense");
}

// Checks q (any stride) and out (dense) of an attention op: [rows][n_head * head_dim] BF16 each.
void check_attention_io(const Tensor &q, const Tensor &out, int32_t n_head_kv, int32_t n_head,
                        int32_t head_dim, const char *op) {
    require_act(q, op, "q", false);
    require_act(out, op, "out", true);
    if (!(n_head_kv > 0 && n_head > 0 && n_head % n_head_kv == 0))
        fail(CAB_ERR_INVALID_ARGUMENT, std::string(op) + ": n_head " + std::to_string(n_head) +
                                           " is not a positive multiple of n_head_kv " +
                                           std::to_string(n_head_kv));
    const int64_t cols = int64_t{n_head} * head_dim;
    if (!(q.cols() == cols && out.cols() == cols && out.rows() == q.rows() && q.rows() > 0 &&
          q.rows() <= INT32_MAX))
        fail(CAB_ERR_INVALID_ARGUMENT,
             std::string(op) + ": q [" + std::to_string(q.rows()) + " x " +
                 std::to_string(q.cols()) + "] and out [" + std::to_string(out.rows()) + " x " +
                 std::to_string(out.cols()) +
                 "] must both be [rows x n_head * head_dim = " + std::to_string(cols) + "]");
}

}  // namespace

DevicePool CudaExecutor::device_pool(const KvPoolRef &pool, const char *op) const {
    if (pool.storage.empty() || pool.storage.dtype() != DType::BF16)
        fail(CAB_ERR_INVALID_ARGUMENT,
             std::string(op) + ": the KV pool must be BF16 storage (the CUDA backend's kv_dtype)");
    if (!(pool.block_size > 0 && pool.head_dim > 0 && pool.storage.cols() == pool.head_dim))
        fail(CAB_ERR_INVALID_ARGUMENT, std::string(op) + ": KV pool block_size " +
                                           std::to_string(pool.block_size) + ", head_dim " +
                                           std::to_string(pool.head_dim) + " and storage columns " +
                                           std::to_string(pool.storage.cols()) + " do not agree");
    if (!(pool.scores.empty() ||
          (pool.scores.dtype() == DType::F32 && pool.scores.cols() == pool.block_size)))
        fail(CAB_ERR_INVALID_ARGUMENT,
             std::string(op) + ": KV pool scores must be F32 [n_blocks * 4, block_size]");
    if (!pool.storage.dense() || !pool.scores.dense())
        fail(CAB_ERR_INVALID_ARGUMENT,
             std::string(op) + ": the KV pool storage and scores must be dense");
    DevicePool p;
    p.data = pool.storage.data();
    p.block_size = pool.block_size;
    p.head_dim = pool.head_dim;
    p.scores = pool.scores.empty() ? nullptr : pool.scores.as<float>();
    if (!pool.storage_q8.empty()) {
        if (!(pool.storage_q8.dtype() == DType::I8 && pool.storage_q8.cols() == pool.head_dim &&
              pool.storage_q8.dense() && pool.scales_q8.dtype() == DType::F32 &&
              pool.scales_q8.rows() == pool.storage_q8.rows() && pool.scales_q8.cols() == 1 &&
              pool.scales_q8.dense() && pool.first_q8 >= 0))
            fail(CAB_ERR_INVALID_ARGUMENT,
                 std::string(op) +
                     ": the KV pool's int8 blocks must be dense I8 [rows, head_dim] "
                     "with F32 [rows, 1] scales");
        p.q8 = static_cast<int8_t *>(pool.storage_q8.data());
        p.q8_scales = pool.scales_q8.as<float>();
        p.first_q8 = pool.first_q8;
        p.q8_fp8 = pool.q8_type == Q8Type::Fp8E4M3;
    }
    return p;
}

DevicePool CudaExecutor::append_pool(const KvPoolRef &pool, const StreamRef *streams, int32_t count,
                                     int32_t rows_per_seq, const char *op) const {
    DevicePool dp = device_pool(pool, op);
    if (!dp.q8 || !streams) return dp;
    bool lands = false;
    for (int32_t s = 0; s < count && !lands; ++s) {
        const StreamRef &r = streams[s];
        if (r.length <= 0 || !r.blocks) continue;  // stage_streams refuses what is wrong here
        const int32_t last = (r.length - 1) / dp.block_size;
        for (int32_t b = std::max(0, r.length - rows_per_seq) / dp.block_size; b <= last; ++b)
            lands = lands || pool.is_q8(r.blocks[b]);
    }
    bool keep = lands;
    if (graphs_.mode() != DecodeGraphs::Mode::Eager) {
        if (lands && !step_q8_appends_)
            fail(CAB_ERR_INTERNAL, std::string(op) +
                                       ": a row of the decode step lands in an 8-bit KV block, but "
                                       "step_begin said none would (q8_appends)");
        keep = step_q8_appends_;
    }
    if (!keep) {
        dp.q8 = nullptr;
        dp.q8_scales = nullptr;
    }
    return dp;
}

void CudaExecutor::check_stream_ids(const KvPoolRef &pool, const StreamRef *streams, int32_t n,
                                    bool distinct, const char *op) const {
    if (pool.pending.empty()) return;
    std::vector<bool> seen(distinct ? static_cast<size_t>(pool.pending.rows()) : 0, false);
    for (int32_t s = 0; s < n; ++s) {
        const int32_t id = streams[s].id;
        if (id < 0) continue;
        const bool past = id >= pool.pending.rows();
        if (past || (distinct && seen[static_cast<size_t>(id)]))
            fail(CAB_ERR_INVALID_ARGUMENT,
                 std::string(op) + ": stream " + std::to_string(s) + " has id " +
                     std::to_string(id) +
                     (past ? ", past the pool's " + std::to_string(pool.pending.rows()) +
                                 " pending records"
                           : ", which an earlier stream has"));
        if (distinct) seen[static_cast<size_t>(id)] = true;
    }
}

void CudaExecutor::settle_streams(const KvPoolRef &pool, const StreamRef *streams, int32_t n,
                                  int32_t n_new, const char *op) {
    if (pool.pending.empty() || n <= 0) return;
    const auto bits = maybe_pending_.find(pool.pending.data());
    if (bits == maybe_pending_.end()) return;  // no decode ran over this pool: nothing pending
    check_stream_ids(pool, streams, n, true, op);
    std::vector<StreamRef> todo;
    for (int32_t s = 0; s < n; ++s)
        if (streams[s].id >= 0 && bits->second[static_cast<size_t>(streams[s].id)])
            todo.push_back(streams[s]);
    if (todo.empty()) return;
    leave_step();
    const DevicePool dp = device_pool(pool, op);
    const auto count = static_cast<int32_t>(todo.size());
    const DeviceStreams st = stage_streams(
        op, op_signature({kSettle, static_cast<uint64_t>(n_new)}), pool, todo.data(), count, n_new);
    attention::SettleArgs a;
    a.pool = dp;
    a.streams = st.device;
    a.count = count;
    a.n_new = n_new;
    a.max_length = st.max_length;
    a.group = attention::pending_group(pool.pending.row_bytes(), dp.head_dim);
    a.pending = pool.pending.data();
    attention::settle(a, stream());
    for (const StreamRef &r : todo) bits->second[static_cast<size_t>(r.id)] = false;
}

void CudaExecutor::settle_scores(const KvPoolRef &pool, const StreamRef *streams, int32_t n) {
    guarded([&] {
        require(n >= 0 && (n == 0 || streams), CAB_ERR_INVALID_ARGUMENT,
                "settle_scores: null streams");
        settle_streams(pool, streams, n, 0, "settle_scores");
    });
}

void CudaExecutor::kv_append(const KvPoolRef &pool, const StreamRef *streams, int32_t n_seqs,
                             int32_t rows_per_seq, const Tensor &k, const Tensor &v) {
    guarded([&] {
        DevicePool dp = device_pool(pool, "kv_append");
        require_act(k, "kv_append", "k", false);
        require_act(v, "kv_append", "v", false);
        if (k.stride() != v.stride())
            fail(CAB_ERR_INVALID_ARGUMENT, "kv_append: k and v have row strides " +
                                               std::to_string(k.stride()) + " and " +
                                               std::to_string(v.stride()) + ", not one");
        if (!(n_seqs > 0 && rows_per_seq > 0 && k.rows() == int64_t{n_seqs} * rows_per_seq &&
              k.cols() % dp.head_dim == 0 && k.cols() > 0 && v.rows() == k.rows() &&
              v.cols() == k.cols()))
            fail(CAB_ERR_INVALID_ARGUMENT,
                 "kv_append: k [" + std::to_string(k.rows()) + " x " + std::to_string(k.cols()) +
                     "] and v [" + std::to_string(v.rows()) + " x " + std::to_string(v.cols()) +
                     "] must both be [n_seqs " + std::to_string(n_seqs) + " * rows_per_seq " +
                     std::to_string(rows_per_seq) + " x n_head_kv * head_dim " +
                     std::to_string(dp.head_dim) + "]");
        const int32_t n_head_kv = static_cast<int32_t>(k.cols() / dp.head_dim);
        dp = append_pool(pool, streams, n_seqs * n_head_kv, rows_per_seq, "kv_append");
        const DeviceStreams st = stage_streams(
            "kv_append",
            op_signature({kKvAppend, sig_ptr(k.data()), sig_ptr(v.data()),
                          static_cast<uint64_t>(k.stride()), static_cast<uint64_t>(n_seqs),
                          static_cast<uint64_t>(rows_per_seq), dp.q8 != nullptr}),
            pool, streams, n_seqs * n_head_kv, rows_per_seq);
        if (!launching()) return;
        kv::append(dp, st.device, n_seqs, n_head_kv, rows_per_seq, k.data(), v.data(), k.stride(),
                   stream());
    });
}

void CudaExecutor::attention_prefill(const KvPoolRef &pool, const StreamRef *streams,
                                     int32_t n_head_kv, const Tensor &q, int32_t n_head,
                                     const Tensor &out, int32_t score_window) {
    guarded([&] {
        const DevicePool dp = device_pool(pool, "attention_prefill");
        check_attention_io(q, out, n_head_kv, n_head, dp.head_dim, "attention_prefill");
        if (score_window < 0)
            fail(CAB_ERR_INVALID_ARGUMENT,
                 "attention_prefill: score_window " + std::to_string(score_window));
        const int32_t n = static_cast<int32_t>(q.rows());
        // The chunk adds to the scores (and rewrites `last`) after what decode left pending.
        settle_streams(pool, streams, n_head_kv, n, "attention_prefill");
        const DeviceStreams st = stage_streams(
            "attention_prefill",
            op_signature({kPrefill, sig_ptr(q.data()), sig_ptr(out.data()),
                          static_cast<uint64_t>(q.stride()), static_cast<uint64_t>(n),
                          static_cast<uint64_t>(n_head), static_cast<uint64_t>(score_window)}),
            pool, streams, n_head_kv, n);
        if (!launching()) return;
        attention::PrefillArgs a;
        a.pool = dp;
        a.streams = st.device;
        a.n_head_kv = n_head_kv;
        a.n_head = n_head;
        a.n = n;
        a.max_length = st.max_length;
        a.q = q.data();
        a.q_stride = q.stride();
        a.out = out.data();
        a.out_stride = out.cols();
        a.scores = dp.scores != nullptr;
        a.score_window = score_window;
        // A stream's int8 blocks come first (KvCache): its first block tells.
        for (int32_t s = 0; s < n_head_kv && dp.q8; ++s)
            a.int8_blocks =
                a.int8_blocks || (streams[s].length > 0 && pool.is_q8(streams[s].blocks[0]));
        attention::prefill(a, stream());
    });
}

void CudaExecutor::attention_decode(const KvPoolRef &pool, const StreamRef *streams,
                                    int32_t n_head_kv, const Tensor &q, int32_t n_head,
                                    const Tensor &out) {
    guarded([&] {
        const DevicePool dp = device_pool(pool, "attention_decode");
        check_attention_io(q, out, n_head_kv, n_head, dp.head_dim, "attention_decode");
        const int32_t batch = static_cast<int32_t>(q.rows());
        check_stream_ids(pool, streams, batch * n_head_kv, false, "attention_decode");
        const bool defers = dp.scores && !pool.pending.empty();
        if (defers) {  // this step leaves its scores pending
            std::vector<bool> &bits = maybe_pending_[pool.pending.data()];
            bits.resize(static_cast<size_t>(pool.pending.rows()), false);
            for (int32_t s = 0; s < batch * n_head_kv; ++s)
                if (streams[s].id >= 0) bits[static_cast<size_t>(streams[s].id)] = true;
        }
        const DeviceStreams st = stage_streams(
            "attention_decode",
            op_signature({kDecode, sig_ptr(q.data()), sig_ptr(out.data()),
                          static_cast<uint64_t>(q.stride()), static_cast<uint64_t>(batch),
                          static_cast<uint64_t>(n_head)}),
            pool, streams, batch * n_head_kv, 0);
        if (!launching()) return;
        attention::DecodeArgs a;
        a.pool = dp;
        a.streams = st.device;
        a.batch = batch;
        a.n_head_kv = n_head_kv;
        a.n_head = n_head;
        a.max_length = std::max(1, st.max_length);
        a.q = q.data();
        a.q_stride = q.stride();
        a.out = out.data();
        a.out_stride = out.cols();
        a.scores = dp.scores != nullptr;
        if (defers) {
            a.pending = pool.pending.data();
            a.pending_record_bytes = pool.pending.row_bytes();
        }
        // Early launch only inside a graph step, where no copy of the tables comes between it and
        // the kernel that appended the step's slots. Set before the plan, which depends on it.
        a.pdl = pdl_ && graphs_.mode() != DecodeGraphs::Mode::Eager;
        // A captured decode keeps the split count of its bucket whatever the real lengths.
        if (graphs_.bucket() > 0) a.splits = attention::plan_decode(a).splits;
        const attention::DecodePlan plan = attention::plan_decode(a);
        a.workspace = decode_workspace(plan.workspace_bytes);
        a.workspace_bytes = plan.workspace_bytes;
        attention::decode(a, stream());
    });
}

void CudaExecutor::kv_compact(const KvPoolRef &pool, const StreamRef &stream, const int32_t *keep,
                              int32_t n_keep) {
    guarded([&] {
        leave_step();
        const DevicePool dp = device_pool(pool, "kv_compact");
        if (n_keep < 0 || n_keep > stream.length)
            fail(CAB_ERR_INVALID_ARGUMENT, "kv_compact: n_keep " + std::to_string(n_keep) +
                                               " for a stream of " + std::to_string(stream.length) +
                                               " slots");
        for (int32_t i = 0; i < n_keep; ++i)
            if (!(keep[i] >= 0 && keep[i] < stream.length && (i == 0 || keep[i] > keep[i - 1])))
                fail(CAB_ERR_INVALID_ARGUMENT,
                     "kv_compact: keep[" + std::to_string(i) + "] = " + std::to_string(keep[i]) +
                         " is not strictly increasing within the stream's " +
                         std::to_string(stream.length) + " slots");
        if (n_keep == 0) return;
        settle_streams(pool, &stream, 1, 0, "kv_compact");
        const StagedTable t = stage_table("kv_compact", pool, stream, keep, n_keep);
        void *scr = scratch(kv::compact_scratch_bytes(dp, n_keep));
        kv::compact(dp, t.table, t.prefix, n_keep, scr, this->stream());
    });
}

void CudaExecutor::kv_read(const KvPoolRef &pool, const StreamRef &stream, bool values,
                           float *host_dst) {
    guarded([&] {
        leave_step();
        const DevicePool dp = device_pool(pool, "kv_read");
        if (stream.length <= 0) return;
        const StagedTable t = stage_table("kv_read", pool, stream, nullptr, 0);
        const size_t bytes = static_cast<size_t>(stream.length) * dp.head_dim * 4;
        float *out = static_cast<float *>(scratch(bytes));
        kv::gather_rows(dp, t.table, stream.length, values, out, this->stream());
        read_back(out, host_dst, bytes);
    });
}

void CudaExecutor::kv_read_scores(const KvPoolRef &pool, const StreamRef &stream, float *host_dst) {
    guarded([&] {
        leave_step();
        const DevicePool dp = device_pool(pool, "kv_read_scores");
        if (!dp.scores)
            fail(CAB_ERR_INVALID_ARGUMENT, "kv_read_scores: the KV pool keeps no scores");
        if (stream.length <= 0) return;
        settle_streams(pool, &stream, 1, 0, "kv_read_scores");
        const StagedTable t = stage_table("kv_read_scores", pool, stream, nullptr, 0);
        const size_t bytes = static_cast<size_t>(stream.length) * kScoreKinds * 4;
        float *out = static_cast<float *>(scratch(bytes));
        kv::gather_scores(dp, t.table, stream.length, out, this->stream());
        read_back(out, host_dst, bytes);
    });
}

// Every stream's table staged and gathered in turn into one device buffer, then one read-back: a
// single wait for the device, where kv_read_scores waits once a stream. The buffer stays under
// kReadBatchBytes (or one stream's floats) by reading back in batches, so that a long context's
// many streams do not grow the executor's scratch by their whole size.
void CudaExecutor::kv_read_score_kind(const KvPoolRef &pool, const StreamRef *streams, int32_t n,
                                      int32_t kind, float *host_dst) {
    constexpr size_t kReadBatchBytes = size_t{64} << 20;
    guarded([&] {
        leave_step();
        check_score_kind_read(streams, n, kind, host_dst);
        const DevicePool dp = device_pool(pool, "kv_read_score_kind");
        if (!dp.scores)
            fail(CAB_ERR_INVALID_ARGUMENT, "kv_read_score_kind: the KV pool keeps no scores");
        if (n == 0) return;
        settle_streams(pool, streams, n, 0, "kv_read_score_kind");
        std::vector<size_t> bytes(static_cast<size_t>(n));
        for (int32_t i = 0; i < n; ++i) bytes[i] = static_cast<size_t>(streams[i].length) * 4;
        for (const auto &[first, end] : cut_batches(bytes, kReadBatchBytes)) {
            size_t floats = 0;
            for (size_t i = first; i < end; ++i) floats += bytes[i] / 4;
            if (floats == 0) continue;
            float *out = static_cast<float *>(scratch(floats * 4));
            size_t at = 0;
            for (size_t i = first; i < end; ++i) {
                if (streams[i].length == 0) continue;
                const StagedTable t =
                    stage_table("kv_read_score_kind", pool, streams[i], nullptr, 0);
                kv::gather_score_kind(dp, t.table, streams[i].length, kind, out + at,
                                      this->stream());
                at += static_cast<size_t>(streams[i].length);
            }
            read_back(out, host_dst, floats * 4);
            host_dst += floats;
        }
    });
}

// Every stream's means in one kernel over staged jobs and block tables, then one read-back, in
// batches of at most kReadBatchBytes of means (or one stream's) as kv_read_score_kind.
void CudaExecutor::kv_read_key_means(const KvPoolRef &pool, const StreamRef *streams, int32_t n,
                                     const int32_t *runs, float *host_dst) {
    constexpr size_t kReadBatchBytes = size_t{64} << 20;
    guarded([&] {
        leave_step();
        check_key_means_read(streams, n, runs, pool.head_dim, host_dst);
        const DevicePool dp = device_pool(pool, "kv_read_key_means");
        std::vector<size_t> bytes(static_cast<size_t>(n));
        for (int32_t i = 0; i < n; ++i) {
            if (streams[i].length > 0 && streams[i].blocks == nullptr)
                fail(CAB_ERR_INVALID_ARGUMENT, "kv_read_key_means: stream " + std::to_string(i) +
                                                   " holds slots but has no block table");
            bytes[i] = static_cast<size_t>(run_count(streams[i].length, runs[i])) *
                       static_cast<size_t>(dp.head_dim) * 4;
        }
        for (const auto &[first, end] : cut_batches(bytes, kReadBatchBytes)) {
            size_t floats = 0, n_table = 0;
            int64_t max_units = 0;
            for (size_t i = first; i < end; ++i) {
                floats += bytes[i] / 4;
                n_table += static_cast<size_t>(blocks_for(streams[i].length, dp.block_size));
                max_units = std::max(max_units, static_cast<int64_t>(bytes[i] / 4));
            }
            if (floats == 0) continue;
            const size_t count = end - first;
            const size_t jobs_bytes = align_staging(count * sizeof(kv::KeyMeansJob));
            const size_t staged = jobs_bytes + n_table * sizeof(int32_t);
            float *out = static_cast<float *>(scratch(floats * 4));
            const Staging st = begin_op("kv_read_key_means", 0, staged);
            auto *jobs = static_cast<kv::KeyMeansJob *>(st.host);
            auto *tables = reinterpret_cast<int32_t *>(static_cast<char *>(st.host) + jobs_bytes);
            const auto *tables_dev = reinterpret_cast<const int32_t *>(
                static_cast<const char *>(st.device) + jobs_bytes);
            size_t t = 0, at = 0;
            for (size_t i = first; i < end; ++i) {
                const size_t per =
                    static_cast<size_t>(blocks_for(streams[i].length, dp.block_size));
                if (per > 0) std::memcpy(tables + t, streams[i].blocks, per * sizeof(int32_t));
                jobs[i - first] = {tables_dev + t, streams[i].length, runs[i], out + at};
                t += per;
                at += bytes[i] / 4;
            }
            send(st, staged);
            kv::key_means(dp, static_cast<const kv::KeyMeansJob *>(st.device),
                          static_cast<int32_t>(count), max_units, this->stream());
            read_back(out, host_dst, floats * 4);
            host_dst += floats;
        }
    });
}

}  // namespace cab::cuda
