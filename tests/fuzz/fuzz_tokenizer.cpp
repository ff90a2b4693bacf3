// libFuzzer target: arbitrary bytes as text and as token ids, through the C API of two tiny
// models loaded once (make_seeds.py --tokenizer): a byte-level BPE tokenizer whose vocabulary
// spells all 256 bytes, and a SentencePiece-style one with byte fallback for a few bytes. Each
// input goes through
//   1. cab_tokenize on both models, with and without special-token parsing and BOS: OK with
//      every id in [0, n_vocab), and a count that matches the size query;
//   2. cab_detokenize of those tokens, with and without SKIP_SPECIAL; for the BPE model and
//      valid UTF-8 input (no BOS, specials kept), the text must come back byte for byte;
//   3. cab_detokenize of ids read from the input (in range, just out of range, extremes):
//      OK exactly when every id is in range, INVALID_ARGUMENT with a message otherwise.
// A crash, a leak, a sanitizer report, any other status or a broken property is a finding
// (docs/RELIABILITY.md).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cab/cab.h"

namespace {

[[noreturn]] void finding(const char *what, const std::string &detail) {
    std::fprintf(stderr, "fuzz_tokenizer: %s: %s\n", what, detail.c_str());
    std::abort();
}

struct ModelFree {
    void operator()(cab_model *model) const { cab_model_free(model); }
};

struct FuzzModel {
    const char *name;
    std::unique_ptr<cab_model, ModelFree> model;
    int32_t n_vocab;
    bool round_trips;  // byte-level BPE: decode(encode(text)) == text for valid UTF-8
};

FuzzModel load(const char *file, bool round_trips) {
    const std::string path = std::string(CAB_FUZZ_TOKENIZER_MODELS) + "/" + file;
    cab_model_params params;
    cab_model_default_params(&params);
    params.device = CAB_DEVICE_CPU;
    cab_model *model = nullptr;
    if (cab_model_load(path.c_str(), &params, &model) != CAB_OK)
        finding("loading a seed model", path + ": " + cab_last_error());
    cab_model_info info{};
    info.struct_size = sizeof(info);
    if (cab_model_info_get(model, &info) != CAB_OK) finding("model info", cab_last_error());
    return {file, std::unique_ptr<cab_model, ModelFree>(model), info.n_vocab, round_trips};
}

// Loaded once, before the first input: loading per input would dominate the run, and libFuzzer
// counts memory allocated inside an input and not freed as a leak.
std::vector<FuzzModel> g_models;

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF.
bool valid_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        const uint8_t c = s[i];
        size_t len = 0;
        uint32_t cp = 0, min = 0;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1Fu, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0Fu, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07u, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len) return false;
        for (size_t k = 1; k < len; ++k) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

void expect_status(const FuzzModel &m, const char *call, cab_status got, cab_status want) {
    if (got == want) return;
    const char *message = cab_last_error();
    finding(call, std::string(m.name) + ": " + cab_status_string(got) + " (wanted " +
                      cab_status_string(want) + "): " + (message ? message : ""));
}

std::vector<cab_token> tokenize(const FuzzModel &m, const char *text, size_t len, uint32_t flags) {
    size_t need = 0;
    cab_status s = cab_tokenize(m.model.get(), text, len, flags, nullptr, 0, &need);
    if (s == CAB_OK && need != 0) finding("tokenize size query", "OK with a count above 0");
    if (s != CAB_OK) expect_status(m, "tokenize size query", s, CAB_ERR_BUFFER_TOO_SMALL);
    std::vector<cab_token> tokens(need);
    size_t n = 0;
    expect_status(m, "tokenize",
                  cab_tokenize(m.model.get(), text, len, flags, tokens.data(), tokens.size(), &n),
                  CAB_OK);
    if (n != need) finding("tokenize count", std::to_string(n) + " != " + std::to_string(need));
    for (size_t i = 0; i < n; ++i) {
        if (tokens[i] < 0 || tokens[i] >= m.n_vocab)
            finding("token id out of range", std::string(m.name) + ": tokens[" + std::to_string(i) +
                                                 "] = " + std::to_string(tokens[i]));
    }
    return tokens;
}

// Decodes tokens that are all in range: a size query, then the exact buffer plus the NUL.
std::string detokenize(const FuzzModel &m, const std::vector<cab_token> &tokens, uint32_t flags) {
    size_t need = 0;
    cab_status s =
        cab_detokenize(m.model.get(), tokens.data(), tokens.size(), flags, nullptr, 0, &need);
    if (s != CAB_OK) expect_status(m, "detokenize size query", s, CAB_ERR_BUFFER_TOO_SMALL);
    std::vector<char> buf(need + 1, '\x7f');
    size_t n = 0;
    expect_status(m, "detokenize",
                  cab_detokenize(m.model.get(), tokens.data(), tokens.size(), flags, buf.data(),
                                 buf.size(), &n),
                  CAB_OK);
    if (n != need || buf[n] != '\0') finding("detokenize length or NUL", m.name);
    return std::string(buf.data(), n);
}

// Ids from pairs of input bytes: mostly around [0, n_vocab), some just outside and at the
// extremes of int32, so that both the valid and the error path are taken.
std::vector<cab_token> ids_from_bytes(const uint8_t *data, size_t size, int32_t n_vocab) {
    std::vector<cab_token> ids;
    for (size_t i = 0; i + 1 < size; i += 2) {
        const uint32_t v = data[i] | (static_cast<uint32_t>(data[i + 1]) << 8);
        if (v == 0xFFFF) {
            ids.push_back(INT32_MIN);
        } else if (v == 0xFFFE) {
            ids.push_back(INT32_MAX);
        } else {
            ids.push_back(static_cast<int32_t>(v % static_cast<uint32_t>(n_vocab + 4)) - 2);
        }
    }
    return ids;
}

void exercise(const FuzzModel &m, const uint8_t *data, size_t size) {
    const char *text = reinterpret_cast<const char *>(data);
    const bool utf8 = valid_utf8(data, size);
    for (const uint32_t flags :
         {0u, static_cast<uint32_t>(CAB_TOKENIZE_PARSE_SPECIAL),
          static_cast<uint32_t>(CAB_TOKENIZE_ADD_BOS | CAB_TOKENIZE_PARSE_SPECIAL)}) {
        const std::vector<cab_token> tokens = tokenize(m, text, size, flags);
        const std::string decoded = detokenize(m, tokens, 0);
        detokenize(m, tokens, CAB_DETOKENIZE_SKIP_SPECIAL);
        if (m.round_trips && utf8 && (flags & CAB_TOKENIZE_ADD_BOS) == 0 &&
            (decoded.size() != size || std::memcmp(decoded.data(), data, size) != 0))
            finding("round trip", "flags " + std::to_string(flags) + ": " + std::to_string(size) +
                                      " bytes in, " + std::to_string(decoded.size()) +
                                      " bytes out");
    }

    const std::vector<cab_token> ids = ids_from_bytes(data, size, m.n_vocab);
    bool in_range = true;
    for (cab_token id : ids) in_range = in_range && id >= 0 && id < m.n_vocab;
    if (in_range) {
        detokenize(m, ids, size > 0 ? data[0] & CAB_DETOKENIZE_SKIP_SPECIAL : 0);
        return;
    }
    std::vector<char> buf(4 * ids.size() + 16);
    size_t n = 0;
    const cab_status s =
        cab_detokenize(m.model.get(), ids.data(), ids.size(), 0, buf.data(), buf.size(), &n);
    expect_status(m, "detokenize of an out-of-range id", s, CAB_ERR_INVALID_ARGUMENT);
    const char *message = cab_last_error();
    if (message == nullptr || std::strstr(message, "tokens[") == nullptr)
        finding("out-of-range id error does not name the token", message ? message : "");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    g_models.push_back(load("bpe.gguf", true));
    g_models.push_back(load("spm.gguf", false));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (const FuzzModel &m : g_models) exercise(m, data, size);
    return 0;
}
