// A KV budget as the CLI and the C ABI take it: "256" (tokens per stream) or "10%" / "12.5%"
// (a share of the stream's current length). The ratio is kept as an exact fraction so that
// "29%" of 100 tokens is 29, not 28 (0.29 * 100 is 28.999... in floating point).
#pragma once

#include <cstdint>
#include <string_view>

namespace cab {

struct BudgetSpec {
    bool is_ratio = false;
    int32_t tokens = 0;     // when !is_ratio
    int64_t ratio_num = 0;  // when is_ratio: the share is ratio_num / ratio_den, in [0, 1]
    int64_t ratio_den = 1;

    // The budget of a stream of `length` tokens: `tokens`, or floor(length * ratio). A token
    // budget may exceed the length (the stream then keeps everything).
    int32_t tokens_for(int32_t length) const;
};

// Parses "N" (0 <= N <= INT32_MAX) or "P%" (0 <= P <= 100, at most 6 decimals). Surrounding
// spaces, signs, exponents and anything else are Error(INVALID_ARGUMENT) quoting the text.
BudgetSpec parse_budget_spec(std::string_view text);

}  // namespace cab
