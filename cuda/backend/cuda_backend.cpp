// The CUDA backend (DESIGN.md section 6): device memory from cudaMalloc, bf16 weights and
// activations, and CudaExecutor for the ops.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "attention/attention.h"
#include "backend/backend.h"
#include "backend/cuda_executor.h"
#include "backend/device_memory.h"
#include "backend/weight_upload.h"
#include "device.h"
#include "util/error.h"

namespace cab {

namespace {

// A tensor of no elements still gets storage (an empty Tensor is one without), which cudaMalloc
// of 0 bytes does not give.
constexpr size_t kMinAllocation = 256;

class CudaBackend final : public Backend {
public:
    explicit CudaBackend(int gpu) : gpu_(gpu) {
        const int n = cuda::device_count();
        require(n > 0, CAB_ERR_DEVICE, "CUDA backend: no usable CUDA device");
        require(gpu >= 0 && gpu < n, CAB_ERR_DEVICE,
                "CUDA backend: gpu_index " + std::to_string(gpu) + " but " + std::to_string(n) +
                    " CUDA device(s)");
        set_device();
        // Creates the device's primary context now, so that a broken device fails here.
        cuda::check(cudaFree(nullptr),
                    ("CUDA backend: initialising " + cuda::device_description(gpu)).c_str());
    }

    const char *name() const override { return "cuda"; }
    bool kv_q8_supported(Q8Type type) const override {
        return type == Q8Type::Int8 || type == Q8Type::Fp8E4M3;  // sm_90 converts E4M3
    }
    DType act_dtype() const override { return DType::BF16; }
    DType kv_dtype() const override { return DType::BF16; }
    bool kv_block_size_supported(int32_t block_size) const override {
        return block_size > 0 && (block_size & (block_size - 1)) == 0;
    }

    Tensor alloc(DType dtype, int64_t rows, int64_t cols) override {
        require(rows >= 0 && cols >= 0 && (cols == 0 || rows <= INT64_MAX / 4 / cols),
                CAB_ERR_INVALID_ARGUMENT,
                "CUDA backend: tensor of " + std::to_string(rows) + " x " + std::to_string(cols) +
                    " elements");
        set_device();
        const size_t bytes =
            static_cast<size_t>(rows) * static_cast<size_t>(cols) * dtype_size(dtype);
        void *p = nullptr;
        const cudaError_t err = cudaMalloc(&p, std::max(bytes, kMinAllocation));
        if (err == cudaErrorMemoryAllocation) {
            cudaGetLastError();
            fail(CAB_ERR_OUT_OF_MEMORY, "CUDA backend: cannot allocate a " + std::to_string(rows) +
                                            " x " + std::to_string(cols) + " tensor on GPU " +
                                            std::to_string(gpu_) + ": " +
                                            cuda::bytes_and_free(bytes));
        }
        if (err != cudaSuccess)
            cuda::fail_cuda(err, "CUDA backend: cudaMalloc of " + std::to_string(bytes) +
                                     " bytes on GPU " + std::to_string(gpu_));
        const int gpu = gpu_;
        // Freed on the device that holds it, from whichever thread drops the last reference.
        std::shared_ptr<void> storage(p, [gpu](void *q) {
            cudaSetDevice(gpu);
            cudaFree(q);
        });
        return Tensor(std::move(storage), dtype, rows, cols);
    }

    // Decode defers its scores (attention/pending.h) where its tensor-core kernel runs: one
    // zeroed record per stream.
    Tensor alloc_pending_scores(int64_t n_streams, int32_t n_head, int32_t n_head_kv,
                                int32_t head_dim) override {
        if (!(n_head_kv > 0 && n_head % n_head_kv == 0 && n_streams > 0)) return {};
        const size_t bytes = cuda::attention::pending_record_bytes(n_head / n_head_kv, head_dim);
        if (bytes == 0) return {};
        Tensor t = alloc(DType::F32, n_streams, static_cast<int64_t>(bytes / 4));
        set_device();
        // On the legacy stream, which the executors' non-blocking streams do not wait for.
        cudaError_t err = cudaMemset(t.data(), 0, t.nbytes());
        if (err == cudaSuccess) err = cudaStreamSynchronize(cudaStreamLegacy);
        if (err != cudaSuccess)
            cuda::fail_cuda(err, "CUDA backend: zeroing the pending decode scores");
        return t;
    }

    std::vector<Tensor> load_weights(const std::vector<WeightSource> &sources,
                                     const std::function<bool(size_t, size_t)> &progress) override {
        set_device();
        return cuda::upload_weights(
            sources, progress, [this](DType d, int64_t r, int64_t c) { return alloc(d, r, c); });
    }

    std::unique_ptr<Executor> make_executor(int32_t n_threads) override {
        (void)n_threads;  // the GPU does the work; one host thread drives it
        return std::make_unique<cuda::CudaExecutor>(gpu_);
    }

private:
    void set_device() const { cuda::check(cudaSetDevice(gpu_), "CUDA backend: cudaSetDevice"); }

    int gpu_;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(int gpu_index) {
    return std::make_unique<CudaBackend>(gpu_index);
}

}  // namespace cab
