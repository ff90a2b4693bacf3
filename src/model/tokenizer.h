// Tokenizer built from GGUF metadata (tokenizer.ggml.*): byte-level BPE with the model's
// pre-tokenizer (tokenizer.ggml.model = "gpt2") or SentencePiece-style with byte fallback
// ("llama"). Behaviour follows the reference tokenizers token for token.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cab {

namespace gguf {
class File;
}

class Tokenizer {
public:
    // Throws cab::Error: FORMAT (missing or inconsistent tokenizer.ggml.* metadata),
    // UNSUPPORTED (unknown tokenizer model or pre-tokenizer name).
    static std::unique_ptr<Tokenizer> from_gguf(const gguf::File &file);
    virtual ~Tokenizer() = default;

    virtual int32_t n_vocab() const = 0;
    // add_bos: prepend BOS only if the model has one and tokenizer.ggml.add_bos_token allows.
    // parse_special: text matching a special/control token becomes that token.
    virtual std::vector<int32_t> encode(std::string_view text, bool add_bos,
                                        bool parse_special) const = 0;
    // The bytes of one token (special tokens give their text). Throws INVALID_ARGUMENT for an
    // id out of range.
    virtual std::string token_to_piece(int32_t id) const = 0;
    // Inverse of encode. Throws INVALID_ARGUMENT naming the index of an id out of range.
    virtual std::string decode(const int32_t *ids, size_t n, bool skip_special) const = 0;

    virtual int32_t bos() const = 0;  // -1 if none
    virtual int32_t eos() const = 0;  // -1 if none
    virtual int32_t eot() const = 0;  // end of turn (<|im_end|>, <|eot_id|>), -1 if none
    virtual bool is_eog(int32_t id) const = 0;      // EOS, EOT and other end-of-generation ids
    virtual bool is_control(int32_t id) const = 0;  // control/special tokens
};

}  // namespace cab
