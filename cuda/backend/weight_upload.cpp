#include "backend/weight_upload.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "backend/device_memory.h"
#include "model/ggml_types.h"
#include "util/error.h"

namespace cab::cuda {

namespace {

// Pinned buffer size: large enough that a copy amortises its launch, small enough to pin fast.
constexpr size_t kPieceBytes = size_t{32} << 20;
// Elements below which a thread is not worth starting.
constexpr int64_t kMinElementsPerThread = int64_t{1} << 16;

using Part = Backend::WeightSource::Part;

// Converts rows [first, last) of `src` into dst (row `first` of the output): BF16 for a matrix,
// F32 for a vector.
void convert_rows(const Part &src, size_t src_row_bytes, int64_t first, int64_t last, bool to_f32,
                  void *dst) {
    const char *in =
        static_cast<const char *>(src.data) + static_cast<size_t>(first) * src_row_bytes;
    const size_t cols = static_cast<size_t>(src.cols);
    if (to_f32) {
        float *out = static_cast<float *>(dst);
        for (int64_t r = first; r < last; ++r, in += src_row_bytes, out += cols)
            ggml::dequantize_row(src.type, in, out, src.cols);
        return;
    }
    uint16_t *out = static_cast<uint16_t *>(dst);
    if (src.type == ggml::Type::BF16) {
        std::memcpy(out, in, static_cast<size_t>(last - first) * src_row_bytes);
        return;
    }
    std::vector<float> row(src.type == ggml::Type::F32 ? 0 : cols);
    for (int64_t r = first; r < last; ++r, in += src_row_bytes, out += cols) {
        const float *f = reinterpret_cast<const float *>(in);
        if (src.type != ggml::Type::F32) {
            ggml::dequantize_row(src.type, in, row.data(), src.cols);
            f = row.data();
        }
        for (size_t c = 0; c < cols; ++c) out[c] = ggml::f32_to_bf16(f[c]);
    }
}

// Runs fn(begin, end) over [0, n) rows of `cols` elements on up to hardware_concurrency threads
// (the calling one included) and rethrows the first error.
template <class Fn>
void parallel_rows(int64_t n, int64_t cols, const Fn &fn) {
    const int64_t hw = std::max(1u, std::thread::hardware_concurrency());
    const int64_t threads =
        std::min({hw, n, std::max<int64_t>(1, n * cols / kMinElementsPerThread)});
    if (threads <= 1) {
        fn(int64_t{0}, n);
        return;
    }
    const int64_t per = (n + threads - 1) / threads;
    std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
    auto run = [&](int64_t t) {
        try {
            fn(t * per, std::min(n, (t + 1) * per));
        } catch (...) {
            errors[static_cast<size_t>(t)] = std::current_exception();
        }
    };
    std::vector<std::thread> workers;
    try {
        for (int64_t t = 1; t < threads && t * per < n; ++t) workers.emplace_back(run, t);
    } catch (...) {
        for (std::thread &w : workers) w.join();
        throw;
    }
    run(0);
    for (std::thread &w : workers) w.join();
    for (const std::exception_ptr &e : errors)
        if (e) std::rethrow_exception(e);
}

// Two pinned buffers used in turn: the host fills one while the other's copy runs.
class Pipeline {
public:
    explicit Pipeline(size_t bytes) : stream_(make_stream()) {
        for (int i = 0; i < 2; ++i) {
            buffers_[i] = PinnedBuffer(bytes, "weight upload staging");
            copied_[i] = make_event();
        }
    }
    // Copies from the buffers may still be queued; they must end before the buffers are freed.
    ~Pipeline() { cudaStreamSynchronize(stream_.get()); }
    Pipeline(const Pipeline &) = delete;
    Pipeline &operator=(const Pipeline &) = delete;

    // The next buffer, once the copy last issued from it is done.
    void *next() {
        check(cudaEventSynchronize(copied_[turn_].get()), "weight upload: waiting for a copy");
        return buffers_[turn_].get();
    }
    // Copies `bytes` of the buffer next() gave to `device`, then moves to the other buffer.
    void send(void *device, size_t bytes) {
        check(cudaMemcpyAsync(device, buffers_[turn_].get(), bytes, cudaMemcpyHostToDevice,
                              stream_.get()),
              "weight upload: host-to-device copy");
        check(cudaEventRecord(copied_[turn_].get(), stream_.get()), "weight upload: event");
        turn_ ^= 1;
    }
    void finish() { check(cudaStreamSynchronize(stream_.get()), "weight upload"); }

private:
    StreamHandle stream_;
    PinnedBuffer buffers_[2];
    EventHandle copied_[2];
    int turn_ = 0;
};

}  // namespace

std::vector<Tensor> upload_weights(const std::vector<Backend::WeightSource> &sources,
                                   const std::function<bool(size_t, size_t)> &progress,
                                   const AllocFn &alloc) {
    size_t largest = 0, widest_row = 0;
    for (size_t t = 0; t < sources.size(); ++t) {
        const Backend::WeightSource &src = sources[t];
        const size_t esize = src.rows == 1 ? 4 : 2;
        int64_t elements = 0;
        for (const Part &p : src.parts) {
            require(p.rows >= 1 && p.cols >= 1 && p.data, CAB_ERR_INVALID_ARGUMENT,
                    "weight " + std::to_string(t) + ": " + std::to_string(p.rows) + " x " +
                        std::to_string(p.cols) + " with " + (p.data ? "data" : "no data"));
            const ggml::TypeTraits &tr = ggml::traits(p.type);
            require(tr.dequantizable, CAB_ERR_UNSUPPORTED,
                    "weight " + std::to_string(t) + ": type " + tr.name +
                        " cannot be converted for the CUDA backend");
            elements += p.rows * p.cols;
            widest_row = std::max(widest_row, static_cast<size_t>(p.cols) * esize);
        }
        require(!src.parts.empty() && elements == src.rows * src.cols, CAB_ERR_INVALID_ARGUMENT,
                "weight " + std::to_string(t) + ": parts of " + std::to_string(elements) +
                    " elements for a " + std::to_string(src.rows) + " x " +
                    std::to_string(src.cols) + " tensor");
        largest = std::max(largest, static_cast<size_t>(elements) * esize);
    }
    std::vector<Tensor> out;
    out.reserve(sources.size());
    if (sources.empty()) return out;
    // Declared after `out`, so destroyed first: its destructor waits for copies into the tensors.
    const size_t piece = std::max(std::min(kPieceBytes, largest), widest_row);
    Pipeline pipe(piece);
    for (size_t t = 0; t < sources.size(); ++t) {
        const Backend::WeightSource &src = sources[t];
        const bool vector = src.rows == 1;
        out.push_back(alloc(vector ? DType::F32 : DType::BF16, src.rows, src.cols));
        const Tensor &dst = out.back();
        // Each part fills the next elements of dst (backend.h).
        char *part_dst = static_cast<char *>(dst.data());
        for (const Part &part : src.parts) {
            const size_t src_row = ggml::row_bytes(part.type, part.cols),
                         dst_row = static_cast<size_t>(part.cols) * dtype_size(dst.dtype());
            const int64_t rows_per_piece =
                static_cast<int64_t>(std::max<size_t>(1, piece / dst_row));
            for (int64_t first = 0; first < part.rows; first += rows_per_piece) {
                const int64_t n = std::min(rows_per_piece, part.rows - first);
                char *host = static_cast<char *>(pipe.next());
                parallel_rows(n, part.cols, [&](int64_t b, int64_t e) {
                    convert_rows(part, src_row, first + b, first + e, vector,
                                 host + static_cast<size_t>(b) * dst_row);
                });
                pipe.send(part_dst + static_cast<size_t>(first) * dst_row,
                          static_cast<size_t>(n) * dst_row);
            }
            part_dst += static_cast<size_t>(part.rows) * dst_row;
        }
        if (progress && !progress(t + 1, sources.size()))
            fail(CAB_ERR_STATE, "model load cancelled by the progress callback");
    }
    pipe.finish();
    return out;
}

}  // namespace cab::cuda
