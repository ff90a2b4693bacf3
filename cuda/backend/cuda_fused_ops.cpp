// The fused ops of a transformer block on the CUDA executor (backend.h). Up to gemv::kMaxRows rows
// a projection is one GEMV kernel with the RMSNorm before it and its epilogue (bias, SwiGLU,
// residual add, f32 logits, or RoPE with the KV append) fused; more rows, sizes the GEMV does not
// take, or CAB_CUDA_GEMV=0 go to the base class's composition of rmsnorm, cuBLAS and swiglu,
// except matmul_add, which cuBLAS then accumulates straight into the residual. RoPE and KV append
// are otherwise one kernel.
#include <cstring>
#include <string>

#include "backend/cuda_executor.h"
#include "backend/tensor_checks.h"
#include "gemv/gemv.cuh"
#include "kv/kv_q8.cuh"
#include "kv/rope_append.cuh"
#include "model/model.h"

namespace cab::cuda {

namespace {

enum OpKind : uint64_t {
    kRmsnormMatmul = 201,
    kRmsnormMatmulSwiglu,
    kMatmulAdd,
    kRopeKvAppend,
    kRopePositions,
    kQkvRopeAppend
};

uint64_t float_bits(float f) {
    uint32_t u = 0;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

// The normed input of rmsnorm_matmul(_swiglu): x F32 [n, k], norm_w F32 [1, k], w BF16 [., k],
// the scratch xn BF16 [n, k]; all dense.
void check_norm_input(const Tensor &x, const Tensor &norm_w, const Tensor &w, const Tensor &xn,
                      const char *op) {
    require_dtype(x, DType::F32, op, "x");
    require_dtype(norm_w, DType::F32, op, "norm_w");
    require_shape(norm_w, 1, x.cols(), op, "norm_w");
    require_dtype(w, DType::BF16, op, "w");
    if (w.cols() != x.cols())
        fail(CAB_ERR_INVALID_ARGUMENT,
             std::string(op) + ": w " + shape(w) + " does not take rows of x " + shape(x));
    require_dtype(xn, DType::BF16, op, "xn");
    require_same_shape(x, xn, op, "x and xn");
}

gemv::Args norm_gemv(const Tensor &x, const Tensor &norm_w, float eps, const Tensor &w,
                     const char *op) {
    gemv::Args a;
    a.input = gemv::Input::RmsNorm;
    a.rows = to_i32(x.rows(), op, "rows");
    a.k = to_i32(x.cols(), op, "cols");
    a.w = w.data();
    a.x = x.as<float>();
    a.norm_w = norm_w.as<float>();
    a.eps = eps;
    return a;
}

}  // namespace

void CudaExecutor::rmsnorm_matmul(const Tensor &x, const Tensor &norm_w, float eps, const Tensor &w,
                                  const Tensor *bias, const Tensor &xn, const Tensor &y) {
    const char *op = "rmsnorm_matmul";
    bool fused = false;
    guarded([&] {
        check_norm_input(x, norm_w, w, xn, op);
        if (bias) {
            require_dtype(*bias, DType::F32, op, "bias");
            require_shape(*bias, 1, w.rows(), op, "bias");
        }
        if (y.empty() || (y.dtype() != DType::BF16 && y.dtype() != DType::F32))
            fail(CAB_ERR_INVALID_ARGUMENT,
                 std::string(op) + ": y " + shape(y) + " is not BF16 or F32");
        require_dense(y, op, "y");
        require_shape(y, x.rows(), w.rows(), op, "y");
        gemv::Args a = norm_gemv(x, norm_w, eps, w, op);
        const bool y_f32 = y.dtype() == DType::F32;
        a.epilogue = y_f32 ? gemv::Epilogue::F32 : gemv::Epilogue::Bf16;
        a.m = to_i32(w.rows(), op, "w rows");
        a.bias = bias ? bias->as<float>() : nullptr;
        a.y = y.data();
        a.y_stride = y.cols();
        a.pdl = pdl_;
        fused = gemv_ && gemv::supported(a);
        if (!fused) return;
        begin_op(op,
                 op_signature({kRmsnormMatmul, sig_ptr(x.data()), sig_ptr(norm_w.data()),
                               float_bits(eps), sig_ptr(w.data()), sig_ptr(a.bias),
                               sig_ptr(y.data()), static_cast<uint64_t>(a.rows), y_f32}),
                 0);
        if (!launching()) return;
        gemv::launch(a, stream());
    });
    if (!fused) Executor::rmsnorm_matmul(x, norm_w, eps, w, bias, xn, y);
}

void CudaExecutor::rmsnorm_matmul_swiglu(const Tensor &x, const Tensor &norm_w, float eps,
                                         const Tensor &w_gate_up, const Tensor &xn,
                                         const Tensor &gu, const Tensor &out) {
    const char *op = "rmsnorm_matmul_swiglu";
    bool fused = false;
    guarded([&] {
        check_norm_input(x, norm_w, w_gate_up, xn, op);
        if (w_gate_up.rows() % 2 != 0)
            fail(CAB_ERR_INVALID_ARGUMENT, std::string(op) + ": w_gate_up " + shape(w_gate_up) +
                                               " does not stack gate and up rows of one size");
        const int64_t n_ff = w_gate_up.rows() / 2;
        require_dtype(gu, DType::BF16, op, "gu");
        require_shape(gu, x.rows(), 2 * n_ff, op, "gu");
        require_view(out, DType::BF16, op, "out");
        require_shape(out, x.rows(), n_ff, op, "out");
        gemv::Args a = norm_gemv(x, norm_w, eps, w_gate_up, op);
        a.epilogue = gemv::Epilogue::Swiglu;
        a.m = to_i32(n_ff, op, "n_ff");
        a.y = out.data();
        a.y_stride = out.stride();
        a.pdl = pdl_;
        fused = gemv_ && gemv::supported(a);
        if (!fused) return;
        begin_op(op,
                 op_signature({kRmsnormMatmulSwiglu, sig_ptr(x.data()), sig_ptr(norm_w.data()),
                               float_bits(eps), sig_ptr(w_gate_up.data()), sig_ptr(out.data()),
                               static_cast<uint64_t>(out.stride()), static_cast<uint64_t>(a.rows)}),
                 0);
        if (!launching()) return;
        gemv::launch(a, stream());
    });
    if (!fused) Executor::rmsnorm_matmul_swiglu(x, norm_w, eps, w_gate_up, xn, gu, out);
}

void CudaExecutor::matmul_add(const Tensor &a, const Tensor &w, const Tensor &x, const Tensor &t) {
    const char *op = "matmul_add";
    guarded([&] {
        require_view(a, DType::BF16, op, "a");
        require_dtype(w, DType::BF16, op, "w");
        if (w.cols() != a.cols())
            fail(CAB_ERR_INVALID_ARGUMENT,
                 std::string(op) + ": w " + shape(w) + " does not take rows of a " + shape(a));
        require_dtype(x, DType::F32, op, "x");
        require_shape(x, a.rows(), w.rows(), op, "x");
        require_dtype(t, DType::BF16, op, "t");
        require_same_shape(x, t, op, "x and t");
        gemv::Args g;
        g.input = gemv::Input::Bf16;
        g.epilogue = gemv::Epilogue::AddF32;
        g.rows = to_i32(a.rows(), op, "rows");
        g.m = to_i32(w.rows(), op, "w rows");
        g.k = to_i32(w.cols(), op, "w cols");
        g.w = w.data();
        g.a = a.data();
        g.a_stride = a.stride();
        g.y = x.data();
        g.y_stride = x.cols();
        g.pdl = pdl_;
        const bool fused = gemv_ && gemv::supported(g);
        begin_op(op,
                 op_signature({kMatmulAdd, sig_ptr(a.data()), static_cast<uint64_t>(a.stride()),
                               sig_ptr(w.data()), sig_ptr(x.data()), static_cast<uint64_t>(g.rows),
                               fused}),
                 0);
        if (!launching() || g.rows == 0) return;
        if (fused) {
            gemv::launch(g, stream());
        } else {
            gemm_.accumulate(a.data(), a.stride(), w.data(), x.as<float>(), a.rows(), w.rows(),
                             w.cols());
        }
    });
}

const int32_t *CudaExecutor::stage_ints(const char *name, uint64_t signature, const int32_t *host,
                                        int32_t n) {
    const size_t bytes = static_cast<size_t>(n) * sizeof(int32_t);
    if (graphs_.mode() != DecodeGraphs::Mode::Eager) {
        const Staging s = begin_op(name, signature, bytes);
        if (bytes > 0) std::memcpy(s.host, host, bytes);
        return static_cast<const int32_t *>(s.device);
    }
    if (bytes == 0) return nullptr;
    void *h = ring_.acquire(bytes);
    std::memcpy(h, host, bytes);
    void *d = eager_buffer(eager_ints_, bytes, "op inputs");
    ring_.send(d, bytes, stream());
    return static_cast<const int32_t *>(d);
}

kv::RopeTarget CudaExecutor::rope_target(const DevicePool &pool, int32_t rows_per_seq,
                                         int32_t n_head, int32_t n_head_kv,
                                         const RopeParams &params) {
    kv::RopeTarget t;
    t.pool = pool;
    t.rows_per_seq = rows_per_seq;
    t.n_head = n_head;
    t.n_head_kv = n_head_kv;
    t.theta = params.theta;
    t.freq_scale = params.freq_scale;
    t.style = rope_style(params.style);
    return t;
}

void CudaExecutor::rope_kv_append(const KvPoolRef &pool, const StreamRef *streams, int32_t n_seqs,
                                  int32_t rows_per_seq, const Tensor &q, int32_t n_head,
                                  const Tensor &k, const Tensor &v, int32_t n_head_kv,
                                  const int32_t *positions, const RopeParams &params) {
    const char *op = "rope_kv_append";
    guarded([&] {
        DevicePool dp = device_pool(pool, op);
        if (dp.head_dim % 2 != 0 || dp.head_dim > 256)
            fail(CAB_ERR_INVALID_ARGUMENT, std::string(op) + ": head_dim " +
                                               std::to_string(dp.head_dim) +
                                               " must be even and at most 256");
        require_view(q, DType::BF16, op, "q");
        require_view(k, DType::BF16, op, "k");
        require_view(v, DType::BF16, op, "v");
        if (!(n_seqs > 0 && rows_per_seq > 0 && n_head > 0 && n_head_kv > 0))
            fail(CAB_ERR_INVALID_ARGUMENT,
                 std::string(op) + ": n_seqs " + std::to_string(n_seqs) + ", rows_per_seq " +
                     std::to_string(rows_per_seq) + ", n_head " + std::to_string(n_head) +
                     " and n_head_kv " + std::to_string(n_head_kv) + " must be positive");
        const int64_t rows = int64_t{n_seqs} * rows_per_seq;
        require_shape(q, rows, int64_t{n_head} * dp.head_dim, op, "q");
        require_shape(k, rows, int64_t{n_head_kv} * dp.head_dim, op, "k");
        require_shape(v, rows, int64_t{n_head_kv} * dp.head_dim, op, "v");
        const int32_t n = to_i32(rows, op, "rows");
        dp = append_pool(pool, streams, n_seqs * n_head_kv, rows_per_seq, op);
        const uint64_t signature = op_signature(
            {kRopeKvAppend, dp.q8 != nullptr, sig_ptr(q.data()), static_cast<uint64_t>(q.stride()),
             sig_ptr(k.data()), static_cast<uint64_t>(k.stride()), sig_ptr(v.data()),
             static_cast<uint64_t>(v.stride()), static_cast<uint64_t>(n_seqs),
             static_cast<uint64_t>(rows_per_seq), static_cast<uint64_t>(n_head),
             static_cast<uint64_t>(n_head_kv), static_cast<uint64_t>(params.style),
             float_bits(params.theta), float_bits(params.freq_scale)});
        // The positions first: the block tables staged last stay there for the attention that
        // follows over the same streams.
        const int32_t *pos = stage_ints("rope_kv_append positions",
                                        op_signature({kRopePositions, signature}), positions, n);
        const DeviceStreams st =
            stage_streams(op, signature, pool, streams, n_seqs * n_head_kv, rows_per_seq);
        if (!launching()) return;
        kv::RopeAppendArgs a;
        a.target = rope_target(dp, rows_per_seq, n_head, n_head_kv, params);
        a.target.streams = st.device;
        a.target.positions = pos;
        a.n_seqs = n_seqs;
        a.q = q.data();
        a.q_stride = q.stride();
        a.k = k.data();
        a.k_stride = k.stride();
        a.v = v.data();
        a.v_stride = v.stride();
        // Its positions and tables are read before the wait, so only where no copy of them comes
        // between it and the kernel before (a graph step; outside one it follows their copy, which
        // no launch overlaps anyway).
        a.pdl = pdl_ && graphs_.mode() != DecodeGraphs::Mode::Eager;
        kv::rope_append(a, stream());
    });
}

void CudaExecutor::rmsnorm_qkv_rope_append(const Tensor &x, const Tensor &norm_w, float eps,
                                           const Tensor &w_qkv, const Tensor *bias,
                                           const Tensor &xn, const Tensor &qkv,
                                           const KvPoolRef &pool, const StreamRef *streams,
                                           int32_t n_seqs, int32_t rows_per_seq, int32_t n_head,
                                           int32_t n_head_kv, const int32_t *positions,
                                           const RopeParams &params) {
    const char *op = "rmsnorm_qkv_rope_append";
    bool fused = false;
    guarded([&] {
        check_norm_input(x, norm_w, w_qkv, xn, op);
        if (bias) {
            require_dtype(*bias, DType::F32, op, "bias");
            require_shape(*bias, 1, w_qkv.rows(), op, "bias");
        }
        require_dtype(qkv, DType::BF16, op, "qkv");
        require_dense(qkv, op, "qkv");
        require_shape(qkv, x.rows(), w_qkv.rows(), op, "qkv");
        if (!(n_seqs > 0 && rows_per_seq > 0 && int64_t{n_seqs} * rows_per_seq == x.rows()))
            fail(CAB_ERR_INVALID_ARGUMENT, std::string(op) + ": n_seqs " + std::to_string(n_seqs) +
                                               " x rows_per_seq " + std::to_string(rows_per_seq) +
                                               " is not the " + std::to_string(x.rows()) +
                                               " rows of x");
        gemv::Args a = norm_gemv(x, norm_w, eps, w_qkv, op);
        a.epilogue = gemv::Epilogue::RopeAppend;
        a.m = to_i32(w_qkv.rows(), op, "w_qkv rows");
        a.bias = bias ? bias->as<float>() : nullptr;
        a.y = qkv.data();
        a.y_stride = qkv.cols();
        a.rope = rope_target(append_pool(pool, streams, n_seqs * n_head_kv, rows_per_seq, op),
                             rows_per_seq, n_head, n_head_kv, params);
        fused = gemv_ && qkv_rope_ && gemv::supported(a);
        if (!fused) return;
        const uint64_t signature =
            op_signature({kQkvRopeAppend, a.rope.pool.q8 != nullptr, sig_ptr(x.data()),
                          sig_ptr(norm_w.data()), float_bits(eps), sig_ptr(w_qkv.data()),
                          sig_ptr(a.bias), sig_ptr(qkv.data()), static_cast<uint64_t>(n_seqs),
                          static_cast<uint64_t>(rows_per_seq), static_cast<uint64_t>(n_head),
                          static_cast<uint64_t>(n_head_kv), static_cast<uint64_t>(params.style),
                          float_bits(params.theta), float_bits(params.freq_scale)});
        // The positions first: the block tables staged last stay there for the attention that
        // follows over the same streams.
        a.rope.positions = stage_ints("rmsnorm_qkv_rope_append positions",
                                      op_signature({kRopePositions, signature}), positions, a.rows);
        a.rope.streams =
            stage_streams(op, signature, pool, streams, n_seqs * n_head_kv, rows_per_seq).device;
        if (!launching()) return;
        // Outside a graph step the staged inputs are copied right before the launch, which then
        // has nothing to overlap.
        a.pdl = pdl_ && graphs_.mode() != DecodeGraphs::Mode::Eager;
        gemv::launch(a, stream());
        // Rows of int8 slots: the epilogue left them in qkv's k and v columns.
        if (a.rope.pool.q8) {
            const int64_t d = a.rope.pool.head_dim;
            const auto *y = static_cast<const char *>(a.y);
            kv::append_q8(a.rope.pool, a.rope.streams, n_head_kv, rows_per_seq, a.rows,
                          y + n_head * d * 2, y + (n_head + n_head_kv) * d * 2, a.y_stride, nullptr,
                          a.pdl, stream());
        }
    });
    if (!fused)
        Executor::rmsnorm_qkv_rope_append(x, norm_w, eps, w_qkv, bias, xn, qkv, pool, streams,
                                          n_seqs, rows_per_seq, n_head, n_head_kv, positions,
                                          params);
}

}  // namespace cab::cuda
