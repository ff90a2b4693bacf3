// Just enough JSON for result files: an object writer for one JSON line, and a reader of a
// line's top-level string fields (what resuming needs).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace cab_eval {

// `text` as a JSON string literal, quotes included; invalid UTF-8 becomes U+FFFD.
std::string json_quote(std::string_view text);

// Builds one JSON object, fields in the order they are added.
class JsonObject {
public:
    JsonObject &add(std::string_view key, std::string_view value);
    JsonObject &add(std::string_view key, const char *value) {
        return add(key, std::string_view(value));
    }
    JsonObject &add(std::string_view key, double value);  // non-finite values become null
    JsonObject &add(std::string_view key, int64_t value);
    JsonObject &add(std::string_view key, int32_t value) { return add(key, int64_t{value}); }
    JsonObject &add(std::string_view key, const JsonObject &value);
    std::string str() const { return "{" + body_ + "}"; }

private:
    void key(std::string_view k);
    std::string body_;
};

// The top-level fields of a JSON object whose values are strings, unescaped. Other values are
// checked and skipped. Returns false when `text` is not one complete JSON object.
bool parse_string_fields(std::string_view text, std::map<std::string, std::string> *fields);

}  // namespace cab_eval
