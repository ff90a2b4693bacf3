#include "util/json.h"

#include <cmath>
#include <cstdio>

#include "util/text.h"

namespace cab_eval {

std::string json_quote(std::string_view text) {
    const std::string valid = sanitize_utf8(text);
    std::string out = "\"";
    for (const char c : valid) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
                    out += buf;
                } else {
                    out += c;
                }
        }
    }
    return out + "\"";
}

void JsonObject::key(std::string_view k) {
    if (!body_.empty()) body_ += ',';
    body_ += json_quote(k);
    body_ += ':';
}

JsonObject &JsonObject::add(std::string_view k, std::string_view value) {
    key(k);
    body_ += json_quote(value);
    return *this;
}

JsonObject &JsonObject::add(std::string_view k, double value) {
    key(k);
    if (!std::isfinite(value)) {
        body_ += "null";
    } else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.6g", value);
        body_ += buf;
    }
    return *this;
}

JsonObject &JsonObject::add(std::string_view k, int64_t value) {
    key(k);
    body_ += std::to_string(value);
    return *this;
}

JsonObject &JsonObject::add(std::string_view k, const JsonObject &value) {
    key(k);
    body_ += value.str();
    return *this;
}

namespace {

// A recursive-descent reader over one text; every method returns false on malformed input.
class Reader {
public:
    explicit Reader(std::string_view text) : t_(text) {}

    bool object(std::map<std::string, std::string> *fields) {
        if (!eat('{')) return false;
        if (eat('}')) return true;
        do {
            std::string k;
            if (!string(&k) || !eat(':')) return false;
            skip_ws();
            if (peek() == '"') {
                std::string v;
                if (!string(&v)) return false;
                if (fields) (*fields)[k] = v;
            } else if (!value()) {
                return false;
            }
        } while (eat(','));
        return eat('}');
    }

    bool at_end() {
        skip_ws();
        return i_ == t_.size();
    }

private:
    char peek() const { return i_ < t_.size() ? t_[i_] : '\0'; }
    void skip_ws() {
        while (i_ < t_.size() &&
               (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\n' || t_[i_] == '\r'))
            ++i_;
    }
    bool eat(char c) {
        skip_ws();
        if (peek() != c) return false;
        ++i_;
        return true;
    }

    bool value() {
        skip_ws();
        const char c = peek();
        if (c == '{') return object(nullptr);
        if (c == '[') {
            ++i_;
            if (eat(']')) return true;
            do {
                if (!value()) return false;
            } while (eat(','));
            return eat(']');
        }
        if (c == '"') {
            std::string ignored;
            return string(&ignored);
        }
        for (const char *word : {"true", "false", "null"}) {
            const std::string_view w(word);
            if (t_.substr(i_, w.size()) == w) {
                i_ += w.size();
                return true;
            }
        }
        return number();
    }

    bool number() {
        const size_t start = i_;
        while (i_ < t_.size() &&
               (std::string_view("+-0123456789.eE").find(t_[i_]) != std::string_view::npos))
            ++i_;
        return i_ > start;
    }

    static void append_utf8(uint32_t cp, std::string *out) {
        if (cp < 0x80) {
            *out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            *out += static_cast<char>(0xC0 | (cp >> 6));
            *out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            *out += static_cast<char>(0xE0 | (cp >> 12));
            *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            *out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            *out += static_cast<char>(0xF0 | (cp >> 18));
            *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            *out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    bool hex4(uint32_t *cp) {
        if (i_ + 4 > t_.size()) return false;
        *cp = 0;
        for (int k = 0; k < 4; ++k) {
            const char h = t_[i_++];
            *cp <<= 4;
            if (h >= '0' && h <= '9') {
                *cp |= static_cast<uint32_t>(h - '0');
            } else if (h >= 'a' && h <= 'f') {
                *cp |= static_cast<uint32_t>(h - 'a' + 10);
            } else if (h >= 'A' && h <= 'F') {
                *cp |= static_cast<uint32_t>(h - 'A' + 10);
            } else {
                return false;
            }
        }
        return true;
    }

    bool string(std::string *out) {
        if (!eat('"')) return false;
        while (i_ < t_.size()) {
            const char c = t_[i_++];
            if (c == '"') return true;
            if (c != '\\') {
                *out += c;
                continue;
            }
            if (i_ >= t_.size()) return false;
            const char e = t_[i_++];
            switch (e) {
                case '"':
                case '\\':
                case '/':
                    *out += e;
                    break;
                case 'b':
                    *out += '\b';
                    break;
                case 'f':
                    *out += '\f';
                    break;
                case 'n':
                    *out += '\n';
                    break;
                case 'r':
                    *out += '\r';
                    break;
                case 't':
                    *out += '\t';
                    break;
                case 'u': {
                    uint32_t cp = 0;
                    if (!hex4(&cp)) return false;
                    if (cp >= 0xD800 && cp <= 0xDBFF && t_.substr(i_, 2) == "\\u") {
                        i_ += 2;
                        uint32_t lo = 0;
                        if (!hex4(&lo)) return false;
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    append_utf8(cp, out);
                    break;
                }
                default:
                    return false;
            }
        }
        return false;
    }

    std::string_view t_;
    size_t i_ = 0;
};

}  // namespace

bool parse_string_fields(std::string_view text, std::map<std::string, std::string> *fields) {
    Reader r(text);
    return r.object(fields) && r.at_end();
}

}  // namespace cab_eval
