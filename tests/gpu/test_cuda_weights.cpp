// Backend::load_weights on the CUDA backend: every supported GGUF type, matrices to BF16 (the f32
// dequantization of ggml::dequantize_row rounded to nearest even, bit for bit) and vectors to F32
// (exactly dequantized), a matrix larger than the pinned staging piece, sources joined from
// several tensors, progress calls, and cancellation. Quantized rows are random bytes (rows that
// decode to a non-finite value are drawn again), so every code and scale pattern of a block can
// occur.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend_fixture.h"
#include "model/ggml_types.h"
#include "util/error.h"

namespace cab::gpu_test {
namespace {

// A source tensor: its bytes and the f32 values ggml dequantizes them to.
struct Source {
    ggml::Type type;
    int64_t rows, cols;
    std::vector<uint8_t> bytes;
    std::vector<float> values;
};

Source random_source(ggml::Type type, int64_t rows, int64_t cols, std::mt19937 &rng) {
    Source s{type, rows, cols, {}, {}};
    const size_t row_bytes = ggml::row_bytes(type, cols);
    s.bytes.resize(row_bytes * static_cast<size_t>(rows));
    s.values.resize(static_cast<size_t>(rows * cols));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int64_t r = 0; r < rows; ++r) {
        uint8_t *row = s.bytes.data() + static_cast<size_t>(r) * row_bytes;
        float *out = s.values.data() + r * cols;
        for (bool finite = false; !finite;) {
            if (type == ggml::Type::F32 || type == ggml::Type::F16 || type == ggml::Type::BF16) {
                for (int64_t c = 0; c < cols; ++c) {
                    const float x = normal(rng);
                    if (type == ggml::Type::F32) {
                        std::memcpy(row + 4 * c, &x, 4);
                    } else {
                        const uint16_t h =
                            type == ggml::Type::F16 ? ggml::f32_to_fp16(x) : ggml::f32_to_bf16(x);
                        std::memcpy(row + 2 * c, &h, 2);
                    }
                }
            } else {
                for (size_t i = 0; i < row_bytes; ++i) row[i] = static_cast<uint8_t>(rng());
            }
            ggml::dequantize_row(type, row, out, cols);
            finite = true;
            for (int64_t c = 0; c < cols; ++c) finite = finite && std::isfinite(out[c]);
        }
    }
    return s;
}

TEST_CASE("CUDA load_weights: every type, bf16 matrices and f32 vectors", "[cuda][weights]") {
    std::mt19937 rng(31);
    using T = ggml::Type;
    std::vector<Source> sources;
    sources.push_back(random_source(T::F32, 37, 64, rng));
    sources.push_back(random_source(T::BF16, 19, 96, rng));
    // 4100 rows of 4096: more than one 32 MiB staging piece.
    sources.push_back(random_source(T::F16, 4100, 4096, rng));
    for (const T t :
         {T::Q4_0, T::Q4_1, T::Q5_0, T::Q5_1, T::Q8_0, T::Q2_K, T::Q3_K, T::Q4_K, T::Q5_K, T::Q6_K})
        sources.push_back(random_source(t, 9, 512, rng));
    sources.push_back(random_source(T::Q8_0, 1, 256, rng));  // a vector: F32
    sources.push_back(random_source(T::F32, 1, 64, rng));
    std::vector<Backend::WeightSource> ws;
    for (const Source &s : sources) ws.push_back({s.type, s.bytes.data(), s.rows, s.cols});

    std::vector<size_t> done;
    const std::vector<Tensor> t = gpu().load_weights(ws, [&](size_t d, size_t total) {
        CHECK(total == ws.size());
        done.push_back(d);
        return true;
    });
    REQUIRE(t.size() == sources.size());
    REQUIRE(done.size() == sources.size());
    for (size_t i = 0; i < done.size(); ++i) CHECK(done[i] == i + 1);

    auto ex = gpu().make_executor(1);
    for (size_t i = 0; i < sources.size(); ++i) {
        const Source &s = sources[i];
        INFO("tensor " << i << ": " << ggml::traits(s.type).name << " " << s.rows << " x "
                       << s.cols);
        CHECK(t[i].rows() == s.rows);
        CHECK(t[i].cols() == s.cols);
        const bool vector = s.rows == 1;
        CHECK(t[i].dtype() == (vector ? DType::F32 : DType::BF16));
        std::vector<float> want = s.values;
        if (!vector)
            for (float &x : want) x = ggml::bf16_to_f32(ggml::f32_to_bf16(x));
        check_close(read(*ex, t[i]), want, 0.0, 0.0, "weights");
    }
}

TEST_CASE("CUDA load_weights: joined parts, matrices stacked by rows and vectors end to end",
          "[cuda][weights]") {
    std::mt19937 rng(32);
    using T = ggml::Type;
    using Part = Backend::WeightSource::Part;
    // A fused QKV-like matrix of three types (more than one 32 MiB staging piece), a joined
    // bias, and a plain tensor after them.
    const Source q = random_source(T::Q8_0, 24, 4096, rng),
                 k = random_source(T::F16, 4100, 4096, rng),
                 v = random_source(T::Q4_K, 16, 4096, rng);
    const Source bq = random_source(T::F32, 1, 96, rng), bk = random_source(T::F32, 1, 32, rng);
    const Source plain = random_source(T::BF16, 5, 64, rng);
    auto part = [](const Source &s) { return Part{s.type, s.bytes.data(), s.rows, s.cols}; };
    std::vector<Backend::WeightSource> ws;
    ws.emplace_back(std::vector<Part>{part(q), part(k), part(v)}, q.rows + k.rows + v.rows, 4096);
    ws.emplace_back(std::vector<Part>{part(bq), part(bk)}, 1, bq.cols + bk.cols);
    ws.push_back({plain.type, plain.bytes.data(), plain.rows, plain.cols});
    const std::vector<Tensor> t = gpu().load_weights(ws, nullptr);
    REQUIRE(t.size() == 3);
    auto ex = gpu().make_executor(1);
    auto joined = [](std::initializer_list<const Source *> parts, bool round) {
        std::vector<float> all;
        for (const Source *s : parts)
            for (float x : s->values)
                all.push_back(round ? ggml::bf16_to_f32(ggml::f32_to_bf16(x)) : x);
        return all;
    };
    CHECK((t[0].dtype() == DType::BF16 && t[0].rows() == q.rows + k.rows + v.rows));
    check_close(read(*ex, t[0]), joined({&q, &k, &v}, true), 0.0, 0.0, "stacked matrix");
    CHECK((t[1].dtype() == DType::F32 && t[1].rows() == 1 && t[1].cols() == 128));
    check_close(read(*ex, t[1]), joined({&bq, &bk}, false), 0.0, 0.0, "joined vector");
    check_close(read(*ex, t[2]), joined({&plain}, true), 0.0, 0.0, "plain matrix");

    std::vector<Backend::WeightSource> bad;
    bad.emplace_back(std::vector<Part>{part(q), part(v)}, q.rows + v.rows + 1, 4096);
    try {
        gpu().load_weights(bad, nullptr);
        FAIL("no error");
    } catch (const Error &e) {
        CHECK(e.status() == CAB_ERR_INVALID_ARGUMENT);
        CHECK(std::string(e.what()).find("41 x 4096") != std::string::npos);
    }
}

TEST_CASE("CUDA load_weights: cancellation and unsupported types", "[cuda][weights]") {
    std::mt19937 rng(8);
    std::vector<Source> sources;
    for (int i = 0; i < 4; ++i) sources.push_back(random_source(ggml::Type::F16, 64, 64, rng));
    std::vector<Backend::WeightSource> ws;
    for (const Source &s : sources) ws.push_back({s.type, s.bytes.data(), s.rows, s.cols});
    try {
        gpu().load_weights(ws, [](size_t d, size_t) { return d < 2; });
        FAIL("no error");
    } catch (const Error &e) {
        CHECK(e.status() == CAB_ERR_STATE);
        CHECK(std::string(e.what()).find("cancelled") != std::string::npos);
    }
    ws[1].parts[0].type = ggml::Type::Q8_1;  // known to GGUF, without a dequantizer
    try {
        gpu().load_weights(ws, nullptr);
        FAIL("no error");
    } catch (const Error &e) {
        CHECK(e.status() == CAB_ERR_UNSUPPORTED);
        CHECK(std::string(e.what()).find("Q8_1") != std::string::npos);
    }
}

}  // namespace
}  // namespace cab::gpu_test
