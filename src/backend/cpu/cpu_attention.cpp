// KV append/compaction and attention over paged KV streams for the CPU executor.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "backend/cpu/cpu_executor.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/kv_rows.h"
#include "backend/cpu/vec.h"
#include "util/error.h"

namespace cab::cpu {

namespace {

// Score passes are light (one add per probability): below this many adds a task runs inline,
// since waking the pool costs more. Without it, single-sequence decode (one query, ~1k slots,
// 90 streams of SmolLM2) paid ~15% for scores, all in thread wake-ups; with it, ~3%.
constexpr int64_t kScoreGrainAdds = 32768;

// Score row `kind` of the block holding `slot`, pointing at that slot: the slots of a block are
// contiguous, so callers walk a stream block by block (for_blocks).
float *score_row(const KvPoolRef &pool, const StreamRef &s, int32_t kind, int64_t slot) {
    int64_t block = s.blocks[slot / pool.block_size];
    return pool.scores.as<float>() + (block * kScoreKinds + kind) * pool.block_size +
           slot % pool.block_size;
}

// Calls f(first, count) for the block-aligned runs of slots [0, n).
template <class F>
void for_blocks(const KvPoolRef &pool, int64_t n, F &&f) {
    for (int64_t first = 0; first < n; first += pool.block_size)
        f(first, std::min<int64_t>(pool.block_size, n - first));
}

// Copies slots [0, n) of a stream into a contiguous [n, head_dim] buffer: a full-precision
// block's run of rows in one copy, int8 rows dequantized one by one.
void gather(const KvPoolRef &pool, const StreamRef &s, int64_t n, bool value, float *dst) {
    for_blocks(pool, n, [&](int64_t first, int64_t count) {
        const SlotRow r = slot_row(pool, s, first, value);
        float *out = dst + first * pool.head_dim;
        if (!r.q) {
            std::memcpy(out, r.f, static_cast<size_t>(count * pool.head_dim) * sizeof(float));
            return;
        }
        for (int64_t i = 0; i < count; ++i)
            read_row(slot_row(pool, s, first + i, value), pool.head_dim, out + i * pool.head_dim);
    });
}

// The pool's storage and scores are dense, as the cache allocates them.
void require_dense_pool(const KvPoolRef &pool, const char *op) {
    require_dense(pool.storage, op, "the KV pool storage");
    require_dense(pool.scores, op, "the KV pool scores");
    require_dense(pool.storage_q8, op, "the KV pool's 8-bit storage");
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
    require_dense_pool(pool, "kv_append");
    if (k.stride() != v.stride())
        fail(CAB_ERR_INVALID_ARGUMENT, "kv_append: k and v have row strides " +
                                           std::to_string(k.stride()) + " and " +
                                           std::to_string(v.stride()) + ", not one");
    int64_t d = pool.head_dim, n_head_kv = k.cols() / d;
    for (int32_t s = 0; s < n_seqs; ++s) {
        for (int64_t h = 0; h < n_head_kv; ++h) {
            const StreamRef &st = streams[s * n_head_kv + h];
            for (int32_t r = 0; r < rows_per_seq; ++r) {
                int64_t row = static_cast<int64_t>(s) * rows_per_seq + r;
                int64_t slot = st.length - rows_per_seq + r;
                // A slot after a compaction that ended inside the int8 blocks is quantized here.
                write_row(slot_row(pool, st, slot, false), k.as<float>() + row * k.stride() + h * d,
                          d);
                write_row(slot_row(pool, st, slot, true), v.as<float>() + row * v.stride() + h * d,
                          d);
                if (!pool.scores.empty())
                    for (int32_t kind = 0; kind < kScoreKinds; ++kind)
                        *score_row(pool, st, kind, slot) = 0.0f;
            }
        }
    }
}

// Per kv head: gather its K and V, then per query head of the group S = Q K^T (GEMM), causal
// softmax per row, P V (GEMM). With kScores the normalized P, the very matrix that weights V, is
// also summed into the stream's score accumulators; without, that code is not compiled in.
template <bool kScores>
void CpuExecutor::prefill_impl(const KvPoolRef &pool, const StreamRef *streams, int32_t n_head_kv,
                               const Tensor &q, int32_t n_head, const Tensor &out,
                               int32_t score_window) {
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
        if constexpr (kScores) {
            // The chunk's sums are gathered apart and added to the running score once, so that
            // small probabilities are not rounded away against a large accumulated score.
            col_sum_.assign(static_cast<size_t>(len), 0.0f);
            win_sum_.assign(static_cast<size_t>(len), 0.0f);
            last_sum_.assign(static_cast<size_t>(len), 0.0f);
        }
        for (int64_t h = g * group; h < (g + 1) * group; ++h) {
            gemm_nt(pool_, n, len, d, q.as<float>() + h * d, q.stride(), k_buf_.data(), d,
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
            if constexpr (kScores) sum_columns(n, len, std::min<int64_t>(score_window, n));
        }
        if constexpr (kScores) {
            for_blocks(pool, len, [&](int64_t b0, int64_t count) {
                float *score = score_row(pool, st, kScore, b0);
                float *observers = score_row(pool, st, kObservers, b0);
                float *last = score_row(pool, st, kLast, b0);
                float *window = score_row(pool, st, kWindow, b0);
                for (int64_t t = 0; t < count; ++t) {
                    const int64_t j = b0 + t;
                    score[t] += col_sum_[j];
                    // Queries i >= j - first see slot j: all n for the cached slots.
                    observers[t] += static_cast<float>(n - std::max<int64_t>(0, j - first));
                    last[t] = last_sum_[j];
                    if (score_window > 0) window[t] = win_sum_[j];
                }
            });
        }
    }
}

// Adds the column sums of the probability rows in scores_ ([n, len], zero past each row's
// causal limit) to col_sum_, those of the last n_window rows to win_sum_, and the last row to
// last_sum_. Threads own disjoint column ranges, so no two write the same sum.
void CpuExecutor::sum_columns(int64_t n, int64_t len, int64_t n_window) {
    const int64_t grain = std::max<int64_t>(256, kScoreGrainAdds / n);
    pool_.parallel_for(len, grain, [&](int64_t begin, int64_t end) {
        for (int64_t i = 0; i < n; ++i) {
            const float *row = scores_.data() + i * len;
            float *col = col_sum_.data();
            for (int64_t j = begin; j < end; ++j) col[j] += row[j];
            if (i >= n - n_window) {
                float *win = win_sum_.data();
                for (int64_t j = begin; j < end; ++j) win[j] += row[j];
            }
        }
        const float *row = scores_.data() + (n - 1) * len;
        for (int64_t j = begin; j < end; ++j) last_sum_[j] += row[j];
    });
}

void CpuExecutor::attention_prefill(const KvPoolRef &pool, const StreamRef *streams,
                                    int32_t n_head_kv, const Tensor &q, int32_t n_head,
                                    const Tensor &out, int32_t score_window) {
    require_dense_pool(pool, "attention_prefill");
    require_dense(out, "attention_prefill", "out");
    if (!pool.scores.empty()) {
        prefill_impl<true>(pool, streams, n_head_kv, q, n_head, out, score_window);
    } else {
        prefill_impl<false>(pool, streams, n_head_kv, q, n_head, out, score_window);
    }
}

// One task per (sequence, query head): scores over the stream's blocks, softmax, weighted sum.
// With kScores a second pass per stream sums the group's probability rows into its scores.
template <bool kScores>
void CpuExecutor::decode_impl(const KvPoolRef &pool, const StreamRef *streams, int32_t n_head_kv,
                              const Tensor &q, int32_t n_head, const Tensor &out) {
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
            const float *qh = q.as<float>() + s * q.stride() + h * d;
            float *sc = scores_.data() + task * max_len;
            for (int64_t j = 0; j < st.length; ++j) {
                sc[j] = dot_row(qh, slot_row(pool, st, j, false), d);
            }
            softmax(sc, st.length, scale);
            float *o = out.as<float>() + s * out.cols() + h * d;
            std::fill(o, o + d, 0.0f);
            for (int64_t j = 0; j < st.length; ++j)
                axpy_row(sc[j], slot_row(pool, st, j, true), o, d);
        }
    });
    if constexpr (kScores) {
        const int64_t grain = std::max<int64_t>(1, kScoreGrainAdds / (group * max_len + 1));
        pool_.parallel_for(n_seqs * n_head_kv, grain, [&](int64_t begin, int64_t end) {
            for (int64_t stream = begin; stream < end; ++stream) {
                int64_t s = stream / n_head_kv, g = stream % n_head_kv;
                const StreamRef &st = streams[stream];
                const float *rows = scores_.data() + (s * n_head + g * group) * max_len;
                for_blocks(pool, st.length, [&](int64_t b0, int64_t count) {
                    float *score = score_row(pool, st, kScore, b0);
                    float *observers = score_row(pool, st, kObservers, b0);
                    float *last = score_row(pool, st, kLast, b0);
                    for (int64_t t = 0; t < count; ++t) {
                        float p = 0.0f;
                        for (int64_t h = 0; h < group; ++h) p += rows[h * max_len + b0 + t];
                        score[t] += p;
                        observers[t] += 1.0f;
                        last[t] = p;
                    }
                });
            }
        });
    }
}

void CpuExecutor::attention_decode(const KvPoolRef &pool, const StreamRef *streams,
                                   int32_t n_head_kv, const Tensor &q, int32_t n_head,
                                   const Tensor &out) {
    require_dense_pool(pool, "attention_decode");
    require_dense(out, "attention_decode", "out");
    if (!pool.scores.empty()) {
        decode_impl<true>(pool, streams, n_head_kv, q, n_head, out);
    } else {
        decode_impl<false>(pool, streams, n_head_kv, q, n_head, out);
    }
}

void CpuExecutor::kv_compact(const KvPoolRef &pool, const StreamRef &stream, const int32_t *keep,
                             int32_t n_keep) {
    kv_compact_mixed(pool, stream, stream, keep, n_keep);
}

void CpuExecutor::kv_compact_mixed(const KvPoolRef &pool, const StreamRef &src,
                                   const StreamRef &dst, const int32_t *keep, int32_t n_keep) {
    require_dense_pool(pool, "kv_compact");
    std::vector<float> tmp(static_cast<size_t>(pool.head_dim));
    // keep is increasing, and dst's slot i lies at or before src's slot keep[i] (backend.h):
    // copying in order never overwrites a slot still needed.
    for (int32_t i = 0; i < n_keep; ++i) {
        const bool same =
            src.blocks[keep[i] / pool.block_size] == dst.blocks[i / pool.block_size] &&
            keep[i] % pool.block_size == i % pool.block_size;
        if (same) continue;
        for (bool value : {false, true})
            move_row(slot_row(pool, dst, i, value), slot_row(pool, src, keep[i], value),
                     pool.head_dim, tmp.data());
        if (!pool.scores.empty())
            for (int32_t kind = 0; kind < kScoreKinds; ++kind)
                *score_row(pool, dst, kind, i) = *score_row(pool, src, kind, keep[i]);
    }
}

void CpuExecutor::kv_read(const KvPoolRef &pool, const StreamRef &stream, bool values,
                          float *host_dst) {
    require_dense_pool(pool, "kv_read");
    gather(pool, stream, stream.length, values, host_dst);
}

void CpuExecutor::kv_read_scores(const KvPoolRef &pool, const StreamRef &stream, float *host_dst) {
    require(!pool.scores.empty(), CAB_ERR_STATE, "kv_read_scores: the cache keeps no scores");
    require_dense_pool(pool, "kv_read_scores");
    for (int32_t kind = 0; kind < kScoreKinds; ++kind)
        for_blocks(pool, stream.length, [&](int64_t b0, int64_t count) {
            std::memcpy(host_dst + int64_t{kind} * stream.length + b0,
                        score_row(pool, stream, kind, b0), static_cast<size_t>(count) * 4);
        });
}

// Only the one kind's rows: the default reads all four of each stream to keep one.
void CpuExecutor::kv_read_score_kind(const KvPoolRef &pool, const StreamRef *streams, int32_t n,
                                     int32_t kind, float *host_dst) {
    check_score_kind_read(streams, n, kind, host_dst);
    if (std::all_of(streams, streams + n, [](const StreamRef &s) { return s.length == 0; }))
        return;  // nothing to read, as the default reads nothing
    require(!pool.scores.empty(), CAB_ERR_STATE, "kv_read_score_kind: the cache keeps no scores");
    require_dense_pool(pool, "kv_read_score_kind");
    for (int32_t i = 0; i < n; ++i) {
        for_blocks(pool, streams[i].length, [&](int64_t b0, int64_t count) {
            std::memcpy(host_dst + b0, score_row(pool, streams[i], kind, b0),
                        static_cast<size_t>(count) * 4);
        });
        host_dst += streams[i].length;
    }
}

}  // namespace cab::cpu
