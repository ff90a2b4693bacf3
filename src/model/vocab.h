// The vocabulary of a GGUF tokenizer (tokenizer.ggml.*): token texts, types, scores and special
// ids, the split of text at special tokens, and VocabTokenizer, the part of a Tokenizer that does
// not depend on the merge algorithm (pieces, decoding, end-of-generation tokens).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/tokenizer.h"

namespace cab {

// tokenizer.ggml.token_type values (llama.cpp's numbering, stored in files; never renumber).
enum class TokenType : int32_t {
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
};

// A run of input text, or one special token found in it.
struct TextFragment {
    int32_t token;          // -1 for text
    std::string_view text;  // the text (for a token: the matched text)
};

class Vocab {
public:
    // Reads tokenizer.ggml.tokens, token_type (all NORMAL when absent), scores (0 when absent),
    // the bos/eos/eot/unknown ids and add_bos_token (default_add_bos when absent).
    // Throws cab::Error(FORMAT) naming the key that is missing, mistyped or out of range, or a
    // BYTE token whose text is not <0xXX>.
    Vocab(const gguf::File &file, bool default_add_bos);
    Vocab(const Vocab &) = delete;
    Vocab &operator=(const Vocab &) = delete;

    int32_t size() const { return static_cast<int32_t>(texts_.size()); }
    bool valid(int32_t id) const { return id >= 0 && id < size(); }
    const std::string &text(int32_t id) const { return texts_[id]; }
    TokenType type(int32_t id) const { return types_[id]; }
    float score(int32_t id) const { return scores_[id]; }
    // The id of a token text, -1 if there is none (the lowest id when texts repeat).
    int32_t find(std::string_view text) const;

    int32_t bos() const { return bos_; }
    int32_t eos() const { return eos_; }
    int32_t eot() const { return eot_; }
    int32_t unk() const { return unk_; }
    // The BYTE token <0xXX> of a byte, -1 if the vocabulary has none.
    int32_t byte_token(uint8_t byte) const { return byte_tokens_[byte]; }
    bool add_bos() const { return add_bos_; }
    bool is_eog(int32_t id) const { return valid(id) && eog_[id]; }

    // Splits text at special tokens, leftmost-longest match first, as HF `tokenizers` does with
    // its added tokens. CONTROL and UNKNOWN tokens are matched only when parse_special is set;
    // USER_DEFINED tokens always are (as in HF `tokenizers` and llama.cpp).
    std::vector<TextFragment> split_special(std::string_view text, bool parse_special) const;

private:
    std::vector<std::string> texts_;
    std::vector<TokenType> types_;
    std::vector<float> scores_;
    std::unordered_map<std::string_view, int32_t> ids_;  // views into texts_
    std::vector<bool> eog_;
    // Special tokens by first byte, longest first.
    std::array<std::vector<int32_t>, 256> specials_;
    std::array<int32_t, 256> byte_tokens_;
    int32_t bos_ = -1, eos_ = -1, eot_ = -1, unk_ = -1;
    bool add_bos_ = false;
};

// The Tokenizer methods shared by the BPE and SentencePiece tokenizers. A subclass implements
// encode and calls set_pieces in its constructor.
class VocabTokenizer : public Tokenizer {
public:
    VocabTokenizer(const gguf::File &file, bool default_add_bos) : vocab_(file, default_add_bos) {}

    int32_t n_vocab() const override { return vocab_.size(); }
    std::string token_to_piece(int32_t id) const override;
    // skip_special leaves out CONTROL and UNKNOWN tokens (as llama.cpp does).
    std::string decode(const int32_t *ids, size_t n, bool skip_special) const override;
    int32_t bos() const override { return vocab_.bos(); }
    int32_t eos() const override { return vocab_.eos(); }
    int32_t eot() const override { return vocab_.eot(); }
    bool is_eog(int32_t id) const override { return vocab_.is_eog(id); }
    bool is_control(int32_t id) const override {
        return vocab_.valid(id) && vocab_.type(id) == TokenType::Control;
    }

    const Vocab &vocab() const { return vocab_; }

protected:
    // Sets the bytes each token decodes to: special tokens give their text, BYTE tokens their
    // byte, the others what `text_to_bytes` makes of their text.
    // strip_space_after_special: decoding drops one leading space of the text that follows the
    // start or a special token, the space that encoding with add_space_prefix put there.
    void set_pieces(const std::function<std::string(std::string_view)> &text_to_bytes,
                    bool strip_space_after_special);

    Vocab vocab_;

private:
    std::vector<std::string> pieces_;
    bool strip_space_after_special_ = false;
};

}  // namespace cab
