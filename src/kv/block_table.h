// A stream's block table with a version: the block ids in slot order, readable freely, changed only
// through edit(), which gives the table a new version. Versions are unique in the process (a
// reset stream's fresh table too), so a device backend that mirrors tables (StreamRef::version)
// knows an unchanged one without comparing it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace cab {

class BlockTable {
public:
    BlockTable() : version_(next_version()) {}

    size_t size() const { return ids_.size(); }
    bool empty() const { return ids_.empty(); }
    const int32_t *data() const { return ids_.data(); }
    int32_t operator[](size_t i) const { return ids_[i]; }
    std::vector<int32_t>::const_iterator begin() const { return ids_.begin(); }
    std::vector<int32_t>::const_iterator end() const { return ids_.end(); }
    const std::vector<int32_t> &ids() const { return ids_; }
    uint64_t version() const { return version_; }

    // The ids to change; the table takes a new version now (so take it once per change).
    std::vector<int32_t> &edit() {
        version_ = next_version();
        return ids_;
    }

private:
    static uint64_t next_version() {
        static std::atomic<uint64_t> last{0};
        return last.fetch_add(1, std::memory_order_relaxed) + 1;  // never 0: "unversioned"
    }

    std::vector<int32_t> ids_;
    uint64_t version_;
};

}  // namespace cab
