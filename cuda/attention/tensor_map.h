// Tensor maps (TMA descriptors) over device arrays for the Hopper kernels' tensor copies. The
// driver's encoder is reached through the runtime's entry-point query, so libcab links no
// libcuda; a driver without it gives no map, and the kernels copy with cp.async instead.
#pragma once

#include <cuda.h>

#include <cstdint>

namespace cab::cuda::attention {

// A map over `rows` x `cols` bf16 (row-major, rows 16-byte aligned) copied in boxes of
// `box_rows` x 64 columns into tiles with the 128-byte swizzle (wgmma.cuh). False when the
// driver has no encoder or rejects the shape.
bool encode_bf16_tensor_map(CUtensorMap &map, const void *data, uint64_t rows, int cols,
                            int box_rows);

}  // namespace cab::cuda::attention
