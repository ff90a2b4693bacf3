#include "policy/selection.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <iterator>
#include <limits>
#include <numeric>

namespace cab {

int64_t ratio_ppm(float ratio) {
    return std::llround(static_cast<double>(ratio) * 1e6);
}

int32_t share_of(int32_t k, float ratio) {
    return static_cast<int32_t>(static_cast<int64_t>(k) * ratio_ppm(ratio) / 1000000);
}

std::vector<int32_t> all_slots(int32_t n) {
    std::vector<int32_t> out(static_cast<size_t>(n));
    std::iota(out.begin(), out.end(), 0);
    return out;
}

std::vector<int32_t> most_recent(const std::vector<int32_t> &candidates, int32_t k) {
    return std::vector<int32_t>(candidates.end() - k, candidates.end());
}

std::vector<int32_t> top_k(const std::vector<int32_t> &candidates, int32_t k, const float *value) {
    std::vector<int32_t> order = candidates;
    auto better = [value](int32_t a, int32_t b) {
        return value[a] > value[b] || (value[a] == value[b] && a < b);
    };
    // nth_element is O(n) on average; the comparator is a total order, so the set is unique.
    std::nth_element(order.begin(), order.begin() + k, order.end(), better);
    order.resize(static_cast<size_t>(k));
    std::sort(order.begin(), order.end());
    return order;
}

std::vector<int32_t> closest_k(const std::vector<int32_t> &candidates, int32_t k,
                               const float *value, double target) {
    std::vector<size_t> order(candidates.size());
    std::vector<double> dist(candidates.size());
    for (size_t i = 0; i < candidates.size(); ++i) {
        order[i] = i;
        const double d = std::fabs(static_cast<double>(value[candidates[i]]) - target);
        // A NaN would break the ordering nth_element needs.
        dist[i] = std::isnan(d) ? std::numeric_limits<double>::infinity() : d;
    }
    // Candidates are ascending, so a smaller index is the earlier slot.
    auto closer = [&dist](size_t a, size_t b) {
        return dist[a] < dist[b] || (dist[a] == dist[b] && a < b);
    };
    std::nth_element(order.begin(), order.begin() + k, order.end(), closer);
    std::vector<int32_t> out;
    out.reserve(static_cast<size_t>(k));
    for (int32_t i = 0; i < k; ++i) out.push_back(candidates[order[static_cast<size_t>(i)]]);
    std::sort(out.begin(), out.end());
    return out;
}

double median(const std::vector<int32_t> &candidates, const float *value) {
    std::vector<double> v(candidates.size());
    for (size_t i = 0; i < candidates.size(); ++i) v[i] = value[candidates[i]];
    const size_t mid = v.size() / 2;
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
    const double upper = v[mid];
    if (v.size() % 2 == 1) return upper;
    const double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
    return (lower + upper) / 2.0;
}

std::vector<float> max_pool(const float *v, int32_t n, int32_t kernel, int32_t shift) {
    // Slot i's window is [i - before, i + after]. A reach past n clips to the same windows, and
    // keeps n + after from overflowing.
    const int32_t half = kernel / 2;
    const int32_t before = static_cast<int32_t>(std::min<int64_t>(int64_t{half} + shift, n));
    const int32_t after = std::min(half - shift, n);
    std::vector<float> out(static_cast<size_t>(n));
    std::deque<int32_t> best;  // indices whose values decrease from front to back: O(n) overall
    for (int32_t right = 0; right < n + after; ++right) {
        if (right < n) {
            while (!best.empty() && v[best.back()] <= v[right]) best.pop_back();
            best.push_back(right);
        }
        const int32_t i = right - after;
        if (i < 0) continue;
        while (best.front() < i - before) best.pop_front();
        out[static_cast<size_t>(i)] = v[best.front()];
    }
    return out;
}

std::vector<float> chunk_sum(const float *v, int32_t first, int32_t n, int32_t chunk) {
    std::vector<float> out(static_cast<size_t>(n));
    // Offsets into v: a chunk [c * chunk, (c + 1) * chunk) clipped to [first, first + n).
    for (int64_t start = 0; start < n;) {
        const int64_t chunk_end = (int64_t{first} + start) / chunk * chunk + chunk - first;
        const int64_t end = std::min<int64_t>(chunk_end, n);
        float sum = 0.0f;
        for (int64_t i = start; i < end; ++i) sum += v[i];
        if (std::isnan(sum)) sum = -std::numeric_limits<float>::infinity();
        std::fill(out.begin() + start, out.begin() + end, sum);
        start = end;
    }
    return out;
}

std::vector<int32_t> without(const std::vector<int32_t> &candidates,
                             const std::vector<int32_t> &taken) {
    std::vector<int32_t> out;
    out.reserve(candidates.size());
    std::set_difference(candidates.begin(), candidates.end(), taken.begin(), taken.end(),
                        std::back_inserter(out));
    return out;
}

}  // namespace cab
