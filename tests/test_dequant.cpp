// Weight types: traits, fp16/bf16 conversions and dequantization against the gguf Python
// package (tests/golden/dequant.gguf, written by tools/golden/make_dequant_golden.py).
//
// Tolerance: bit-exact. libcab's dequantizers perform ggml's float operations in ggml's order
// ((d * q) + m, (d * sc) * q, ...), which is also what gguf-py computes with numpy float32, and
// the build is ISO C++ (GCC then uses -ffp-contract=off), so no multiply-add is fused and every
// result is the same correctly rounded float. A one-ulp difference would reveal a changed
// formula or evaluation order, which is worth a failing test.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "model/ggml_types.h"
#include "model/gguf.h"
#include "test_paths.h"
#include "util/error.h"

using cab::ggml::Type;
using cab::gguf::File;

namespace {

uint32_t bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

std::unique_ptr<File> open_golden() {
    const std::string path = cab::test::golden_path("dequant.gguf");
    INFO(path << " is missing: run tools/golden/make_dequant_golden.py");
    REQUIRE(cab::test::file_exists(path));
    return File::open(path);
}

const cab::gguf::TensorInfo &tensor(const File &f, const std::string &name) {
    const auto *t = f.tensor(name);
    INFO("tensor " << name);
    REQUIRE(t != nullptr);
    return *t;
}

std::vector<float> f32_values(const cab::gguf::TensorInfo &t) {
    REQUIRE(t.type == Type::F32);
    std::vector<float> v(static_cast<size_t>(t.n_elements()));
    std::memcpy(v.data(), t.data, v.size() * sizeof(float));
    return v;
}

std::vector<uint16_t> u16_values(const cab::gguf::TensorInfo &t) {
    std::vector<uint16_t> v(static_cast<size_t>(t.n_elements()));
    std::memcpy(v.data(), t.data, v.size() * sizeof(uint16_t));
    return v;
}

Type type_named(const std::string &name) {
    for (uint32_t id = 0; id < 64; ++id) {
        const auto *t = cab::ggml::traits_of(id);
        if (t != nullptr && name == t->name) return static_cast<Type>(id);
    }
    FAIL("no ggml type named " << name);
    return Type::F32;
}

// Dequantizes the given rows of `q` and requires them to equal `ref` (rows of ne[0] floats)
// bit for bit; reports how many elements differ and the first difference.
void check_rows(const cab::gguf::TensorInfo &q, const std::vector<int64_t> &rows,
                const std::vector<float> &ref) {
    const int64_t n = q.ne[0];
    REQUIRE(ref.size() == rows.size() * static_cast<size_t>(n));
    const size_t row_bytes = cab::ggml::row_bytes(q.type, n);
    std::vector<float> out(static_cast<size_t>(n));
    size_t mismatches = 0;
    std::ostringstream first;
    for (size_t r = 0; r < rows.size(); ++r) {
        const auto *src = static_cast<const uint8_t *>(q.data) + rows[r] * row_bytes;
        cab::ggml::dequantize_row(q.type, src, out.data(), n);
        for (int64_t j = 0; j < n; ++j) {
            const float want = ref[r * static_cast<size_t>(n) + static_cast<size_t>(j)];
            if (bits(out[static_cast<size_t>(j)]) != bits(want)) {
                if (mismatches++ == 0) {
                    first << "row " << rows[r] << " element " << j << ": got "
                          << out[static_cast<size_t>(j)] << ", expected " << want;
                }
            }
        }
    }
    INFO(q.name << ": " << mismatches << " elements differ; first: " << first.str());
    CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("dequant: type traits match ggml's block layouts", "[dequant]") {
    struct Want {
        Type type;
        const char *name;
        int64_t block;
        size_t bytes;
    };
    const Want wants[] = {
        {Type::F32, "F32", 1, 4},       {Type::F16, "F16", 1, 2},
        {Type::BF16, "BF16", 1, 2},     {Type::Q4_0, "Q4_0", 32, 18},
        {Type::Q4_1, "Q4_1", 32, 20},   {Type::Q5_0, "Q5_0", 32, 22},
        {Type::Q5_1, "Q5_1", 32, 24},   {Type::Q8_0, "Q8_0", 32, 34},
        {Type::Q8_1, "Q8_1", 32, 36},   {Type::Q2_K, "Q2_K", 256, 84},
        {Type::Q3_K, "Q3_K", 256, 110}, {Type::Q4_K, "Q4_K", 256, 144},
        {Type::Q5_K, "Q5_K", 256, 176}, {Type::Q6_K, "Q6_K", 256, 210},
        {Type::Q8_K, "Q8_K", 256, 292},
    };
    for (const Want &w : wants) {
        INFO(w.name);
        const auto &t = cab::ggml::traits(w.type);
        CHECK(std::string(t.name) == w.name);
        CHECK(t.block_size == w.block);
        CHECK(t.block_bytes == w.bytes);
        CHECK(cab::ggml::traits_of(static_cast<uint32_t>(w.type)) == &t);
        CHECK(t.dequantizable == (w.type != Type::Q8_1));
    }
    CHECK(cab::ggml::traits_of(4) == nullptr);
    CHECK(cab::ggml::traits_of(16) == nullptr);
    CHECK(std::string(cab::ggml::ggml_type_name(16)) == "IQ2_XXS");
    CHECK(std::string(cab::ggml::ggml_type_name(14)) == "Q6_K");
    CHECK(cab::ggml::ggml_type_name(1000) == nullptr);

    CHECK(cab::ggml::row_bytes(Type::Q4_1, 576) == 360);
    CHECK(cab::ggml::row_bytes(Type::Q8_0, 576) == 612);
    CHECK(cab::ggml::row_bytes(Type::F16, 3) == 6);
    CHECK_THROWS_AS(cab::ggml::row_bytes(Type::Q4_K, 576), cab::Error);
    CHECK_THROWS_AS(cab::ggml::row_bytes(Type::F32, -1), cab::Error);
}

TEST_CASE("dequant: every type matches the gguf package bit for bit", "[dequant]") {
    const auto golden = open_golden();
    const auto &types = golden->get_string_array("golden.types");
    CHECK(types.size() == 13);
    for (std::string_view name_view : types) {
        const std::string name(name_view);
        INFO("type " << name);
        const Type type = type_named(name);
        const auto &q = tensor(*golden, name + ".q");
        const auto &ref = tensor(*golden, name + ".ref");
        REQUIRE(q.type == type);
        REQUIRE(ref.ne[0] == q.ne[0]);
        REQUIRE(ref.n_rows() == q.n_rows());
        std::vector<int64_t> rows;
        for (int64_t r = 0; r < q.n_rows(); ++r) rows.push_back(r);
        check_rows(q, rows, f32_values(ref));
    }
}

TEST_CASE("dequant: fp16 and bf16 conversions match numpy and gguf-py", "[dequant]") {
    const auto golden = open_golden();
    const std::vector<float> src = f32_values(tensor(*golden, "convert.src"));
    const auto &f16_t = tensor(*golden, "convert.f16");
    const auto &bf16_t = tensor(*golden, "convert.bf16");
    REQUIRE(f16_t.type == Type::F16);
    REQUIRE(bf16_t.type == Type::BF16);
    const std::vector<uint16_t> f16 = u16_values(f16_t);
    const std::vector<uint16_t> bf16 = u16_values(bf16_t);
    const std::vector<float> f16_ref = f32_values(tensor(*golden, "convert.f16.ref"));
    REQUIRE(f16.size() == src.size());
    REQUIRE(bf16.size() == src.size());
    for (size_t i = 0; i < src.size(); ++i) {
        INFO("value " << i << " = " << src[i] << " (bits 0x" << std::hex << bits(src[i]) << ")");
        CHECK(cab::ggml::f32_to_fp16(src[i]) == f16[i]);
        CHECK(cab::ggml::f32_to_bf16(src[i]) == bf16[i]);
        const float back = cab::ggml::fp16_to_f32(f16[i]);
        if (std::isnan(f16_ref[i])) {
            CHECK(std::isnan(back));
        } else {
            CHECK(bits(back) == bits(f16_ref[i]));
        }
    }
}

TEST_CASE("dequant: fp16 and bf16 round-trip every 16-bit pattern", "[dequant]") {
    float prev = -1.0f;
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = cab::ggml::fp16_to_f32(static_cast<uint16_t>(h));
        const bool nan = (h & 0x7C00) == 0x7C00 && (h & 0x03FF) != 0;
        INFO("half 0x" << std::hex << h);
        REQUIRE(std::isnan(f) == nan);
        if (!nan) REQUIRE(cab::ggml::f32_to_fp16(f) == h);
        if (h <= 0x7C00) {  // non-negative halves in order: values strictly increase
            REQUIRE(f > prev);
            prev = f;
        }
        const float b = cab::ggml::bf16_to_f32(static_cast<uint16_t>(h));
        if (!std::isnan(b)) REQUIRE(cab::ggml::f32_to_bf16(b) == h);
    }
    CHECK(cab::ggml::fp16_to_f32(0x3C00) == 1.0f);
    CHECK(cab::ggml::fp16_to_f32(0x0001) == std::ldexp(1.0f, -24));
    CHECK(cab::ggml::fp16_to_f32(0x7BFF) == 65504.0f);
    CHECK(cab::ggml::fp16_to_f32(0xFC00) == -INFINITY);
    CHECK(cab::ggml::f32_to_fp16(65520.0f) == 0x7C00);  // rounds to inf
    CHECK(cab::ggml::f32_to_fp16(NAN) == 0x7E00);
    CHECK(cab::ggml::f32_to_bf16(1.00390625f) == 0x3F80);  // tie to even
    CHECK(cab::ggml::f32_to_bf16(1.01171875f) == 0x3F82);  // tie to even, rounding up
}

TEST_CASE("dequant: SmolLM2 rows of token_embd (Q8_0) and blk.0.attn_q (Q4_1) match gguf-py",
          "[dequant]") {
    const std::string path = cab::test::models_path("SmolLM2-135M-Instruct.Q4_1.gguf");
    INFO("model file " << path << " is missing: run tools/setup.sh");
    REQUIRE(cab::test::file_exists(path));
    const auto model = File::open(path);
    const auto golden = open_golden();
    INFO("tests/golden/dequant.gguf was made from another model file");
    REQUIRE(golden->get_i64("smollm2.file_size", -1) == static_cast<int64_t>(model->size()));

    for (const std::string name : {"token_embd", "blk.0.attn_q"}) {
        INFO("tensor " << name);
        const auto &q = tensor(*model, name + ".weight");
        CHECK(q.type == type_named(golden->get_string("smollm2." + name + ".type")));
        const std::vector<int32_t> ids = golden->get_i32_array("smollm2." + name + ".row_ids");
        REQUIRE(ids.size() >= 4);
        check_rows(q, std::vector<int64_t>(ids.begin(), ids.end()),
                   f32_values(tensor(*golden, "smollm2." + name + ".rows")));
    }
    CHECK(tensor(*model, "token_embd.weight").type == Type::Q8_0);
    CHECK(tensor(*model, "blk.0.attn_q.weight").type == Type::Q4_1);
}

TEST_CASE("dequant: Q8_K by hand, unsupported types and bad lengths", "[dequant]") {
    // Q8_K: {f32 d; i8 qs[256]; i16 bsums[16]}, y = d * q.
    std::vector<uint8_t> block(292, 0);
    const float d = 0.375f;
    std::memcpy(block.data(), &d, 4);
    for (int j = 0; j < 256; ++j) block[4 + j] = static_cast<uint8_t>(j);
    std::vector<float> out(256);
    cab::ggml::dequantize_row(Type::Q8_K, block.data(), out.data(), 256);
    for (int j = 0; j < 256; ++j) {
        CHECK(out[j] == d * static_cast<float>(static_cast<int8_t>(j)));
    }

    const auto status_of = [&](Type type, int64_t n) {
        try {
            cab::ggml::dequantize_row(type, block.data(), out.data(), n);
        } catch (const cab::Error &e) {
            return e.status();
        }
        return CAB_OK;
    };
    CHECK(status_of(Type::Q8_1, 32) == CAB_ERR_UNSUPPORTED);
    CHECK(status_of(Type::Q4_0, 33) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(status_of(Type::Q4_0, -32) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(status_of(Type::Q4_0, 0) == CAB_OK);
}
