// The projections and the LM head on cuBLAS: row-major y[n][m] = x[n][k] . w[m][k]^T with bf16
// x and w, fp32 accumulation, and a bf16 or f32 y (or y += x . w^T into an f32 y). One handle per
// executor, bound to its stream, with a workspace it owns so that cuBLAS allocates nothing while a
// CUDA graph is captured.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "backend/device_memory.h"

namespace cab::cuda {

class Gemm {
public:
    // Creates the handle on the current device and binds it to `stream`.
    explicit Gemm(cudaStream_t stream);
    ~Gemm();
    Gemm(const Gemm &) = delete;
    Gemm &operator=(const Gemm &) = delete;

    // y = x . w^T: x bf16 [n][k] with rows ldx >= k elements apart (a column view of a fused
    // product), w bf16 [m][k], y [n][m] in bf16 (y_f32 false) or f32; w and y dense, all
    // row-major device memory. Asynchronous on the stream.
    void run(const void *x, int64_t ldx, const void *w, void *y, bool y_f32, int64_t n, int64_t m,
             int64_t k);
    // y += x . w^T into an f32 y [n][m] (beta = 1): a projection's residual add in its epilogue.
    void accumulate(const void *x, int64_t ldx, const void *w, float *y, int64_t n, int64_t m,
                    int64_t k);

private:
    void gemm(const void *x, int64_t ldx, const void *w, void *y, bool y_f32, float beta, int64_t n,
              int64_t m, int64_t k);

    cublasHandle_t handle_ = nullptr;
    DeviceBuffer workspace_;
};

}  // namespace cab::cuda
