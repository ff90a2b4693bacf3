#include "util/text.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace cab_eval {

namespace {

bool is_space(char c) {
    return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}
bool is_upper(char c) {
    return c >= 'A' && c <= 'Z';
}
bool is_lower(char c) {
    return c >= 'a' && c <= 'z';
}
bool is_closer(char c) {
    return c == '"' || c == '\'' || c == ')' || c == ']';
}

// Length of the valid UTF-8 character at text[i], or 0 when the bytes there are not one.
size_t valid_char_length(std::string_view text, size_t i) {
    const auto b0 = static_cast<unsigned char>(text[i]);
    if (b0 < 0x80) return 1;
    size_t n = 0;
    uint32_t min = 0;
    uint32_t cp = 0;
    if ((b0 & 0xE0u) == 0xC0u) {
        n = 2, min = 0x80, cp = b0 & 0x1Fu;
    } else if ((b0 & 0xF0u) == 0xE0u) {
        n = 3, min = 0x800, cp = b0 & 0x0Fu;
    } else if ((b0 & 0xF8u) == 0xF0u) {
        n = 4, min = 0x10000, cp = b0 & 0x07u;
    } else {
        return 0;
    }
    if (i + n > text.size()) return 0;
    for (size_t k = 1; k < n; ++k) {
        const auto b = static_cast<unsigned char>(text[i + k]);
        if ((b & 0xC0u) != 0x80u) return 0;
        cp = (cp << 6) | (b & 0x3Fu);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid.
    if (cp < min || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return 0;
    return n;
}

}  // namespace

std::string read_text_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open '" + path + "'");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw std::runtime_error("cannot read '" + path + "'");
    return text.str();
}

std::vector<std::string> list_files(const std::string &dir, const std::string &suffix) {
    DIR *d = opendir(dir.c_str());
    if (d == nullptr) throw std::runtime_error("cannot open directory '" + dir + "'");
    std::vector<std::string> names;
    while (const dirent *e = readdir(d)) {
        const std::string name = e->d_name;
        if (name.size() < suffix.size() ||
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
            continue;
        struct stat st {};
        if (stat((dir + "/" + name).c_str(), &st) == 0 && S_ISREG(st.st_mode))
            names.push_back(name);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

std::string sanitize_utf8(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        const size_t n = valid_char_length(text, i);
        if (n == 0) {
            out += "\xEF\xBF\xBD";
            ++i;
        } else {
            out.append(text.substr(i, n));
            i += n;
        }
    }
    return out;
}

std::vector<std::string> split_sentences(std::string_view text) {
    std::string flat;
    flat.reserve(text.size());
    for (const char c : text) {
        if (is_space(c)) {
            if (!flat.empty() && flat.back() != ' ') flat += ' ';
        } else {
            flat += c;
        }
    }
    std::vector<std::string> sentences;
    size_t start = 0;
    for (size_t i = 0; i < flat.size(); ++i) {
        const char c = flat[i];
        if (c != '.' && c != '!' && c != '?') continue;
        size_t end = i + 1;
        while (end < flat.size() && is_closer(flat[end])) ++end;
        const bool at_space = end == flat.size() || flat[end] == ' ';
        const bool glued = end < flat.size() && is_upper(flat[end]) && end == i + 1 && i > 0 &&
                           is_lower(flat[i - 1]);
        if (!at_space && !glued) continue;
        std::string s = trim(std::string_view(flat).substr(start, end - start));
        if (!s.empty()) sentences.push_back(std::move(s));
        start = end;
        i = end - 1;
    }
    std::string rest = trim(std::string_view(flat).substr(start));
    if (!rest.empty()) sentences.push_back(std::move(rest));
    return sentences;
}

size_t count_occurrences(std::string_view text, std::string_view needle) {
    size_t count = 0;
    for (size_t at = text.find(needle); at != std::string_view::npos;
         at = text.find(needle, at + needle.size()))
        ++count;
    return count;
}

std::string trim(std::string_view text) {
    size_t b = 0;
    size_t e = text.size();
    while (b < e && is_space(text[b])) ++b;
    while (e > b && is_space(text[e - 1])) --e;
    return std::string(text.substr(b, e - b));
}

std::string first_nonblank_line(std::string_view text) {
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        std::string line = trim(text.substr(start, end - start));
        if (!line.empty()) return line;
        start = end + 1;
    }
    return "";
}

}  // namespace cab_eval
