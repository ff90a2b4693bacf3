// Attention on CUDA cores for the head sizes the tensor-core kernels do not take (they take 64 and
// 128): any head_dim in [1, 256], any GQA group, the semantics of prefill() and decode() in
// attention.h (and of Executor::attention_prefill / attention_decode), scores included. The
// fallback path: simple and exact rather than fast. Asynchronous on `stream`; bad arguments throw
// cab::Error(INVALID_ARGUMENT / UNSUPPORTED), a failed launch cab::Error(DEVICE).
#pragma once

#include <cuda_runtime_api.h>

#include "attention/attention.h"

namespace cab::cuda::attention {

// As prefill(); q_stride and out_stride need no alignment.
void prefill_generic(const PrefillArgs &args, cudaStream_t stream);

// As decode(), without splitting the keys: args.splits, workspace and workspace_bytes are ignored,
// and the GQA group may be of any size.
void decode_generic(const DecodeArgs &args, cudaStream_t stream);

}  // namespace cab::cuda::attention
