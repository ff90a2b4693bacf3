// Host API of the decode GEMV kernels: y[r][.] = epilogue(x[r] . w^T) for a few rows r (a decode
// step's batch), bf16 weights read once with 16-byte loads, fp32 accumulation. A step of a small
// batch is a chain of such weight reads, so each kernel fuses what surrounds its product (the
// RMSNorm before it, the bias, SwiGLU or residual add after it) and, launched as a programmatic
// dependent launch, issues its first weight loads before it waits for the kernel before it.
// Plain C++ over device pointers; asynchronous on `stream`. Bad arguments throw
// cab::Error(INVALID_ARGUMENT), a failed launch cab::Error(DEVICE).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kv/rope_append.cuh"

namespace cab::cuda::gemv {

// The most rows one launch takes; larger batches are GEMMs (cuBLAS).
constexpr int32_t kMaxRows = 8;

enum class Input {
    // x f32 [rows][k] dense (the residual stream): the GEMV reads rmsnorm(x) * norm_w, rounded to
    // bf16 as the rmsnorm kernel rounds it (cuda/norm.cu).
    RmsNorm,
    // a bf16 [rows][a_stride] (a column view of a fused product may have a_stride > k).
    Bf16,
};

enum class Epilogue {
    // y bf16 [rows][y_stride] = bf16(dot + bias): one rounding of the fp32 sum.
    Bf16,
    // y f32 [rows][y_stride] = dot + bias (the logits).
    F32,
    // y f32 [rows][y_stride] += dot: the residual add (each element has one writer).
    AddF32,
    // w stacks gate rows [0, m) over up rows [m, 2m); y bf16 [rows][y_stride] =
    // bf16(silu(g) * u) with g = bf16(gate dot) and u = bf16(up dot), as the unfused path rounds
    // the gate/up product to bf16 before cuda/activation.cu's swiglu.
    Swiglu,
    // The fused QKV product of an attention block, then what kv::rope_append does with it: w's
    // rows are rope.n_head query heads, then rope.n_head_kv key and as many value heads, of
    // pool.head_dim rows each. Each output is bf16(dot + bias) as Bf16 writes it; q goes to y
    // rotated, k rotated and v into the cache slots of their streams (whose scores are zeroed),
    // bit for bit as the unfused ops (pos_enc.cuh's rotation). y's k and v columns are not
    // written.
    RopeAppend,
};

struct Args {
    Input input = Input::RmsNorm;
    Epilogue epilogue = Epilogue::Bf16;
    int32_t rows = 0;         // 1..kMaxRows
    int32_t m = 0;            // outputs per row (Swiglu: n_ff; w then has 2m rows)
    int32_t k = 0;            // a multiple of 8
    const void *w = nullptr;  // bf16 [m or 2m][k] dense, 16-byte aligned
    // Input::RmsNorm
    const float *x = nullptr;  // 16-byte aligned
    const float *norm_w = nullptr;
    float eps = 0.0f;
    // Input::Bf16
    const void *a = nullptr;  // 16-byte aligned, a_stride a multiple of 8
    int64_t a_stride = 0;
    // Epilogue::Bf16, F32 and RopeAppend; null for none
    const float *bias = nullptr;
    // Epilogue::RopeAppend: where keys and values go (batch rows are the step's rows)
    kv::RopeTarget rope;
    void *y = nullptr;
    int64_t y_stride = 0;  // >= m
    // Launch with programmatic stream serialization: the kernel then overlaps the previous one.
    // It also lets the next kernel launch at once, so a kernel launched that way after it must
    // wait for it (griddepcontrol.wait) before touching what kernels before it wrote.
    bool pdl = true;
};

// Whether launch() takes these sizes and alignments (else the caller composes norm, GEMM and
// epilogue ops): 1 <= rows <= kMaxRows, k a multiple of 8, 16-byte aligned w, x and a, a_stride
// a multiple of 8, the pairings above (RmsNorm with Bf16, F32, Swiglu or RopeAppend; Bf16 with
// AddF32), and the input rows, staged as bf16 [rows][k], fitting in shared memory (96 KiB: k =
// 18944 takes 2 rows). RopeAppend also needs an even head_dim of at most 256, m = (n_head + 2 *
// n_head_kv) * head_dim and rows a multiple of rows_per_seq.
bool supported(const Args &args);

// Runs the GEMV; arguments must be supported().
void launch(const Args &args, cudaStream_t stream);

}  // namespace cab::cuda::gemv
