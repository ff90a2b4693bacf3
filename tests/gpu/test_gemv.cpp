// The decode GEMV kernels (cuda/gemv) against a double-precision host reference built from the
// same bf16 inputs: every epilogue (bf16 with and without bias, f32 with and without bias, SwiGLU,
// residual add), rows 1..kMaxRows, the layer shapes of Qwen2.5-0.5B and 7B and odd ones (m odd,
// k not a multiple of 256, k smaller than one chunk), strided inputs and outputs, with and without
// programmatic dependent launch. Fresh random data each run (the seed is printed on failure).
// Outputs start poisoned (NaN) or, for the residual, random; elements outside the result (padding
// columns, the row after the last) must keep their bits.
//
// Tolerances: the fp32 dot may differ from the double one by 1e-5 of the sum of |terms|. The
// normed input is rounded to bf16 after fp32 math whose last bits (rsqrtf, the order of the sum of
// squares) the host cannot reproduce, so an element within 1e-5 of a bf16 rounding midpoint may
// round either way: the reference adds |w| times the two roundings' difference for each such
// element. A bf16 output adds one rounding (2^-8 relative); SwiGLU one for each of gate, up and
// the result.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "device_buffer.h"
#include "gemv/gemv.cuh"
#include "util/error.h"

namespace cab::gpu_test {
namespace {

namespace gemv = cab::cuda::gemv;
using gemv::Epilogue;
using gemv::Input;

constexpr double kDotRel = 1e-5;
constexpr double kAmbiguity = 1e-5;
constexpr double kBf16Rel = 1.0 / 256.0;

// Uniform values, fast enough for matrices of 10^8 elements.
class Uniform {
public:
    explicit Uniform(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull | 1u) {}
    float operator()(float lo, float hi) {
        s_ ^= s_ << 13;
        s_ ^= s_ >> 7;
        s_ ^= s_ << 17;
        return lo + (hi - lo) * static_cast<float>(s_ >> 40) * (1.0f / 16777216.0f);
    }

private:
    uint64_t s_;
};

std::vector<uint16_t> bf16_uniform(size_t n, float scale, Uniform &u) {
    std::vector<uint16_t> v(n);
    for (uint16_t &x : v) x = to_bf16(u(-scale, scale));
    return v;
}

std::vector<float> f32_uniform(size_t n, float lo, float hi, Uniform &u) {
    std::vector<float> v(n);
    for (float &x : v) x = u(lo, hi);
    return v;
}

class Stream {
public:
    Stream() { cuda_check(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking), "stream"); }
    ~Stream() { cudaStreamDestroy(s_); }
    Stream(const Stream &) = delete;
    Stream &operator=(const Stream &) = delete;
    cudaStream_t get() const { return s_; }
    void sync() const { cuda_check(cudaStreamSynchronize(s_), "cudaStreamSynchronize"); }

private:
    cudaStream_t s_ = nullptr;
};

struct Case {
    Input input;
    Epilogue epilogue;
    int32_t rows, m, k;
    bool bias = false;
    int64_t a_pad = 0;  // a_stride = k + a_pad
    int64_t y_pad = 0;  // y_stride = m + y_pad

    int64_t w_rows() const { return epilogue == Epilogue::Swiglu ? 2 * int64_t{m} : m; }
    int64_t a_stride() const { return k + a_pad; }
    int64_t y_stride() const { return m + y_pad; }
    size_t y_size() const {
        return epilogue == Epilogue::F32 || epilogue == Epilogue::AddF32 ? 4 : 2;
    }
    std::string name() const {
        const char *e[] = {"bf16", "f32", "add", "swiglu"};
        return std::string(input == Input::RmsNorm ? "rmsnorm" : "bf16 input") + " -> " +
               e[static_cast<int>(epilogue)] + (bias ? " + bias" : "") + ", rows " +
               std::to_string(rows) + ", m " + std::to_string(m) + ", k " + std::to_string(k) +
               ", a pad " + std::to_string(a_pad) + ", y pad " + std::to_string(y_pad);
    }
};

// One GEMV's inputs on the host and the device; y has one row more than the result and y_pad
// columns more, which must keep their bits.
struct Problem {
    Problem(const Case &cs, Uniform &u) : c(cs) {
        w = bf16_uniform(static_cast<size_t>(c.w_rows() * c.k), std::sqrt(3.0f / c.k), u);
        w_dev = DeviceBuffer(w);
        const size_t n = static_cast<size_t>(c.rows) * c.k;
        if (c.input == Input::RmsNorm) {
            x = f32_uniform(n, -2.0f, 2.0f, u);
            norm_w = f32_uniform(c.k, 0.5f, 1.5f, u);
            x_dev = DeviceBuffer(x);
            norm_dev = DeviceBuffer(norm_w);
        } else {
            a = bf16_uniform(static_cast<size_t>(c.rows * c.a_stride()), 1.0f, u);
            // Columns past k must not be read: NaN there would reach the results.
            for (int32_t r = 0; r < c.rows; ++r)
                for (int64_t i = c.k; i < c.a_stride(); ++i) a[r * c.a_stride() + i] = 0xffff;
            a_dev = DeviceBuffer(a);
        }
        if (c.bias) {
            bias = f32_uniform(static_cast<size_t>(c.m), -0.5f, 0.5f, u);
            bias_dev = DeviceBuffer(bias);
        }
        y0.assign(static_cast<size_t>(c.rows + 1) * c.y_stride() * c.y_size(), 0xff);
        if (c.epilogue == Epilogue::AddF32) {
            const std::vector<float> res = f32_uniform(y0.size() / 4, -4.0f, 4.0f, u);
            std::memcpy(y0.data(), res.data(), y0.size());
        }
        y_dev = DeviceBuffer(y0);
    }

    gemv::Args args(bool pdl) const {
        gemv::Args g;
        g.input = c.input;
        g.epilogue = c.epilogue;
        g.rows = c.rows;
        g.m = c.m;
        g.k = c.k;
        g.w = w_dev.get();
        g.x = x_dev.get<float>();
        g.norm_w = norm_dev.get<float>();
        g.eps = eps;
        g.a = a_dev.get();
        g.a_stride = c.a_stride();
        g.bias = bias_dev.get<float>();
        g.y = y_dev.get();
        g.y_stride = c.y_stride();
        g.pdl = pdl;
        return g;
    }

    std::vector<uint8_t> result() const { return y_dev.download<uint8_t>(); }

    Case c;
    float eps = 1e-6f;
    std::vector<uint16_t> w, a;
    std::vector<float> x, norm_w, bias;
    std::vector<uint8_t> y0;
    DeviceBuffer w_dev, x_dev, norm_dev, a_dev, bias_dev, y_dev;
};

// Row r of the GEMV's bf16 input as the kernel should see it, and for each element how far its
// two possible roundings lie apart (0 where only one is possible).
void input_row(const Problem &p, int32_t r, std::vector<double> &xn, std::vector<double> &amb) {
    const int32_t k = p.c.k;
    xn.assign(k, 0.0);
    amb.assign(k, 0.0);
    if (p.c.input == Input::Bf16) {
        for (int32_t i = 0; i < k; ++i) xn[i] = from_bf16(p.a[r * p.c.a_stride() + i]);
        return;
    }
    const float *x = p.x.data() + static_cast<size_t>(r) * k;
    double ss = 0.0;
    for (int32_t i = 0; i < k; ++i) ss += static_cast<double>(x[i]) * x[i];
    const double scale = 1.0 / std::sqrt(ss / k + p.eps);
    for (int32_t i = 0; i < k; ++i) {
        const double v = x[i] * scale * p.norm_w[i];
        xn[i] = round_bf16(static_cast<float>(v));
        amb[i] = std::fabs(round_bf16(static_cast<float>(v * (1 + kAmbiguity))) -
                           round_bf16(static_cast<float>(v * (1 - kAmbiguity))));
    }
}

struct Dot {
    double value = 0.0;
    double err = 0.0;  // how far the kernel's fp32 dot may be from `value`
};

Dot dot(const Problem &p, const std::vector<double> &xn, const std::vector<double> &amb,
        int64_t row) {
    const uint16_t *w = p.w.data() + row * p.c.k;
    double v = 0.0, abs_sum = 0.0, flip = 0.0;
    for (int32_t i = 0; i < p.c.k; ++i) {
        const double wi = from_bf16(w[i]);
        v += wi * xn[i];
        abs_sum += std::fabs(wi * xn[i]);
        flip += std::fabs(wi) * amb[i];
    }
    return {v, kDotRel * abs_sum + flip};
}

double silu(double g) {
    return g / (1.0 + std::exp(-g));
}

// The result must match the reference within its tolerance; every other element keep its bits.
void check(const Problem &p, const std::vector<uint8_t> &got, const std::string &what) {
    const Case &c = p.c;
    REQUIRE(got.size() == p.y0.size());
    const size_t es = c.y_size();
    auto element = [&](const std::vector<uint8_t> &y, size_t i) {
        if (es == 4) {
            float f;
            std::memcpy(&f, y.data() + i * 4, 4);
            return static_cast<double>(f);
        }
        uint16_t h;
        std::memcpy(&h, y.data() + i * 2, 2);
        return static_cast<double>(from_bf16(h));
    };
    size_t bad = 0, kept = 0;
    std::string first;
    std::vector<double> xn, amb;
    for (int32_t r = 0; r <= c.rows; ++r) {
        if (r < c.rows) input_row(p, r, xn, amb);
        for (int64_t col = 0; col < c.y_stride(); ++col) {
            const size_t i = static_cast<size_t>(r * c.y_stride() + col);
            if (r == c.rows || col >= c.m) {
                if (std::memcmp(got.data() + i * es, p.y0.data() + i * es, es) != 0) ++kept;
                continue;
            }
            double ref = 0.0, tol = 0.0;
            if (c.epilogue == Epilogue::Swiglu) {
                const Dot g = dot(p, xn, amb, col), u = dot(p, xn, amb, c.m + col);
                ref = silu(g.value) * u.value;
                tol = 1.1 * (std::fabs(g.value) * kBf16Rel + g.err) * std::fabs(u.value) +
                      std::fabs(silu(g.value)) * (std::fabs(u.value) * kBf16Rel + u.err) +
                      kBf16Rel * std::fabs(ref) + 1e-7;
            } else {
                const Dot d = dot(p, xn, amb, col);
                ref = d.value + (c.bias ? p.bias[col] : 0.0) +
                      (c.epilogue == Epilogue::AddF32 ? element(p.y0, i) : 0.0);
                tol = (c.epilogue == Epilogue::Bf16 ? kBf16Rel : 2e-7) * std::fabs(ref) +
                      1.01 * d.err + 1e-7;
            }
            const double g = element(got, i);
            if (!(std::fabs(g - ref) <= tol) && bad++ == 0)
                first = "row " + std::to_string(r) + " col " + std::to_string(col) + ": got " +
                        std::to_string(g) + ", expected " + std::to_string(ref) + " +- " +
                        std::to_string(tol);
        }
    }
    INFO(what << ": " << bad << " results off (first " << first << "), " << kept
              << " elements outside the result changed");
    CHECK(bad == 0);
    CHECK(kept == 0);
}

void run_case(const Case &c, Uniform &u, const Stream &stream) {
    Problem p(c, u);
    for (const bool pdl : {false, true}) {
        const std::string what = c.name() + (pdl ? ", PDL" : ", no PDL");
        const gemv::Args args = p.args(pdl);
        REQUIRE(gemv::supported(args));
        p.y_dev.upload(p.y0);
        gemv::launch(args, stream.get());
        stream.sync();
        check(p, p.result(), what);
    }
}

uint64_t fresh_seed() {
    return (uint64_t{std::random_device{}()} << 32) | std::random_device{}();
}

TEST_CASE("gemv: every epilogue at rows 1..8 on small-model and odd shapes", "[gemv]") {
    const uint64_t seed = fresh_seed();
    INFO("seed " << seed);
    Uniform u(seed);
    Stream stream;
    std::vector<Case> cases;
    for (int32_t rows = 1; rows <= gemv::kMaxRows; ++rows) {
        const Input norm = Input::RmsNorm, bf16 = Input::Bf16;
        // Qwen2.5-0.5B: QKV with bias, gate/up, o-proj, down from the gate half of gate/up.
        cases.push_back({norm, Epilogue::Bf16, rows, 1152, 896, true});
        cases.push_back({norm, Epilogue::Swiglu, rows, 4864, 896, false, 0, 4864});
        cases.push_back({bf16, Epilogue::AddF32, rows, 896, 896});
        cases.push_back({bf16, Epilogue::AddF32, rows, 896, 4864, false, 4864});
        // Odd: m odd, k not a multiple of a 256-element chunk, k under one chunk, strides.
        cases.push_back({norm, Epilogue::Bf16, rows, 1001, 904, false, 0, 3});
        cases.push_back({norm, Epilogue::F32, rows, 3001, 896});
        cases.push_back({norm, Epilogue::F32, rows, 777, 264, true, 0, 5});
        cases.push_back({norm, Epilogue::Swiglu, rows, 37, 136, false, 0, 11});
        cases.push_back({bf16, Epilogue::AddF32, rows, 5, 8, false, 8, 1});
        cases.push_back({bf16, Epilogue::AddF32, rows, 333, 2312, false, 24});
    }
    for (const Case &c : cases) run_case(c, u, stream);
}

TEST_CASE("gemv: one shape per work split, few rows (sanitizer runs)", "[gemv][small]") {
    const uint64_t seed = fresh_seed();
    INFO("seed " << seed);
    Uniform u(seed);
    Stream stream;
    for (const int32_t rows : {1, 3, 8}) {
        // 3, 5, 10 and 19 chunks of 256: 1, 2, 4 and 8 warps per group.
        run_case({Input::RmsNorm, Epilogue::Bf16, rows, 67, 520, true, 0, 2}, u, stream);
        run_case({Input::RmsNorm, Epilogue::Swiglu, rows, 19, 1160, false, 0, 5}, u, stream);
        run_case({Input::Bf16, Epilogue::AddF32, rows, 33, 2312, false, 8}, u, stream);
        run_case({Input::RmsNorm, Epilogue::F32, rows, 45, 4864}, u, stream);
    }
}

TEST_CASE("gemv: Qwen2.5-7B layer shapes", "[gemv][large]") {
    const uint64_t seed = fresh_seed();
    INFO("seed " << seed);
    Uniform u(seed);
    Stream stream;
    for (const int32_t rows : {1, 2, 8})
        run_case({Input::RmsNorm, Epilogue::Bf16, rows, 4608, 3584, true}, u, stream);
    // k = 18944: 74 chunks over 8 slices; more than 2 rows do not fit in shared memory.
    for (const int32_t rows : {1, 2})
        run_case({Input::Bf16, Epilogue::AddF32, rows, 3584, 18944, false, 18944}, u, stream);
    run_case({Input::RmsNorm, Epilogue::Swiglu, 1, 18944, 3584}, u, stream);
    // The 0.5B LM head: many rounds of groups per CTA.
    run_case({Input::RmsNorm, Epilogue::F32, 1, 151936, 896}, u, stream);
}

TEST_CASE("gemv: each launch of a chain reads what the launch before it wrote", "[gemv][pdl]") {
    const uint64_t seed = fresh_seed();
    INFO("seed " << seed);
    Uniform u(seed);
    Stream stream;
    // The residual add of a long down-projection, the QKV projection of its result, the o-proj of
    // that: with PDL each kernel starts while the one before runs and must wait before it reads.
    for (const bool pdl : {false, true}) {
        INFO((pdl ? "PDL" : "no PDL"));
        Problem down({Input::Bf16, Epilogue::AddF32, 1, 3584, 18944}, u);
        Problem qkv({Input::RmsNorm, Epilogue::Bf16, 1, 4608, 3584, true}, u);
        Problem o({Input::Bf16, Epilogue::AddF32, 1, 896, 4608}, u);
        gemv::Args a1 = down.args(pdl), a2 = qkv.args(pdl), a3 = o.args(pdl);
        a2.x = down.y_dev.get<float>();
        a3.a = qkv.y_dev.get();
        gemv::launch(a1, stream.get());
        gemv::launch(a2, stream.get());
        gemv::launch(a3, stream.get());
        stream.sync();
        const std::vector<uint8_t> x1 = down.result(), y = qkv.result();
        check(down, x1, "down-projection");
        qkv.x.assign(reinterpret_cast<const float *>(x1.data()),
                     reinterpret_cast<const float *>(x1.data()) + 3584);
        check(qkv, y, "QKV projection of its result");
        o.a.assign(reinterpret_cast<const uint16_t *>(y.data()),
                   reinterpret_cast<const uint16_t *>(y.data()) + 4608);
        check(o, o.result(), "o-projection of that");
    }
}

TEST_CASE("gemv: sizes, alignments and pairings the kernels do not take", "[gemv]") {
    DeviceBuffer buf(size_t{1} << 20);
    gemv::Args base;
    base.input = Input::Bf16;
    base.epilogue = Epilogue::AddF32;
    base.rows = 1;
    base.m = 16;
    base.k = 64;
    base.w = buf.get();
    base.a = buf.get<char>() + 4096;
    base.a_stride = 64;
    base.y = buf.get<char>() + 8192;
    base.y_stride = 16;
    REQUIRE(gemv::supported(base));
    auto with = [&](auto change) {
        gemv::Args a = base;
        change(a);
        return gemv::supported(a);
    };
    CHECK_FALSE(with([](gemv::Args &a) { a.rows = 0; }));
    CHECK_FALSE(with([](gemv::Args &a) { a.rows = gemv::kMaxRows + 1; }));
    CHECK_FALSE(with([](gemv::Args &a) { a.k = 60, a.a_stride = 60; }));
    CHECK_FALSE(with([](gemv::Args &a) { a.w = static_cast<const char *>(a.w) + 2; }));
    CHECK_FALSE(with([](gemv::Args &a) { a.a = static_cast<const char *>(a.a) + 8; }));
    CHECK_FALSE(with([](gemv::Args &a) { a.a_stride = 68; }));
    CHECK_FALSE(with([](gemv::Args &a) { a.epilogue = Epilogue::Bf16; }));
    CHECK_FALSE(with([](gemv::Args &a) { a.k = 18944, a.a_stride = 18944, a.rows = 3; }));
    CHECK(with([](gemv::Args &a) { a.k = 18944, a.a_stride = 18944, a.rows = 2; }));
    base.input = Input::RmsNorm;
    base.epilogue = Epilogue::Bf16;
    base.x = buf.get<float>();
    base.norm_w = buf.get<float>();
    REQUIRE(gemv::supported(base));
    CHECK_FALSE(with([](gemv::Args &a) { a.epilogue = Epilogue::AddF32; }));
    CHECK_FALSE(with([](gemv::Args &a) { a.x = reinterpret_cast<const float *>(a.w) + 1; }));
    try {
        gemv::Args a = base;
        a.k = 60;
        gemv::launch(a, nullptr);
        FAIL("no error");
    } catch (const Error &e) {
        CHECK(e.status() == CAB_ERR_INVALID_ARGUMENT);
        CHECK_THAT(e.what(), Catch::Contains("gemv"));
    }
}

}  // namespace
}  // namespace cab::gpu_test
