// The Executor ops that have a default composed of the others (backend.h).
#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "policy/key_means.h"
#include "policy/policy.h"
#include "util/error.h"

namespace cab {

void Executor::kv_select(const KvPoolRef &pool, const SelectUnit *units, int32_t n_units,
                         int32_t *host_keep) {
    kv_select_on_host(pool, units, n_units, host_keep,
                      [](size_t n, const std::function<void(size_t)> &fn) {
                          for (size_t i = 0; i < n; ++i) fn(i);
                      });
}

void Executor::kv_select_on_host(const KvPoolRef &pool, const SelectUnit *units, int32_t n_units,
                                 int32_t *host_keep, const ForEach &for_each) {
    require(n_units >= 0 && (n_units == 0 || (units != nullptr && host_keep != nullptr)),
            CAB_ERR_INVALID_ARGUMENT, "kv_select: null units or output");
    // Everything is checked before the first compaction, so a bad unit changes nothing. Messages
    // are built only on failure: the checks run for every unit of every eviction.
    for (int32_t u = 0; u < n_units; ++u) {
        const SelectUnit &unit = units[u];
        if (unit.streams == nullptr || unit.n_streams < 1)
            fail(CAB_ERR_INVALID_ARGUMENT,
                 "kv_select: unit " + std::to_string(u) + " has no streams");
        for (int32_t i = 1; i < unit.n_streams; ++i)
            if (unit.streams[i].length != unit.streams[0].length)
                fail(CAB_ERR_INVALID_ARGUMENT,
                     "kv_select: the streams of unit " + std::to_string(u) + " differ in length");
        keep_count(unit.plan, unit.streams[0].length);
        if (unit.plan.ranks() && pool.scores.empty())
            fail(CAB_ERR_INVALID_ARGUMENT, "kv_select: unit " + std::to_string(u) +
                                               " ranks by scores the pool does not keep");
    }
    std::vector<std::vector<int32_t>> keeps(static_cast<size_t>(n_units));
    for_each(keeps.size(), [&](size_t u) {
        const SelectUnit &unit = units[u];
        const int32_t n = unit.streams[0].length;
        StreamScores view;
        view.n = n;
        std::vector<float> sums, stream;
        if (unit.plan.ranks()) {
            // Only the kinds the plan ranks by (its source, and observers per_observer), each
            // summed over the unit's streams in stream order.
            const ScoreKind source = score_kind(unit.plan.source);
            const ScoreKind kinds[2] = {source, kObservers};
            const int32_t n_kinds = unit.plan.per_observer ? 2 : 1;
            sums.assign(static_cast<size_t>(n) * n_kinds, 0.0f);
            stream.resize(static_cast<size_t>(n) * unit.n_streams);
            for (int32_t k = 0; k < n_kinds; ++k) {
                kv_read_score_kind(pool, unit.streams, unit.n_streams, kinds[k], stream.data());
                float *sum = sums.data() + static_cast<size_t>(k) * n;
                for (int32_t i = 0; i < unit.n_streams; ++i) {
                    const float *one = stream.data() + static_cast<size_t>(i) * n;
                    for (int32_t j = 0; j < n; ++j) sum[j] += one[j];
                }
            }
            const float **ranked = source == kScore    ? &view.score
                                   : source == kWindow ? &view.window
                                                       : &view.last;
            *ranked = sums.data();
            if (n_kinds == 2) view.observers = sums.data() + n;
        }
        keeps[u] = apply_keep_plan(unit.plan, view);
    });
    for (int32_t u = 0; u < n_units; ++u) {
        const SelectUnit &unit = units[u];
        const std::vector<int32_t> &keep = keeps[static_cast<size_t>(u)];
        if (keep.size() != static_cast<size_t>(unit.streams[0].length))
            for (int32_t i = 0; i < unit.n_streams; ++i)
                kv_compact(pool, unit.streams[i], keep.data(), static_cast<int32_t>(keep.size()));
        host_keep = std::copy(keep.begin(), keep.end(), host_keep);
    }
}

void Executor::kv_read_score_kind(const KvPoolRef &pool, const StreamRef *streams, int32_t n,
                                  int32_t kind, float *host_dst) {
    check_score_kind_read(streams, n, kind, host_dst);
    std::vector<float> all;
    for (int32_t i = 0; i < n; ++i) {
        const size_t len = static_cast<size_t>(streams[i].length);
        if (len == 0) continue;
        all.resize(len * kScoreKinds);
        kv_read_scores(pool, streams[i], all.data());
        const auto first = all.begin() + static_cast<std::ptrdiff_t>(kind * len);
        host_dst = std::copy(first, first + static_cast<std::ptrdiff_t>(len), host_dst);
    }
}

void Executor::kv_read_key_means(const KvPoolRef &pool, const StreamRef *streams, int32_t n,
                                 const int32_t *runs, float *host_dst) {
    check_key_means_read(streams, n, runs, pool.head_dim, host_dst);
    std::vector<float> keys;
    for (int32_t i = 0; i < n; ++i) {
        const int32_t len = streams[i].length;
        if (len == 0) continue;
        keys.resize(static_cast<size_t>(len) * pool.head_dim);
        kv_read(pool, streams[i], false, keys.data());
        key_means(keys.data(), len, pool.head_dim, runs[i], host_dst);
        host_dst += run_count(len, runs[i]) * pool.head_dim;
    }
}

void check_key_means_read(const StreamRef *streams, int32_t n, const int32_t *runs,
                          int32_t head_dim, const float *host_dst) {
    require(n >= 0 && (n == 0 || (streams != nullptr && runs != nullptr)), CAB_ERR_INVALID_ARGUMENT,
            "kv_read_key_means: null streams or runs");
    size_t floats = 0;
    for (int32_t i = 0; i < n; ++i) {
        if (streams[i].length < 0 || runs[i] < 1)
            fail(CAB_ERR_INVALID_ARGUMENT, "kv_read_key_means: stream " + std::to_string(i) +
                                               " has length " + std::to_string(streams[i].length) +
                                               " and run " + std::to_string(runs[i]));
        floats += static_cast<size_t>(run_count(streams[i].length, runs[i])) * head_dim;
    }
    require(floats == 0 || host_dst != nullptr, CAB_ERR_INVALID_ARGUMENT,
            "kv_read_key_means: null output for streams that hold slots");
}

void check_score_kind_read(const StreamRef *streams, int32_t n, int32_t kind,
                           const float *host_dst) {
    require(n >= 0 && (n == 0 || streams != nullptr), CAB_ERR_INVALID_ARGUMENT,
            "kv_read_score_kind: null streams");
    require(kind >= 0 && kind < kScoreKinds, CAB_ERR_INVALID_ARGUMENT,
            "kv_read_score_kind: kind " + std::to_string(kind) + " (0 to 3)");
    bool slots = false;
    for (int32_t i = 0; i < n; ++i) {
        if (streams[i].length < 0)
            fail(CAB_ERR_INVALID_ARGUMENT, "kv_read_score_kind: stream " + std::to_string(i) +
                                               " has length " + std::to_string(streams[i].length));
        slots = slots || streams[i].length > 0;
    }
    require(!slots || host_dst != nullptr, CAB_ERR_INVALID_ARGUMENT,
            "kv_read_score_kind: null output for streams that hold slots");
}

}  // namespace cab
