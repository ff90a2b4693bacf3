// Per-architecture knowledge: hyper-parameters from GGUF metadata and the weights each
// architecture needs (names, shapes, where they go in ModelWeights).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"
#include "model/weights.h"

namespace cab {

namespace gguf {
class File;
}

// Reads llama / qwen2 hyper-parameters ({arch}.block_count, .embedding_length, ...). n_vocab
// comes from token_embd.weight; tied_output is set when output.weight is absent.
// Throws FORMAT (missing or inconsistent key, naming it), UNSUPPORTED (architecture, RoPE
// scaling type or partial rotary dimensions libcab does not implement).
HParams read_hparams(const gguf::File &file);

// One weight tensor the architecture needs, with its GGUF shape (ne0 = row length; a vector has
// n_dims 1 and ne1 1) and the ModelWeights field it loads into. Consecutive specs with the same
// field are joined into it in order: matrices (of equal ne0) stacked by rows, vectors end to end
// (the fused projections of LayerWeights).
struct WeightSpec {
    std::string name;
    int n_dims;
    int64_t ne0;
    int64_t ne1;
    Tensor *dst;
};

// Every weight of the model described by hp, bound to the fields of `weights` (whose layers are
// sized here). The tied LM head is not listed: the loader aliases it to token_embd.
std::vector<WeightSpec> weight_specs(const HParams &hp, ModelWeights &weights);

}  // namespace cab
