// The C ABI's contract: status codes, messages naming the bad argument, versioned structs,
// buffer capacities, and state rules. Bad input must never crash.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "cab/cab.h"
#include "cpu_device.h"
#include "test_paths.h"

namespace {

const char *kSmolLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf";

std::string smollm2_path() {
    std::string p = cab::test::models_path(kSmolLM2);
    INFO("missing " << p << ": run tools/prepare_models.sh (tools/test.sh does)");
    REQUIRE(cab::test::file_exists(p));
    return p;
}

// One SmolLM2 for the whole file: loading dequantizes 135M weights.
const cab_model *shared_model() {
    static cab_model *model = [] {
        cab_model *m = nullptr;
        cab_status st = cab_model_load(smollm2_path().c_str(), cab::test::cpu_model_params(), &m);
        INFO(cab_last_error());
        REQUIRE(st == CAB_OK);
        return m;
    }();
    return model;
}

bool last_error_mentions(const std::string &needle) {
    return std::string(cab_last_error()).find(needle) != std::string::npos;
}

std::string temp_file(const std::string &name, const std::string &bytes) {
    std::string path = (std::filesystem::temp_directory_path() / ("cab-test-" + name)).string();
    std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
    return path;
}

struct CtxDeleter {
    void operator()(cab_ctx *c) const { cab_ctx_destroy(c); }
};
using CtxPtr = std::unique_ptr<cab_ctx, CtxDeleter>;

CtxPtr make_ctx(int64_t capacity, int32_t n_seq = 2) {
    cab_ctx_params p;
    REQUIRE(cab_ctx_default_params(&p) == CAB_OK);
    p.kv_capacity_tokens = capacity;
    p.n_seq_max = n_seq;
    p.n_threads = 2;
    cab_ctx *ctx = nullptr;
    cab_status st = cab_ctx_create(shared_model(), &p, &ctx);
    INFO(cab_last_error());
    REQUIRE(st == CAB_OK);
    return CtxPtr(ctx);
}

}  // namespace

TEST_CASE("version and status names", "[api]") {
    CHECK(cab_version() == CAB_VERSION_NUMBER);
    char expected[32];
    std::snprintf(expected, sizeof expected, "%d.%d.%d", CAB_VERSION_MAJOR, CAB_VERSION_MINOR,
                  CAB_VERSION_PATCH);
    CHECK(std::string(cab_version_string()) == expected);
    CHECK(std::string(cab_status_string(CAB_ERR_KV_FULL)) == "CAB_ERR_KV_FULL");
    CHECK(std::string(cab_status_string(static_cast<cab_status>(-999))) == "unknown status");
    CHECK(cab_last_error() != nullptr);
}

TEST_CASE("free and destroy accept NULL", "[api]") {
    cab_model_free(nullptr);
    cab_ctx_destroy(nullptr);
    cab_sampler_free(nullptr);
    SUCCEED("no crash");
}

TEST_CASE("loading: missing, empty, truncated and foreign files", "[api]") {
    cab_model *m = reinterpret_cast<cab_model *>(0x1);
    CHECK(cab_model_load("/nonexistent/dir/model.gguf", nullptr, &m) == CAB_ERR_IO);
    CHECK(m == nullptr);
    CHECK(last_error_mentions("/nonexistent/dir/model.gguf"));

    CHECK(cab_model_load(nullptr, nullptr, &m) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(last_error_mentions("path"));
    CHECK(cab_model_load("x", nullptr, nullptr) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(last_error_mentions("model_out"));

    std::string empty = temp_file("empty.gguf", "");
    CHECK(cab_model_load(empty.c_str(), nullptr, &m) == CAB_ERR_FORMAT);
    std::string text = temp_file("text.gguf", "this is not a model file at all\n");
    CHECK(cab_model_load(text.c_str(), nullptr, &m) == CAB_ERR_FORMAT);
    CHECK(m == nullptr);

    std::ifstream in(smollm2_path(), std::ios::binary);
    std::string head(4096, '\0');
    in.read(&head[0], std::streamsize(head.size()));
    for (size_t cut : {size_t(3), size_t(24), size_t(1000), size_t(4096)}) {
        std::string truncated = temp_file("truncated.gguf", head.substr(0, cut));
        INFO("truncated at " << cut);
        CHECK(cab_model_load(truncated.c_str(), nullptr, &m) == CAB_ERR_FORMAT);
        CHECK(m == nullptr);
        CHECK(std::strlen(cab_last_error()) > 0);
    }
    std::remove(empty.c_str());
    std::remove(text.c_str());
}

TEST_CASE("versioned params: struct_size is checked", "[api]") {
    cab_model_params mp;
    CHECK(cab_model_default_params(nullptr) == CAB_ERR_INVALID_ARGUMENT);
    REQUIRE(cab_model_default_params(&mp) == CAB_OK);
    CHECK(mp.struct_size == sizeof(cab_model_params));
    mp.struct_size = 3;
    cab_model *m = nullptr;
    CHECK(cab_model_load(smollm2_path().c_str(), &mp, &m) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(last_error_mentions("struct_size"));
    mp.struct_size = sizeof(cab_model_params) + 64;
    CHECK(cab_model_load(smollm2_path().c_str(), &mp, &m) == CAB_ERR_INVALID_ARGUMENT);
    REQUIRE(cab_model_default_params(&mp) == CAB_OK);
    mp.device = static_cast<cab_device>(42);
    CHECK(cab_model_load(smollm2_path().c_str(), &mp, &m) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(last_error_mentions("device"));
    CHECK(m == nullptr);

    cab_ctx_params cp;
    REQUIRE(cab_ctx_default_params(&cp) == CAB_OK);
    cab_ctx *ctx = nullptr;
    for (auto mutate : std::vector<void (*)(cab_ctx_params &)>{
             [](cab_ctx_params &p) { p.n_seq_max = 0; },
             [](cab_ctx_params &p) { p.kv_capacity_tokens = 0; },
             [](cab_ctx_params &p) { p.kv_block_size = 0; },
             [](cab_ctx_params &p) { p.n_threads = -1; },
             [](cab_ctx_params &p) { p.prefill_chunk = 0; },
             [](cab_ctx_params &p) { p.kv_type = static_cast<cab_kv_type>(9); },
             [](cab_ctx_params &p) { p.struct_size = 1; }}) {
        cab_ctx_params bad = cp;
        mutate(bad);
        CHECK(cab_ctx_create(shared_model(), &bad, &ctx) == CAB_ERR_INVALID_ARGUMENT);
        CHECK(ctx == nullptr);
    }
    CHECK(cab_ctx_create(nullptr, &cp, &ctx) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(last_error_mentions("model"));
}

TEST_CASE("model info fills only what struct_size covers", "[api]") {
    cab_model_info info;
    std::memset(&info, 0x5a, sizeof info);
    info.struct_size = sizeof info;
    REQUIRE(cab_model_info_get(shared_model(), &info) == CAB_OK);
    CHECK(std::string(info.arch) == "llama");
    CHECK(info.n_layer == 30);
    CHECK(info.n_embd == 576);
    CHECK(info.n_head == 9);
    CHECK(info.n_head_kv == 3);
    CHECK(info.head_dim == 64);
    CHECK(info.n_vocab == 49152);
    CHECK(info.chat_template == CAB_CHAT_TEMPLATE_CHATML);
    CHECK(info.eot >= 0);
    CHECK(info.n_params > 100000000ull);
    CHECK(info.device == CAB_DEVICE_CPU);
    CHECK(info.file_bytes == std::filesystem::file_size(smollm2_path()));

    // An older, smaller struct: bytes past its size stay untouched.
    std::vector<unsigned char> raw(sizeof(cab_model_info), 0xee);
    uint32_t small = offsetof(cab_model_info, n_vocab);
    std::memcpy(raw.data(), &small, sizeof small);
    REQUIRE(cab_model_info_get(shared_model(), reinterpret_cast<cab_model_info *>(raw.data())) ==
            CAB_OK);
    for (size_t i = small; i < raw.size(); ++i) REQUIRE(raw[i] == 0xee);
    CHECK(cab_model_info_get(nullptr, &info) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(cab_model_info_get(shared_model(), nullptr) == CAB_ERR_INVALID_ARGUMENT);
}

TEST_CASE("tokenize: capacity, sizes and bad arguments", "[api]") {
    const cab_model *m = shared_model();
    const char *text = "Hello world, 1234!";
    size_t n = 0;
    CHECK(cab_tokenize(m, text, std::strlen(text), 0, nullptr, 0, &n) == CAB_ERR_BUFFER_TOO_SMALL);
    REQUIRE(n > 0);
    std::vector<cab_token> toks(n);
    size_t n2 = 0;
    REQUIRE(cab_tokenize(m, text, std::strlen(text), 0, toks.data(), toks.size(), &n2) == CAB_OK);
    CHECK(n2 == n);

    char buf[64];
    size_t len = 0;
    REQUIRE(cab_detokenize(m, toks.data(), toks.size(), 0, buf, sizeof buf, &len) == CAB_OK);
    CHECK(std::string(buf, len) == text);
    CHECK(buf[len] == '\0');
    CHECK(cab_detokenize(m, toks.data(), toks.size(), 0, buf, 3, &len) == CAB_ERR_BUFFER_TOO_SMALL);
    CHECK(len == std::strlen(text));

    cab_token bad[] = {toks[0], 49152};
    CHECK(cab_detokenize(m, bad, 2, 0, buf, sizeof buf, &len) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(last_error_mentions("49152"));
    CHECK(cab_token_to_piece(m, -1, buf, sizeof buf, &len) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(cab_tokenize(m, nullptr, 5, 0, toks.data(), toks.size(), &n2) ==
          CAB_ERR_INVALID_ARGUMENT);
    CHECK(cab_tokenize(m, text, 5, 0x80, toks.data(), toks.size(), &n2) ==
          CAB_ERR_INVALID_ARGUMENT);
    CHECK(cab_tokenize(nullptr, text, 5, 0, toks.data(), toks.size(), &n2) ==
          CAB_ERR_INVALID_ARGUMENT);
    CHECK(cab_tokenize(m, text, 5, 0, toks.data(), toks.size(), nullptr) ==
          CAB_ERR_INVALID_ARGUMENT);
    CHECK(cab_tokenize(m, "", 0, 0, nullptr, 0, &n2) == CAB_OK);
    CHECK(n2 == 0);
    CHECK(cab_token_is_eog(m, 2) == 1);
    CHECK(cab_token_is_eog(nullptr, 2) == 0);
    CHECK(cab_token_is_eog(m, 1234) == 0);
}

TEST_CASE("chat format: SmolLM2 ChatML", "[api]") {
    cab_chat_message msgs[] = {{"user", "Hi"}};
    char buf[512];
    size_t n = 0;
    REQUIRE(cab_chat_format(shared_model(), msgs, 1, 1, buf, sizeof buf, &n) == CAB_OK);
    std::string s(buf, n);
    CHECK(s.find("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n") != std::string::npos);
    cab_chat_message null_role[] = {{nullptr, "Hi"}};
    CHECK(cab_chat_format(shared_model(), null_role, 1, 1, buf, sizeof buf, &n) ==
          CAB_ERR_INVALID_ARGUMENT);
    CHECK(last_error_mentions("messages[0]"));
}

TEST_CASE("context: state rules and bad sequences", "[api]") {
    CtxPtr ctx = make_ctx(256);
    const float *logits = nullptr;
    CHECK(cab_logits(ctx.get(), 0, &logits) == CAB_ERR_STATE);
    CHECK(logits == nullptr);
    cab_token tok = 0;
    CHECK(cab_sample(ctx.get(), 0, nullptr, &tok) == CAB_ERR_STATE);

    cab_token prompt[] = {1, 504, 3458, 28};
    CHECK(cab_prefill(ctx.get(), 2, prompt, 4) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(last_error_mentions("seq 2"));
    CHECK(cab_prefill(ctx.get(), -1, prompt, 4) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(cab_prefill(ctx.get(), 0, nullptr, 4) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(cab_prefill(ctx.get(), 0, prompt, 0) == CAB_ERR_INVALID_ARGUMENT);
    cab_token unknown[] = {1, 70000};
    CHECK(cab_prefill(ctx.get(), 0, unknown, 2) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(last_error_mentions("70000"));
    int64_t len = -1;
    REQUIRE(cab_seq_length(ctx.get(), 0, &len) == CAB_OK);
    CHECK(len == 0);

    REQUIRE(cab_prefill(ctx.get(), 0, prompt, 4) == CAB_OK);
    REQUIRE(cab_logits(ctx.get(), 0, &logits) == CAB_OK);
    REQUIRE(logits != nullptr);
    REQUIRE(cab_seq_length(ctx.get(), 0, &len) == CAB_OK);
    CHECK(len == 4);

    cab_seq dup[] = {0, 0};
    cab_token two[] = {5, 6};
    CHECK(cab_decode(ctx.get(), dup, two, 2) == CAB_ERR_INVALID_ARGUMENT);
    cab_seq seqs[] = {0};
    cab_token neg[] = {-3};
    CHECK(cab_decode(ctx.get(), seqs, neg, 1) == CAB_ERR_INVALID_ARGUMENT);
    REQUIRE(cab_seq_length(ctx.get(), 0, &len) == CAB_OK);
    CHECK(len == 4);

    REQUIRE(cab_sample(ctx.get(), 0, nullptr, &tok) == CAB_OK);
    CHECK(tok >= 0);
    CHECK(tok < 49152);

    REQUIRE(cab_seq_reset(ctx.get(), 0) == CAB_OK);
    CHECK(cab_logits(ctx.get(), 0, &logits) == CAB_ERR_STATE);
    CHECK(cab_seq_reset(ctx.get(), 5) == CAB_ERR_INVALID_ARGUMENT);
}

TEST_CASE("context: a full KV pool is a clean error that changes nothing", "[api]") {
    CtxPtr ctx = make_ctx(32, 1);
    cab_kv_stats before{};
    before.struct_size = sizeof before;
    REQUIRE(cab_kv_stats_get(ctx.get(), CAB_SEQ_ALL, &before) == CAB_OK);
    CHECK(before.blocks_used == 0);
    CHECK(before.blocks_free == before.blocks_total);
    CHECK(before.blocks_total == 2 * 30 * 3);  // ceil(32 / 16) blocks per stream

    std::vector<cab_token> prompt(20, 504);
    REQUIRE(cab_prefill(ctx.get(), 0, prompt.data(), prompt.size()) == CAB_OK);
    cab_kv_stats mid{};
    mid.struct_size = sizeof mid;
    REQUIRE(cab_kv_stats_get(ctx.get(), 0, &mid) == CAB_OK);
    CHECK(mid.seq_length == 20);
    CHECK(mid.tokens_cached == 20 * 30 * 3);
    CHECK(mid.stream_min == 20);
    CHECK(mid.stream_max == 20);
    CHECK(mid.blocks_used == 2 * 30 * 3);

    std::vector<cab_token> more(20, 504);
    CHECK(cab_prefill(ctx.get(), 0, more.data(), more.size()) == CAB_ERR_KV_FULL);
    CHECK(std::strlen(cab_last_error()) > 0);
    cab_kv_stats after{};
    after.struct_size = sizeof after;
    REQUIRE(cab_kv_stats_get(ctx.get(), 0, &after) == CAB_OK);
    CHECK(after.seq_length == 20);
    CHECK(after.tokens_cached == mid.tokens_cached);
    CHECK(after.blocks_used == mid.blocks_used);

    std::vector<int32_t> lens(90);
    size_t n = 0;
    CHECK(cab_kv_lengths(ctx.get(), 0, lens.data(), 10, &n) == CAB_ERR_BUFFER_TOO_SMALL);
    CHECK(n == 90);
    REQUIRE(cab_kv_lengths(ctx.get(), 0, lens.data(), lens.size(), &n) == CAB_OK);
    for (int32_t l : lens) CHECK(l == 20);

    REQUIRE(cab_seq_reset(ctx.get(), 0) == CAB_OK);
    REQUIRE(cab_kv_stats_get(ctx.get(), CAB_SEQ_ALL, &after) == CAB_OK);
    CHECK(after.blocks_free == after.blocks_total);
}

TEST_CASE("sampler: params are validated", "[api]") {
    cab_sampler_params p;
    REQUIRE(cab_sampler_default_params(&p) == CAB_OK);
    cab_sampler *s = nullptr;
    p.top_p = 1.5f;
    CHECK(cab_sampler_create(&p, &s) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(last_error_mentions("top_p"));
    CHECK(s == nullptr);
    REQUIRE(cab_sampler_default_params(&p) == CAB_OK);
    p.temperature = -1.0f;
    CHECK(cab_sampler_create(&p, &s) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(cab_sampler_create(nullptr, nullptr) == CAB_ERR_INVALID_ARGUMENT);
    REQUIRE(cab_sampler_create(nullptr, &s) == CAB_OK);
    cab_sampler_free(s);
}
