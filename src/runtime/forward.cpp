#include "runtime/forward.h"

#include <algorithm>

#include "kv/kv_cache.h"
#include "model/model.h"
#include "model/weights.h"
#include "util/error.h"

namespace cab {

Forward::Forward(const Model &model, Executor &executor, int32_t max_rows, int32_t max_batch)
    : model_(model), ex_(executor), max_rows_(max_rows), max_batch_(max_batch) {
    require(max_batch >= 1 && max_rows >= max_batch, CAB_ERR_INVALID_ARGUMENT,
            "forward pass: need 1 <= max_batch <= max_rows");
    const HParams &hp = model.hparams();
    Backend &b = model.backend();
    int64_t q_cols = int64_t{hp.n_head} * hp.head_dim,
            kv_cols = int64_t{hp.n_head_kv} * hp.head_dim;
    const DType act = b.act_dtype();
    x_ = b.alloc(DType::F32, max_rows, hp.n_embd);
    xn_ = b.alloc(act, max_rows, hp.n_embd);
    qkv_ = b.alloc(act, max_rows, q_cols + 2 * kv_cols);
    att_ = b.alloc(act, max_rows, q_cols);
    gu_ = b.alloc(act, max_rows, 2 * int64_t{hp.n_ff});
    logits_ = b.alloc(DType::F32, max_batch, hp.n_vocab);
}

void Forward::prefill(KvCache &kv, int32_t seq, const int32_t *tokens, const int32_t *positions,
                      int32_t n, float *logits, bool all_rows) {
    require(n >= 1 && n <= max_rows_, CAB_ERR_INTERNAL, "prefill chunk size out of range");
    ex_.embedding(model_.weights().token_embd, tokens, x_.rows_view(0, n));
    blocks(kv, &seq, 1, n, positions, kv.config().score_window, false);
    if (all_rows) {
        head(0, n, logits);
    } else {
        head(n - 1, 1, logits);
    }
}

void Forward::decode(KvCache &kv, const int32_t *seqs, const int32_t *tokens,
                     const int32_t *positions, int32_t n) {
    require(n >= 1 && n <= max_batch_, CAB_ERR_INTERNAL, "decode batch size out of range");
    // The step's ops, the same ones every step of this shape, may be recorded and replayed.
    ex_.step_begin(n, kv.longest_stream(seqs, static_cast<size_t>(n)) + 1,
                   kv.next_slot_q8(seqs, static_cast<size_t>(n)));
    try {
        ex_.embedding(model_.weights().token_embd, tokens, x_.rows_view(0, n));
        blocks(kv, seqs, n, 1, positions, 0, true);
        const ModelWeights &w = model_.weights();
        ex_.rmsnorm_matmul(x_.rows_view(0, n), w.output_norm, model_.hparams().rms_eps, w.output,
                           nullptr, xn_.rows_view(0, n), logits_.rows_view(0, n));
        ex_.step_end();
    } catch (...) {
        ex_.step_abort();
        throw;
    }
}

void Forward::read_logits(int32_t row, float *dst) {
    require(row >= 0 && row < max_batch_, CAB_ERR_INTERNAL, "logits row out of range");
    ex_.download(logits_.rows_view(row, 1), dst);
}

int32_t Forward::argmax(int32_t row) {
    require(row >= 0 && row < max_batch_, CAB_ERR_INTERNAL, "logits row out of range");
    int32_t token = 0;
    ex_.argmax(logits_.rows_view(row, 1), &token);
    return token;
}

void Forward::blocks(KvCache &kv, const int32_t *seqs, int32_t n_seqs, int32_t rows_per_seq,
                     const int32_t *positions, int32_t score_window, bool decode) {
    const HParams &hp = model_.hparams();
    const ModelWeights &mw = model_.weights();
    const int64_t n = int64_t{n_seqs} * rows_per_seq;
    const int64_t q_cols = int64_t{hp.n_head} * hp.head_dim;
    // Q is a column view of the fused QKV product (K and V go to the cache), gate of the gate/up
    // one.
    const Tensor x = x_.rows_view(0, n), xn = xn_.rows_view(0, n), qkv = qkv_.rows_view(0, n),
                 q = qkv.cols_view(0, q_cols), att = att_.rows_view(0, n), gu = gu_.rows_view(0, n),
                 gate = gu.cols_view(0, hp.n_ff);
    const RopeParams rope{hp.rope_style, hp.rope_theta, hp.rope_freq_scale};
    const KvPoolRef &pool = kv.pool_ref();
    for (int32_t il = 0; il < hp.n_layer; ++il) {
        const LayerWeights &w = mw.layers[static_cast<size_t>(il)];
        kv.stream_refs(il, seqs, static_cast<size_t>(n_seqs), rows_per_seq, refs_);
        ex_.rmsnorm_qkv_rope_append(x, w.attn_norm, hp.rms_eps, w.wqkv,
                                    w.bqkv.empty() ? nullptr : &w.bqkv, xn, qkv, pool, refs_.data(),
                                    n_seqs, rows_per_seq, hp.n_head, hp.n_head_kv, positions, rope);
        if (decode) {
            ex_.attention_decode(pool, refs_.data(), hp.n_head_kv, q, hp.n_head, att);
        } else if (n_seqs == 1) {
            ex_.attention_prefill(pool, refs_.data(), hp.n_head_kv, q, hp.n_head, att,
                                  score_window);
        } else {
            fail(CAB_ERR_INTERNAL, "forward pass: several sequences of several rows");
        }
        // The residual adds ride in the projections' epilogues, the norms in the next ones'
        // prologues: a decode step is then mostly back-to-back weight reads.
        ex_.matmul_add(att, w.wo, x, xn);
        ex_.rmsnorm_matmul_swiglu(x, w.ffn_norm, hp.rms_eps, w.ffn_gate_up, xn, gu, gate);
        ex_.matmul_add(gate, w.ffn_down, x, xn);
    }
}

void Forward::head(int32_t first, int32_t n, float *logits) {
    const HParams &hp = model_.hparams();
    const ModelWeights &w = model_.weights();
    for (int32_t done = 0; done < n; done += max_batch_) {
        int32_t rows = std::min(max_batch_, n - done);
        Tensor xn = xn_.rows_view(0, rows), out = logits_.rows_view(0, rows);
        ex_.rmsnorm_matmul(x_.rows_view(first + done, rows), w.output_norm, hp.rms_eps, w.output,
                           nullptr, xn, out);
        ex_.download(out, logits + static_cast<int64_t>(done) * hp.n_vocab);
    }
}

}  // namespace cab
