#include "kv/block_pool.h"

#include <string>

#include "util/error.h"

namespace cab {

BlockPool::BlockPool(int32_t n_blocks, int32_t first_id) : n_total_(n_blocks), first_(first_id) {}

void BlockPool::take(int32_t n, std::vector<int32_t> &out) {
    if (n > n_free())
        fail(CAB_ERR_INTERNAL, "BlockPool::take(" + std::to_string(n) + ") with only " +
                                   std::to_string(n_free()) + " free");
    // Freed blocks first, then never-used ones in increasing order.
    for (int32_t i = 0; i < n; ++i) {
        if (free_.empty()) {
            out.push_back(first_ + next_++);
        } else {
            out.push_back(free_.back());
            free_.pop_back();
        }
    }
}

void BlockPool::give_back(const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n; ++i) free_.push_back(ids[i]);
}

}  // namespace cab
