// Placing GGUF weights on the GPU: matrices as bf16, vectors (one row) as f32. Rows are converted
// on the host (dequantized with ggml::dequantize_row, rounded to nearest even) by several threads
// into one of two pinned buffers while the other is copied to the device, so conversion and
// transfer overlap and no tensor is ever held whole in host memory.
#pragma once

#include <functional>
#include <vector>

#include "backend/backend.h"

namespace cab::cuda {

using AllocFn = std::function<Tensor(DType, int64_t, int64_t)>;

// Uploads every source on the current device, in order, allocating with `alloc`, the parts of a
// joined source one after another into its tensor (Backend::load_weights); progress(done, total)
// after each tensor, false cancels with Error(STATE). Throws INVALID_ARGUMENT for parts that do
// not fill their tensor, UNSUPPORTED for a type without a dequantizer, OUT_OF_MEMORY, DEVICE.
std::vector<Tensor> upload_weights(const std::vector<Backend::WeightSource> &sources,
                                   const std::function<bool(size_t, size_t)> &progress,
                                   const AllocFn &alloc);

}  // namespace cab::cuda
