#include "model/unicode.h"

#include <algorithm>
#include <array>

namespace cab::unicode {

namespace {

// ASCII is most of the text: its classes come from a table instead of a binary search. The
// tables are constexpr so that no static initialisation order matters.
constexpr std::array<uint8_t, 128> make_ascii_flags() {
    std::array<uint8_t, 128> table{};
    for (uint32_t c = 0; c < 128; ++c) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) table[c] = kLetter;
        if (c >= '0' && c <= '9') table[c] = kNumber;
        if (c == ' ' || (c >= 0x09 && c <= 0x0D)) table[c] = kWhitespace;
    }
    return table;
}

constexpr std::array<uint8_t, 128> kAsciiFlags = make_ascii_flags();

constexpr bool is_gpt2_identity(uint32_t b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Gpt2Tables {
    std::array<uint32_t, 256> to_cp{};
    std::array<int16_t, 512> from_cp{};  // every GPT-2 character is below U+0200
};

constexpr Gpt2Tables make_gpt2_tables() {
    Gpt2Tables t;
    for (auto &v : t.from_cp) v = -1;
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
        t.to_cp[b] = is_gpt2_identity(b) ? b : next++;
        t.from_cp[t.to_cp[b]] = static_cast<int16_t>(b);
    }
    return t;
}

constexpr Gpt2Tables kGpt2 = make_gpt2_tables();

}  // namespace

uint8_t flags(uint32_t cp) {
    if (cp < 128) return kAsciiFlags[cp];
    const detail::CategoryRange *begin = detail::kCategoryRanges;
    const detail::CategoryRange *end = begin + detail::kCategoryRangeCount;
    const detail::CategoryRange *it = std::upper_bound(
        begin, end, cp, [](uint32_t v, const detail::CategoryRange &r) { return v < r.first; });
    if (it == begin) return 0;
    --it;
    return cp <= it->last ? it->flags : 0;
}

uint32_t next_codepoint(std::string_view text, size_t &pos) {
    const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
    const uint8_t b0 = byte(pos);
    if (b0 < 0x80) {
        ++pos;
        return b0;
    }
    size_t len = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if ((b0 & 0xE0) == 0xC0) {
        len = 2, cp = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3, cp = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4, cp = b0 & 0x07, min = 0x10000;
    }
    if (len == 0 || pos + len > text.size()) {
        ++pos;
        return kInvalid;
    }
    for (size_t i = 1; i < len; ++i) {
        const uint8_t b = byte(pos + i);
        if ((b & 0xC0) != 0x80) {
            ++pos;
            return kInvalid;
        }
        cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        ++pos;
        return kInvalid;
    }
    pos += len;
    return cp;
}

void append_utf8(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

uint32_t byte_to_gpt2(uint8_t byte) {
    return kGpt2.to_cp[byte];
}

int gpt2_to_byte(uint32_t cp) {
    return cp < kGpt2.from_cp.size() ? kGpt2.from_cp[cp] : -1;
}

}  // namespace cab::unicode
