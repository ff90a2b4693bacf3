// The model's forward pass, written once against the backend interface (backend.h): prefill of
// a chunk of one sequence, and one decode step over a batch of sequences.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"

namespace cab {

class Model;
class KvCache;

class Forward {
public:
    // Scratch for prefill chunks of up to max_rows tokens and decode batches of up to max_batch
    // sequences (max_batch <= max_rows).
    Forward(const Model &model, Executor &executor, int32_t max_rows, int32_t max_batch);

    // Runs tokens[0..n) (n <= max_rows, ids already validated) of sequence seq at the given
    // positions. Their slots must be reserved in kv; this writes their K/V there and the caller
    // then commits them. When kv keeps scores, attention accumulates them, and the chunk's last
    // kv.config().score_window queries recompute the window score. logits receives n_vocab floats
    // for the last token, or n * n_vocab (row by row) when all_rows is set.
    void prefill(KvCache &kv, int32_t seq, const int32_t *tokens, const int32_t *positions,
                 int32_t n, float *logits, bool all_rows);
    // One token for each of n distinct sequences (n <= max_batch), reserved as for prefill.
    // Scores accumulate as for prefill, but the window score is left as it is. The logits of
    // sequence i stay on the device in row i until the next prefill or decode: read_logits
    // copies them to the host, argmax gives the greedy token without copying them.
    void decode(KvCache &kv, const int32_t *seqs, const int32_t *tokens, const int32_t *positions,
                int32_t n);
    void read_logits(int32_t row, float *dst);
    int32_t argmax(int32_t row);

private:
    // The transformer blocks over `rows` rows of x_: n_seqs sequences of rows_per_seq rows each.
    // score_window: as for Executor::attention_prefill (0 for decode steps). A decode step (one
    // row per sequence, any number of sequences) runs attention_decode and leaves the output
    // norm of x_ in xn_; a prefill chunk (one sequence) runs attention_prefill.
    void blocks(KvCache &kv, const int32_t *seqs, int32_t n_seqs, int32_t rows_per_seq,
                const int32_t *positions, int32_t score_window, bool decode);
    // Final norm and LM head for rows [first, first + n) of x_, into logits (n * n_vocab).
    void head(int32_t first, int32_t n, float *logits);

    const Model &model_;
    Executor &ex_;
    int32_t max_rows_;
    int32_t max_batch_;
    // Activations: residual stream, normed input, the fused Q/K/V product, attention output,
    // the fused FFN gate/up product, logits.
    Tensor x_, xn_, qkv_, att_, gu_, logits_;
    std::vector<StreamRef> refs_;
};

}  // namespace cab
