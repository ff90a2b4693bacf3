#include "model/spm_tokenizer.h"

#include <queue>
#include <string>

#include "model/gguf.h"
#include "model/unicode.h"
#include "util/error.h"

namespace cab {

namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

std::string escape_spaces(std::string_view text, bool prefix) {
    std::string out;
    out.reserve(text.size() + 8);
    if (prefix) out += kSpace;
    for (char c : text) {
        if (c == ' ') {
            out += kSpace;
        } else {
            out += c;
        }
    }
    return out;
}

std::string unescape_spaces(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        if (text.compare(pos, kSpace.size(), kSpace) == 0) {
            out += ' ';
            pos += kSpace.size();
        } else {
            out += text[pos++];
        }
    }
    return out;
}

struct Symbol {
    uint32_t start;  // byte offset in the escaped text
    uint32_t size;   // 0 once merged into its left neighbour
    int32_t prev;
    int32_t next;
};

struct Bigram {
    float score;
    int32_t left;
    int32_t right;
    uint32_t size;  // bytes of both symbols when the bigram was made
};

struct LowerPriority {  // best score, then leftmost, on top
    bool operator()(const Bigram &a, const Bigram &b) const {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
};

}  // namespace

SpmTokenizer::SpmTokenizer(const gguf::File &file)
    : VocabTokenizer(file, true),
      add_space_prefix_(file.get_bool("tokenizer.ggml.add_space_prefix", true)) {
    set_pieces(unescape_spaces, add_space_prefix_);
}

std::vector<int32_t> SpmTokenizer::encode(std::string_view text, bool add_bos,
                                          bool parse_special) const {
    std::vector<int32_t> out;
    out.reserve(text.size() / 2 + 2);
    if (add_bos && vocab_.add_bos() && vocab_.bos() >= 0) out.push_back(vocab_.bos());
    bool after_special = true;
    for (const TextFragment &f : vocab_.split_special(text, parse_special)) {
        if (f.token >= 0) {
            out.push_back(f.token);
            after_special = true;
            continue;
        }
        encode_escaped(escape_spaces(f.text, add_space_prefix_ && after_special), out);
        after_special = false;
    }
    return out;
}

void SpmTokenizer::encode_escaped(const std::string &text, std::vector<int32_t> &out) const {
    require(text.size() < (1ull << 32), CAB_ERR_INVALID_ARGUMENT, "text is longer than 4 GiB");
    std::vector<Symbol> symbols;
    symbols.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        const size_t start = pos;
        unicode::next_codepoint(text, pos);  // an invalid byte is a symbol alone
        const int32_t index = static_cast<int32_t>(symbols.size());
        symbols.push_back({static_cast<uint32_t>(start), static_cast<uint32_t>(pos - start),
                           index - 1, pos < text.size() ? index + 1 : -1});
    }
    const std::string_view all(text);
    std::priority_queue<Bigram, std::vector<Bigram>, LowerPriority> queue;
    const auto push_bigram = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const uint32_t size = symbols[left].size + symbols[right].size;
        const int32_t id = vocab_.find(all.substr(symbols[left].start, size));
        if (id >= 0) queue.push({vocab_.score(id), left, right, size});
    };
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push_bigram(i, i + 1);
    while (!queue.empty()) {
        const Bigram b = queue.top();
        queue.pop();
        Symbol &l = symbols[b.left];
        Symbol &r = symbols[b.right];
        // Stale once either side has merged: a symbol only grows by taking its right neighbour.
        if (l.size == 0 || r.size == 0 || l.size + r.size != b.size) continue;
        l.size += r.size;
        r.size = 0;
        l.next = r.next;
        if (r.next >= 0) symbols[r.next].prev = b.left;
        push_bigram(l.prev, b.left);
        push_bigram(b.left, l.next);
    }
    for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
        const std::string_view piece = all.substr(symbols[i].start, symbols[i].size);
        const int32_t id = vocab_.find(piece);
        if (id >= 0) {
            out.push_back(id);
            continue;
        }
        for (char c : piece) {
            const int32_t byte_id = vocab_.byte_token(static_cast<uint8_t>(c));
            const int32_t fallback = byte_id >= 0 ? byte_id : vocab_.unk();
            require(fallback >= 0, CAB_ERR_UNSUPPORTED,
                    "the vocabulary has neither a byte token nor an unknown token for byte " +
                        std::to_string(static_cast<uint8_t>(c)));
            out.push_back(fallback);
        }
    }
}

}  // namespace cab
