#include "policy/inherit.h"

#include <algorithm>
#include <cmath>

namespace cab {

int32_t inherit_layers(float share, int32_t n_layer) {
    if (!(share > 0.0f) || n_layer <= 1) return 0;
    const auto n = static_cast<int32_t>(std::ceil(static_cast<double>(share) * n_layer - 1e-9));
    return std::clamp(n, 0, n_layer - 1);
}

void ranked_range(int32_t n, int32_t budget, const PolicyParams &p, int32_t *first, int32_t *end) {
    *first = *end = 0;
    if (budget >= n) return;
    const int32_t n_sinks = std::min(p.n_sinks, n);
    const int32_t n_recent = std::min(p.n_recent, n - n_sinks);
    if (n_sinks + n_recent >= budget) return;
    const int32_t k = budget - n_sinks - n_recent;
    *first = n_sinks;
    *end = n - n_recent - std::min(p.snapkv_window, k);
    if (*end < *first) *end = *first;
}

void DeepWindowScore::add(const StreamScores &s, int32_t first, int32_t end) {
    if (s.window == nullptr || end <= first) return;
    double total = 0.0;
    for (int32_t j = first; j < end; ++j) total += s.window[j];
    if (!(total > 0.0)) return;
    for (int32_t j = first; j < end; ++j) {
        const int32_t pos = s.positions != nullptr ? s.positions[j] : j;
        if (pos < 0) continue;
        if (static_cast<size_t>(pos) >= by_position_.size()) by_position_.resize(pos + 1, 0.0);
        by_position_[pos] += s.window[j] / total;
    }
}

std::vector<float> DeepWindowScore::for_stream(const StreamScores &s) const {
    std::vector<float> out(static_cast<size_t>(s.n), 0.0f);
    for (int32_t j = 0; j < s.n; ++j) {
        const int32_t pos = s.positions != nullptr ? s.positions[j] : j;
        if (pos >= 0 && static_cast<size_t>(pos) < by_position_.size())
            out[j] = static_cast<float>(by_position_[pos]);
    }
    return out;
}

}  // namespace cab
