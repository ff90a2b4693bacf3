// Accounting of the KV block pool: which block ids are free. The block storage itself is a
// backend tensor owned by KvCache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace cab {

class BlockPool {
public:
    // Ids [first_id, first_id + n_blocks).
    explicit BlockPool(int32_t n_blocks, int32_t first_id = 0);

    int32_t first_id() const { return first_; }
    bool owns(int32_t id) const { return id >= first_ && id < first_ + n_total_; }

    int32_t n_total() const { return n_total_; }
    int32_t n_free() const { return static_cast<int32_t>(free_.size()) + (n_total_ - next_); }

    // Appends n free block ids to `out`. The caller has checked n <= n_free().
    void take(int32_t n, std::vector<int32_t> &out);
    // Returns blocks to the pool.
    void give_back(const int32_t *ids, size_t n);

private:
    int32_t n_total_;
    int32_t first_;
    // Blocks [next_, n_total_) were never handed out. Kept as a bound rather than a list, so an
    // absurd pool costs nothing before its storage is allocated (and refused).
    int32_t next_ = 0;
    std::vector<int32_t> free_;  // a stack: the most recently freed block is reused first
};

}  // namespace cab
