// Host API of the block-table patch kernel: writes single entries of the device copies of the
// streams' block tables (backend/block_tables.h), the few that changed since they were last sent.
// Asynchronous on `stream`; a failed launch throws cab::Error(DEVICE).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace cab::cuda::kv {

// One entry to write: tables[index] = value.
struct TablePatch {
    int32_t index;
    int32_t value;
};

// Applies patches[0..n) (device memory) to `tables`; no two patches name one index.
void patch_tables(int32_t *tables, const TablePatch *patches, int32_t n, cudaStream_t stream);

}  // namespace cab::cuda::kv
