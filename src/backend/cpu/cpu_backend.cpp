// The CPU backend: host memory, weights dequantized to F32 at load, CpuExecutor for the ops.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "backend/backend.h"
#include "backend/cpu/cpu_executor.h"
#include "backend/cpu/thread_pool.h"
#include "util/error.h"
#include "util/parallel.h"

namespace cab {

namespace {

constexpr size_t kAlign = 64;  // cache line; also what SIMD loads like

// The machine's physical memory in bytes (0 if unknown).
size_t physical_memory() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : 0;
}

// A source's parts must fill its tensor exactly (backend.h).
void check_parts(const Backend::WeightSource &src, size_t index) {
    int64_t elements = 0;
    for (const Backend::WeightSource::Part &p : src.parts) {
        require(p.rows >= 1 && p.cols >= 1 && p.data, CAB_ERR_INVALID_ARGUMENT,
                "weight " + std::to_string(index) + ": a part of " + std::to_string(p.rows) +
                    " x " + std::to_string(p.cols) + " with " + (p.data ? "data" : "no data"));
        elements += p.rows * p.cols;
    }
    require(!src.parts.empty() && elements == src.rows * src.cols, CAB_ERR_INVALID_ARGUMENT,
            "weight " + std::to_string(index) + ": parts of " + std::to_string(elements) +
                " elements for a " + std::to_string(src.rows) + " x " + std::to_string(src.cols) +
                " tensor");
}

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(int32_t n_threads) : n_threads_(resolve_threads(n_threads)) {}

    const char *name() const override { return "cpu"; }
    DType act_dtype() const override { return DType::F32; }
    DType kv_dtype() const override { return DType::F32; }
    bool kv_q8_supported(Q8Type) const override { return true; }

    // Large buffers are mapped lazily by malloc, so a KV pool costs memory only as it fills.
    // One larger than the machine's memory could never be filled: it is refused here rather
    // than left to the kernel's overcommit setting (or a sanitizer's allocator, which aborts).
    Tensor alloc(DType dtype, int64_t rows, int64_t cols) override {
        static const size_t physical = physical_memory();
        size_t bytes = static_cast<size_t>(rows) * static_cast<size_t>(cols) * dtype_size(dtype);
        size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
        void *p = physical != 0 && rounded > physical
                      ? nullptr
                      : std::aligned_alloc(kAlign, rounded == 0 ? kAlign : rounded);
        if (!p)
            fail(CAB_ERR_OUT_OF_MEMORY, "CPU backend: cannot allocate " + std::to_string(bytes) +
                                            " bytes for a " + std::to_string(rows) + "x" +
                                            std::to_string(cols) + " tensor (the machine has " +
                                            std::to_string(physical) + " bytes of memory)");
        return Tensor(std::shared_ptr<void>(p, std::free), dtype, rows, cols);
    }

    std::vector<Tensor> load_weights(const std::vector<WeightSource> &sources,
                                     const std::function<bool(size_t, size_t)> &progress) override {
        cpu::ThreadPool pool(n_threads_);
        std::vector<Tensor> out;
        out.reserve(sources.size());
        for (size_t t = 0; t < sources.size(); ++t) {
            const WeightSource &src = sources[t];
            check_parts(src, t);
            Tensor dst = alloc(DType::F32, src.rows, src.cols);
            float *d = dst.as<float>();
            for (const WeightSource::Part &part : src.parts) {
                const size_t src_row = ggml::row_bytes(part.type, part.cols);
                const char *base = static_cast<const char *>(part.data);
                pool.parallel_for(part.rows, 64, [&](int64_t begin, int64_t end) {
                    for (int64_t r = begin; r < end; ++r)
                        ggml::dequantize_row(part.type, base + r * src_row, d + r * part.cols,
                                             part.cols);
                });
                d += part.rows * part.cols;
            }
            out.push_back(std::move(dst));
            if (progress && !progress(t + 1, sources.size()))
                fail(CAB_ERR_STATE, "model load cancelled by the progress callback");
        }
        return out;
    }

    std::unique_ptr<Executor> make_executor(int32_t n_threads) override {
        return std::make_unique<cpu::CpuExecutor>(resolve_threads(n_threads));
    }

private:
    int32_t n_threads_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int32_t n_threads) {
    return std::make_unique<CpuBackend>(n_threads);
}

}  // namespace cab
