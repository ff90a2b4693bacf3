#include "policy/budget_spec.h"

#include <cstdint>
#include <limits>
#include <string>

#include "util/error.h"

namespace cab {

namespace {

[[noreturn]] void bad(std::string_view text, const char *why) {
    fail(CAB_ERR_INVALID_ARGUMENT, "budget '" + std::string(text) + "': " + why +
                                       " (expected tokens like \"256\" or a share like \"10%\")");
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

}  // namespace

int32_t BudgetSpec::tokens_for(int32_t length) const {
    if (!is_ratio) return tokens;
    // num <= den and length < 2^31, den <= 10^8: the product fits in 64 bits.
    return static_cast<int32_t>(static_cast<int64_t>(length) * ratio_num / ratio_den);
}

BudgetSpec parse_budget_spec(std::string_view text) {
    constexpr int64_t kMaxScale = 1000000;  // 6 decimals
    const bool ratio = !text.empty() && text.back() == '%';
    const std::string_view number = ratio ? text.substr(0, text.size() - 1) : text;
    if (number.empty()) bad(text, "no number");

    int64_t mantissa = 0;  // the digits with the decimal point removed
    int64_t scale = 1;     // 10^(decimals)
    bool seen_point = false, seen_digit = false;
    for (char c : number) {
        if (c == '.' && ratio && !seen_point) {
            seen_point = true;
            continue;
        }
        if (!is_digit(c)) bad(text, "not a non-negative number");
        if (seen_point) {
            if (scale == kMaxScale) bad(text, "more than 6 decimals");
            scale *= 10;
        }
        mantissa = mantissa * 10 + (c - '0');
        if (mantissa > std::numeric_limits<int32_t>::max()) bad(text, "too large");
        seen_digit = true;
    }
    if (!seen_digit) bad(text, "no digits");

    BudgetSpec spec;
    if (!ratio) {
        spec.tokens = static_cast<int32_t>(mantissa);
        return spec;
    }
    if (mantissa > 100 * scale) bad(text, "a share above 100%");
    spec.is_ratio = true;
    spec.ratio_num = mantissa;
    spec.ratio_den = 100 * scale;
    return spec;
}

}  // namespace cab
