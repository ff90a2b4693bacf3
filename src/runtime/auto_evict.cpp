#include "runtime/auto_evict.h"

#include <algorithm>

namespace cab {

bool quantizes_only(const EvictOptions &options) {
    return options.quantize && (options.policy == nullptr || options.policy->name() == "full");
}

AutoEvict::AutoEvict(const EvictOptions &options, int32_t slack, int32_t n_streams)
    : options_(options), slack_(slack), n_streams_(n_streams) {
    quantizes_only_ = cab::quantizes_only(options);
    if (quantizes_only_) options_.policy = nullptr;  // full would only copy what it keeps
    enabled_ = quantizes_only_ || (options.policy != nullptr && options.policy->name() != "full");
    question_aware_ = enabled_ && cab::question_aware(options_);
}

int32_t AutoEvict::budget(int64_t seq_length) const {
    const BudgetSpec &b = options_.budget;
    if (!b.is_ratio) return b.tokens;
    return static_cast<int32_t>(seq_length * b.ratio_num / b.ratio_den);
}

bool AutoEvict::over(int64_t cached, int64_t seq_length, int64_t extra) const {
    return cached + extra * n_streams_ >
           n_streams_ * (int64_t{budget(seq_length + extra)} + slack_);
}

int64_t AutoEvict::room(int64_t cached, int64_t seq_length, int64_t limit) const {
    // over() only turns from false to true as extra grows: each token adds one slot per stream
    // and at most one token of budget.
    if (over(cached, seq_length, 0)) return 0;
    int64_t lo = 0, hi = limit;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo + 1) / 2;
        if (over(cached, seq_length, mid)) {
            hi = mid - 1;
        } else {
            lo = mid;
        }
    }
    return lo;
}

int64_t AutoEvict::quantize_room(int64_t full_precision, int64_t limit) const {
    const int64_t bound = int64_t{options_.quantize_recent} + slack_;
    return std::max<int64_t>(0, std::min(bound - full_precision, limit));
}

bool AutoEvict::over_budget(int64_t cached, int64_t seq_length) const {
    return cached > n_streams_ * int64_t{budget(seq_length)};
}

EvictOptions AutoEvict::to_budget(int64_t seq_length) const {
    EvictOptions o = options_;
    o.budget = BudgetSpec{};
    o.budget.tokens = budget(seq_length);
    return o;
}

int64_t plan_chunk(int64_t remaining, int64_t max_chunk, int64_t room, int64_t window) {
    int64_t chunk = std::min({remaining, max_chunk, room});
    if (chunk < remaining && remaining - chunk < window) chunk = remaining - window;
    return chunk;
}

}  // namespace cab
