#include "backend/gemm.h"

#include <limits>
#include <string>

namespace cab::cuda {

namespace {

// What cuBLAS recommends for Hopper (32 MiB); it lets cublasGemmEx pick split-K kernels for the
// skinny GEMMs of decode without allocating.
constexpr size_t kWorkspaceBytes = size_t{32} << 20;

[[noreturn]] void fail_cublas(cublasStatus_t status, const std::string &what) {
    fail(status == CUBLAS_STATUS_ALLOC_FAILED ? CAB_ERR_OUT_OF_MEMORY : CAB_ERR_DEVICE,
         what + ": " + cublasGetStatusString(status));
}

}  // namespace

Gemm::Gemm(cudaStream_t stream) : workspace_(kWorkspaceBytes, "the cuBLAS workspace") {
    cublasStatus_t st = cublasCreate(&handle_);
    if (st != CUBLAS_STATUS_SUCCESS) fail_cublas(st, "cublasCreate");
    st = cublasSetStream(handle_, stream);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasSetWorkspace(handle_, workspace_.get(), workspace_.bytes());
    if (st != CUBLAS_STATUS_SUCCESS) {
        cublasDestroy(handle_);
        fail_cublas(st, "cublas stream and workspace setup");
    }
}

Gemm::~Gemm() {
    cublasDestroy(handle_);
}

void Gemm::run(const void *x, int64_t ldx, const void *w, void *y, bool y_f32, int64_t n, int64_t m,
               int64_t k) {
    gemm(x, ldx, w, y, y_f32, 0.0f, n, m, k);
}

void Gemm::accumulate(const void *x, int64_t ldx, const void *w, float *y, int64_t n, int64_t m,
                      int64_t k) {
    gemm(x, ldx, w, y, true, 1.0f, n, m, k);
}

void Gemm::gemm(const void *x, int64_t ldx, const void *w, void *y, bool y_f32, float beta,
                int64_t n, int64_t m, int64_t k) {
    constexpr int64_t kMax = std::numeric_limits<int>::max();
    if (!(n > 0 && m > 0 && k > 0 && n <= kMax && m <= kMax && k <= kMax))
        fail(CAB_ERR_INVALID_ARGUMENT, "matmul: sizes n " + std::to_string(n) + ", m " +
                                           std::to_string(m) + ", k " + std::to_string(k) +
                                           " out of cuBLAS range");
    if (!(ldx >= k && ldx <= kMax))
        fail(CAB_ERR_INVALID_ARGUMENT, "matmul: x row stride " + std::to_string(ldx) +
                                           " for rows of " + std::to_string(k) + " elements");
    // Column-major view: w is k x m (ld k), x is k x n (ld ldx), y is m x n (ld m), and
    // y = w^T . x.
    const float alpha = 1.0f;
    const int mi = static_cast<int>(m), ni = static_cast<int>(n), ki = static_cast<int>(k);
    const cublasStatus_t st =
        cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, mi, ni, ki, &alpha, w, CUDA_R_16BF, ki, x,
                     CUDA_R_16BF, static_cast<int>(ldx), &beta, y, y_f32 ? CUDA_R_32F : CUDA_R_16BF,
                     mi, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS)
        fail_cublas(st, "cublasGemmEx [" + std::to_string(n) + "x" + std::to_string(k) + "] . [" +
                            std::to_string(m) + "x" + std::to_string(k) + "]^T");
}

}  // namespace cab::cuda
