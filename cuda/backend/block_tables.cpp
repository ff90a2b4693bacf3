#include "backend/block_tables.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "util/error.h"

namespace cab::cuda {

namespace {

// Host-to-device copies go through the staging ring in pieces of at most this many bytes (its
// chunks grow to the largest piece); a patch list larger than this resends the whole array.
constexpr size_t kPiece = size_t{1} << 20;

}  // namespace

BlockTables::BlockTables(int32_t n_streams, int32_t block_size)
    : n_streams_(n_streams),
      block_size_(block_size),
      rows_(static_cast<size_t>(n_streams)),
      seen_(static_cast<size_t>(n_streams), 0) {}

bool BlockTables::covers(const StreamRef *streams, int32_t count) {
    if (++call_ == 0) {
        std::fill(seen_.begin(), seen_.end(), 0);
        call_ = 1;
    }
    for (int32_t s = 0; s < count; ++s) {
        const int32_t id = streams[s].id;
        if (id < 0 || id >= n_streams_ || seen_[static_cast<size_t>(id)] == call_) return false;
        seen_[static_cast<size_t>(id)] = call_;
    }
    return true;
}

void BlockTables::grow(int64_t blocks, bool deferred) {
    if (deferred && used_in_window_)
        fail(CAB_ERR_INTERNAL,
             "block tables: a stream outgrew the rows within a CUDA graph step (its length "
             "bucket should have reserved them)");
    int64_t stride = std::max<int64_t>(stride_, 16);
    while (stride < blocks) stride *= 2;
    if (stride > std::numeric_limits<int32_t>::max() / std::max(n_streams_, 1))
        fail(CAB_ERR_INVALID_ARGUMENT, "block tables: " + std::to_string(n_streams_) +
                                           " streams of " + std::to_string(blocks) +
                                           " blocks are too many to index");
    std::vector<int32_t> shadow(static_cast<size_t>(n_streams_ * stride), 0);
    for (int64_t r = 0; r < n_streams_ && stride_ > 0; ++r)
        std::memcpy(shadow.data() + r * stride, shadow_.data() + r * stride_,
                    static_cast<size_t>(stride_) * sizeof(int32_t));
    DeviceBuffer next(shadow.size() * sizeof(int32_t), "the KV block tables");
    if (device_.bytes() > 0) retired_.push_back(std::move(device_));
    device_ = std::move(next);
    shadow_ = std::move(shadow);
    stride_ = stride;
    resend_ = true;
    patches_.clear();
}

void BlockTables::sync(const StreamRef *streams, int32_t count, int64_t capacity, bool deferred,
                       const int32_t **rows) {
    int64_t need = (capacity + block_size_ - 1) / block_size_;
    for (int32_t s = 0; s < count; ++s)
        need = std::max<int64_t>(need, (streams[s].length + block_size_ - 1) / block_size_);
    if (need > stride_) grow(need, deferred);
    for (int32_t s = 0; s < count; ++s) {
        const StreamRef &ref = streams[s];
        Row &row = rows_[static_cast<size_t>(ref.id)];
        const int32_t n = (ref.length + block_size_ - 1) / block_size_;
        const bool same = ref.version != 0 && row.version == ref.version;
        if (deferred && row.window != window_) {
            row.window = window_;
            row.read = 0;
        }
        if (!(same && n <= row.synced)) {
            int32_t *shadow = shadow_.data() + ref.id * stride_;
            for (int32_t i = same ? row.synced : 0; i < n; ++i) {
                if (shadow[i] == ref.blocks[i]) continue;
                if (deferred && i < row.read)
                    fail(CAB_ERR_INTERNAL,
                         "block tables: stream " + std::to_string(ref.id) +
                             "'s table changed within a CUDA graph step, below what an earlier "
                             "op of the step read");
                shadow[i] = ref.blocks[i];
                patches_.push_back({static_cast<int32_t>(ref.id * stride_ + i), ref.blocks[i]});
            }
            row.synced = same ? std::max(row.synced, n) : n;
            row.version = ref.version;
        }
        if (deferred) row.read = std::max(row.read, n);
        rows[s] = device_.as<int32_t>() + ref.id * stride_;
    }
    if (deferred) used_in_window_ = true;
}

void BlockTables::flush(HostRing &ring, cudaStream_t stream) {
    if (!resend_ && patches_.size() * sizeof(kv::TablePatch) > kPiece) resend_ = true;
    if (resend_) {
        const size_t bytes = shadow_.size() * sizeof(int32_t);
        for (size_t done = 0; done < bytes; done += kPiece) {
            const size_t n = std::min(kPiece, bytes - done);
            std::memcpy(ring.acquire(n), reinterpret_cast<const char *>(shadow_.data()) + done, n);
            ring.send(device_.as<char>() + done, n, stream);
        }
    } else if (!patches_.empty()) {
        // An entry changed twice since the last flush (a step was dropped in between) is
        // written once, with its latest value: the kernel's writes have no order.
        std::stable_sort(
            patches_.begin(), patches_.end(),
            [](const kv::TablePatch &a, const kv::TablePatch &b) { return a.index < b.index; });
        size_t kept = 0;
        for (size_t i = 0; i < patches_.size(); ++i) {
            if (kept > 0 && patches_[kept - 1].index == patches_[i].index) --kept;
            patches_[kept++] = patches_[i];
        }
        patches_.resize(kept);
        const size_t bytes = kept * sizeof(kv::TablePatch);
        if (patch_buffer_.bytes() < bytes) {
            check(cudaStreamSynchronize(stream), "block tables: growing the patch buffer");
            patch_buffer_ = DeviceBuffer(grown_size(patch_buffer_.bytes(), bytes),
                                         "the KV block table patches");
        }
        std::memcpy(ring.acquire(bytes), patches_.data(), bytes);
        ring.send(patch_buffer_.get(), bytes, stream);
        kv::patch_tables(device_.as<int32_t>(), patch_buffer_.as<kv::TablePatch>(),
                         static_cast<int32_t>(kept), stream);
    }
    resend_ = false;
    patches_.clear();
    ++window_;
    used_in_window_ = false;
}

}  // namespace cab::cuda
