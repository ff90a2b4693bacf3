// The fp8 E4M3 element format of 8-bit KV blocks (kv/quant_q8.h): every code's value against the
// OCP definition computed here on its own, encoding as the nearest code with ties to even and
// saturation at +-448 (what CUDA's cvt.rn.satfinite gives, which the GPU tests check on the
// device), and rows quantized with their scale.
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "kv/quant_q8.h"

using namespace cab;

namespace {

// sign * 2^(e - 7) * (1 + m / 8), or sign * 2^-6 * m / 8 for e = 0; e = 15, m = 7 is NaN.
double reference_value(int code) {
    const int e = (code >> 3) & 15, m = code & 7;
    const double a = e == 0 ? std::ldexp(m / 8.0, -6) : std::ldexp(1.0 + m / 8.0, e - 7);
    return code & 0x80 ? -a : a;
}

bool is_nan_code(int code) {
    return (code & 0x7f) == 0x7f;
}

}  // namespace

TEST_CASE("fp8 E4M3: every code's value, and each value encodes back to its code", "[kv][fp8]") {
    for (int code = 0; code < 256; ++code) {
        INFO("code " << code);
        const float v = fp8_e4m3_to_float(static_cast<uint8_t>(code));
        if (is_nan_code(code)) {
            CHECK(std::isnan(v));
            continue;
        }
        CHECK(static_cast<double>(v) == reference_value(code));
        CHECK(fp8_e4m3_from_float(v) == code);
    }
    CHECK(fp8_e4m3_to_float(0x7e) == 448.0f);
    CHECK(fp8_e4m3_to_float(0x01) == 0x1p-9f);
    CHECK(fp8_e4m3_to_float(0x08) == 0x1p-6f);
}

TEST_CASE("fp8 E4M3: encoding rounds to the nearest code, ties to even, and saturates",
          "[kv][fp8]") {
    // Between every two neighbouring finite codes of one sign: just below the midpoint goes down,
    // just above goes up, the midpoint to the code with an even mantissa.
    for (int code = 0; code < 0x7e; ++code) {
        const float lo = fp8_e4m3_to_float(static_cast<uint8_t>(code));
        const float hi = fp8_e4m3_to_float(static_cast<uint8_t>(code + 1));
        const float mid = (lo + hi) / 2;  // exact: both have few significant bits
        INFO("codes " << code << ", " << code + 1);
        CHECK(fp8_e4m3_from_float(std::nextafter(mid, lo)) == code);
        CHECK(fp8_e4m3_from_float(std::nextafter(mid, hi)) == code + 1);
        CHECK(fp8_e4m3_from_float(mid) == ((code & 1) == 0 ? code : code + 1));
        CHECK(fp8_e4m3_from_float(-mid) == (0x80 | ((code & 1) == 0 ? code : code + 1)));
    }
    CHECK(fp8_e4m3_from_float(464.0f) == 0x7e);
    CHECK(fp8_e4m3_from_float(1e30f) == 0x7e);
    CHECK(fp8_e4m3_from_float(-std::numeric_limits<float>::infinity()) == 0xfe);
    CHECK(fp8_e4m3_from_float(std::numeric_limits<float>::quiet_NaN()) == 0x7f);
    CHECK(fp8_e4m3_from_float(0x1p-11f) == 0x00);  // half of the smallest code: ties to 0
    CHECK(fp8_e4m3_from_float(-0.0f) == 0x80);
}

TEST_CASE("fp8 E4M3 rows: the largest element at 448, the others within 1/16 of themselves",
          "[kv][fp8]") {
    std::mt19937 rng(std::random_device{}());
    std::normal_distribution<float> nd;
    for (int trial = 0; trial < 200; ++trial) {
        std::vector<float> x(64);
        for (float &v : x) v = nd(rng) * std::ldexp(1.0f, trial % 40 - 20);
        x[trial % 64] *= 50.0f;  // an outlier
        std::vector<uint8_t> q(x.size());
        const float scale = quantize_row_fp8(x.data(), static_cast<int64_t>(x.size()), q.data());
        float amax = 0.0f;
        for (float v : x) amax = std::max(amax, std::fabs(v));
        CHECK(scale == amax / kFp8Max);
        std::vector<float> y(x.size());
        dequantize_row_fp8(q.data(), scale, static_cast<int64_t>(x.size()), y.data());
        for (size_t i = 0; i < x.size(); ++i) {
            INFO("trial " << trial << ", element " << i << ": " << x[i] << " -> " << y[i]);
            const float scaled = x[i] * (kFp8Max / amax);
            CHECK(q[i] == fp8_e4m3_from_float(scaled));
            // Half a step of 3 mantissa bits, or of the smallest codes' 2^-9 below 2^-6.
            const double step = std::fabs(scaled) < 0x1p-6f
                                    ? 0x1p-9
                                    : std::ldexp(1.0, std::ilogb(std::fabs(scaled)) - 3);
            CHECK(std::fabs(static_cast<double>(fp8_e4m3_to_float(q[i])) - scaled) <= step / 2);
            CHECK(y[i] == fp8_e4m3_to_float(q[i]) * scale);
        }
    }
    std::vector<float> zeros(16, 0.0f);
    std::vector<uint8_t> q(16, 0xff);
    CHECK(quantize_row_fp8(zeros.data(), 16, q.data()) == 0.0f);
    CHECK(q == std::vector<uint8_t>(16, 0));
}
