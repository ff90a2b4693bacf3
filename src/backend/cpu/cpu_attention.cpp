// KV append/compaction and attention over paged KV streams for the CPU executor.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "backend/cpu/cpu_executor.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/vec.h"

namespace cab::cpu {

namespace {

// Address of slot `slot`'s key (or value) row in the pool.
float *slot_row(const KvPoolRef &pool, const StreamRef &s, int64_t slot, bool value) {
    int64_t block = s.blocks[slot / pool.block_size];
    int64_t row =
        block * 2 * pool.block_size + (value ? pool.block_size : 0) + slot % pool.block_size;
    return pool.storage.as<float>() + row * pool.head_dim;
}

// Copies slots [0, n) of a stream into a contiguous [n, head_dim] buffer.
void gather(const KvPoolRef &pool, const StreamRef &s, int64_t n, bool value, float *dst) {
    size_t row_bytes = static_cast<size_t>(pool.head_dim) * sizeof(float);
    for (int64_t first = 0; first < n; first += pool.block_size) {
        int64_t count = std::min<int64_t>(pool.block_size, n - first);
        std::memcpy(dst + first * pool.head_dim, slot_row(pool, s, first, value),
                    static_cast<size_t>(count) * row_bytes);
    }
}

// In-place softmax of scores[0, n) scaled by `scale`, in fp32 with max subtraction.
void softmax(float *scores, int64_t n, float scale) {
    float max = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < n; ++j) max = std::max(max, scores[j] * scale);
    float sum = 0.0f;
    for (int64_t j = 0; j < n; ++j) {
        scores[j] = std::exp(scores[j] * scale - max);
        sum += scores[j];
    }
    float inv = 1.0f / sum;
    for (int64_t j = 0; j < n; ++j) scores[j] *= inv;
}

}  // namespace

void CpuExecutor::kv_append(const KvPoolRef &pool, const StreamRef *streams, int32_t n_seqs,
                            int32_t rows_per_seq, const Tensor &k, const Tensor &v) {
    int64_t d = pool.head_dim, n_head_kv = k.cols() / d;
    size_t row_bytes = static_cast<size_t>(d) * sizeof(float);
    for (int32_t s = 0; s < n_seqs; ++s) {
        for (int64_t h = 0; h < n_head_kv; ++h) {
            const StreamRef &st = streams[s * n_head_kv + h];
            for (int32_t r = 0; r < rows_per_seq; ++r) {
                int64_t row = static_cast<int64_t>(s) * rows_per_seq + r;
                int64_t slot = st.length - rows_per_seq + r;
                std::memcpy(slot_row(pool, st, slot, false), k.as<float>() + row * k.cols() + h * d,
                            row_bytes);
                std::memcpy(slot_row(pool, st, slot, true), v.as<float>() + row * v.cols() + h * d,
                            row_bytes);
            }
        }
    }
}

// Per kv head: gather its K and V, then per query head of the group S = Q K^T (GEMM), causal
// softmax per row, O = P V (GEMM). The score matrix is what fused score accumulation will read.
void CpuExecutor::attention_prefill(const KvPoolRef &pool, const StreamRef *streams,
                                    int32_t n_head_kv, const Tensor &q, int32_t n_head,
                                    const Tensor &out) {
    int64_t d = pool.head_dim, n = q.rows(), group = n_head / n_head_kv;
    float scale = 1.0f / std::sqrt(static_cast<float>(d));
    for (int32_t g = 0; g < n_head_kv; ++g) {
        const StreamRef &st = streams[g];
        int64_t len = st.length, first = len - n;  // slot of query 0
        k_buf_.resize(static_cast<size_t>(len * d));
        v_buf_.resize(static_cast<size_t>(len * d));
        scores_.resize(static_cast<size_t>(n * len));
        gather(pool, st, len, false, k_buf_.data());
        gather(pool, st, len, true, v_buf_.data());
        for (int64_t h = g * group; h < (g + 1) * group; ++h) {
            gemm_nt(pool_, n, len, d, q.as<float>() + h * d, q.cols(), k_buf_.data(), d,
                    scores_.data(), len);
            pool_.parallel_for(n, 8, [&](int64_t begin, int64_t end) {
                for (int64_t i = begin; i < end; ++i) {
                    float *row = scores_.data() + i * len;
                    int64_t visible = first + i + 1;
                    softmax(row, visible, scale);
                    std::fill(row + visible, row + len, 0.0f);
                }
            });
            gemm_nn(pool_, n, d, len, scores_.data(), len, v_buf_.data(), d,
                    out.as<float>() + h * d, out.cols());
        }
    }
}

// One task per (sequence, query head): scores over the stream's blocks, softmax, weighted sum.
void CpuExecutor::attention_decode(const KvPoolRef &pool, const StreamRef *streams,
                                   int32_t n_head_kv, const Tensor &q, int32_t n_head,
                                   const Tensor &out) {
    int64_t d = pool.head_dim, n_seqs = q.rows(), group = n_head / n_head_kv;
    float scale = 1.0f / std::sqrt(static_cast<float>(d));
    int64_t max_len = 0;
    for (int64_t i = 0; i < n_seqs * n_head_kv; ++i)
        max_len = std::max<int64_t>(max_len, streams[i].length);
    scores_.resize(static_cast<size_t>(n_seqs * n_head * max_len));
    pool_.parallel_for(n_seqs * n_head, 1, [&](int64_t begin, int64_t end) {
        for (int64_t task = begin; task < end; ++task) {
            int64_t s = task / n_head, h = task % n_head;
            const StreamRef &st = streams[s * n_head_kv + h / group];
            const float *qh = q.as<float>() + s * q.cols() + h * d;
            float *sc = scores_.data() + task * max_len;
            for (int64_t j = 0; j < st.length; ++j)
                sc[j] = dot(qh, slot_row(pool, st, j, false), d);
            softmax(sc, st.length, scale);
            float *o = out.as<float>() + s * out.cols() + h * d;
            std::fill(o, o + d, 0.0f);
            for (int64_t j = 0; j < st.length; ++j) axpy(sc[j], slot_row(pool, st, j, true), o, d);
        }
    });
}

void CpuExecutor::kv_compact(const KvPoolRef &pool, const StreamRef &stream, const int32_t *keep,
                             int32_t n_keep) {
    size_t row_bytes = static_cast<size_t>(pool.head_dim) * sizeof(float);
    // keep is increasing, so keep[i] >= i: copying in order never overwrites a slot still needed.
    for (int32_t i = 0; i < n_keep; ++i) {
        if (keep[i] == i) continue;
        for (bool value : {false, true})
            std::memcpy(slot_row(pool, stream, i, value), slot_row(pool, stream, keep[i], value),
                        row_bytes);
    }
}

}  // namespace cab::cpu
