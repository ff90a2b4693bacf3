// The weights of a loaded model, placed on its backend. Names follow GGUF (llama.cpp) naming.
#pragma once

#include <vector>

#include "backend/backend.h"

namespace cab {

struct LayerWeights {
    Tensor attn_norm;         // [n_embd]
    Tensor wq, wk, wv;        // [n_head * head_dim | n_head_kv * head_dim, n_embd]
    Tensor bq, bk, bv;        // biases (qwen2); empty when the model has none
    Tensor wo;                // [n_embd, n_head * head_dim]
    Tensor ffn_norm;          // [n_embd]
    Tensor ffn_gate, ffn_up;  // [n_ff, n_embd]
    Tensor ffn_down;          // [n_embd, n_ff]
};

struct ModelWeights {
    Tensor token_embd;   // [n_vocab, n_embd]
    Tensor output_norm;  // [n_embd]
    Tensor output;       // [n_vocab, n_embd]; shares token_embd's storage when tied
    std::vector<LayerWeights> layers;
};

}  // namespace cab
