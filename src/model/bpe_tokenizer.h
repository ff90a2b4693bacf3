// Byte-level BPE (tokenizer.ggml.model = "gpt2"): text is split by the model's pre-tokenizer,
// each piece's bytes become GPT-2 alphabet characters, and merges are applied lowest rank first
// (leftmost among equal ranks), as HF `tokenizers` and llama.cpp do.
#pragma once

#include <array>
#include <cstdint>
#include <unordered_map>

#include "model/pretokenizer.h"
#include "model/vocab.h"

namespace cab {

class BpeTokenizer final : public VocabTokenizer {
public:
    // Throws cab::Error: FORMAT (bad merges or vocabulary), UNSUPPORTED (pre-tokenizer).
    explicit BpeTokenizer(const gguf::File &file);

    std::vector<int32_t> encode(std::string_view text, bool add_bos,
                                bool parse_special) const override;

    PreTokenizer pretokenizer() const { return pre_; }

private:
    struct Merge {
        int32_t rank;
        int32_t result;
    };
    struct Scratch;

    void encode_word(std::string_view word, Scratch &s, std::vector<int32_t> &out) const;
    const Merge *find_merge(int32_t left, int32_t right) const;

    PreTokenizer pre_;
    // A piece that is a whole token is not merged (Llama 3's tokenizer.json "ignore_merges").
    bool ignore_merges_;
    std::array<int32_t, 256> byte_char_token_;    // token of each byte's character; -1 if none
    std::unordered_map<uint64_t, Merge> merges_;  // (left << 32 | right) -> merge
};

}  // namespace cab
