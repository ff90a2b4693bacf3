#include "model/pretokenizer.h"

#include <cstdint>
#include <string>

#include "model/unicode.h"
#include "util/error.h"

namespace cab {

namespace {

using unicode::kLetter;
using unicode::kNumber;
using unicode::kWhitespace;

struct Char {
    uint32_t cp;
    uint32_t offset;  // byte offset in the text
    uint8_t flags;
};

// The text as characters, with a sentinel whose offset is the text length.
std::vector<Char> decode(std::string_view text) {
    std::vector<Char> chars;
    chars.reserve(text.size() + 1);
    size_t pos = 0;
    while (pos < text.size()) {
        const uint32_t offset = static_cast<uint32_t>(pos);
        const uint32_t cp = unicode::next_codepoint(text, pos);
        chars.push_back({cp, offset, unicode::flags(cp)});
    }
    chars.push_back({0, static_cast<uint32_t>(text.size()), 0});
    return chars;
}

// The regexes, matched at position i of the span [i, end) of characters. Each returns the end
// of the match; every character starts a match, so the pieces cover the span.
class Matcher {
public:
    explicit Matcher(const std::vector<Char> &chars) : c_(chars) {}

    size_t gpt2(size_t i, size_t end) const {
        if (size_t j = contraction(i, end, false)) return j;
        const size_t s = i + (is(i, end, ' ') ? 1 : 0);  // the optional leading space
        if (has(s, end, kLetter)) return run(s, end, kLetter);
        if (has(s, end, kNumber)) return run(s, end, kNumber);
        if (is_other(s, end)) return run_other(s, end);
        return whitespace(i, end);
    }

    // Llama 3 with max_digits 3, Qwen2 with max_digits 1.
    size_t llama3(size_t i, size_t end, size_t max_digits) const {
        if (size_t j = contraction(i, end, true)) return j;
        if (has(i, end, kLetter)) return run(i, end, kLetter);
        // [^\r\n\p{L}\p{N}]\p{L}+
        if (!is_newline(i) && !has(i, end, kNumber) && has(i + 1, end, kLetter))
            return run(i + 1, end, kLetter);
        if (has(i, end, kNumber)) {
            size_t j = i + 1;
            while (j < end && j - i < max_digits && has(j, end, kNumber)) ++j;
            return j;
        }
        const size_t s = i + (is(i, end, ' ') ? 1 : 0);
        if (is_other(s, end)) {
            size_t j = run_other(s, end);
            while (j < end && is_newline(j)) ++j;
            return j;
        }
        // \s*[\r\n]+: the whitespace run up to and including its last newline.
        const size_t ws_end = run(i, end, kWhitespace);
        for (size_t p = ws_end; p > i; --p) {
            if (is_newline(p - 1)) return p;
        }
        return whitespace(i, end);
    }

private:
    bool has(size_t i, size_t end, uint8_t flag) const { return i < end && (c_[i].flags & flag); }
    bool is(size_t i, size_t end, uint32_t cp) const { return i < end && c_[i].cp == cp; }
    bool is_newline(size_t i) const { return c_[i].cp == '\r' || c_[i].cp == '\n'; }
    // [^\s\p{L}\p{N}]
    bool is_other(size_t i, size_t end) const {
        return i < end && (c_[i].flags & (kLetter | kNumber | kWhitespace)) == 0;
    }

    size_t run(size_t i, size_t end, uint8_t flag) const {
        while (has(i, end, flag)) ++i;
        return i;
    }
    size_t run_other(size_t i, size_t end) const {
        while (is_other(i, end)) ++i;
        return i;
    }

    // 's|'t|'re|'ve|'m|'ll|'d, ASCII case-insensitive when asked; 0 when none matches.
    size_t contraction(size_t i, size_t end, bool any_case) const {
        if (!is(i, end, '\'') || i + 1 >= end) return 0;
        const auto lower = [&](size_t k) -> uint32_t {
            if (k >= end) return 0;
            const uint32_t cp = c_[k].cp;
            return any_case && cp >= 'A' && cp <= 'Z' ? cp + ('a' - 'A') : cp;
        };
        const uint32_t a = lower(i + 1);
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
        const uint32_t b = lower(i + 2);
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
            return i + 3;
        return 0;
    }

    // \s+(?!\S)|\s+ at a whitespace character: a run followed by a non-space character leaves
    // its last character to start the next piece (so " word" keeps its space).
    size_t whitespace(size_t i, size_t end) const {
        const size_t j = run(i, end, kWhitespace);
        if (j == end || j - i == 1) return j;
        return j - 1;
    }

    const std::vector<Char> &c_;
};

}  // namespace

PreTokenizer pretokenizer_from_name(std::string_view name) {
    if (name.empty() || name == "gpt2" || name == "gpt-2" || name == "default")
        return PreTokenizer::Gpt2;
    if (name == "smollm") return PreTokenizer::SmolLM;
    if (name == "qwen2") return PreTokenizer::Qwen2;
    if (name == "llama-bpe" || name == "llama3" || name == "llama-v3") return PreTokenizer::Llama3;
    fail(CAB_ERR_UNSUPPORTED,
         "tokenizer.ggml.pre '" + std::string(name) + "' is not a supported pre-tokenizer");
}

std::vector<std::string_view> pretokenize(PreTokenizer kind, std::string_view text) {
    require(text.size() < (1ull << 32), CAB_ERR_INVALID_ARGUMENT, "text is longer than 4 GiB");
    const std::vector<Char> chars = decode(text);
    const size_t n = chars.size() - 1;
    const Matcher m(chars);
    std::vector<std::string_view> pieces;
    const auto emit = [&](size_t i, size_t j) {
        pieces.push_back(text.substr(chars[i].offset, chars[j].offset - chars[i].offset));
    };
    const auto split_span = [&](size_t begin, size_t end) {
        for (size_t i = begin; i < end;) {
            size_t j = 0;
            switch (kind) {
                case PreTokenizer::Gpt2:
                case PreTokenizer::SmolLM:
                    j = m.gpt2(i, end);
                    break;
                case PreTokenizer::Qwen2:
                    j = m.llama3(i, end, 1);
                    break;
                case PreTokenizer::Llama3:
                    j = m.llama3(i, end, 3);
                    break;
            }
            emit(i, j);
            i = j;
        }
    };
    if (kind != PreTokenizer::SmolLM) {
        split_span(0, n);
        return pieces;
    }
    // SmolLM: each number character is a piece; the text between is split by the GPT-2 rules.
    size_t begin = 0;
    for (size_t i = 0; i < n; ++i) {
        if (chars[i].flags & kNumber) {
            split_span(begin, i);
            emit(i, i + 1);
            begin = i + 1;
        }
    }
    split_span(begin, n);
    return pieces;
}

}  // namespace cab
