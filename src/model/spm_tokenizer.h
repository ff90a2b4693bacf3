// SentencePiece-style tokenizer (tokenizer.ggml.model = "llama"), as llama.cpp's SPM tokenizer:
// spaces become U+2581, an optional space is put before the text, adjacent pieces are merged
// best score first (leftmost among equal scores) while their concatenation is a token, and what
// is left without a token falls back to <0xXX> byte tokens.
#pragma once

#include <cstdint>

#include "model/vocab.h"

namespace cab {

class SpmTokenizer final : public VocabTokenizer {
public:
    // Throws cab::Error(FORMAT) for bad vocabulary metadata.
    explicit SpmTokenizer(const gguf::File &file);

    std::vector<int32_t> encode(std::string_view text, bool add_bos,
                                bool parse_special) const override;

private:
    // Appends the tokens of one fragment, already escaped (spaces as U+2581).
    void encode_escaped(const std::string &text, std::vector<int32_t> &out) const;

    // tokenizer.ggml.add_space_prefix: a space goes before text at the start and after
    // special tokens (as SentencePiece's dummy prefix; llama.cpp does the same).
    bool add_space_prefix_;
};

}  // namespace cab
