// The elementwise kernels (RMSNorm, RoPE, SwiGLU, argmax) against double-precision CPU references
// written here, on fresh random data, with every output poisoned (NaN) first. Tolerance for a
// bf16 output: |gpu - ref| <= 2^-8 |ref| + 1e-5, one bf16 rounding (2^-9) plus the fp32-vs-double
// slack; argmax: exact, on rows long enough to spread over many CTAs, with the maximum and ties
// at the edges of the CTAs' parts, NaN, infinities and signed zeros, and through graph replays.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <random>
#include <type_traits>
#include <utility>
#include <vector>

#include "activation.cuh"
#include "device_buffer.h"
#include "norm.cuh"
#include "pos_enc.cuh"
#include "sampling.cuh"
#include "util/error.h"

namespace cab::gpu_test {
namespace {

namespace activation = cab::cuda::activation;
namespace norm = cab::cuda::norm;
namespace pos_enc = cab::cuda::pos_enc;
namespace sampling = cab::cuda::sampling;

constexpr double kBf16Rel = 1.0 / 256.0, kBf16Abs = 1e-5;

std::vector<float> random_floats(size_t n, float scale, std::mt19937 &rng) {
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(n);
    for (float &x : v) x = dist(rng);
    return v;
}

// Random values already representable in bf16, with their bit patterns.
std::vector<float> random_bf16_values(size_t n, float scale, std::mt19937 &rng) {
    std::vector<float> v = random_floats(n, scale, rng);
    for (float &x : v) x = round_bf16(x);
    return v;
}

std::vector<uint16_t> to_bits(const std::vector<float> &v) {
    std::vector<uint16_t> b(v.size());
    for (size_t i = 0; i < v.size(); ++i) b[i] = to_bf16(v[i]);
    return b;
}

// Counts the bf16 outputs off the reference (NaN, a missed write, counts as off) and reports
// the first.
void check_bf16(const std::vector<uint16_t> &got, const std::vector<double> &ref) {
    REQUIRE(got.size() >= ref.size());
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        double g = from_bf16(got[i]);
        if (!(std::fabs(g - ref[i]) <= kBf16Rel * std::fabs(ref[i]) + kBf16Abs)) {
            if (bad++ == 0) first = i;
        }
    }
    INFO("first bad element " << first << ": gpu " << from_bf16(got[first]) << " ref "
                              << ref[first]);
    CHECK(bad == 0);
}

std::vector<double> rmsnorm_ref(const std::vector<double> &x, const std::vector<float> &w, int rows,
                                int cols, float eps) {
    std::vector<double> y(x.size());
    for (int r = 0; r < rows; ++r) {
        double ss = 0.0;
        for (int i = 0; i < cols; ++i) ss += x[r * cols + i] * x[r * cols + i];
        double scale = 1.0 / std::sqrt(ss / cols + eps);
        for (int i = 0; i < cols; ++i) y[r * cols + i] = x[r * cols + i] * scale * w[i];
    }
    return y;
}

TEST_CASE("rmsnorm: bf16 and f32 inputs, n_embd 576 and odd widths", "[elementwise][small]") {
    std::mt19937 rng(11);
    const float eps = 1e-5f;
    for (int cols : {576, 1000, 37}) {
        for (int rows : {1, 7}) {
            INFO("rows " << rows << " cols " << cols);
            const size_t n = static_cast<size_t>(rows) * cols;
            std::vector<float> w = random_floats(cols, 1.0f, rng);
            std::vector<float> xb = random_bf16_values(n, 2.0f, rng);
            std::vector<float> xf = random_floats(n, 3.0f, rng);
            DeviceBuffer w_dev(w), xb_dev(to_bits(xb)), xf_dev(xf), y_dev(n * 2);

            y_dev.poison();
            norm::rmsnorm_bf16(xb_dev.get(), w_dev.get<float>(), y_dev.get(), rows, cols, eps,
                               nullptr);
            cuda_check(cudaDeviceSynchronize(), "rmsnorm_bf16");
            check_bf16(y_dev.download<uint16_t>(),
                       rmsnorm_ref(std::vector<double>(xb.begin(), xb.end()), w, rows, cols, eps));

            y_dev.poison();
            norm::rmsnorm_f32(xf_dev.get<float>(), w_dev.get<float>(), y_dev.get(), rows, cols, eps,
                              nullptr);
            cuda_check(cudaDeviceSynchronize(), "rmsnorm_f32");
            check_bf16(y_dev.download<uint16_t>(),
                       rmsnorm_ref(std::vector<double>(xf.begin(), xf.end()), w, rows, cols, eps));
        }
    }
}

// Double-precision RoPE on bf16 inputs, the frequency formula of the CPU backend.
std::vector<double> rope_ref(const std::vector<float> &x, int64_t stride,
                             const std::vector<int32_t> &pos, int n_heads, int d, float theta,
                             float freq_scale, bool neox) {
    std::vector<double> y(x.begin(), x.end());
    const int half = d / 2, pair_stride = neox ? 1 : 2, partner = neox ? half : 1;
    for (size_t t = 0; t < pos.size(); ++t) {
        for (int h = 0; h < n_heads; ++h) {
            for (int i = 0; i < half; ++i) {
                double inv = std::pow(static_cast<double>(theta), -2.0 * i / d);
                double angle = static_cast<double>(pos[t]) * freq_scale * inv;
                size_t a = t * stride + static_cast<size_t>(h) * d + i * pair_stride;
                size_t b = a + partner;
                double x0 = x[a], x1 = x[b];
                y[a] = x0 * std::cos(angle) - x1 * std::sin(angle);
                y[b] = x0 * std::sin(angle) + x1 * std::cos(angle);
            }
        }
    }
    return y;
}

TEST_CASE("rope: Normal and NeoX, head_dim 64 and 128, 9 heads, padded rows",
          "[elementwise][small]") {
    std::mt19937 rng(13);
    std::uniform_int_distribution<int32_t> position(0, 8191);
    for (int d : {64, 128}) {
        for (bool neox : {false, true}) {
            for (float freq_scale : {1.0f, 0.25f}) {
                const int n_heads = 9, n_tokens = 13;
                const float theta = d == 64 ? 10000.0f : 500000.0f;
                const int64_t stride = static_cast<int64_t>(n_heads) * d + 8;
                INFO("d " << d << (neox ? " NeoX" : " Normal") << " freq_scale " << freq_scale);
                std::vector<int32_t> pos(n_tokens);
                for (int32_t &p : pos) p = position(rng);
                pos[0] = 0;
                std::vector<float> x = random_bf16_values(n_tokens * stride, 1.0f, rng);
                // The padding columns must come back untouched: poison them.
                for (int t = 0; t < n_tokens; ++t)
                    for (int64_t c = static_cast<int64_t>(n_heads) * d; c < stride; ++c)
                        x[t * stride + c] = -777.0f;
                DeviceBuffer x_dev(to_bits(x)), pos_dev(pos);
                pos_enc::RopeArgs args;
                args.x = x_dev.get();
                args.stride = stride;
                args.positions = pos_dev.get<int32_t>();
                args.n_tokens = n_tokens;
                args.n_heads = n_heads;
                args.head_dim = d;
                args.theta = theta;
                args.freq_scale = freq_scale;
                args.style = neox ? pos_enc::RopeStyle::NeoX : pos_enc::RopeStyle::Normal;
                pos_enc::rope(args, nullptr);
                cuda_check(cudaDeviceSynchronize(), "rope");
                check_bf16(x_dev.download<uint16_t>(),
                           rope_ref(x, stride, pos, n_heads, d, theta, freq_scale, neox));
            }
        }
    }
}

TEST_CASE("swiglu: silu(gate) * up over n_ff 1536 rows and an odd count", "[elementwise][small]") {
    std::mt19937 rng(14);
    for (int64_t n : {int64_t{1536} * 3, int64_t{100003}}) {
        INFO("n " << n);
        std::vector<float> g = random_bf16_values(n, 3.0f, rng),
                           u = random_bf16_values(n, 2.0f, rng);
        DeviceBuffer g_dev(to_bits(g)), u_dev(to_bits(u)), out_dev(n * 2);
        out_dev.poison();
        activation::swiglu(g_dev.get(), u_dev.get(), out_dev.get(), n, nullptr);
        cuda_check(cudaDeviceSynchronize(), "swiglu");
        std::vector<double> ref(n);
        for (int64_t i = 0; i < n; ++i)
            ref[i] =
                static_cast<double>(g[i]) / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
        check_bf16(out_dev.download<uint16_t>(), ref);
    }
}

TEST_CASE("swiglu_rows: gate and up as column views of one product, strided out",
          "[elementwise][small]") {
    std::mt19937 rng(16);
    for (int64_t ff : {int64_t{1000}, int64_t{4864}}) {
        const int64_t rows = 7, gu_stride = 2 * ff + 5;
        INFO("n_ff " << ff);
        const std::vector<float> gu = random_bf16_values(rows * gu_stride, 3.0f, rng);
        auto silu_mul = [&](int64_t r, int64_t c) {
            const double g = gu[r * gu_stride + c], u = gu[r * gu_stride + ff + c];
            return g / (1.0 + std::exp(-g)) * u;
        };
        {
            INFO("in place: out is the gate view");
            DeviceBuffer gu_dev(to_bits(gu));
            activation::swiglu_rows(gu_dev.get(), gu_dev.get<uint16_t>() + ff, gu_dev.get(), rows,
                                    ff, gu_stride, gu_stride, gu_stride, nullptr);
            cuda_check(cudaDeviceSynchronize(), "swiglu_rows");
            // The gate columns hold the result; up and the padding are untouched.
            std::vector<double> ref(gu.begin(), gu.end());
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t c = 0; c < ff; ++c) ref[r * gu_stride + c] = silu_mul(r, c);
            check_bf16(gu_dev.download<uint16_t>(), ref);
        }
        {
            INFO("a separate out with rows of its own stride");
            const int64_t out_stride = ff + 3;
            DeviceBuffer gu_dev(to_bits(gu)), out_dev(rows * out_stride * 2);
            out_dev.poison();
            activation::swiglu_rows(gu_dev.get(), gu_dev.get<uint16_t>() + ff, out_dev.get(), rows,
                                    ff, gu_stride, gu_stride, out_stride, nullptr);
            cuda_check(cudaDeviceSynchronize(), "swiglu_rows");
            const std::vector<uint16_t> out = out_dev.download<uint16_t>();
            std::vector<uint16_t> got;
            std::vector<double> ref;
            size_t padding_written = 0;
            for (int64_t r = 0; r < rows; ++r) {
                for (int64_t c = 0; c < ff; ++c) {
                    got.push_back(out[r * out_stride + c]);
                    ref.push_back(silu_mul(r, c));
                }
                for (int64_t c = ff; c < out_stride; ++c)
                    padding_written += out[r * out_stride + c] != 0xffff;
            }
            check_bf16(got, ref);
            CHECK(padding_written == 0);
            CHECK(gu_dev.download<uint16_t>() == to_bits(gu));
        }
    }
}

TEST_CASE("argmax: batched rows, ties to the lowest index, NaN as -inf", "[elementwise][small]") {
    std::mt19937 rng(15);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    const int vocab = 49152, rows = 6;
    const int64_t stride = vocab + 5;
    std::vector<float> logits = random_floats(rows * stride, 4.0f, rng);
    // Row 0 plain; row 1 a tie at 3 places; row 2 NaN everywhere but one; row 3 all NaN and
    // -inf; row 4 the max at the last index with NaN around; row 5 +inf twice.
    logits[1 * stride + 40000] = logits[1 * stride + 777] = logits[1 * stride + 30000] = 100.0f;
    for (int i = 0; i < vocab; ++i) logits[2 * stride + i] = nan;
    logits[2 * stride + 12345] = -5.0f;
    for (int i = 0; i < vocab; ++i) logits[3 * stride + i] = i % 2 ? nan : -inf;
    logits[4 * stride + vocab - 1] = 50.0f;
    logits[4 * stride + 0] = logits[4 * stride + 100] = nan;
    logits[5 * stride + 9000] = logits[5 * stride + 4096] = inf;
    // The padding after each row is larger than any logit and must be ignored.
    for (int r = 0; r < rows; ++r)
        for (int64_t c = vocab; c < stride; ++c) logits[r * stride + c] = 1e30f;

    std::vector<int32_t> expected(rows);
    for (int r = 0; r < rows; ++r) {
        int32_t best = 0;
        float best_v = -inf;
        for (int i = 0; i < vocab; ++i) {
            float v = logits[r * stride + i];
            if (!std::isnan(v) && v > best_v) best_v = v, best = i;
        }
        expected[r] = best;
    }
    REQUIRE(expected[1] == 777);
    REQUIRE(expected[2] == 12345);
    REQUIRE(expected[3] == 0);
    REQUIRE(expected[4] == vocab - 1);
    REQUIRE(expected[5] == 4096);

    DeviceBuffer logits_dev(logits), out_dev(rows * sizeof(int32_t));
    out_dev.poison();
    sampling::argmax(logits_dev.get<float>(), stride, rows, vocab, out_dev.get<int32_t>(), nullptr);
    cuda_check(cudaDeviceSynchronize(), "argmax");
    CHECK(out_dev.download<int32_t>() == expected);
}

// The first index of the largest value, NaN counted as -inf, by float comparison (-0 == +0).
int32_t argmax_ref(const float *row, int vocab) {
    auto value = [&](int i) {
        return std::isnan(row[i]) ? -std::numeric_limits<float>::infinity() : row[i];
    };
    int32_t best = 0;
    for (int i = 1; i < vocab; ++i)
        if (value(i) > value(best)) best = i;
    return best;
}

// argmax over `rows` rows of `stride` floats placed `offset` floats into the device buffer (an
// offset or stride off a multiple of 4 starts rows between 16-byte boundaries), out poisoned.
std::vector<int32_t> device_argmax(const std::vector<float> &rows_data, int64_t stride, int rows,
                                   int vocab, int offset) {
    std::vector<float> host(offset, 1e30f);
    host.insert(host.end(), rows_data.begin(), rows_data.end());
    DeviceBuffer logits(host), out(static_cast<size_t>(rows) * sizeof(int32_t));
    out.poison();
    sampling::argmax(logits.get<float>() + offset, stride, rows, vocab, out.get<int32_t>(),
                     nullptr);
    cuda_check(cudaDeviceSynchronize(), "argmax");
    return out.download<int32_t>();
}

TEST_CASE("argmax: rows over many CTAs, the maximum and ties anywhere, NaN and signed zeros",
          "[elementwise][small]") {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    std::mt19937 rng(17);
    for (const int vocab : {151936, 151937, 100003, 8193, 4097, 1000, 7, 5, 3, 2, 1}) {
        // Places where one CTA's part of the row meets another's for any split of a few thousand
        // elements (4096 per CTA and pass in the kernel now, shifted by up to 3 for alignment),
        // the first and last elements, and the middle.
        std::vector<int> at = {0, 1, 2, 3, 4, 5, vocab / 2, vocab - 5, vocab - 2, vocab - 1};
        for (const int j : {1, 3, 4, 7, 8, 9, 15, 16, 36, 37})
            for (const int d : {-1, 0, 1, 3}) at.push_back(4096 * j + d);
        at.erase(std::remove_if(at.begin(), at.end(), [&](int i) { return i < 0 || i >= vocab; }),
                 at.end());
        std::sort(at.begin(), at.end());
        at.erase(std::unique(at.begin(), at.end()), at.end());

        // Each row starts as random values, then gets one pattern (a deque: rows stay in place).
        std::deque<std::vector<float>> rows;
        auto row = [&]() -> std::vector<float> & {
            rows.push_back(random_floats(vocab, 3.0f, rng));
            return rows.back();
        };
        auto fill = [&](float v) -> std::vector<float> & {
            std::vector<float> &r = row();
            std::fill(r.begin(), r.end(), v);
            return r;
        };
        row();
        for (const int p : at) row()[p] = 50.0f;  // a single maximum
        for (size_t i = 0; i + 1 < at.size(); ++i) {
            // Ties of neighbouring places, which lie in different CTAs' parts, the lower index at
            // times in a later CTA than the higher (4096 * 8 - 1 in the last CTA's first pass,
            // 4096 * 8 in the first CTA's second pass); and of three infinities.
            std::vector<float> &r = row();
            r[at[i]] = r[at[i + 1]] = 60.0f;
            std::vector<float> &t = row();
            t[at[i]] = t[at.back()] = t[at[at.size() / 2]] = inf;
        }
        fill(-inf);
        fill(nan);
        {
            std::vector<float> &r = fill(nan);
            for (int i = 0; i < vocab; i += 2) r[i] = -inf;
        }
        for (const int p : {at.back(), at[at.size() / 2]}) {
            fill(nan)[p] = -inf;  // NaN ties -inf: index 0
            fill(nan)[p] = -5.0f;
            fill(-inf)[p] = -std::numeric_limits<float>::max();
            std::vector<float> &z = fill(-1.0f);  // -0 and +0 tie
            z[p] = 0.0f;
            z[at.front()] = -0.0f;
            std::vector<float> &y = fill(-1.0f);
            y[p] = -0.0f;
            y[at.front()] = 0.0f;
            std::vector<float> &n = row();  // NaN never wins
            n[p] = nan;
            n[at.front()] = 100.0f;
        }

        // The patterns mean what they say: the single maximum at at[0] and the tie of at[0] and
        // at[1] are found at at[0].
        REQUIRE(argmax_ref(rows[1].data(), vocab) == at[0]);
        if (at.size() > 1) REQUIRE(argmax_ref(rows[1 + at.size()].data(), vocab) == at[0]);
        for (const int pad : {0, 1, 3}) {
            const int64_t stride = vocab + pad;
            const int offset = pad == 0 ? 0 : 1 + pad % 3;
            std::vector<float> data(rows.size() * stride, 1e30f);  // padding above every logit
            std::vector<int32_t> expected;
            for (size_t r = 0; r < rows.size(); ++r) {
                std::copy(rows[r].begin(), rows[r].end(), data.begin() + r * stride);
                expected.push_back(argmax_ref(rows[r].data(), vocab));
            }
            INFO("vocab " << vocab << " stride " << stride << " offset " << offset << ", "
                          << rows.size() << " rows");
            const std::vector<int32_t> got =
                device_argmax(data, stride, static_cast<int>(rows.size()), vocab, offset);
            size_t bad = 0, first = 0;
            for (size_t r = 0; r < rows.size(); ++r)
                if (got[r] != expected[r] && bad++ == 0) first = r;
            INFO("first bad row " << first << ": got " << got[first] << ", expected "
                                  << expected[first]);
            CHECK(bad == 0);
        }
    }
}

// A CUDA stream, graph or graph instance, destroyed with it.
template <class Handle>
using Owned = std::unique_ptr<std::remove_pointer_t<Handle>, cudaError_t (*)(Handle)>;

// Tagged apart from [elementwise]: racecheck of its 257 rows outlasts that step's time limit.
TEST_CASE("argmax: many rows of random ties; calls and graph replays keep no state",
          "[argmax][slow]") {
    std::mt19937 rng(18);
    const int vocab = 32003, rows = 257;
    std::uniform_int_distribution<int> place(0, vocab - 1);
    // Values on a coarse grid, so that rows have many ties of their maximum.
    auto make = [&](float top) {
        std::vector<float> v = random_floats(static_cast<size_t>(rows) * vocab, 4.0f, rng);
        for (float &x : v) x = std::round(x);
        for (int r = 0; r < rows; ++r)
            for (int n = r % 4; n > 0; --n) v[static_cast<size_t>(r) * vocab + place(rng)] = top;
        std::vector<int32_t> expected(rows);
        for (int r = 0; r < rows; ++r)
            expected[r] = argmax_ref(v.data() + static_cast<size_t>(r) * vocab, vocab);
        return std::make_pair(v, expected);
    };
    // The second set's maxima are lower and elsewhere: a result kept from the first call shows.
    const auto high = make(1000.0f), low = make(100.0f);
    CHECK(device_argmax(high.first, vocab, rows, vocab, 0) == high.second);
    CHECK(device_argmax(low.first, vocab, rows, vocab, 0) == low.second);

    cudaStream_t raw_stream = nullptr;
    // A blocking stream: the uploads and memsets on the legacy stream come first.
    cuda_check(cudaStreamCreate(&raw_stream), "stream");
    const Owned<cudaStream_t> stream(raw_stream, cudaStreamDestroy);
    DeviceBuffer logits(high.first.size() * sizeof(float)), out(rows * sizeof(int32_t));
    cuda_check(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeThreadLocal), "capture");
    sampling::argmax(logits.get<float>(), vocab, rows, vocab, out.get<int32_t>(), stream.get());
    cudaGraph_t raw_graph = nullptr;
    cuda_check(cudaStreamEndCapture(stream.get(), &raw_graph), "end capture");
    const Owned<cudaGraph_t> graph(raw_graph, cudaGraphDestroy);
    cudaGraphExec_t raw_exec = nullptr;
    cuda_check(cudaGraphInstantiate(&raw_exec, graph.get(), 0), "instantiate");
    const Owned<cudaGraphExec_t> exec(raw_exec, cudaGraphExecDestroy);
    for (const auto *set : {&high, &low, &low, &high}) {
        logits.upload(set->first);
        out.poison();
        cuda_check(cudaGraphLaunch(exec.get(), stream.get()), "graph launch");
        cuda_check(cudaStreamSynchronize(stream.get()), "graph sync");
        CHECK(out.download<int32_t>() == set->second);
    }
}

TEST_CASE("elementwise: bad arguments are errors", "[elementwise][small]") {
    CHECK_THROWS_WITH(norm::rmsnorm_f32(nullptr, nullptr, nullptr, 1, 0, 1e-5f, nullptr),
                      Catch::Contains("cols"));
    CHECK_THROWS_WITH(activation::swiglu(nullptr, nullptr, nullptr, 4, nullptr),
                      Catch::Contains("null"));
    CHECK_THROWS_WITH(activation::swiglu_rows(nullptr, nullptr, nullptr, 2, 8, 8, 7, 8, nullptr),
                      Catch::Contains("strides"));
    pos_enc::RopeArgs args;
    args.head_dim = 63;
    CHECK_THROWS_WITH(pos_enc::rope(args, nullptr), Catch::Contains("head_dim 63"));
    CHECK_THROWS_WITH(sampling::argmax(nullptr, 10, 1, 20, nullptr, nullptr),
                      Catch::Contains("stride 10"));
}

}  // namespace
}  // namespace cab::gpu_test
