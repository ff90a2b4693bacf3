// RAII owners of the CUDA resources the backend uses (device and pinned host memory, streams,
// events, graphs) and the check that turns a CUDA error into a cab::Error. Destructors never
// throw: a resource that fails to release is left to the driver.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>
#include <utility>

#include "util/error.h"

namespace cab::cuda {

// Throws Error(DEVICE) "<what>: <CUDA message>", or Error(OUT_OF_MEMORY) for an allocation failure.
[[noreturn]] inline void fail_cuda(cudaError_t err, const std::string &what) {
    cudaGetLastError();  // clear a non-sticky error so that later calls do not report it again
    fail(err == cudaErrorMemoryAllocation ? CAB_ERR_OUT_OF_MEMORY : CAB_ERR_DEVICE,
         what + ": " + cudaGetErrorString(err));
}

inline void check(cudaError_t err, const char *what) {
    if (err != cudaSuccess) fail_cuda(err, what);
}

// "N bytes (F MiB free of T MiB on the device)", for out-of-memory messages.
inline std::string bytes_and_free(size_t bytes) {
    size_t free = 0, total = 0;
    std::string s = std::to_string(bytes) + " bytes";
    if (cudaMemGetInfo(&free, &total) == cudaSuccess)
        s += " (" + std::to_string(free >> 20) + " MiB free of " + std::to_string(total >> 20) +
             " MiB on the device)";
    else
        cudaGetLastError();
    return s;
}

// A handle with a release function, move-only. Release errors are ignored (destructor).
template <class T, cudaError_t (*Release)(T)>
class Handle {
public:
    Handle() = default;
    explicit Handle(T h) : h_(h) {}
    Handle(const Handle &) = delete;
    Handle &operator=(const Handle &) = delete;
    Handle(Handle &&o) noexcept : h_(std::exchange(o.h_, T{})) {}
    Handle &operator=(Handle &&o) noexcept {
        std::swap(h_, o.h_);
        return *this;
    }
    ~Handle() {
        if (h_) Release(h_);
    }
    T get() const { return h_; }
    explicit operator bool() const { return h_ != T{}; }

private:
    T h_{};
};

using StreamHandle = Handle<cudaStream_t, cudaStreamDestroy>;
using EventHandle = Handle<cudaEvent_t, cudaEventDestroy>;
using GraphHandle = Handle<cudaGraph_t, cudaGraphDestroy>;
using GraphExecHandle = Handle<cudaGraphExec_t, cudaGraphExecDestroy>;

inline StreamHandle make_stream() {
    cudaStream_t s = nullptr;
    check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
    return StreamHandle(s);
}

inline EventHandle make_event() {
    cudaEvent_t e = nullptr;
    check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
    return EventHandle(e);
}

// Lets this thread allocate while a decode step is being captured, even if another thread of the
// application captures in global mode (which would otherwise forbid cudaMalloc here).
class RelaxedCaptureMode {
public:
    RelaxedCaptureMode() { cudaThreadExchangeStreamCaptureMode(&mode_); }
    ~RelaxedCaptureMode() { cudaThreadExchangeStreamCaptureMode(&mode_); }
    RelaxedCaptureMode(const RelaxedCaptureMode &) = delete;
    RelaxedCaptureMode &operator=(const RelaxedCaptureMode &) = delete;

private:
    cudaStreamCaptureMode mode_ = cudaStreamCaptureModeRelaxed;
};

// Device memory of a fixed size (cudaMalloc). Empty when size is 0.
class DeviceBuffer {
public:
    DeviceBuffer() = default;
    DeviceBuffer(size_t bytes, const char *what) : bytes_(bytes) {
        if (bytes == 0) return;
        RelaxedCaptureMode relaxed;
        cudaError_t err = cudaMalloc(&ptr_, bytes);
        if (err == cudaErrorMemoryAllocation) {
            cudaGetLastError();
            fail(CAB_ERR_OUT_OF_MEMORY, std::string("CUDA backend: cannot allocate ") + what +
                                            " of " + bytes_and_free(bytes));
        }
        if (err != cudaSuccess) fail_cuda(err, std::string("cudaMalloc of ") + what);
    }
    DeviceBuffer(const DeviceBuffer &) = delete;
    DeviceBuffer &operator=(const DeviceBuffer &) = delete;
    DeviceBuffer(DeviceBuffer &&o) noexcept
        : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
    DeviceBuffer &operator=(DeviceBuffer &&o) noexcept {
        std::swap(ptr_, o.ptr_);
        std::swap(bytes_, o.bytes_);
        return *this;
    }
    ~DeviceBuffer() {
        if (ptr_) cudaFree(ptr_);
    }

    void *get() const { return ptr_; }
    template <class T>
    T *as() const {
        return static_cast<T *>(ptr_);
    }
    size_t bytes() const { return bytes_; }

private:
    void *ptr_ = nullptr;
    size_t bytes_ = 0;
};

// Page-locked host memory (cudaMallocHost), the source of asynchronous host-to-device copies.
class PinnedBuffer {
public:
    PinnedBuffer() = default;
    PinnedBuffer(size_t bytes, const char *what) : bytes_(bytes) {
        if (bytes == 0) return;
        RelaxedCaptureMode relaxed;
        cudaError_t err = cudaMallocHost(&ptr_, bytes);
        if (err == cudaErrorMemoryAllocation) {
            cudaGetLastError();
            fail(CAB_ERR_OUT_OF_MEMORY, std::string("CUDA backend: cannot allocate ") +
                                            std::to_string(bytes) + " bytes of pinned host " +
                                            "memory for " + what);
        }
        if (err != cudaSuccess) fail_cuda(err, std::string("cudaMallocHost of ") + what);
    }
    PinnedBuffer(const PinnedBuffer &) = delete;
    PinnedBuffer &operator=(const PinnedBuffer &) = delete;
    PinnedBuffer(PinnedBuffer &&o) noexcept
        : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
    PinnedBuffer &operator=(PinnedBuffer &&o) noexcept {
        std::swap(ptr_, o.ptr_);
        std::swap(bytes_, o.bytes_);
        return *this;
    }
    ~PinnedBuffer() {
        if (ptr_) cudaFreeHost(ptr_);
    }

    void *get() const { return ptr_; }
    template <class T>
    T *as() const {
        return static_cast<T *>(ptr_);
    }
    size_t bytes() const { return bytes_; }

private:
    void *ptr_ = nullptr;
    size_t bytes_ = 0;
};

// Sizes grow geometrically so that a buffer grown step by step is reallocated O(log n) times.
inline size_t grown_size(size_t current, size_t needed) {
    size_t n = current < 4096 ? 4096 : current;
    while (n < needed) n *= 2;
    return n;
}

}  // namespace cab::cuda
