// Device memory for the GPU tests: an owning buffer with checked copies, and bf16 on the host.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace cab::gpu_test {

inline void cuda_check(cudaError_t err, const char *what) {
    if (err != cudaSuccess)
        throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

class DeviceBuffer {
public:
    DeviceBuffer() = default;
    explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
        if (bytes > 0) cuda_check(cudaMalloc(&ptr_, bytes), "cudaMalloc");
    }
    template <class T>
    explicit DeviceBuffer(const std::vector<T> &host) : DeviceBuffer(host.size() * sizeof(T)) {
        upload(host);
    }
    DeviceBuffer(const DeviceBuffer &) = delete;
    DeviceBuffer &operator=(const DeviceBuffer &) = delete;
    DeviceBuffer(DeviceBuffer &&o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) {
        o.ptr_ = nullptr;
        o.bytes_ = 0;
    }
    DeviceBuffer &operator=(DeviceBuffer &&o) noexcept {
        std::swap(ptr_, o.ptr_);
        std::swap(bytes_, o.bytes_);
        return *this;
    }
    ~DeviceBuffer() {
        if (ptr_) cudaFree(ptr_);
    }

    template <class T = void>
    T *get() const {
        return static_cast<T *>(ptr_);
    }
    size_t bytes() const { return bytes_; }

    template <class T>
    void upload(const std::vector<T> &host) {
        if (host.size() * sizeof(T) > bytes_) throw std::runtime_error("upload past the buffer");
        cuda_check(cudaMemcpy(ptr_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
                   "upload");
    }
    template <class T>
    std::vector<T> download() const {
        std::vector<T> host(bytes_ / sizeof(T));
        cuda_check(cudaMemcpy(host.data(), ptr_, host.size() * sizeof(T), cudaMemcpyDeviceToHost),
                   "download");
        return host;
    }
    // Fills every byte with `byte` (0xff: bf16 and fp32 NaN).
    void poison(int byte = 0xff) { cuda_check(cudaMemset(ptr_, byte, bytes_), "memset"); }

private:
    void *ptr_ = nullptr;
    size_t bytes_ = 0;
};

// bf16 <-> float on the host, round to nearest even (inputs are finite).
inline uint16_t to_bf16(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
}

inline float from_bf16(uint16_t h) {
    uint32_t u = static_cast<uint32_t>(h) << 16;
    float x;
    std::memcpy(&x, &u, 4);
    return x;
}

inline float round_bf16(float x) {
    return from_bf16(to_bf16(x));
}

}  // namespace cab::gpu_test
