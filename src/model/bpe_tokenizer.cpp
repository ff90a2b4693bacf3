#include "model/bpe_tokenizer.h"

#include <queue>
#include <string>

#include "model/gguf.h"
#include "model/unicode.h"
#include "util/error.h"

namespace cab {

namespace {

uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
}

// The bytes a byte-level token text stands for. Characters outside the GPT-2 alphabet are kept
// as they are.
std::string gpt2_text_to_bytes(std::string_view text) {
    std::string out;
    size_t pos = 0;
    while (pos < text.size()) {
        const size_t start = pos;
        const uint32_t cp = unicode::next_codepoint(text, pos);
        const int byte = cp == unicode::kInvalid ? -1 : unicode::gpt2_to_byte(cp);
        if (byte >= 0) {
            out += static_cast<char>(byte);
        } else {
            out.append(text.substr(start, pos - start));
        }
    }
    return out;
}

}  // namespace

// Per-call working memory, reused across the words of one encode call.
struct BpeTokenizer::Scratch {
    struct Symbol {
        int32_t id;  // -2 once merged into its left neighbour
        int32_t prev;
        int32_t next;
    };
    struct Pair {
        int32_t rank;
        int32_t left;
        int32_t right;
        int32_t left_id;
        int32_t right_id;
        int32_t result;
    };
    struct Later {  // the priority queue's order: lowest rank, then leftmost, on top
        bool operator()(const Pair &a, const Pair &b) const {
            return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
        }
    };
    std::vector<Symbol> symbols;
    std::priority_queue<Pair, std::vector<Pair>, Later> queue;
    std::string chars;  // the word in the GPT-2 alphabet (ignore_merges only)
};

BpeTokenizer::BpeTokenizer(const gguf::File &file)
    : VocabTokenizer(file, false),
      pre_(pretokenizer_from_name(file.get_string("tokenizer.ggml.pre", ""))),
      ignore_merges_(pre_ == PreTokenizer::Llama3) {
    for (int b = 0; b < 256; ++b) {
        std::string ch;
        unicode::append_utf8(ch, unicode::byte_to_gpt2(static_cast<uint8_t>(b)));
        byte_char_token_[b] = vocab_.find(ch);
    }

    const auto &merges = file.get_string_array("tokenizer.ggml.merges");
    merges_.reserve(merges.size());
    std::string joined;
    for (size_t i = 0; i < merges.size(); ++i) {
        const std::string_view m = merges[i];
        const auto bad = [&](const char *why) {
            fail(CAB_ERR_FORMAT, "tokenizer.ggml.merges[" + std::to_string(i) + "] '" +
                                     std::string(m) + "' " + why);
        };
        const size_t space = m.find(' ', 1);
        if (space == std::string_view::npos) bad("has no space");
        const std::string_view a = m.substr(0, space), b = m.substr(space + 1);
        const int32_t left = vocab_.find(a), right = vocab_.find(b);
        joined.assign(a).append(b);
        const int32_t result = vocab_.find(joined);
        if (left < 0 || right < 0 || result < 0) bad("names a token that is not in the vocabulary");
        merges_.emplace(pair_key(left, right), Merge{static_cast<int32_t>(i), result});
    }
    set_pieces(gpt2_text_to_bytes, false);
}

const BpeTokenizer::Merge *BpeTokenizer::find_merge(int32_t left, int32_t right) const {
    if (left < 0 || right < 0) return nullptr;
    const auto it = merges_.find(pair_key(left, right));
    return it == merges_.end() ? nullptr : &it->second;
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool add_bos,
                                          bool parse_special) const {
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 1);
    if (add_bos && vocab_.add_bos() && vocab_.bos() >= 0) out.push_back(vocab_.bos());
    Scratch scratch;
    for (const TextFragment &f : vocab_.split_special(text, parse_special)) {
        if (f.token >= 0) {
            out.push_back(f.token);
            continue;
        }
        for (std::string_view word : pretokenize(pre_, f.text)) encode_word(word, scratch, out);
    }
    return out;
}

void BpeTokenizer::encode_word(std::string_view word, Scratch &s, std::vector<int32_t> &out) const {
    if (ignore_merges_) {
        s.chars.clear();
        for (char c : word) unicode::append_utf8(s.chars, unicode::byte_to_gpt2(c));
        const int32_t id = vocab_.find(s.chars);
        if (id >= 0) {
            out.push_back(id);
            return;
        }
    }
    // One symbol per byte, linked as a list; merged symbols leave the list.
    const int32_t n = static_cast<int32_t>(word.size());
    s.symbols.resize(n);
    for (int32_t i = 0; i < n; ++i)
        s.symbols[i] = {byte_char_token_[static_cast<uint8_t>(word[i])], i - 1,
                        i + 1 < n ? i + 1 : -1};
    const auto push_pair = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const int32_t a = s.symbols[left].id, b = s.symbols[right].id;
        if (const Merge *m = find_merge(a, b))
            s.queue.push({m->rank, left, right, a, b, m->result});
    };
    for (int32_t i = 0; i + 1 < n; ++i) push_pair(i, i + 1);
    while (!s.queue.empty()) {
        const Scratch::Pair p = s.queue.top();
        s.queue.pop();
        Scratch::Symbol &l = s.symbols[p.left];
        Scratch::Symbol &r = s.symbols[p.right];
        // A pair is stale once either side has merged: ids only ever grow into longer tokens.
        if (l.id != p.left_id || r.id != p.right_id || l.next != p.right) continue;
        l.id = p.result;
        l.next = r.next;
        if (r.next >= 0) s.symbols[r.next].prev = p.left;
        r.id = -2;
        push_pair(l.prev, p.left);
        push_pair(p.left, l.next);
    }
    // Bytes whose character is not in the vocabulary (never in GPT-2 style vocabularies) are
    // dropped, as llama.cpp does.
    for (int32_t i = 0; i >= 0 && i < n; i = s.symbols[i].next) {
        if (s.symbols[i].id >= 0) out.push_back(s.symbols[i].id);
    }
}

}  // namespace cab
