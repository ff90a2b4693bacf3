// libFuzzer target: arbitrary bytes as a model file. Each input goes through
//   1. the GGUF reader from memory (gguf::File::from_memory), every typed getter on every key,
//      and one read of the first and last byte of every tensor (ASan sees a range past the
//      input, which libFuzzer allocates to its exact size);
//   2. cab_model_load on the same bytes in a memfd (the C API path: reader, hyper-parameters,
//      tokenizer, weight checks and conversion on the CPU backend), then model info, a
//      tokenize / detokenize round trip of a fixed text and cab_model_free.
// Every input must end in a model or a clean error: a cab::Error (status + message) from the
// reader, a status other than OK with a message from the C API. An internal error, an
// out-of-memory from an input of a few kilobytes, a crash, a leak or a sanitizer report is a
// finding (docs/RELIABILITY.md).
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cab/cab.h"
#include "model/gguf.h"
#include "util/error.h"

namespace {

[[noreturn]] void finding(const char *what, const std::string &detail) {
    std::fprintf(stderr, "fuzz_gguf: %s: %s\n", what, detail.c_str());
    std::abort();
}

// A failure must be a status with a message. INTERNAL is a bug in libcab; OUT_OF_MEMORY from an
// input of a few kilobytes is an allocation sized by an unchecked count.
void check_error(cab_status status, const std::string &message) {
    if (status == CAB_ERR_INTERNAL || status == CAB_ERR_OUT_OF_MEMORY) {
        finding(status == CAB_ERR_INTERNAL ? "internal error" : "out of memory", message);
    }
    if (status >= CAB_OK || message.empty()) finding("error without status or message", message);
}

template <typename Fn>
void try_getter(Fn &&fn) {
    try {
        fn();
    } catch (const cab::Error &e) {
        check_error(e.status(), e.what());
    }
}

volatile uint8_t g_sink;

void exercise_reader(const uint8_t *data, size_t size) {
    std::unique_ptr<cab::gguf::File> file;
    try {
        file = cab::gguf::File::from_memory(data, size);
    } catch (const cab::Error &e) {
        check_error(e.status(), e.what());
        return;
    }
    for (const auto &entry : file->metadata()) {
        const std::string &key = entry.first;
        if (file->find(key) != &entry.second) finding("metadata lookup", key);
        try_getter([&] { file->get_string(key); });
        try_getter([&] { file->get_u32(key); });
        try_getter([&] { file->get_i64(key, 0); });
        try_getter([&] { file->get_f32(key); });
        try_getter([&] { file->get_bool(key, false); });
        try_getter([&] { file->get_string_array(key); });
        try_getter([&] { file->get_f32_array(key); });
        try_getter([&] { file->get_i32_array(key); });
    }
    for (const cab::gguf::TensorInfo &t : file->tensors()) {
        if (file->tensor(t.name) != &t) finding("tensor lookup", t.name);
        if (t.nbytes == 0) continue;
        const auto *p = static_cast<const uint8_t *>(t.data);
        g_sink = static_cast<uint8_t>(p[0] ^ p[t.nbytes - 1]);
    }
}

// The model file as a path: a memfd, seen through /proc/self/fd like any other file.
class MemFile {
public:
    MemFile(const uint8_t *data, size_t size) : fd_(memfd_create("fuzz_gguf", MFD_CLOEXEC)) {
        if (fd_ < 0) finding("memfd_create", std::to_string(errno));
        for (size_t done = 0; done < size;) {
            const ssize_t n = write(fd_, data + done, size - done);
            if (n <= 0) finding("write to memfd", std::to_string(errno));
            done += static_cast<size_t>(n);
        }
    }
    ~MemFile() { close(fd_); }
    MemFile(const MemFile &) = delete;
    MemFile &operator=(const MemFile &) = delete;
    std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

private:
    int fd_;
};

void exercise_model(const cab_model *model) {
    cab_model_info info{};
    info.struct_size = sizeof(info);
    if (cab_model_info_get(model, &info) != CAB_OK) finding("model info", cab_last_error());
    static const char kText[] = "Hello, world! <|im_end|> \xe2\x82\xac\xff";
    std::vector<cab_token> tokens(64);
    size_t n = 0;
    cab_status s = cab_tokenize(model, kText, sizeof(kText) - 1,
                                CAB_TOKENIZE_ADD_BOS | CAB_TOKENIZE_PARSE_SPECIAL, tokens.data(),
                                tokens.size(), &n);
    if (s == CAB_ERR_BUFFER_TOO_SMALL) {
        tokens.resize(n);
        s = cab_tokenize(model, kText, sizeof(kText) - 1,
                         CAB_TOKENIZE_ADD_BOS | CAB_TOKENIZE_PARSE_SPECIAL, tokens.data(),
                         tokens.size(), &n);
    }
    if (s != CAB_OK) {
        check_error(s, cab_last_error());
        return;
    }
    std::vector<char> text(4 * sizeof(kText) + 256);
    size_t len = 0;
    s = cab_detokenize(model, tokens.data(), n, 0, text.data(), text.size(), &len);
    if (s != CAB_OK && s != CAB_ERR_BUFFER_TOO_SMALL) check_error(s, cab_last_error());
}

void exercise_c_api(const uint8_t *data, size_t size) {
    const MemFile file(data, size);
    cab_model_params params;
    cab_model_default_params(&params);
    params.device = CAB_DEVICE_CPU;
    cab_model *model = nullptr;
    const cab_status s = cab_model_load(file.path().c_str(), &params, &model);
    if (s != CAB_OK) {
        if (model != nullptr) finding("failed load left a model", cab_last_error());
        check_error(s, cab_last_error());
        return;
    }
    exercise_model(model);
    cab_model_free(model);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    exercise_reader(data, size);
    exercise_c_api(data, size);
    return 0;
}
