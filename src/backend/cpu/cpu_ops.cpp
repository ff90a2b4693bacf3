// Elementwise, normalisation, RoPE and GEMM ops of the CPU executor.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cpu/cpu_executor.h"
#include "backend/cpu/gemm.h"
#include "model/model.h"
#include "util/error.h"

namespace cab::cpu {

namespace {

void require_f32(const Tensor &t, const char *what) {
    if (t.dtype() != DType::F32)
        fail(CAB_ERR_INTERNAL, std::string("CPU op: ") + what + " must be F32");
}

// Rows per task for row-parallel ops: enough work per task to amortise the hand-off.
int64_t row_grain(int64_t cols) {
    return std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1));
}

}  // namespace

void require_dense(const Tensor &t, const char *op, const char *name) {
    if (!t.dense())
        fail(CAB_ERR_INVALID_ARGUMENT, std::string(op) + ": " + name + " [" +
                                           std::to_string(t.rows()) + " x " +
                                           std::to_string(t.cols()) + ", row stride " +
                                           std::to_string(t.stride()) + "] must be dense");
}

CpuExecutor::CpuExecutor(int32_t n_threads) : pool_(n_threads) {
    gemm_init();
}

void CpuExecutor::upload(const float *src, const Tensor &dst) {
    require_f32(dst, "upload destination");
    require_dense(dst, "upload", "destination");
    std::memcpy(dst.data(), src, dst.nbytes());
}

void CpuExecutor::download(const Tensor &src, float *dst) {
    require_f32(src, "download source");
    require_dense(src, "download", "source");
    std::memcpy(dst, src.data(), src.nbytes());
}

void CpuExecutor::embedding(const Tensor &table, const int32_t *tokens, const Tensor &out) {
    require_f32(table, "embedding table");
    require_dense(table, "embedding", "table");
    require_dense(out, "embedding", "out");
    const float *t = table.as<float>();
    float *o = out.as<float>();
    for (int64_t i = 0; i < out.rows(); ++i)
        std::memcpy(o + i * out.cols(), t + static_cast<int64_t>(tokens[i]) * table.cols(),
                    table.row_bytes());
}

void CpuExecutor::matmul(const Tensor &x, const Tensor &w, const Tensor *bias, const Tensor &y) {
    require_f32(w, "matmul weight");
    require_dense(w, "matmul", "w");
    require_dense(y, "matmul", "y");
    if (bias) require_dense(*bias, "matmul", "bias");
    gemm_nt(pool_, x.rows(), w.rows(), w.cols(), x.as<float>(), x.stride(), w.as<float>(), w.cols(),
            y.as<float>(), y.cols());
    if (!bias) return;
    const float *b = bias->as<float>();
    float *o = y.as<float>();
    for (int64_t i = 0; i < y.rows(); ++i)
        for (int64_t j = 0; j < y.cols(); ++j) o[i * y.cols() + j] += b[j];
}

void CpuExecutor::rmsnorm(const Tensor &x, const Tensor &w, float eps, const Tensor &y) {
    require_dense(x, "rmsnorm", "x");
    require_dense(w, "rmsnorm", "w");
    require_dense(y, "rmsnorm", "y");
    int64_t n = x.cols();
    const float *xs = x.as<float>(), *ws = w.as<float>();
    float *ys = y.as<float>();
    pool_.parallel_for(x.rows(), row_grain(n), [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            const float *xr = xs + r * n;
            double ss = 0.0;
            for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(xr[i]) * xr[i];
            float scale = static_cast<float>(1.0 / std::sqrt(ss / n + eps));
            for (int64_t i = 0; i < n; ++i) ys[r * n + i] = xr[i] * scale * ws[i];
        }
    });
}

void CpuExecutor::rope(const Tensor &x, int32_t n_head, const int32_t *positions,
                       const RopeParams &params) {
    int64_t head_dim = x.cols() / n_head, half = head_dim / 2;
    std::vector<double> inv_freq(half);
    for (int64_t i = 0; i < half; ++i)
        inv_freq[i] = std::pow(static_cast<double>(params.theta), -2.0 * i / head_dim);
    // Normal pairs (2i, 2i+1), as llama.cpp rotates llama GGUF files (whose Q/K rows the
    // converter permuted); NeoX pairs (i, i + d/2), as HF rotates.
    int64_t stride = params.style == RopeStyle::NeoX ? 1 : 2;
    int64_t partner = params.style == RopeStyle::NeoX ? half : 1;
    float *xs = x.as<float>();
    pool_.parallel_for(x.rows(), row_grain(x.cols()), [&](int64_t begin, int64_t end) {
        std::vector<float> cs(half), sn(half);
        for (int64_t r = begin; r < end; ++r) {
            double pos = static_cast<double>(positions[r]) * params.freq_scale;
            for (int64_t i = 0; i < half; ++i) {
                cs[i] = static_cast<float>(std::cos(pos * inv_freq[i]));
                sn[i] = static_cast<float>(std::sin(pos * inv_freq[i]));
            }
            for (int32_t h = 0; h < n_head; ++h) {
                float *v = xs + r * x.stride() + h * head_dim;
                for (int64_t i = 0; i < half; ++i) {
                    float *a = v + i * stride, *b = a + partner;
                    float x0 = *a, x1 = *b;
                    *a = x0 * cs[i] - x1 * sn[i];
                    *b = x0 * sn[i] + x1 * cs[i];
                }
            }
        }
    });
}

void CpuExecutor::swiglu(const Tensor &gate, const Tensor &up, const Tensor &out) {
    const int64_t cols = gate.cols();
    pool_.parallel_for(gate.rows(), row_grain(cols), [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            const float *g = gate.as<float>() + r * gate.stride(),
                        *u = up.as<float>() + r * up.stride();
            float *o = out.as<float>() + r * out.stride();
            for (int64_t i = 0; i < cols; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
        }
    });
}

void CpuExecutor::add(const Tensor &x, const Tensor &y) {
    require_dense(x, "add", "x");
    require_dense(y, "add", "y");
    float *xs = x.as<float>();
    const float *ys = y.as<float>();
    int64_t n = x.rows() * x.cols();
    for (int64_t i = 0; i < n; ++i) xs[i] += ys[i];
}

void CpuExecutor::argmax(const Tensor &x, int32_t *host_out) {
    require_f32(x, "argmax input");
    require_dense(x, "argmax", "x");
    for (int64_t r = 0; r < x.rows(); ++r) {
        const float *row = x.as<float>() + r * x.cols();
        int64_t best = 0;
        for (int64_t j = 1; j < x.cols(); ++j)
            if (row[j] > row[best] || (std::isnan(row[best]) && !std::isnan(row[j]))) best = j;
        host_out[r] = static_cast<int32_t>(best);
    }
}

}  // namespace cab::cpu
