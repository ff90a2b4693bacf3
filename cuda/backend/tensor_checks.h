// Argument checks of the CUDA executor's ops (cuda_executor.cpp, cuda_fused_ops.cpp): a tensor
// that breaks an op's contract in backend.h is Error(INVALID_ARGUMENT) naming the op, the operand
// and its shape.
#pragma once

#include <cstdint>
#include <string>

#include "backend/backend.h"
#include "util/error.h"

namespace cab::cuda {

inline const char *dtype_name(DType t) {
    return t == DType::F32 ? "F32" : t == DType::F16 ? "F16" : "BF16";
}

inline std::string shape(const Tensor &t) {
    return "[" + std::to_string(t.rows()) + " x " + std::to_string(t.cols()) + " " +
           dtype_name(t.dtype()) + "]";
}

// A tensor of `dtype` with any row stride (the operands backend.h marks "any stride").
inline void require_view(const Tensor &t, DType dtype, const char *op, const char *name) {
    if (t.empty() || t.dtype() != dtype)
        fail(CAB_ERR_INVALID_ARGUMENT, std::string(op) + ": " + name + " is " +
                                           (t.empty() ? "empty" : shape(t)) + ", expected " +
                                           dtype_name(dtype));
}

inline void require_dense(const Tensor &t, const char *op, const char *name) {
    if (!t.dense())
        fail(CAB_ERR_INVALID_ARGUMENT, std::string(op) + ": " + name + " " + shape(t) +
                                           " of row stride " + std::to_string(t.stride()) +
                                           " must be dense");
}

// A dense tensor of `dtype`: what every operand not marked "any stride" must be.
inline void require_dtype(const Tensor &t, DType dtype, const char *op, const char *name) {
    require_view(t, dtype, op, name);
    require_dense(t, op, name);
}

inline void require_shape(const Tensor &t, int64_t rows, int64_t cols, const char *op,
                          const char *name) {
    if (t.rows() != rows || t.cols() != cols)
        fail(CAB_ERR_INVALID_ARGUMENT, std::string(op) + ": " + name + " is " + shape(t) +
                                           ", expected [" + std::to_string(rows) + " x " +
                                           std::to_string(cols) + "]");
}

inline void require_same_shape(const Tensor &a, const Tensor &b, const char *op,
                               const char *names) {
    if (a.rows() != b.rows() || a.cols() != b.cols())
        fail(CAB_ERR_INVALID_ARGUMENT,
             std::string(op) + ": " + names + " differ in shape: " + shape(a) + " and " + shape(b));
}

inline int32_t to_i32(int64_t v, const char *op, const char *what) {
    if (v < 0 || v > INT32_MAX)
        fail(CAB_ERR_INVALID_ARGUMENT,
             std::string(op) + ": " + what + " " + std::to_string(v) + " out of range");
    return static_cast<int32_t>(v);
}

}  // namespace cab::cuda
