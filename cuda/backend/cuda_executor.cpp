#include "backend/cuda_executor.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "activation.cuh"
#include "backend/tensor_checks.h"
#include "elementwise.cuh"
#include "embedding.cuh"
#include "model/ggml_types.h"
#include "model/model.h"
#include "norm.cuh"
#include "pos_enc.cuh"
#include "sampling.cuh"

namespace cab::cuda {

namespace {

// Transfers go through pinned memory in pieces of at most these sizes, so that it stays small:
// uploads through the staging ring (16 chunks), downloads through one buffer.
constexpr size_t kUploadPiece = size_t{1} << 20;
constexpr size_t kDownloadPiece = size_t{8} << 20;

enum OpKind : uint64_t { kEmbedding = 1, kMatmul, kRmsnorm, kRope, kSwiglu, kAdd };

int select_device(int gpu) {
    check(cudaSetDevice(gpu), "cudaSetDevice");
    return gpu;
}

// A switch of the environment: on unless set to "0".
bool env_enabled(const char *name) {
    const char *v = std::getenv(name);
    return !(v && std::strcmp(v, "0") == 0);
}

}  // namespace

pos_enc::RopeStyle CudaExecutor::rope_style(RopeStyle s) {
    return s == RopeStyle::NeoX ? pos_enc::RopeStyle::NeoX : pos_enc::RopeStyle::Normal;
}

CudaExecutor::CudaExecutor(int gpu)
    : gpu_(select_device(gpu)),
      stream_(make_stream()),
      gemm_(stream_.get()),
      gemv_(env_enabled("CAB_CUDA_GEMV")),
      qkv_rope_(env_enabled("CAB_CUDA_QKV_ROPE")),
      pdl_(env_enabled("CAB_CUDA_PDL")),
      mirror_tables_(env_enabled("CAB_CUDA_BLOCK_TABLES")),
      graphs_(env_enabled("CAB_CUDA_GRAPHS"), stream_.get()) {}

CudaExecutor::~CudaExecutor() {
    cudaSetDevice(gpu_);
    graphs_.abort();
    // Queued work may still use the buffers freed next.
    cudaStreamSynchronize(stream_.get());
}

CudaExecutor::Staging CudaExecutor::begin_op(const char *name, uint64_t signature, size_t bytes) {
    if (graphs_.mode() != DecodeGraphs::Mode::Eager) {
        if (bytes > 0) staged_ = {};
        return graphs_.op(signature, bytes, name);
    }
    if (bytes == 0) return {};
    staged_ = {};
    Staging s;
    s.host = ring_.acquire(bytes);
    s.device = eager_inputs(bytes);
    return s;
}

void CudaExecutor::send(const Staging &s, size_t bytes) {
    if (graphs_.mode() == DecodeGraphs::Mode::Eager && bytes > 0)
        ring_.send(s.device, bytes, stream());
}

void CudaExecutor::leave_step() {
    if (graphs_.in_step()) graphs_.abort();
    staged_ = {};
}

void *CudaExecutor::eager_buffer(DeviceBuffer &buffer, size_t bytes, const char *what) {
    if (buffer.bytes() < bytes) {
        // Ops queued before may still read the old buffer.
        check(cudaStreamSynchronize(stream()), what);
        buffer = DeviceBuffer(grown_size(buffer.bytes(), bytes), what);
    }
    return buffer.get();
}

void *CudaExecutor::eager_inputs(size_t bytes) {
    return eager_buffer(eager_inputs_, bytes, "op inputs");
}

void *CudaExecutor::scratch(size_t bytes) {
    return eager_buffer(scratch_, bytes, "the executor scratch");
}

void *CudaExecutor::graph_buffer(DeviceBuffer &buffer, size_t bytes, const char *what) {
    if (buffer.bytes() < bytes) {
        DeviceBuffer next(grown_size(buffer.bytes(), bytes), what);
        if (graphs_.holds_graphs()) {
            retired_.push_back(std::move(buffer));
        } else {
            check(cudaStreamSynchronize(stream()), what);
        }
        buffer = std::move(next);
    }
    return buffer.get();
}

void *CudaExecutor::decode_workspace(size_t bytes) {
    return graph_buffer(decode_ws_, bytes, "the attention decode workspace");
}

void CudaExecutor::read_back(const void *device, void *host, size_t bytes) {
    if (bytes == 0) return;
    const size_t piece = std::min(bytes, kDownloadPiece);
    if (readback_.bytes() < piece)
        readback_ = PinnedBuffer(grown_size(readback_.bytes(), piece), "device-to-host copies");
    for (size_t done = 0; done < bytes; done += piece) {
        const size_t n = std::min(piece, bytes - done);
        check(cudaMemcpyAsync(readback_.get(), static_cast<const char *>(device) + done, n,
                              cudaMemcpyDeviceToHost, stream()),
              "device-to-host copy");
        // Also where errors of earlier asynchronous ops surface.
        check(cudaStreamSynchronize(stream()),
              "device-to-host copy (or an earlier asynchronous op on the GPU)");
        std::memcpy(static_cast<char *>(host) + done, readback_.get(), n);
    }
}

void CudaExecutor::step_begin(int32_t n_seqs, int32_t max_length, bool q8_appends) {
    guarded([&] {
        // guarded selects the device only outside a step, and an abandoned one may be open.
        if (graphs_.in_step()) check(cudaSetDevice(gpu_), "cudaSetDevice");
        staged_ = {};
        step_q8_appends_ = q8_appends;
        graphs_.begin(n_seqs, max_length, q8_appends ? 1 : 0);
        for (auto &t : tables_) t.second->new_window();
    });
}

void CudaExecutor::step_end() {
    guarded([&] {
        staged_ = {};
        // The block table changes that the step's ops queued, before the graph reads them.
        graphs_.end([this] {
            for (auto &t : tables_) t.second->flush(ring_, stream());
        });
    });
}

void CudaExecutor::step_abort() noexcept {
    graphs_.abort();
    staged_ = {};
}

void CudaExecutor::upload(const float *src, const Tensor &dst) {
    guarded([&] {
        leave_step();
        if (dst.empty() || (dst.dtype() != DType::F32 && dst.dtype() != DType::BF16))
            fail(CAB_ERR_INVALID_ARGUMENT,
                 "upload: destination " + shape(dst) + " is not an F32 or BF16 tensor");
        require_dense(dst, "upload", "destination");
        const size_t n = static_cast<size_t>(dst.rows()) * static_cast<size_t>(dst.cols());
        const size_t esize = dtype_size(dst.dtype()), per_piece = kUploadPiece / esize;
        for (size_t done = 0; done < n; done += per_piece) {
            const size_t count = std::min(per_piece, n - done);
            void *host = ring_.acquire(count * esize);
            if (dst.dtype() == DType::F32) {
                std::memcpy(host, src + done, count * 4);
            } else {
                uint16_t *h = static_cast<uint16_t *>(host);
                for (size_t i = 0; i < count; ++i) h[i] = ggml::f32_to_bf16(src[done + i]);
            }
            ring_.send(static_cast<char *>(dst.data()) + done * esize, count * esize, stream());
        }
    });
}

void CudaExecutor::download(const Tensor &src, float *dst) {
    guarded([&] {
        leave_step();
        const size_t n = static_cast<size_t>(src.rows()) * static_cast<size_t>(src.cols());
        require_dense(src, "download", "source");
        if (!src.empty() && src.dtype() == DType::F32) {
            read_back(src.data(), dst, n * 4);
            return;
        }
        require_dtype(src, DType::BF16, "download", "source");
        float *tmp = static_cast<float *>(scratch(n * 4));
        elementwise::bf16_to_f32(src.data(), tmp, static_cast<int64_t>(n), stream());
        read_back(tmp, dst, n * 4);
    });
}

void CudaExecutor::embedding(const Tensor &table, const int32_t *tokens, const Tensor &out) {
    guarded([&] {
        require_dtype(table, DType::BF16, "embedding", "table");
        require_dtype(out, DType::F32, "embedding", "out");
        if (table.cols() != out.cols())
            fail(CAB_ERR_INVALID_ARGUMENT, "embedding: table " + shape(table) + " and out " +
                                               shape(out) + " differ in columns");
        const int32_t rows = to_i32(out.rows(), "embedding", "rows");
        for (int32_t i = 0; i < rows; ++i)
            if (!(tokens[i] >= 0 && tokens[i] < table.rows()))
                fail(CAB_ERR_INVALID_ARGUMENT,
                     "embedding: token " + std::to_string(tokens[i]) + " at " + std::to_string(i) +
                         " is outside the table's " + std::to_string(table.rows()) + " rows");
        const size_t bytes = static_cast<size_t>(rows) * 4;
        const Staging s = begin_op("embedding",
                                   op_signature({kEmbedding, sig_ptr(table.data()),
                                                 sig_ptr(out.data()), static_cast<uint64_t>(rows)}),
                                   bytes);
        if (bytes > 0) std::memcpy(s.host, tokens, bytes);
        send(s, bytes);
        if (!launching() || rows == 0) return;
        embedding::gather(table.data(), static_cast<const int32_t *>(s.device), out.as<float>(),
                          rows, to_i32(out.cols(), "embedding", "cols"), stream());
    });
}

void CudaExecutor::matmul(const Tensor &x, const Tensor &w, const Tensor *bias, const Tensor &y) {
    guarded([&] {
        require_view(x, DType::BF16, "matmul", "x");
        require_dtype(w, DType::BF16, "matmul", "w");
        if (y.empty() || (y.dtype() != DType::BF16 && y.dtype() != DType::F32))
            fail(CAB_ERR_INVALID_ARGUMENT, "matmul: y " + shape(y) + " is not BF16 or F32");
        require_dense(y, "matmul", "y");
        if (!(x.cols() == w.cols() && y.rows() == x.rows() && y.cols() == w.rows()))
            fail(CAB_ERR_INVALID_ARGUMENT,
                 "matmul: x " + shape(x) + " . w " + shape(w) + "^T does not fit y " + shape(y));
        if (bias) {
            require_dtype(*bias, DType::F32, "matmul", "bias");
            if (!(bias->rows() == 1 && bias->cols() == w.rows()))
                fail(CAB_ERR_INVALID_ARGUMENT,
                     "matmul: bias " + shape(*bias) + " does not fit w " + shape(w));
        }
        const bool y_f32 = y.dtype() == DType::F32;
        begin_op("matmul",
                 op_signature({kMatmul, sig_ptr(x.data()), static_cast<uint64_t>(x.stride()),
                               sig_ptr(w.data()), sig_ptr(y.data()),
                               sig_ptr(bias ? bias->data() : nullptr),
                               static_cast<uint64_t>(x.rows()), y_f32}),
                 0);
        if (!launching() || x.rows() == 0) return;
        if (!bias) {
            gemm_.run(x.data(), x.stride(), w.data(), y.data(), y_f32, x.rows(), w.rows(),
                      w.cols());
            return;
        }
        const int32_t rows = to_i32(y.rows(), "matmul", "rows"),
                      cols = to_i32(y.cols(), "matmul", "cols");
        // The bias is added to the fp32 product and the sum rounded once: rounding the product
        // to bf16 first loses up to half a bf16 step of the product, which is most of the
        // result where a large bias cancels it (Qwen2's key biases).
        float *sum = y_f32 ? y.as<float>()
                           : static_cast<float *>(graph_buffer(
                                 bias_sum_, static_cast<size_t>(rows) * cols * sizeof(float),
                                 "the matmul bias buffer"));
        gemm_.run(x.data(), x.stride(), w.data(), sum, true, x.rows(), w.rows(), w.cols());
        if (y_f32) {
            elementwise::add_bias_f32(sum, bias->as<float>(), rows, cols, stream());
        } else {
            elementwise::add_bias_round(sum, bias->as<float>(), y.data(), rows, cols, stream());
        }
    });
}

void CudaExecutor::rmsnorm(const Tensor &x, const Tensor &w, float eps, const Tensor &y) {
    guarded([&] {
        if (x.empty() || (x.dtype() != DType::F32 && x.dtype() != DType::BF16))
            fail(CAB_ERR_INVALID_ARGUMENT, "rmsnorm: x " + shape(x) + " is not F32 or BF16");
        require_dense(x, "rmsnorm", "x");
        require_dtype(w, DType::F32, "rmsnorm", "w");
        require_dtype(y, DType::BF16, "rmsnorm", "y");
        require_same_shape(x, y, "rmsnorm", "x and y");
        if (!(w.rows() == 1 && w.cols() == x.cols()))
            fail(CAB_ERR_INVALID_ARGUMENT,
                 "rmsnorm: weight " + shape(w) + " does not fit x " + shape(x));
        begin_op("rmsnorm",
                 op_signature({kRmsnorm, sig_ptr(x.data()), sig_ptr(w.data()), sig_ptr(y.data()),
                               static_cast<uint64_t>(x.rows())}),
                 0);
        if (!launching() || x.rows() == 0) return;
        const int32_t rows = to_i32(x.rows(), "rmsnorm", "rows"),
                      cols = to_i32(x.cols(), "rmsnorm", "cols");
        if (x.dtype() == DType::F32) {
            norm::rmsnorm_f32(x.as<float>(), w.as<float>(), y.data(), rows, cols, eps, stream());
        } else {
            norm::rmsnorm_bf16(x.data(), w.as<float>(), y.data(), rows, cols, eps, stream());
        }
    });
}

void CudaExecutor::rope(const Tensor &x, int32_t n_head, const int32_t *positions,
                        const RopeParams &params) {
    guarded([&] {
        require_view(x, DType::BF16, "rope", "x");
        if (!(n_head > 0 && x.cols() % n_head == 0))
            fail(CAB_ERR_INVALID_ARGUMENT,
                 "rope: x " + shape(x) + " does not hold " + std::to_string(n_head) + " heads");
        const int32_t rows = to_i32(x.rows(), "rope", "rows");
        const size_t bytes = static_cast<size_t>(rows) * 4;
        const Staging s =
            begin_op("rope",
                     op_signature({kRope, sig_ptr(x.data()), static_cast<uint64_t>(x.stride()),
                                   static_cast<uint64_t>(rows), static_cast<uint64_t>(n_head)}),
                     bytes);
        if (bytes > 0) std::memcpy(s.host, positions, bytes);
        send(s, bytes);
        if (!launching() || rows == 0) return;
        pos_enc::RopeArgs a;
        a.x = x.data();
        a.stride = x.stride();
        a.positions = static_cast<const int32_t *>(s.device);
        a.n_tokens = rows;
        a.n_heads = n_head;
        a.head_dim = static_cast<int32_t>(x.cols() / n_head);
        a.theta = params.theta;
        a.freq_scale = params.freq_scale;
        a.style = rope_style(params.style);
        pos_enc::rope(a, stream());
    });
}

void CudaExecutor::swiglu(const Tensor &gate, const Tensor &up, const Tensor &out) {
    guarded([&] {
        require_view(gate, DType::BF16, "swiglu", "gate");
        require_view(up, DType::BF16, "swiglu", "up");
        require_view(out, DType::BF16, "swiglu", "out");
        require_same_shape(gate, up, "swiglu", "gate and up");
        require_same_shape(gate, out, "swiglu", "gate and out");
        begin_op(
            "swiglu",
            op_signature({kSwiglu, sig_ptr(gate.data()), sig_ptr(up.data()), sig_ptr(out.data()),
                          static_cast<uint64_t>(gate.rows()), static_cast<uint64_t>(gate.stride()),
                          static_cast<uint64_t>(up.stride()), static_cast<uint64_t>(out.stride())}),
            0);
        if (!launching()) return;
        activation::swiglu_rows(gate.data(), up.data(), out.data(), gate.rows(), gate.cols(),
                                gate.stride(), up.stride(), out.stride(), stream());
    });
}

void CudaExecutor::add(const Tensor &x, const Tensor &y) {
    guarded([&] {
        require_dtype(x, DType::F32, "add", "x");
        require_dtype(y, DType::BF16, "add", "y");
        require_same_shape(x, y, "add", "x and y");
        begin_op("add",
                 op_signature(
                     {kAdd, sig_ptr(x.data()), sig_ptr(y.data()), static_cast<uint64_t>(x.rows())}),
                 0);
        if (!launching()) return;
        elementwise::add_to_f32(x.as<float>(), y.data(), x.rows() * x.cols(), stream());
    });
}

void CudaExecutor::argmax(const Tensor &x, int32_t *host_out) {
    guarded([&] {
        leave_step();
        require_dtype(x, DType::F32, "argmax", "x");
        const int32_t rows = to_i32(x.rows(), "argmax", "rows"),
                      cols = to_i32(x.cols(), "argmax", "cols");
        if (rows == 0) return;
        auto *out = static_cast<int32_t *>(scratch(static_cast<size_t>(rows) * sizeof(int32_t)));
        sampling::argmax(x.as<float>(), x.cols(), rows, cols, out, stream());
        read_back(out, host_out, static_cast<size_t>(rows) * sizeof(int32_t));
    });
}

}  // namespace cab::cuda
