#include "backend/cpu/gemm.h"

#include <algorithm>
#include <mutex>

#include "backend/cpu/vec.h"

#ifdef CAB_HAVE_CBLAS
#include <cblas.h>
#endif

namespace cab::cpu {

#ifdef CAB_HAVE_CBLAS

namespace {
// Columns of C per task; tasks call a single-threaded BLAS on their slice.
constexpr int64_t kColBlock = 64;
}  // namespace

// OpenBLAS's own threads spin-yield while the pool runs the non-BLAS ops, and on few cores that
// costs more than they gain (measured on 2 cores: one BLAS thread per pool thread is ~1.8x
// faster on prefill than OpenBLAS threading). So BLAS runs single-threaded, inside pool tasks.
// This is process-wide: OpenBLAS has no per-call thread count.
void gemm_init() {
    static std::once_flag once;
    std::call_once(once, [] { openblas_set_num_threads(1); });
}

void gemm_nt(ThreadPool &pool, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
             const float *b, int64_t ldb, float *c, int64_t ldc) {
    int64_t blocks = (n + kColBlock - 1) / kColBlock;
    pool.parallel_for(blocks, 1, [&](int64_t begin, int64_t end) {
        int64_t j0 = begin * kColBlock, cols = std::min(n, end * kColBlock) - j0;
        // One row of A (a decode step) is a matrix-vector product, faster as such.
        if (m == 1) {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, cols, k, 1.0f, b + j0 * ldb, ldb, a, 1, 0.0f,
                        c + j0, 1);
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, cols, k, 1.0f, a, lda,
                        b + j0 * ldb, ldb, 0.0f, c + j0, ldc);
        }
    });
}

void gemm_nn(ThreadPool &pool, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
             const float *b, int64_t ldb, float *c, int64_t ldc) {
    // Here n is small (a head dimension): split the rows of A and C instead.
    pool.parallel_for(m, 16, [&](int64_t begin, int64_t end) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, end - begin, n, k, 1.0f,
                    a + begin * lda, lda, b, ldb, 0.0f, c + begin * ldc, ldc);
    });
}

#else

void gemm_init() {}

namespace {
// Columns of C per task: a block of B rows small enough to stay in cache across A's rows.
constexpr int64_t kColBlock = 64;
constexpr int64_t kRowBlock = 16;
}  // namespace

void gemm_nt(ThreadPool &pool, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
             const float *b, int64_t ldb, float *c, int64_t ldc) {
    int64_t col_blocks = (n + kColBlock - 1) / kColBlock;
    pool.parallel_for(col_blocks, 1, [&](int64_t begin, int64_t end) {
        for (int64_t cb = begin; cb < end; ++cb) {
            int64_t j0 = cb * kColBlock, j1 = std::min(n, j0 + kColBlock);
            for (int64_t i0 = 0; i0 < m; i0 += kRowBlock) {
                int64_t i1 = std::min(m, i0 + kRowBlock);
                for (int64_t j = j0; j < j1; ++j)
                    for (int64_t i = i0; i < i1; ++i)
                        c[i * ldc + j] = dot(a + i * lda, b + j * ldb, k);
            }
        }
    });
}

void gemm_nn(ThreadPool &pool, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
             const float *b, int64_t ldb, float *c, int64_t ldc) {
    pool.parallel_for(m, 1, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            float *ci = c + i * ldc;
            std::fill(ci, ci + n, 0.0f);
            for (int64_t p = 0; p < k; ++p) axpy(a[i * lda + p], b + p * ldb, ci, n);
        }
    });
}

#endif

}  // namespace cab::cpu
