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
    q_ = b.alloc(act, max_rows, q_cols);
    k_ = b.alloc(act, max_rows, kv_cols);
    v_ = b.alloc(act, max_rows, kv_cols);
    att_ = b.alloc(act, max_rows, q_cols);
    gate_ = b.alloc(act, max_rows, hp.n_ff);
    up_ = b.alloc(act, max_rows, hp.n_ff);
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
                     const int32_t *positions, int32_t n, float *logits) {
    require(n >= 1 && n <= max_batch_, CAB_ERR_INTERNAL, "decode batch size out of range");
    // The step's ops, the same ones every step of this shape, may be recorded and replayed.
    ex_.step_begin(n, kv.longest_stream(seqs, static_cast<size_t>(n)) + 1);
    ex_.embedding(model_.weights().token_embd, tokens, x_.rows_view(0, n));
    blocks(kv, seqs, n, 1, positions, 0, true);
    const ModelWeights &w = model_.weights();
    const Tensor out = logits_.rows_view(0, n);
    ex_.rmsnorm(x_.rows_view(0, n), w.output_norm, model_.hparams().rms_eps, xn_.rows_view(0, n));
    ex_.matmul(xn_.rows_view(0, n), w.output, nullptr, out);
    ex_.step_end();
    ex_.download(out, logits);
}

void Forward::blocks(KvCache &kv, const int32_t *seqs, int32_t n_seqs, int32_t rows_per_seq,
                     const int32_t *positions, int32_t score_window, bool decode) {
    const HParams &hp = model_.hparams();
    const int64_t n = int64_t{n_seqs} * rows_per_seq;
    const Tensor x = x_.rows_view(0, n), xn = xn_.rows_view(0, n), q = q_.rows_view(0, n),
                 k = k_.rows_view(0, n), v = v_.rows_view(0, n), att = att_.rows_view(0, n),
                 gate = gate_.rows_view(0, n), up = up_.rows_view(0, n);
    const RopeParams rope{hp.rope_style, hp.rope_theta, hp.rope_freq_scale};
    const KvPoolRef &pool = kv.pool_ref();
    for (int32_t il = 0; il < hp.n_layer; ++il) {
        const LayerWeights &w = model_.weights().layers[static_cast<size_t>(il)];
        ex_.rmsnorm(x, w.attn_norm, hp.rms_eps, xn);
        ex_.matmul(xn, w.wq, w.bq.empty() ? nullptr : &w.bq, q);
        ex_.matmul(xn, w.wk, w.bk.empty() ? nullptr : &w.bk, k);
        ex_.matmul(xn, w.wv, w.bv.empty() ? nullptr : &w.bv, v);
        ex_.rope(q, hp.n_head, positions, rope);
        ex_.rope(k, hp.n_head_kv, positions, rope);
        kv.stream_refs(il, seqs, static_cast<size_t>(n_seqs), rows_per_seq, refs_);
        ex_.kv_append(pool, refs_.data(), n_seqs, rows_per_seq, k, v);
        if (decode) {
            ex_.attention_decode(pool, refs_.data(), hp.n_head_kv, q, hp.n_head, att);
        } else if (n_seqs == 1) {
            ex_.attention_prefill(pool, refs_.data(), hp.n_head_kv, q, hp.n_head, att,
                                  score_window);
        } else {
            fail(CAB_ERR_INTERNAL, "forward pass: several sequences of several rows");
        }
        ex_.matmul(att, w.wo, nullptr, xn);
        ex_.add(x, xn);
        ex_.rmsnorm(x, w.ffn_norm, hp.rms_eps, xn);
        ex_.matmul(xn, w.ffn_gate, nullptr, gate);
        ex_.matmul(xn, w.ffn_up, nullptr, up);
        ex_.swiglu(gate, up, gate);
        ex_.matmul(gate, w.ffn_down, nullptr, xn);
        ex_.add(x, xn);
    }
}

void Forward::head(int32_t first, int32_t n, float *logits) {
    const HParams &hp = model_.hparams();
    const ModelWeights &w = model_.weights();
    for (int32_t done = 0; done < n; done += max_batch_) {
        int32_t rows = std::min(max_batch_, n - done);
        Tensor xn = xn_.rows_view(0, rows), out = logits_.rows_view(0, rows);
        ex_.rmsnorm(x_.rows_view(first + done, rows), w.output_norm, hp.rms_eps, xn);
        ex_.matmul(xn, w.output, nullptr, out);
        ex_.download(out, logits + static_cast<int64_t>(done) * hp.n_vocab);
    }
}

}  // namespace cab
