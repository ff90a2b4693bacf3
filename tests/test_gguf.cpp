// GGUF reader: round trips through the test builder, the real SmolLM2 file, and corrupt input.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "gguf_builder.h"
#include "model/gguf.h"
#include "test_paths.h"
#include "util/error.h"

using cab::gguf::File;
using cab::gguf::ValueType;
using cab::test::ByteWriter;
using cab::test::GgufBuilder;
using Type = cab::ggml::Type;

namespace {

std::unique_ptr<File> parse(const std::vector<uint8_t> &b) {
    return File::from_memory(b.data(), b.size());
}

// Requires f() to throw cab::Error with `status` and a message containing `needle`.
template <typename F>
void require_error(F &&f, cab_status status, const std::string &needle) {
    try {
        f();
    } catch (const cab::Error &e) {
        INFO("message: " << e.what());
        CHECK(e.status() == status);
        CHECK_THAT(e.what(), Catch::Contains(needle));
        return;
    }
    FAIL("no cab::Error thrown; expected one mentioning '" << needle << "'");
}

void require_format_error(const std::vector<uint8_t> &b, const std::string &needle) {
    require_error([&] { parse(b); }, CAB_ERR_FORMAT, needle);
}

std::string temp_path(const std::string &name) {
    return "/tmp/cab_test_gguf_" + std::to_string(::getpid()) + "_" + name;
}

void write_file(const std::string &path, const std::vector<uint8_t> &b) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char *>(b.data()), static_cast<std::streamsize>(b.size()));
}

template <typename T>
T element(const cab::gguf::Value &v, size_t k) {
    T x;
    std::memcpy(&x, v.array_data + k * sizeof(T), sizeof(T));
    return x;
}

// A file with every value type, arrays of each, nested arrays and three tensors.
GgufBuilder full_builder(uint32_t alignment) {
    GgufBuilder b;
    b.alignment(alignment)
        .add_u8("t.u8", 200)
        .add_i8("t.i8", -100)
        .add_u16("t.u16", 60000)
        .add_i16("t.i16", -30000)
        .add_u32("t.u32", 4000000000u)
        .add_i32("t.i32", -2000000000)
        .add_u64("t.u64", (1ull << 63) + 5)
        .add_i64("t.i64", -(1ll << 62))
        .add_f32("t.f32", 1.5f)
        .add_f64("t.f64", -2.25)
        .add_bool("t.bool", true)
        .add_string("t.str", "h\xc3\xa9llo")
        .add_string("t.empty", "")
        .add_array<uint8_t>("a.u8", ValueType::UINT8, {1, 2, 255})
        .add_array<int8_t>("a.i8", ValueType::INT8, {-1, 5})
        .add_array<uint16_t>("a.u16", ValueType::UINT16, {65535})
        .add_array<int16_t>("a.i16", ValueType::INT16, {-2, 3})
        .add_array<uint32_t>("a.u32", ValueType::UINT32, {7, 4000000000u})
        .add_array<int32_t>("a.i32", ValueType::INT32, {-5, 7})
        .add_array<uint64_t>("a.u64", ValueType::UINT64, {1ull << 40})
        .add_array<int64_t>("a.i64", ValueType::INT64, {-(1ll << 40), 3})
        .add_array<float>("a.f32", ValueType::FLOAT32, {0.5f, -1.25f})
        .add_array<double>("a.f64", ValueType::FLOAT64, {3.5})
        .add_array<uint8_t>("a.bool", ValueType::BOOL, {1, 0, 1})
        .add_array<int32_t>("a.empty", ValueType::INT32, {})
        .add_string_array("a.str", {"a", "", "ccc"})
        .add_value("a.nested", ValueType::ARRAY,
                   cab::test::encode_array_of_arrays(
                       {cab::test::encode_array<uint32_t>(ValueType::UINT32, {1, 2}),
                        cab::test::encode_string_array({"x", "y"})}));
    std::vector<float> a(8);
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i) - 3.5f;
    std::vector<uint8_t> q8(2 * 34);
    for (size_t i = 0; i < q8.size(); ++i) q8[i] = static_cast<uint8_t>(i * 7);
    b.add_tensor("a", Type::F32, {4, 2}, cab::test::to_bytes(a))
        .add_tensor("b", Type::F16, {32}, std::vector<uint8_t>(64, 0x3c))
        .add_tensor("c", Type::Q8_0, {64, 1}, q8);
    return b;
}

// A small valid file whose last byte is tensor data, for truncation tests.
std::vector<uint8_t> small_file() {
    GgufBuilder b;
    b.add_string("general.architecture", "llama")
        .add_u32("llama.block_count", 2)
        .add_string_array("tokenizer.ggml.tokens", {"<s>", "hi"})
        .add_array<float>("tokenizer.ggml.scores", ValueType::FLOAT32, {0.f, -1.f})
        .add_tensor("x", Type::F32, {4}, std::vector<uint8_t>(16, 1))
        .add_tensor("y", Type::Q4_0, {32}, std::vector<uint8_t>(18, 2));
    return b.build();
}

GgufBuilder::Tensor raw_tensor(std::vector<uint64_t> ne, uint32_t type_id = 0,
                               std::vector<uint8_t> data = std::vector<uint8_t>(16, 0)) {
    return GgufBuilder::Tensor{"w",          type_id,         std::move(ne),
                               std::nullopt, std::move(data), std::nullopt};
}

}  // namespace

TEST_CASE("gguf: round trip of every value type, arrays and tensors", "[gguf]") {
    const uint32_t alignment = GENERATE(32u, 64u);
    const std::vector<uint8_t> bytes = full_builder(alignment).build();
    const auto f = parse(bytes);

    CHECK(f->version() == 3);
    CHECK(f->alignment() == alignment);
    CHECK(f->data_offset() % alignment == 0);
    CHECK(f->metadata().size() == 28);

    CHECK(f->find("t.u8")->type == ValueType::UINT8);
    CHECK(f->find("t.u8")->u == 200);
    CHECK(f->find("t.i8")->i == -100);
    CHECK(f->find("t.u16")->u == 60000);
    CHECK(f->find("t.i16")->i == -30000);
    CHECK(f->get_u32("t.u32") == 4000000000u);
    CHECK(f->find("t.i32")->i == -2000000000);
    CHECK(f->find("t.u64")->u == (1ull << 63) + 5);
    CHECK(f->find("t.i64")->i == -(1ll << 62));
    CHECK(f->get_f32("t.f32") == 1.5f);
    CHECK(f->find("t.f64")->f == -2.25);
    CHECK(f->get_bool("t.bool", false));
    CHECK(f->get_string("t.str") == "h\xc3\xa9llo");
    CHECK(f->get_string("t.empty").empty());

    const auto *u8 = f->find("a.u8");
    REQUIRE(u8->n == 3);
    CHECK(u8->elem_type == ValueType::UINT8);
    CHECK(element<uint8_t>(*u8, 2) == 255);
    CHECK(element<int8_t>(*f->find("a.i8"), 0) == -1);
    CHECK(element<uint16_t>(*f->find("a.u16"), 0) == 65535);
    CHECK(element<int16_t>(*f->find("a.i16"), 1) == 3);
    CHECK(element<uint32_t>(*f->find("a.u32"), 1) == 4000000000u);
    CHECK(f->get_i32_array("a.i32") == std::vector<int32_t>{-5, 7});
    CHECK(element<uint64_t>(*f->find("a.u64"), 0) == 1ull << 40);
    CHECK(element<int64_t>(*f->find("a.i64"), 0) == -(1ll << 40));
    CHECK(f->get_f32_array("a.f32") == std::vector<float>{0.5f, -1.25f});
    CHECK(f->get_f32_array("a.f64") == std::vector<float>{3.5f});
    CHECK(element<uint8_t>(*f->find("a.bool"), 2) == 1);
    CHECK(f->get_i32_array("a.empty").empty());
    CHECK(f->get_string_array("a.str") == std::vector<std::string_view>{"a", "", "ccc"});

    const auto *nested = f->find("a.nested");
    REQUIRE(nested->elem_type == ValueType::ARRAY);
    REQUIRE(nested->arrays.size() == 2);
    CHECK(nested->arrays[0].elem_type == ValueType::UINT32);
    CHECK(element<uint32_t>(nested->arrays[0], 1) == 2);
    CHECK(nested->arrays[1].strings == std::vector<std::string_view>{"x", "y"});

    REQUIRE(f->tensors().size() == 3);
    const auto *a = f->tensor("a");
    REQUIRE(a != nullptr);
    CHECK(a->type == Type::F32);
    CHECK(a->n_dims == 2);
    CHECK(a->ne[0] == 4);
    CHECK(a->ne[1] == 2);
    CHECK(a->n_elements() == 8);
    CHECK(a->n_rows() == 2);
    CHECK(a->nbytes == 32);
    float a5;
    std::memcpy(&a5, static_cast<const uint8_t *>(a->data) + 20, 4);
    CHECK(a5 == 1.5f);
    const auto *c = f->tensor("c");
    REQUIRE(c != nullptr);
    CHECK(c->nbytes == 68);
    CHECK(std::memcmp(c->data, bytes.data() + f->data_offset() + c->offset, 68) == 0);
    CHECK(static_cast<const uint8_t *>(c->data)[67] == static_cast<uint8_t>(67 * 7));
    for (const auto &t : f->tensors()) {
        CHECK(t.offset % alignment == 0);
        CHECK(static_cast<const uint8_t *>(t.data) == bytes.data() + f->data_offset() + t.offset);
    }
    CHECK(f->tensor("missing") == nullptr);
    CHECK(f->find("missing") == nullptr);
}

TEST_CASE("gguf: version 2 files and files without tensors parse", "[gguf]") {
    const std::vector<uint8_t> bytes = GgufBuilder().version(2).add_u32("k", 1).build();
    const auto f = parse(bytes);
    CHECK(f->version() == 2);
    CHECK(f->tensors().empty());
    CHECK(f->alignment() == 32);
}

TEST_CASE("gguf: typed getters check types, ranges and fallbacks", "[gguf]") {
    const std::vector<uint8_t> bytes = full_builder(32).build();
    const auto f = parse(bytes);
    CHECK(f->get_u32("t.u8") == 200);
    CHECK(f->get_u32("t.u16") == 60000);
    CHECK(f->get_u32("missing", 9) == 9);
    CHECK(f->get_i64("t.i32", 0) == -2000000000);
    CHECK(f->get_i64("t.u32", 0) == 4000000000ll);
    CHECK(f->get_i64("missing", -4) == -4);
    CHECK(f->get_f32("t.f64") == -2.25f);
    CHECK(f->get_f32("t.i16") == -30000.f);
    CHECK(f->get_f32("missing", 0.25f) == 0.25f);
    CHECK(f->get_string("missing", "dflt") == "dflt");
    CHECK(f->get_bool("missing", true));
    CHECK(f->get_i32_array("a.u8") == std::vector<int32_t>{1, 2, 255});

    require_error([&] { f->get_u32("t.i8"); }, CAB_ERR_FORMAT, "'t.i8' is an int8 of value -100");
    require_error([&] { f->get_u32("t.u64"); }, CAB_ERR_FORMAT, "'t.u64'");
    require_error([&] { f->get_u32("t.str"); }, CAB_ERR_FORMAT, "'t.str' is a string");
    require_error([&] { f->get_u32("t.str", 3); }, CAB_ERR_FORMAT, "'t.str'");
    require_error([&] { f->get_u32("nope"); }, CAB_ERR_FORMAT, "missing key 'nope'");
    require_error([&] { f->get_i64("t.u64", 0); }, CAB_ERR_FORMAT, "'t.u64'");
    require_error([&] { f->get_f32("t.str"); }, CAB_ERR_FORMAT, "'t.str'");
    require_error([&] { f->get_string("t.u8"); }, CAB_ERR_FORMAT, "'t.u8' is a uint8");
    require_error([&] { f->get_bool("t.u8", false); }, CAB_ERR_FORMAT, "'t.u8'");
    require_error([&] { f->get_string_array("a.i32"); }, CAB_ERR_FORMAT, "array of int32");
    require_error([&] { f->get_f32_array("a.i32"); }, CAB_ERR_FORMAT, "'a.i32'");
    require_error([&] { f->get_i32_array("a.str"); }, CAB_ERR_FORMAT, "'a.str'");
    require_error([&] { f->get_i32_array("a.u32"); }, CAB_ERR_FORMAT, "element 1");
    require_error([&] { f->get_i32_array("a.f32"); }, CAB_ERR_FORMAT, "'a.f32'");
}

TEST_CASE("gguf: open() maps a file from disk; missing files are IO errors", "[gguf]") {
    const std::string path = temp_path("ok.gguf");
    const std::vector<uint8_t> bytes = full_builder(64).build();
    write_file(path, bytes);
    {
        const auto f = File::open(path);
        CHECK(f->path() == path);
        CHECK(f->size() == bytes.size());
        CHECK(f->get_string("t.str") == "h\xc3\xa9llo");
        CHECK(std::memcmp(f->tensor("c")->data, parse(bytes)->tensor("c")->data, 68) == 0);
    }
    std::remove(path.c_str());

    require_error([] { File::open("/nonexistent/dir/model.gguf"); }, CAB_ERR_IO,
                  "No such file or directory");
    require_error([] { File::open("/tmp"); }, CAB_ERR_IO, "Is a directory");
    const std::string empty = temp_path("empty.gguf");
    write_file(empty, {});
    require_error([&] { File::open(empty); }, CAB_ERR_FORMAT, "magic");
    std::remove(empty.c_str());
    require_error([] { File::from_memory(nullptr, 0); }, CAB_ERR_FORMAT, "magic");
}

TEST_CASE("gguf: SmolLM2 metadata and tensor table", "[gguf]") {
    const std::string path = cab::test::models_path("SmolLM2-135M-Instruct.Q4_1.gguf");
    INFO("model file " << path << " is missing: run tools/setup.sh");
    REQUIRE(cab::test::file_exists(path));
    const auto f = File::open(path);
    CHECK(f->version() == 3);
    CHECK(f->alignment() == 32);
    CHECK(f->data_offset() == 1785664);
    CHECK(f->get_string("general.architecture") == "llama");
    CHECK(f->get_u32("llama.block_count") == 30);
    CHECK(f->get_u32("llama.embedding_length") == 576);
    CHECK(f->get_u32("llama.attention.head_count") == 9);
    CHECK(f->get_u32("llama.attention.head_count_kv") == 3);
    CHECK(f->get_f32("llama.rope.freq_base") == 100000.0f);
    CHECK(f->get_string("tokenizer.ggml.model") == "gpt2");
    CHECK(f->get_string("tokenizer.ggml.pre") == "smollm");
    const auto &tokens = f->get_string_array("tokenizer.ggml.tokens");
    CHECK(tokens.size() == 49152);
    CHECK(tokens[1] == "<|im_start|>");
    CHECK(f->get_i32_array("tokenizer.ggml.token_type").size() == 49152);
    const auto &merges = f->get_string_array("tokenizer.ggml.merges");
    CHECK(merges.size() == 48900);
    CHECK(merges[0] == "\xc4\xa0 t");
    CHECK(f->get_u32("tokenizer.ggml.eos_token_id") == 2);

    CHECK(f->tensors().size() == 272);
    const auto *emb = f->tensor("token_embd.weight");
    REQUIRE(emb != nullptr);
    CHECK(emb->type == Type::Q8_0);
    CHECK(emb->ne[0] == 576);
    CHECK(emb->ne[1] == 49152);
    const auto *q = f->tensor("blk.0.attn_q.weight");
    REQUIRE(q != nullptr);
    CHECK(q->type == Type::Q4_1);
    CHECK(q->nbytes == 207360);
    CHECK(f->data_offset() + q->offset == 33806656);
    CHECK(f->tensor("output.weight") == nullptr);  // tied embeddings
}

TEST_CASE("gguf: truncation at every byte is a format error", "[gguf]") {
    const bool small = GENERATE(true, false);
    const std::vector<uint8_t> bytes = small ? small_file() : full_builder(64).build();
    REQUIRE_NOTHROW(parse(bytes));
    for (size_t n = 0; n < bytes.size(); ++n) {
        // An exact-size heap copy, so that AddressSanitizer sees any read past the end.
        const std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(n));
        INFO("truncated to " << n << " of " << bytes.size() << " bytes");
        require_format_error(cut, "gguf '<memory>'");
    }
}

TEST_CASE("gguf: bad magic and unsupported versions", "[gguf]") {
    std::vector<uint8_t> bytes = small_file();
    bytes[0] = 'X';
    require_format_error(bytes, "bad magic 'XGUF'");

    require_error([] { parse(GgufBuilder().version(1).build()); }, CAB_ERR_UNSUPPORTED,
                  "GGUF version 1");
    require_error([] { parse(GgufBuilder().version(4).build()); }, CAB_ERR_UNSUPPORTED,
                  "GGUF version 4");
    require_error([] { parse(GgufBuilder().version(0x03000000).build()); }, CAB_ERR_UNSUPPORTED,
                  "big-endian");
}

TEST_CASE("gguf: huge counts and lengths fail fast without allocating", "[gguf]") {
    const auto with_counts = [](std::optional<uint64_t> nt, std::optional<uint64_t> nkv) {
        return GgufBuilder().add_u32("k", 1).override_counts(nt, nkv).build();
    };
    require_format_error(with_counts(1ull << 62, std::nullopt), "tensor count");
    require_format_error(with_counts(std::numeric_limits<uint64_t>::max(), std::nullopt),
                         "tensor count");
    require_format_error(with_counts(std::nullopt, 1ull << 60), "metadata count");
    require_format_error(with_counts(std::nullopt, std::numeric_limits<uint64_t>::max()),
                         "metadata count");

    const auto with_value = [](ValueType type, std::vector<uint8_t> payload) {
        return GgufBuilder().add_value("k", type, std::move(payload)).build();
    };
    require_format_error(with_value(ValueType::STRING, ByteWriter().u64(1ull << 61).u32(0).bytes),
                         "length 2305843009213693952");
    for (ValueType elem : {ValueType::UINT32, ValueType::STRING, ValueType::ARRAY}) {
        const auto huge = ByteWriter().u32(static_cast<uint32_t>(elem)).u64(1ull << 60).bytes;
        require_format_error(with_value(ValueType::ARRAY, huge),
                             "element count 1152921504606846976");
    }
    const auto header = [](uint64_t n_tensors, uint64_t n_kv) {
        return ByteWriter().u32(0x46554747).u32(3).u64(n_tensors).u64(n_kv);
    };
    const std::vector<uint8_t> filler(32, 0);
    require_format_error(header(0, 1).u64(1ull << 62).raw(filler).bytes,
                         "metadata key #0 of length 4611686018427387904");
    require_format_error(header(1, 0).u64(~0ull).raw(filler).bytes,
                         "tensor #0 name of length 18446744073709551615");
}

TEST_CASE("gguf: malformed metadata values", "[gguf]") {
    require_format_error(GgufBuilder().add_u32("k", 1).add_u32("k", 2).build(),
                         "duplicate metadata key 'k'");
    require_format_error(GgufBuilder().add_u32("", 1).build(), "has length 0");
    require_format_error(GgufBuilder().add_value("k", static_cast<ValueType>(13), {0}).build(),
                         "13 is not a GGUF value type");
    require_format_error(
        GgufBuilder().add_value("k", ValueType::ARRAY, ByteWriter().u32(99).u64(0).bytes).build(),
        "99 is not a GGUF value type");
    require_format_error(GgufBuilder().add_value("k", ValueType::BOOL, {2}).build(), "bool");
    require_format_error(GgufBuilder().add_array<uint8_t>("k", ValueType::BOOL, {0, 1, 7}).build(),
                         "bool");

    // Nesting: 4 levels parse, 5 are refused.
    std::vector<uint8_t> level = cab::test::encode_array<uint8_t>(ValueType::UINT8, {1});
    for (int depth = 2; depth <= 4; ++depth) level = cab::test::encode_array_of_arrays({level});
    CHECK_NOTHROW(parse(GgufBuilder().add_value("k", ValueType::ARRAY, level).build()));
    const auto too_deep = cab::test::encode_array_of_arrays({level});
    require_format_error(GgufBuilder().add_value("k", ValueType::ARRAY, too_deep).build(),
                         "nests arrays 5 deep");

    const std::vector<std::vector<uint8_t>> many(
        cab::gguf::kMaxNestedArrays + 1, cab::test::encode_array<uint8_t>(ValueType::UINT8, {}));
    require_format_error(
        GgufBuilder()
            .add_value("k", ValueType::ARRAY, cab::test::encode_array_of_arrays(many))
            .build(),
        "inner arrays");
}

TEST_CASE("gguf: bad general.alignment values", "[gguf]") {
    for (uint32_t a : {0u, 3u, 48u, 1u << 31}) {
        INFO("alignment " << a);
        require_format_error(GgufBuilder().alignment(a).build(), "general.alignment");
    }
    require_format_error(GgufBuilder().add_u64("general.alignment", 1ull << 40).build(),
                         "general.alignment is a uint64 of value 1099511627776");
    require_format_error(GgufBuilder().add_i32("general.alignment", -32).build(),
                         "general.alignment is an int32 of value -32");
    require_format_error(GgufBuilder().add_string("general.alignment", "32").build(),
                         "general.alignment is a string");
    CHECK(parse(GgufBuilder().add_u16("general.alignment", 8).build())->alignment() == 8);
}

TEST_CASE("gguf: malformed tensor infos", "[gguf]") {
    const auto with_tensor = [](GgufBuilder::Tensor t) {
        return GgufBuilder().add_tensor(std::move(t)).build();
    };
    require_format_error(with_tensor(raw_tensor({1, 1, 1, 1, 1})), "has 5 dimensions");
    auto lying = raw_tensor({4});
    lying.n_dims = 7;
    require_format_error(with_tensor(lying), "has 7 dimensions");
    require_format_error(with_tensor(raw_tensor({~0ull})), "ne[0] = -1 is negative");
    require_format_error(with_tensor(raw_tensor({4, 1ull << 63})), "ne[1]");
    require_format_error(with_tensor(raw_tensor({1ull << 32, 1ull << 32})), "overflow");
    require_format_error(with_tensor(raw_tensor({1ull << 31, 1ull << 31, 4})), "overflow");
    require_format_error(with_tensor(raw_tensor({1ull << 62})), "byte size overflows");
    require_format_error(with_tensor(raw_tensor({16}, static_cast<uint32_t>(Type::Q4_0))),
                         "not a multiple of the Q4_0 block size 32");
    require_format_error(with_tensor(raw_tensor({4}, 1000)), "unknown type id 1000");
    require_error([&] { parse(with_tensor(raw_tensor({256}, 16))); }, CAB_ERR_UNSUPPORTED,
                  "type IQ2_XXS (16)");

    auto misaligned = raw_tensor({4});
    misaligned.offset = 4;
    require_format_error(with_tensor(misaligned), "offset 4 is not a multiple of the alignment 32");

    require_format_error(with_tensor(raw_tensor({64})), "tensor 'w' data [");
    require_format_error(with_tensor(raw_tensor({64})), "exceeds file size");
    auto far = raw_tensor({8}, 0, {});
    far.offset = 1ull << 40;
    require_format_error(with_tensor(far), "exceeds file size");
    auto at_end = raw_tensor({4}, 0, {});
    at_end.offset = ~0ull << 5;
    require_format_error(with_tensor(at_end), "exceeds file size");

    require_format_error(GgufBuilder()
                             .add_tensor("w", Type::F32, {4}, std::vector<uint8_t>(16))
                             .add_tensor("w", Type::F32, {4}, std::vector<uint8_t>(16))
                             .build(),
                         "duplicate tensor name 'w'");
}

TEST_CASE("gguf: zero-size tensors and 0-dim tensors are accepted", "[gguf]") {
    const std::vector<uint8_t> bytes =
        GgufBuilder()
            .add_tensor(raw_tensor({0, 5}, 0, {}))
            .add_tensor({"s", 0, {}, std::nullopt, std::vector<uint8_t>(4, 0), std::nullopt})
            .build();
    const auto f = parse(bytes);
    CHECK(f->tensor("w")->nbytes == 0);
    CHECK(f->tensor("s")->n_dims == 0);
    CHECK(f->tensor("s")->n_elements() == 1);
    CHECK(f->tensor("s")->nbytes == 4);
}
