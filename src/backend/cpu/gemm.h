// Single-precision GEMMs of the CPU backend: OpenBLAS when the build has a CBLAS
// (CAB_HAVE_CBLAS), otherwise blocked loops spread over the thread pool. Row-major throughout.
#pragma once

#include <cstdint>

#include "backend/cpu/thread_pool.h"

namespace cab::cpu {

// Call once before the first GEMM (sets up the BLAS library's threading).
void gemm_init();

// C[m, n] = A[m, k] . B[n, k]^T
void gemm_nt(ThreadPool &pool, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
             const float *b, int64_t ldb, float *c, int64_t ldc);

// C[m, n] = A[m, k] . B[k, n]
void gemm_nn(ThreadPool &pool, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
             const float *b, int64_t ldb, float *c, int64_t ldc);

}  // namespace cab::cpu
