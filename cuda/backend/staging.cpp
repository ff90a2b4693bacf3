#include "backend/staging.h"

#include <algorithm>

namespace cab::cuda {

HostRing::HostRing() : chunks_(kChunks) {
    for (Chunk &c : chunks_) c.copied = make_event();
}

void *HostRing::acquire(size_t bytes) {
    Chunk &c = chunks_[next_];
    // An event never recorded counts as complete.
    check(cudaEventSynchronize(c.copied.get()), "staging: waiting for an earlier copy");
    if (c.host.bytes() < bytes)
        c.host = PinnedBuffer(grown_size(c.host.bytes(), std::max<size_t>(bytes, 64 << 10)),
                              "op input staging");
    current_ = next_;
    next_ = (next_ + 1) % kChunks;
    return c.host.get();
}

void HostRing::send(void *device, size_t bytes, cudaStream_t stream) {
    Chunk &c = chunks_[current_];
    check(cudaMemcpyAsync(device, c.host.get(), bytes, cudaMemcpyHostToDevice, stream),
          "staging: host-to-device copy of op inputs");
    check(cudaEventRecord(c.copied.get(), stream), "staging: cudaEventRecord");
}

StepArena::StepArena(size_t first_chunk)
    : first_chunk_(std::max<size_t>(align_staging(first_chunk), 64 << 10)), sent_(make_event()) {}

StepArena::Region StepArena::alloc(size_t bytes) {
    Region r;
    r.bytes = bytes;
    if (bytes == 0) return r;
    const size_t need = align_staging(bytes);
    if (chunks_.empty() || chunks_.back().host.bytes() - chunks_.back().used < need) {
        const size_t prev = chunks_.empty() ? first_chunk_ / 2 : chunks_.back().host.bytes();
        const size_t size = std::max(need, prev * 2);
        Chunk c;
        c.host = PinnedBuffer(size, "the CUDA graph step arena");
        c.device = DeviceBuffer(size, "the CUDA graph step arena");
        chunks_.push_back(std::move(c));
    }
    Chunk &c = chunks_.back();
    r.chunk = chunks_.size() - 1;
    r.offset = c.used;
    c.used += need;
    return r;
}

void *StepArena::host(const Region &r) const {
    return r.bytes == 0 ? nullptr : chunks_[r.chunk].host.as<char>() + r.offset;
}

void *StepArena::device(const Region &r) const {
    return r.bytes == 0 ? nullptr : chunks_[r.chunk].device.as<char>() + r.offset;
}

size_t StepArena::used() const {
    size_t n = 0;
    for (const Chunk &c : chunks_) n += c.used;
    return n;
}

void StepArena::wait_sent() const {
    check(cudaEventSynchronize(sent_.get()), "CUDA graph step: waiting for the last input copy");
}

void StepArena::send(cudaStream_t stream) {
    for (const Chunk &c : chunks_) {
        if (c.used == 0) continue;
        check(cudaMemcpyAsync(c.device.get(), c.host.get(), c.used, cudaMemcpyHostToDevice, stream),
              "CUDA graph step: host-to-device copy of the step's inputs");
    }
    check(cudaEventRecord(sent_.get(), stream), "CUDA graph step: cudaEventRecord");
}

}  // namespace cab::cuda
