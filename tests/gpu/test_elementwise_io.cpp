// The embedding gather, residual add, bias adds and bf16/f32 conversions against host references,
// bit for bit: copies and bf16 -> f32 exactly, f32 -> bf16 as the host's round to nearest even,
// adds as one fp32 add (then one bf16 rounding for a bf16 output). Fresh random data each run
// (the seed is printed on failure); every output is poisoned (0xff bytes, NaN) first and sits
// between poisoned guard elements that must stay so. Offsets of one element make pointers
// unaligned, so the scalar paths run as well as the 16-byte ones; sizes that are not multiples of
// the vector width exercise the tails.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "device_buffer.h"
#include "elementwise.cuh"
#include "embedding.cuh"
#include "guarded_buffer.h"
#include "util/error.h"

namespace cab::gpu_test {
namespace {

namespace elementwise = cab::cuda::elementwise;
namespace embedding = cab::cuda::embedding;

float float_of(uint32_t u) {
    float x;
    std::memcpy(&x, &u, 4);
    return x;
}

// Random finite bf16 values (bit patterns) of scale ~`scale`.
std::vector<uint16_t> random_bf16(size_t n, float scale, std::mt19937 &rng) {
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<uint16_t> v(n);
    for (uint16_t &x : v) x = to_bf16(dist(rng));
    return v;
}

std::vector<float> random_f32(size_t n, float scale, std::mt19937 &rng) {
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(n);
    for (float &x : v) x = dist(rng);
    return v;
}

const std::vector<int64_t> kSizes = {1, 7, 8, 9, 15, 17, 1000, 4103, 100003};

TEST_CASE("embedding gather: rows of a bf16 table as f32, exact", "[elementwise_io]") {
    const uint32_t seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    const int32_t vocab = 1000;
    std::uniform_int_distribution<int32_t> token(0, vocab - 1);
    for (int32_t cols : {576, 64, 8, 37, 1}) {
        for (int32_t rows : {1, 13, 300}) {
            // Table and output offsets: aligned (vector path) or one element off (scalar path).
            for (auto [table_off, out_off] : {std::pair<size_t, size_t>{0, 0}, {1, 0}, {0, 1}}) {
                INFO("cols " << cols << " rows " << rows << " table offset " << table_off
                             << " out offset " << out_off);
                const size_t n = static_cast<size_t>(rows) * cols;
                std::vector<uint16_t> table =
                    random_bf16(static_cast<size_t>(vocab) * cols, 1.0f, rng);
                std::vector<int32_t> tokens(rows);
                for (int32_t &t : tokens) t = token(rng);
                tokens[0] = vocab - 1;
                if (rows > 2) tokens[rows - 1] = 0, tokens[1] = tokens[rows - 1];
                Guarded<uint16_t> table_dev(table.size(), table_off);
                table_dev.upload(table);
                DeviceBuffer tokens_dev(tokens);
                Guarded<float> out(n, out_off);
                out.poison();
                embedding::gather(table_dev.ptr(), tokens_dev.get<int32_t>(), out.ptr(), rows, cols,
                                  nullptr);
                cuda_check(cudaDeviceSynchronize(), "embedding gather");
                std::vector<uint32_t> expected(n);
                for (size_t r = 0; r < static_cast<size_t>(rows); ++r)
                    for (size_t c = 0; c < static_cast<size_t>(cols); ++c)
                        expected[r * cols + c] =
                            static_cast<uint32_t>(table[static_cast<size_t>(tokens[r]) * cols + c])
                            << 16;
                check_bits(out, expected, "embedding rows");
            }
        }
    }
}

// Inputs for f32 -> bf16 that test the rounding: exact ties (both parities of the kept bit),
// just above and below a tie, a carry into the exponent, overflow to infinity, zeros, infinities
// and subnormals, followed by random values.
std::vector<float> conversion_inputs(size_t n, std::mt19937 &rng) {
    std::vector<float> x = random_f32(n, 3.0f, rng);
    const float inf = std::numeric_limits<float>::infinity();
    const std::vector<float> special = {float_of(0x3f808000u),
                                        float_of(0x3f818000u),
                                        float_of(0xbf808000u),
                                        float_of(0x3f808001u),
                                        float_of(0x3f807fffu),
                                        float_of(0x3fffffffu),
                                        float_of(0x7f7fffffu),
                                        float_of(0xff7fffffu),
                                        0.0f,
                                        -0.0f,
                                        inf,
                                        -inf,
                                        float_of(0x00000001u),
                                        float_of(0x00418000u),
                                        float_of(0x80428000u),
                                        float_of(0x007fffffu),
                                        1e30f,
                                        -3e-30f};
    for (size_t i = 0; i < n && i < special.size(); ++i) x[(i * 7919) % n] = special[i];
    return x;
}

TEST_CASE("f32_to_bf16: round to nearest even, bit-exact", "[elementwise_io]") {
    const uint32_t seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    for (int64_t n : kSizes) {
        for (auto [in_off, out_off] : {std::pair<size_t, size_t>{0, 0}, {1, 0}, {0, 1}}) {
            INFO("n " << n << " in offset " << in_off << " out offset " << out_off);
            std::vector<float> x = conversion_inputs(n, rng);
            Guarded<float> x_dev(n, in_off);
            x_dev.upload(x);
            Guarded<uint16_t> y(n, out_off);
            y.poison();
            elementwise::f32_to_bf16(x_dev.ptr(), y.ptr(), n, nullptr);
            cuda_check(cudaDeviceSynchronize(), "f32_to_bf16");
            std::vector<uint16_t> expected(n);
            for (int64_t i = 0; i < n; ++i) expected[i] = to_bf16(x[i]);
            check_bits(y, expected, "bf16 outputs");
        }
    }
}

TEST_CASE("bf16_to_f32: exact widening of every non-NaN pattern", "[elementwise_io]") {
    const uint32_t seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    std::uniform_int_distribution<uint32_t> any(0, 0xffff);
    for (int64_t n : kSizes) {
        for (auto [in_off, out_off] : {std::pair<size_t, size_t>{0, 0}, {1, 0}, {0, 1}}) {
            INFO("n " << n << " in offset " << in_off << " out offset " << out_off);
            // Random bit patterns (subnormals, zeros, infinities included), NaNs replaced: their
            // payload is not part of the contract.
            std::vector<uint16_t> x(n);
            for (uint16_t &h : x) {
                h = static_cast<uint16_t>(any(rng));
                if ((h & 0x7f80u) == 0x7f80u && (h & 0x7fu) != 0) h &= 0x807fu;
            }
            Guarded<uint16_t> x_dev(n, in_off);
            x_dev.upload(x);
            Guarded<float> y(n, out_off);
            y.poison();
            elementwise::bf16_to_f32(x_dev.ptr(), y.ptr(), n, nullptr);
            cuda_check(cudaDeviceSynchronize(), "bf16_to_f32");
            std::vector<uint32_t> expected(n);
            for (int64_t i = 0; i < n; ++i) expected[i] = static_cast<uint32_t>(x[i]) << 16;
            check_bits(y, expected, "f32 outputs");
        }
    }
}

TEST_CASE("add_to_f32: x += y with y bf16, one fp32 add", "[elementwise_io]") {
    const uint32_t seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    for (int64_t n : kSizes) {
        for (auto [x_off, y_off] : {std::pair<size_t, size_t>{0, 0}, {1, 0}, {0, 1}}) {
            INFO("n " << n << " x offset " << x_off << " y offset " << y_off);
            std::vector<float> x = random_f32(n, 4.0f, rng);
            std::vector<uint16_t> y = random_bf16(n, 1.0f, rng);
            Guarded<float> x_dev(n, x_off);
            x_dev.upload(x);
            Guarded<uint16_t> y_dev(n, y_off);
            y_dev.upload(y);
            elementwise::add_to_f32(x_dev.ptr(), y_dev.ptr(), n, nullptr);
            cuda_check(cudaDeviceSynchronize(), "add_to_f32");
            std::vector<uint32_t> expected(n);
            for (int64_t i = 0; i < n; ++i) expected[i] = bits_of(x[i] + from_bf16(y[i]));
            check_bits(x_dev, expected, "x");
            check_bits(y_dev, y, "y untouched");
        }
    }
}

TEST_CASE("add_bias and add_bias_f32: y[r][c] += bias[c], one rounding", "[elementwise_io]") {
    const uint32_t seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    for (int32_t cols : {896, 576, 8, 37, 1}) {
        for (int32_t rows : {1, 5, 33}) {
            for (auto [y_off, b_off] : {std::pair<size_t, size_t>{0, 0}, {1, 0}, {0, 1}}) {
                INFO("rows " << rows << " cols " << cols << " y offset " << y_off << " bias offset "
                             << b_off);
                const size_t n = static_cast<size_t>(rows) * cols;
                std::vector<float> bias = random_f32(cols, 0.5f, rng);
                Guarded<float> bias_dev(cols, b_off);
                bias_dev.upload(bias);

                std::vector<uint16_t> y = random_bf16(n, 2.0f, rng);
                Guarded<uint16_t> y_dev(n, y_off);
                y_dev.upload(y);
                elementwise::add_bias(y_dev.ptr(), bias_dev.ptr(), rows, cols, nullptr);
                cuda_check(cudaDeviceSynchronize(), "add_bias");
                std::vector<uint16_t> expected(n);
                for (size_t i = 0; i < n; ++i)
                    expected[i] = to_bf16(from_bf16(y[i]) + bias[i % cols]);
                check_bits(y_dev, expected, "bf16 y");

                std::vector<float> yf = random_f32(n, 2.0f, rng);
                Guarded<float> yf_dev(n, y_off);
                yf_dev.upload(yf);
                elementwise::add_bias_f32(yf_dev.ptr(), bias_dev.ptr(), rows, cols, nullptr);
                cuda_check(cudaDeviceSynchronize(), "add_bias_f32");
                std::vector<uint32_t> expected_f(n);
                for (size_t i = 0; i < n; ++i) expected_f[i] = bits_of(yf[i] + bias[i % cols]);
                check_bits(yf_dev, expected_f, "f32 y");
                std::vector<uint32_t> bias_bits(cols);
                for (int32_t c = 0; c < cols; ++c) bias_bits[c] = bits_of(bias[c]);
                check_bits(bias_dev, bias_bits, "bias untouched");
            }
        }
    }
}

TEST_CASE("elementwise io: empty sizes launch nothing", "[elementwise_io]") {
    CHECK_NOTHROW(elementwise::add_to_f32(nullptr, nullptr, 0, nullptr));
    CHECK_NOTHROW(elementwise::f32_to_bf16(nullptr, nullptr, 0, nullptr));
    CHECK_NOTHROW(elementwise::bf16_to_f32(nullptr, nullptr, 0, nullptr));
    CHECK_NOTHROW(elementwise::add_bias(nullptr, nullptr, 0, 16, nullptr));
    CHECK_NOTHROW(elementwise::add_bias_f32(nullptr, nullptr, 0, 16, nullptr));
    CHECK_NOTHROW(embedding::gather(nullptr, nullptr, nullptr, 0, 64, nullptr));
    cuda_check(cudaDeviceSynchronize(), "empty calls");
}

TEST_CASE("elementwise io: bad arguments are INVALID_ARGUMENT", "[elementwise_io]") {
    DeviceBuffer a(4096), b(4096);
    float *f = a.get<float>();
    void *h = b.get();
    check_invalid([&] { elementwise::add_to_f32(f, h, -1, nullptr); }, "n -1");
    check_invalid([&] { elementwise::add_to_f32(nullptr, h, 8, nullptr); }, "null");
    check_invalid([&] { elementwise::add_to_f32(f, nullptr, 8, nullptr); }, "null");
    check_invalid([&] { elementwise::f32_to_bf16(f, h, -5, nullptr); }, "n -5");
    check_invalid([&] { elementwise::f32_to_bf16(f, nullptr, 5, nullptr); }, "null");
    check_invalid([&] { elementwise::bf16_to_f32(nullptr, f, 5, nullptr); }, "null");
    check_invalid([&] { elementwise::add_bias(h, f, -1, 8, nullptr); }, "rows -1");
    check_invalid([&] { elementwise::add_bias(h, f, 2, 0, nullptr); }, "cols 0");
    check_invalid([&] { elementwise::add_bias(h, nullptr, 2, 8, nullptr); }, "null");
    check_invalid([&] { elementwise::add_bias_f32(f, f, 1, -3, nullptr); }, "cols -3");
    check_invalid([&] { elementwise::add_bias_f32(nullptr, f, 1, 8, nullptr); }, "null");
    check_invalid([&] { embedding::gather(h, nullptr, f, 1, 8, nullptr); }, "null");
    check_invalid([&] { embedding::gather(h, nullptr, f, -1, 8, nullptr); }, "rows -1");
    check_invalid([&] { embedding::gather(h, nullptr, f, 1, 0, nullptr); }, "cols 0");
}

}  // namespace
}  // namespace cab::gpu_test
