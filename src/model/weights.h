// The weights of a loaded model, placed on its backend. Names follow GGUF (llama.cpp) naming.
#pragma once

#include <vector>

#include "backend/backend.h"

namespace cab {

// The projections that read the same input are fused, so that a layer runs one matmul for
// them: wqkv is attn_q, attn_k and attn_v stacked by rows (their product's columns are Q, then
// K, then V), ffn_gate_up is ffn_gate over ffn_up.
struct LayerWeights {
    Tensor attn_norm;    // [n_embd]
    Tensor wqkv;         // [n_head * head_dim + 2 * n_head_kv * head_dim, n_embd]
    Tensor bqkv;         // [q + 2 * kv] Q, K and V biases (qwen2); empty when the model has none
    Tensor wo;           // [n_embd, n_head * head_dim]
    Tensor ffn_norm;     // [n_embd]
    Tensor ffn_gate_up;  // [2 * n_ff, n_embd]
    Tensor ffn_down;     // [n_embd, n_ff]
};

struct ModelWeights {
    Tensor token_embd;   // [n_vocab, n_embd]
    Tensor output_norm;  // [n_embd]
    Tensor output;       // [n_vocab, n_embd]; shares token_embd's storage when tied
    std::vector<LayerWeights> layers;
};

}  // namespace cab
