// The argument check of Executor::kv_copy_blocks, shared by the backends: a bad block index
// would make a copy write outside the pool, and a repeated one would race on a device.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "util/error.h"

namespace cab {

// Throws Error(INVALID_ARGUMENT) naming `op` and the first bad entry unless src[0..n) and
// dst[0..n) are 2n distinct blocks of the pool (host arrays; non-null when n > 0).
inline void check_kv_copy_blocks(const KvPoolRef &pool, const int32_t *src, const int32_t *dst,
                                 int32_t n, const char *op) {
    const std::string name(op);
    require(n >= 0, CAB_ERR_INVALID_ARGUMENT, name + ": n " + std::to_string(n) + " < 0");
    if (n == 0) return;
    require(src != nullptr && dst != nullptr, CAB_ERR_INVALID_ARGUMENT, name + ": null src or dst");
    require(pool.block_size > 0, CAB_ERR_INVALID_ARGUMENT,
            name + ": pool.block_size " + std::to_string(pool.block_size) + " <= 0");
    const int64_t n_blocks = pool.storage.rows() / (int64_t{2} * pool.block_size);
    std::vector<int32_t> all;
    all.reserve(static_cast<size_t>(n) * 2);
    for (const int32_t *ids : {src, dst})
        for (int32_t i = 0; i < n; ++i) {
            if (ids[i] < 0 || ids[i] >= n_blocks)
                fail(CAB_ERR_INVALID_ARGUMENT,
                     name + ": " + (ids == src ? "src[" : "dst[") + std::to_string(i) +
                         "] = " + std::to_string(ids[i]) + " is not a block of the pool's " +
                         std::to_string(n_blocks));
            all.push_back(ids[i]);
        }
    std::sort(all.begin(), all.end());
    const auto twice = std::adjacent_find(all.begin(), all.end());
    if (twice != all.end())
        fail(CAB_ERR_INVALID_ARGUMENT, name + ": block " + std::to_string(*twice) +
                                           " appears twice in src and dst (they must be distinct)");
}

}  // namespace cab
