// Consecutive items cut into batches under a size cap (a device buffer that a long list would
// otherwise grow by its whole size).
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace cab {

// [first, end) ranges covering items [0, sizes.size()) in order, each as long as its sizes sum to
// at most `cap`; an item larger than the cap goes alone.
inline std::vector<std::pair<size_t, size_t>> cut_batches(const std::vector<size_t> &sizes,
                                                          size_t cap) {
    std::vector<std::pair<size_t, size_t>> out;
    size_t sum = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
        if (out.empty() || sum + sizes[i] > cap) {
            out.emplace_back(i, i);
            sum = 0;
        }
        sum += sizes[i];
        out.back().second = i + 1;
    }
    return out;
}

}  // namespace cab
