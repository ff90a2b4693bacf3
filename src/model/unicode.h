// Unicode support for the tokenizers: UTF-8 decoding that tolerates invalid bytes, the character
// classes the pre-tokenizer regexes use (\p{L}, \p{N}, \s), and GPT-2's byte <-> character map.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace cab::unicode {

// Character classes, as bit flags.
enum Flag : uint8_t {
    kLetter = 1,      // \p{L}: Lu Ll Lt Lm Lo
    kNumber = 2,      // \p{N}: Nd Nl No
    kWhitespace = 4,  // \s: the White_Space property
};

// Stands for one byte that is not part of valid UTF-8. It has no class (like punctuation), so
// invalid bytes are tokenized byte-wise and decode back to themselves.
constexpr uint32_t kInvalid = 0xFFFFFFFFu;

// Classes of a code point (0 for kInvalid and unassigned code points).
uint8_t flags(uint32_t cp);

// Decodes the character at text[pos] and advances pos past it. Overlong forms, surrogates,
// values past U+10FFFF and truncated sequences are invalid: the result is kInvalid and pos
// advances by one byte. Requires pos < text.size().
uint32_t next_codepoint(std::string_view text, size_t &pos);

// Appends the UTF-8 encoding of a valid code point.
void append_utf8(std::string &out, uint32_t cp);

// GPT-2's byte-level alphabet: every byte maps to a printable character (printable Latin-1
// bytes to themselves, the others to U+0100 upwards), so byte strings become vocabulary text.
uint32_t byte_to_gpt2(uint8_t byte);
// The byte a GPT-2 alphabet character stands for, or -1 if the character is not in it.
int gpt2_to_byte(uint32_t cp);

namespace detail {
struct CategoryRange {
    uint32_t first;
    uint32_t last;
    uint8_t flags;
};
// Sorted, disjoint ranges of code points with non-zero flags (unicode_data.cpp, generated).
extern const CategoryRange kCategoryRanges[];
extern const size_t kCategoryRangeCount;
}  // namespace detail

}  // namespace cab::unicode
