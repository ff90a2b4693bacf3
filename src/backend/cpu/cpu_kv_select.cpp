// Executor::kv_select on the CPU: the default host form, with the units' selections spread over
// the executor's threads (they only read the pool), then compacted one unit at a time.
#include <functional>

#include "backend/cpu/cpu_executor.h"

namespace cab::cpu {

void CpuExecutor::kv_select(const KvPoolRef &pool, const SelectUnit *units, int32_t n_units,
                            int32_t *host_keep) {
    kv_select_on_host(
        pool, units, n_units, host_keep, [this](size_t n, const std::function<void(size_t)> &fn) {
            pool_.parallel_for(static_cast<int64_t>(n), 1, [&](int64_t begin, int64_t end) {
                for (int64_t i = begin; i < end; ++i) fn(static_cast<size_t>(i));
            });
        });
}

}  // namespace cab::cpu
