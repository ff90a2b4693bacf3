// The argument check of Executor::kv_copy_blocks and kv_quantize_blocks, shared by the backends:
// a bad block index would make a copy write outside the pool, and a repeated one would race on a
// device.
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
// dst[0..n) are 2n distinct blocks of the pool (host arrays; non-null when n > 0), each dst[i]
// of src[i]'s type (a copy) or, with `quantize`, every src[i] full-precision and every dst[i]
// int8.
inline void check_kv_copy_blocks(const KvPoolRef &pool, const int32_t *src, const int32_t *dst,
                                 int32_t n, const char *op, bool quantize = false) {
    const std::string name(op);
    require(n >= 0, CAB_ERR_INVALID_ARGUMENT, name + ": n " + std::to_string(n) + " < 0");
    if (n == 0) return;
    require(src != nullptr && dst != nullptr, CAB_ERR_INVALID_ARGUMENT, name + ": null src or dst");
    require(pool.block_size > 0, CAB_ERR_INVALID_ARGUMENT,
            name + ": pool.block_size " + std::to_string(pool.block_size) + " <= 0");
    const int64_t n_blocks = pool.storage.rows() / (int64_t{2} * pool.block_size);
    const int64_t n_q8 = pool.storage_q8.rows() / (int64_t{2} * pool.block_size);
    const int64_t end = pool.storage_q8.empty() ? n_blocks : pool.first_q8 + n_q8;
    std::vector<int32_t> all;
    all.reserve(static_cast<size_t>(n) * 2);
    for (const int32_t *ids : {src, dst})
        for (int32_t i = 0; i < n; ++i) {
            const bool in_pool =
                ids[i] >= 0 && (ids[i] < n_blocks || pool.is_q8(ids[i])) && ids[i] < end;
            if (!in_pool)
                fail(CAB_ERR_INVALID_ARGUMENT,
                     name + ": " + (ids == src ? "src[" : "dst[") + std::to_string(i) +
                         "] = " + std::to_string(ids[i]) + " is not a block of the pool's " +
                         std::to_string(n_blocks) + " and " + std::to_string(n_q8) + " int8");
            const bool want_q8 = quantize ? ids == dst : pool.is_q8(src[i]);
            if (pool.is_q8(ids[i]) != want_q8)
                fail(CAB_ERR_INVALID_ARGUMENT,
                     name + ": " + (ids == src ? "src[" : "dst[") + std::to_string(i) +
                         "] = " + std::to_string(ids[i]) + " is " +
                         (want_q8 ? "not an int8 block" : "an int8 block") +
                         (quantize ? "" : ", unlike the block it copies"));
            all.push_back(ids[i]);
        }
    std::sort(all.begin(), all.end());
    const auto twice = std::adjacent_find(all.begin(), all.end());
    if (twice != all.end())
        fail(CAB_ERR_INVALID_ARGUMENT, name + ": block " + std::to_string(*twice) +
                                           " appears twice in src and dst (they must be distinct)");
}

}  // namespace cab
