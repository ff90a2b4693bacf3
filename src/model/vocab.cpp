#include "model/vocab.h"

#include <algorithm>

#include "model/gguf.h"
#include "util/error.h"

namespace cab {

namespace {

// Token texts that end generation besides EOS and EOT (the list llama.cpp uses).
constexpr std::string_view kEogTexts[] = {
    "<|eot_id|>",    "<|im_end|>", "<|end|>", "<end_of_turn>",
    "<|endoftext|>", "<|eom_id|>", "<EOT>",   "<|end_of_text|>",
};
// End-of-turn token texts, in order of preference, when tokenizer.ggml.eot_token_id is absent.
constexpr std::string_view kEotTexts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                          "<EOT>"};

// A special token id from metadata: -1 when the key is absent.
int32_t special_id(const gguf::File &file, const char *key, int32_t n_vocab) {
    if (file.find(key) == nullptr) return -1;
    const int64_t id = file.get_i64(key, -1);
    require(id >= 0 && id < n_vocab, CAB_ERR_FORMAT,
            std::string(key) + " = " + std::to_string(id) + " is not a token id (vocabulary of " +
                std::to_string(n_vocab) + ")");
    return static_cast<int32_t>(id);
}

// The byte a byte-fallback token text such as "<0x0A>" stands for; -1 for other texts.
int byte_token_value(std::string_view text) {
    if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
    int value = 0;
    for (char c : text.substr(3, 2)) {
        const int digit = c >= '0' && c <= '9'   ? c - '0'
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10
                          : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                 : -1;
        if (digit < 0) return -1;
        value = value * 16 + digit;
    }
    return value;
}

bool is_special_type(TokenType t) {
    return t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown;
}

}  // namespace

Vocab::Vocab(const gguf::File &file, bool default_add_bos) {
    const auto &tokens = file.get_string_array("tokenizer.ggml.tokens");
    require(!tokens.empty() && tokens.size() < (1u << 31), CAB_ERR_FORMAT,
            "tokenizer.ggml.tokens has " + std::to_string(tokens.size()) + " entries");
    const size_t n = tokens.size();
    texts_.assign(tokens.begin(), tokens.end());

    types_.assign(n, TokenType::Normal);
    if (file.find("tokenizer.ggml.token_type") != nullptr) {
        const std::vector<int32_t> types = file.get_i32_array("tokenizer.ggml.token_type");
        require(types.size() == n, CAB_ERR_FORMAT,
                "tokenizer.ggml.token_type has " + std::to_string(types.size()) + " entries for " +
                    std::to_string(n) + " tokens");
        for (size_t i = 0; i < n; ++i) {
            require(types[i] >= 0 && types[i] <= static_cast<int32_t>(TokenType::Byte),
                    CAB_ERR_FORMAT,
                    "tokenizer.ggml.token_type[" + std::to_string(i) +
                        "] = " + std::to_string(types[i]) + " is not a token type");
            types_[i] = static_cast<TokenType>(types[i]);
        }
    }
    scores_.assign(n, 0.0f);
    if (file.find("tokenizer.ggml.scores") != nullptr) {
        scores_ = file.get_f32_array("tokenizer.ggml.scores");
        require(scores_.size() == n, CAB_ERR_FORMAT,
                "tokenizer.ggml.scores has " + std::to_string(scores_.size()) + " entries for " +
                    std::to_string(n) + " tokens");
    }

    ids_.reserve(n);
    for (size_t i = 0; i < n; ++i) ids_.emplace(texts_[i], static_cast<int32_t>(i));

    const int32_t n_vocab = size();
    bos_ = special_id(file, "tokenizer.ggml.bos_token_id", n_vocab);
    eos_ = special_id(file, "tokenizer.ggml.eos_token_id", n_vocab);
    unk_ = special_id(file, "tokenizer.ggml.unknown_token_id", n_vocab);
    eot_ = special_id(file, "tokenizer.ggml.eot_token_id", n_vocab);
    for (size_t i = 0; eot_ < 0 && i < std::size(kEotTexts); ++i) eot_ = find(kEotTexts[i]);
    add_bos_ = file.get_bool("tokenizer.ggml.add_bos_token", default_add_bos);

    eog_.assign(n, false);
    for (int32_t id : {eos_, eot_}) {
        if (id >= 0) eog_[id] = true;
    }
    for (std::string_view text : kEogTexts) {
        const int32_t id = find(text);
        if (id >= 0) eog_[id] = true;
    }

    byte_tokens_.fill(-1);
    for (int32_t id = 0; id < n_vocab; ++id) {
        if (types_[id] == TokenType::Byte) {
            const int byte = byte_token_value(texts_[id]);
            require(byte >= 0, CAB_ERR_FORMAT,
                    "token " + std::to_string(id) + " '" + texts_[id] +
                        "' has type BYTE but is not of the form <0xXX>");
            if (byte_tokens_[byte] < 0) byte_tokens_[byte] = id;
        }
        if (is_special_type(types_[id]) && !texts_[id].empty())
            specials_[static_cast<uint8_t>(texts_[id][0])].push_back(id);
    }
    for (auto &list : specials_) {
        std::stable_sort(list.begin(), list.end(),
                         [&](int32_t a, int32_t b) { return texts_[a].size() > texts_[b].size(); });
    }
}

int32_t Vocab::find(std::string_view text) const {
    const auto it = ids_.find(text);
    return it == ids_.end() ? -1 : it->second;
}

std::vector<TextFragment> Vocab::split_special(std::string_view text, bool parse_special) const {
    std::vector<TextFragment> out;
    size_t start = 0;  // of the pending text fragment
    for (size_t pos = 0; pos < text.size();) {
        int32_t match = -1;
        for (int32_t id : specials_[static_cast<uint8_t>(text[pos])]) {
            if (!parse_special && types_[id] != TokenType::UserDefined) continue;
            if (text.compare(pos, texts_[id].size(), texts_[id]) == 0) {
                match = id;
                break;
            }
        }
        if (match < 0) {
            ++pos;
            continue;
        }
        if (pos > start) out.push_back({-1, text.substr(start, pos - start)});
        out.push_back({match, text.substr(pos, texts_[match].size())});
        pos += texts_[match].size();
        start = pos;
    }
    if (start < text.size()) out.push_back({-1, text.substr(start)});
    return out;
}

void VocabTokenizer::set_pieces(const std::function<std::string(std::string_view)> &text_to_bytes,
                                bool strip_space_after_special) {
    pieces_.assign(vocab_.size(), std::string());
    for (int32_t id = 0; id < vocab_.size(); ++id) {
        const std::string &text = vocab_.text(id);
        if (is_special_type(vocab_.type(id))) {
            pieces_[id] = text;
        } else if (vocab_.type(id) == TokenType::Byte) {
            pieces_[id] = std::string(1, static_cast<char>(byte_token_value(text)));
        } else {
            pieces_[id] = text_to_bytes(text);
        }
    }
    strip_space_after_special_ = strip_space_after_special;
}

std::string VocabTokenizer::token_to_piece(int32_t id) const {
    require(vocab_.valid(id), CAB_ERR_INVALID_ARGUMENT,
            "token " + std::to_string(id) + " is not in the vocabulary of " +
                std::to_string(vocab_.size()));
    return pieces_[id];
}

std::string VocabTokenizer::decode(const int32_t *ids, size_t n, bool skip_special) const {
    std::string out;
    bool after_special = true;
    for (size_t i = 0; i < n; ++i) {
        const int32_t id = ids[i];
        require(vocab_.valid(id), CAB_ERR_INVALID_ARGUMENT,
                "tokens[" + std::to_string(i) + "] = " + std::to_string(id) +
                    " is not in the vocabulary of " + std::to_string(vocab_.size()));
        const TokenType type = vocab_.type(id);
        if (is_special_type(type)) {
            after_special = true;
            if (!skip_special || type == TokenType::UserDefined) out += pieces_[id];
            continue;
        }
        std::string_view piece = pieces_[id];
        if (strip_space_after_special_ && after_special && !piece.empty() && piece[0] == ' ')
            piece.remove_prefix(1);
        out += piece;
        after_special = false;
    }
    return out;
}

}  // namespace cab
