// Model::load: hyper-parameters from metadata per architecture, and validation of every weight's
// presence and shape, on rewritten copies of the tiny llama model.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "backend/backend.h"
#include "cpu_device.h"
#include "gguf_builder.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model/weights.h"
#include "test_paths.h"
#include "util/error.h"

using namespace cab;

namespace {

using Builder = test::GgufBuilder;

// The encoding of a metadata value as it follows its type field (only the types the tiny models
// use).
std::vector<uint8_t> encode_value(const gguf::Value &v) {
    using VT = gguf::ValueType;
    switch (v.type) {
        case VT::UINT32:
            return test::encode_scalar(static_cast<uint32_t>(v.u ? v.u : v.i));
        case VT::INT32:
            return test::encode_scalar(static_cast<int32_t>(v.i));
        case VT::FLOAT32:
            return test::encode_scalar(static_cast<float>(v.f));
        case VT::BOOL:
            return test::encode_scalar(static_cast<uint8_t>(v.i != 0 || v.u != 0));
        case VT::STRING:
            return test::encode_string(v.str);
        case VT::ARRAY: {
            if (v.elem_type == VT::STRING)
                return test::encode_string_array(
                    std::vector<std::string>(v.strings.begin(), v.strings.end()));
            test::ByteWriter w;
            w.u32(static_cast<uint32_t>(v.elem_type)).u64(v.n);
            REQUIRE(v.elem_type == VT::INT32);
            w.raw(std::vector<uint8_t>(v.array_data, v.array_data + v.n * 4));
            return w.bytes;
        }
        default:
            FAIL("tiny model uses an unexpected value type");
            return {};
    }
}

// A file under the temp directory, unique to this process and call (ctest runs test cases in
// parallel processes, and a model maps its file), removed when done.
class TempFile {
public:
    TempFile() {
        static int counter = 0;
        path_ = (std::filesystem::temp_directory_path() /
                 ("cab_test_model_" + std::to_string(getpid()) + "_" + std::to_string(counter++) +
                  ".gguf"))
                    .string();
    }
    ~TempFile() { std::remove(path_.c_str()); }
    TempFile(const TempFile &) = delete;
    TempFile &operator=(const TempFile &) = delete;
    const std::string &path() const { return path_; }

private:
    std::string path_;
};

// Writes a copy of tiny_llama.gguf to `out`. `keep_key` and `edit` (return false to drop a
// tensor) change what is copied; `add` appends entries. Returns the path.
const std::string &rewrite_tiny(const TempFile &out,
                                const std::function<bool(const std::string &)> &keep_key,
                                const std::function<bool(Builder::Tensor &)> &edit,
                                const std::function<void(Builder &)> &add = {}) {
    auto src = gguf::File::open(test::golden_path("tiny_llama.gguf"));
    Builder b;
    for (const auto &[key, value] : src->metadata())
        if (keep_key(key)) b.add_value(key, value.type, encode_value(value));
    for (const gguf::TensorInfo &t : src->tensors()) {
        Builder::Tensor bt;
        bt.name = t.name;
        bt.type_id = static_cast<uint32_t>(t.type);
        for (int d = 0; d < t.n_dims; ++d) bt.ne.push_back(static_cast<uint64_t>(t.ne[d]));
        const auto *p = static_cast<const uint8_t *>(t.data);
        bt.data.assign(p, p + t.nbytes);
        if (edit(bt)) b.add_tensor(std::move(bt));
    }
    if (add) add(b);
    const std::vector<uint8_t> bytes = b.build();
    std::ofstream(out.path(), std::ios::binary)
        .write(reinterpret_cast<const char *>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return out.path();
}

const auto all_keys = [](const std::string &) { return true; };
const auto all_tensors = [](Builder::Tensor &) { return true; };

void check_load_error(const std::string &path, cab_status status,
                      const std::vector<std::string> &fragments) {
    try {
        Model::load(path, test::cpu_load());
        FAIL("Model::load should have failed");
    } catch (const Error &e) {
        CHECK(e.status() == status);
        for (const std::string &f : fragments) CHECK_THAT(e.what(), Catch::Contains(f));
    }
}

}  // namespace

TEST_CASE("Model::load: the rewritten tiny model loads as the original", "[model]") {
    INFO("run tools/golden/make_tiny_models.py if tests/golden/tiny_llama.gguf is missing");
    REQUIRE(test::file_exists(test::golden_path("tiny_llama.gguf")));
    auto m = Model::load(rewrite_tiny(TempFile(), all_keys, all_tensors), test::cpu_load());
    CHECK(m->hparams().n_layer == 2);
    CHECK(m->n_params() ==
          262 * 64 * 2 + 64 + 2 * (64 * 2 + 64 * 64 * 2 + 32 * 64 * 2 + 128 * 64 * 3));
}

TEST_CASE("Model::load: a missing or misshapen weight is a FORMAT error naming it", "[model]") {
    check_load_error(
        rewrite_tiny(TempFile(), all_keys,
                     [](Builder::Tensor &t) { return t.name != "blk.1.ffn_up.weight"; }),
        CAB_ERR_FORMAT, {"missing tensor blk.1.ffn_up.weight", "[64, 128]"});
    check_load_error(rewrite_tiny(TempFile(), all_keys,
                                  [](Builder::Tensor &t) {
                                      if (t.name == "blk.0.attn_k.weight") {
                                          t.ne = {64, 64};
                                          t.data.resize(64 * 64 * 4);
                                      }
                                      return true;
                                  }),
                     CAB_ERR_FORMAT, {"blk.0.attn_k.weight", "[64, 64]", "expected [64, 32]"});
    check_load_error(rewrite_tiny(TempFile(), all_keys,
                                  [](Builder::Tensor &t) {
                                      if (t.name == "output_norm.weight") t.ne = {32, 2};
                                      return true;
                                  }),
                     CAB_ERR_FORMAT, {"output_norm.weight", "expected [64]"});
    check_load_error(rewrite_tiny(TempFile(), all_keys,
                                  [](Builder::Tensor &t) {
                                      if (t.name == "token_embd.weight") {
                                          t.ne = {64, 200};
                                          t.data.resize(64 * 200 * 4);
                                      }
                                      return true;
                                  }),
                     CAB_ERR_FORMAT, {"262 tokens", "200 rows"});
}

TEST_CASE("Model::load: hyper-parameter keys are required and checked", "[model]") {
    check_load_error(
        rewrite_tiny(
            TempFile(), [](const std::string &k) { return k != "llama.embedding_length"; },
            all_tensors),
        CAB_ERR_FORMAT, {"llama.embedding_length"});
    check_load_error(
        rewrite_tiny(
            TempFile(), [](const std::string &k) { return k != "llama.attention.head_count"; },
            all_tensors),
        CAB_ERR_FORMAT, {"llama.attention.head_count"});
    check_load_error(
        rewrite_tiny(
            TempFile(), [](const std::string &k) { return k != "llama.attention.head_count_kv"; },
            all_tensors, [](Builder &b) { b.add_u32("llama.attention.head_count_kv", 3); }),
        CAB_ERR_FORMAT, {"not a multiple"});
    check_load_error(
        rewrite_tiny(
            TempFile(), [](const std::string &k) { return k != "general.architecture"; },
            all_tensors, [](Builder &b) { b.add_string("general.architecture", "mamba"); }),
        CAB_ERR_UNSUPPORTED, {"architecture 'mamba'"});
    check_load_error(
        rewrite_tiny(TempFile(), all_keys, all_tensors,
                     [](Builder &b) { b.add_string("llama.rope.scaling.type", "yarn"); }),
        CAB_ERR_UNSUPPORTED, {"rope.scaling.type 'yarn'"});
    check_load_error(
        rewrite_tiny(
            TempFile(), [](const std::string &k) { return k != "llama.rope.dimension_count"; },
            all_tensors, [](Builder &b) { b.add_u32("llama.rope.dimension_count", 8); }),
        CAB_ERR_UNSUPPORTED, {"partial rotary"});
}

TEST_CASE("Model::load: linear RoPE scaling and tied output from metadata", "[model]") {
    auto scaled = Model::load(rewrite_tiny(TempFile(), all_keys, all_tensors,
                                           [](Builder &b) {
                                               b.add_string("llama.rope.scaling.type", "linear");
                                               b.add_f32("llama.rope.scaling.factor", 4.0f);
                                           }),
                              test::cpu_load());
    CHECK(scaled->hparams().rope_freq_scale == 0.25f);

    auto tied =
        Model::load(rewrite_tiny(TempFile(), all_keys,
                                 [](Builder::Tensor &t) { return t.name != "output.weight"; }),
                    test::cpu_load());
    CHECK(tied->hparams().tied_output);
    const ModelWeights &w = tied->weights();
    CHECK(w.output.data() == w.token_embd.data());
}

TEST_CASE("CPU rope: linear scaling divides positions; both pairings rotate the right pairs",
          "[model][backend]") {
    auto backend = make_cpu_backend(1);
    auto ex = backend->make_executor(1);
    const int32_t d = 8;
    Tensor a = backend->alloc(DType::F32, 1, d), b = backend->alloc(DType::F32, 1, d);
    for (RopeStyle style : {RopeStyle::Normal, RopeStyle::NeoX}) {
        for (int32_t i = 0; i < d; ++i) a.as<float>()[i] = b.as<float>()[i] = 1.0f + i;
        const int32_t p8 = 8, p2 = 2;
        ex->rope(a, 1, &p8, RopeParams{style, 100.0f, 0.25f});
        ex->rope(b, 1, &p2, RopeParams{style, 100.0f, 1.0f});
        for (int32_t i = 0; i < d; ++i) CHECK(a.as<float>()[i] == Approx(b.as<float>()[i]));
        // Pair 0 rotates by exactly the position (frequency 1): x0' = x0 cos 2 - x1 sin 2, with
        // x1 = element 1 (normal) or element d/2 (NeoX).
        const float x1 = style == RopeStyle::Normal ? 2.0f : 1.0f + d / 2;
        CHECK(b.as<float>()[0] == Approx(std::cos(2.0f) - x1 * std::sin(2.0f)));
    }
}
