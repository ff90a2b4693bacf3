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

// What every RoPE kernel (this one, kv/rope_append.cu, the GEMV's RoPE epilogue) shares, so that
// they rotate bit for bit alike.
constexpr int kMaxHalfDim = 128;

// theta^(-2i/head_dim) for i < head_dim / 2, in double as the CPU backend computes them; kernels
// take the table by value in their parameters. head_dim must be even and at most 2 * kMaxHalfDim.
struct RopeFreqs {
    double inv[kMaxHalfDim];
};
RopeFreqs rope_freqs(float theta, int32_t head_dim);

#ifdef __CUDACC__
// The cosine and sine of position * freq_scale * inv, computed in double.
__device__ __forceinline__ void rope_angle(int32_t position, double freq_scale, double inv,
                                           float &cs, float &sn) {
    double s, c;
    sincos(static_cast<double>(position) * freq_scale * inv, &s, &c);
    sn = static_cast<float>(s);
    cs = static_cast<float>(c);
}

// Pair (x0, x1) rotated: fp32 products rounded one by one (no contraction into FMAs, which the
// compiler may choose differently in each kernel).
__device__ __forceinline__ void rope_rotate(float x0, float x1, float cs, float sn, float &y0,
                                            float &y1) {
    y0 = __fsub_rn(__fmul_rn(x0, cs), __fmul_rn(x1, sn));
    y1 = __fadd_rn(__fmul_rn(x0, sn), __fmul_rn(x1, cs));
}
#endif

}  // namespace cab::cuda::pos_enc
