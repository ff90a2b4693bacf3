// Host API of the rotary position embedding kernel. Plain C++ over device pointers; asynchronous
// on `stream`. Bad arguments throw cab::Error(INVALID_ARGUMENT), a failed launch
// cab::Error(DEVICE).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace cab::cuda::pos_enc {

// Which elements rotate together: Normal pairs (2i, 2i+1), as llama.cpp rotates llama GGUF
// files; NeoX pairs (i, i + head_dim/2), as HF rotates.
enum class RopeStyle { Normal, NeoX };

struct RopeArgs {
    void *x = nullptr;   // bf16 [n_tokens][stride], head h at column h * head_dim; rotated in place
    int64_t stride = 0;  // elements between tokens, >= n_heads * head_dim
    const int32_t *positions = nullptr;  // device [n_tokens]
    int32_t n_tokens = 0;
    int32_t n_heads = 0;
    int32_t head_dim = 0;  // even, at most 256
    float theta = 10000.0f;
    float freq_scale = 1.0f;  // linear scaling: the angle is pos * freq_scale * inv_freq
    RopeStyle style = RopeStyle::Normal;
};

// Rotates pair i of every head of token t by positions[t] * freq_scale * theta^(-2i/head_dim),
// with the frequencies and angles in double as the CPU backend computes them, fp32 rotation.
void rope(const RopeArgs &args, cudaStream_t stream);

}  // namespace cab::cuda::pos_enc
