// CudaExecutor::kv_select: keep plans ranked and applied where the scores are. One staged copy of
// the units' descriptors and block tables, one selection kernel for every unit (kv_select.cuh),
// batched compaction of every stream that loses slots (kv_compact.cuh), then one device-to-host
// copy of all kept lists, which the host needs for its position metadata. No per-stream round
// trip: the default Executor::kv_select reads every stream's scores to the host instead.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cuda_executor.h"
#include "kv/kv_compact.cuh"
#include "kv/kv_select.cuh"
#include "policy/keep_plan.h"
#include "util/batches.h"

namespace cab::cuda {

namespace {

// Compaction gathers every kept slot into scratch before writing it back, so one batch over all
// of a long sequence's streams would need scratch about the size of its kept cache. Batches are
// cut at this much scratch (one job may exceed it alone); each costs two launches.
constexpr size_t kCompactBatchBytes = size_t{64} << 20;

size_t align16(size_t bytes) {
    return (bytes + 15) / 16 * 16;
}

// A unit as checked: how many slots it keeps, where its list starts in host_keep, whether the
// device ranks it and compacts its streams.
struct UnitInfo {
    int32_t length = 0;
    int32_t count = 0;
    int64_t offset = 0;
    bool ranks = false;
    bool compacts = false;  // keeps some but not all of its slots
    size_t work_bytes = 0;
};

// Checks every unit as the default Executor::kv_select does, and that the block tables of the
// streams to compact (the only ones the device reads) are inside the pool and pairwise disjoint
// (compact_batch's precondition; a stream listed twice would race with itself).
std::vector<UnitInfo> check_units(const KvPoolRef &pool, const SelectUnit *units, int32_t n_units) {
    std::vector<UnitInfo> info(static_cast<size_t>(n_units));
    int64_t offset = 0;
    // Messages are built only on failure: these checks run for every unit and stream of a call.
    for (int32_t u = 0; u < n_units; ++u) {
        const SelectUnit &unit = units[u];
        const auto bad = [u](const std::string &what) {
            fail(CAB_ERR_INVALID_ARGUMENT, "kv_select: unit " + std::to_string(u) + what);
        };
        if (unit.streams == nullptr || unit.n_streams < 1) bad(" has no streams");
        const int32_t n = unit.streams[0].length;
        for (int32_t i = 0; i < unit.n_streams; ++i) {
            if (unit.streams[i].length != n)
                bad(": its streams differ in length (" + std::to_string(n) + " and " +
                    std::to_string(unit.streams[i].length) + ")");
            if (n > 0 && unit.streams[i].blocks == nullptr)
                bad(": stream " + std::to_string(i) + " of " + std::to_string(n) +
                    " slots has no block table");
        }
        UnitInfo &in = info[static_cast<size_t>(u)];
        try {
            in.count = keep_count(unit.plan, n);
        } catch (const Error &e) {
            fail(e.status(), "kv_select: unit " + std::to_string(u) + ": " + e.what());
        }
        if (unit.plan.ranks() && pool.scores.empty())
            bad(" ranks by scores the pool does not keep");
        in.length = n;
        in.offset = offset;
        offset += in.count;
        in.compacts = in.count > 0 && in.count < n;
        const KeepPlan &p = unit.plan;
        in.work_bytes = kv::select_work_bytes(n, p.keep_front, p.keep_back, p.k, p.bridges,
                                              p.pool_kernel, p.pool_shift, p.chunk);
        in.ranks = in.work_bytes > 0;
    }

    const int64_t n_blocks = pool.storage.rows() / (2 * int64_t{pool.block_size});
    std::vector<uint64_t> taken(static_cast<size_t>(n_blocks / 64 + 1), 0);
    for (int32_t u = 0; u < n_units; ++u) {
        const UnitInfo &in = info[static_cast<size_t>(u)];
        if (!in.compacts) continue;
        for (int32_t i = 0; i < units[u].n_streams; ++i) {
            const int32_t *blocks = units[u].streams[i].blocks;
            for (int64_t j = 0; j < blocks_for(in.length, pool.block_size); ++j) {
                const int32_t b = blocks[j];
                const bool inside = b >= 0 && b < n_blocks;
                uint64_t *word = inside ? &taken[static_cast<size_t>(b / 64)] : nullptr;
                const uint64_t bit = uint64_t{1} << (b & 63);
                if (inside && !(*word & bit)) {
                    *word |= bit;
                    continue;
                }
                fail(CAB_ERR_INVALID_ARGUMENT,
                     "kv_select: unit " + std::to_string(u) + ", stream " + std::to_string(i) +
                         ", block " + std::to_string(b) +
                         (inside
                              ? " belongs to another stream being compacted too"
                              : " is outside the pool's " + std::to_string(n_blocks) + " blocks"));
            }
        }
    }
    return info;
}

// Consecutive compaction jobs whose scratch fits kCompactBatchBytes (or one job alone).
struct Batch {
    int32_t first = 0;
    int32_t count = 0;
    int32_t max_keep = 0;
};

// Cuts jobs into batches and plans each (scratch offsets from 0); returns the largest batch's
// scratch bytes.
size_t plan_batches(const DevicePool &pool, std::vector<kv::CompactJob> &jobs,
                    std::vector<Batch> &batches) {
    // Jobs mostly keep as many slots as the one before (every stream of a uniform budget): the
    // size is asked once per change, not once per job.
    std::vector<size_t> bytes(jobs.size());
    int32_t sized_keep = -1;
    size_t job = 0;
    for (size_t j = 0; j < jobs.size(); ++j) {
        if (jobs[j].n_keep != sized_keep) {
            sized_keep = jobs[j].n_keep;
            job = kv::compact_batch_scratch_bytes(pool, &sized_keep, 1);
        }
        bytes[j] = job;
    }
    size_t largest = 0;
    for (const auto &[first, end] : cut_batches(bytes, kCompactBatchBytes)) {
        Batch b{static_cast<int32_t>(first), static_cast<int32_t>(end - first), 0};
        size_t sum = 0;
        for (size_t j = first; j < end; ++j) {
            b.max_keep = std::max(b.max_keep, jobs[j].n_keep);
            sum += bytes[j];
        }
        largest = std::max(largest, sum);
        batches.push_back(b);
    }
    for (const Batch &b : batches) kv::plan_compact_batch(pool, jobs.data() + b.first, b.count);
    return largest;
}

}  // namespace

void CudaExecutor::kv_select(const KvPoolRef &pool, const SelectUnit *units, int32_t n_units,
                             int32_t *host_keep) {
    guarded([&] {
        leave_step();
        require(n_units >= 0 && (n_units == 0 || (units != nullptr && host_keep != nullptr)),
                CAB_ERR_INVALID_ARGUMENT, "kv_select: null units or output");
        if (n_units == 0) return;
        const DevicePool dp = device_pool(pool, "kv_select");
        const std::vector<UnitInfo> info = check_units(pool, units, n_units);
        {  // what decode left pending, before the ranking reads the scores
            std::vector<StreamRef> all;
            for (int32_t u = 0; u < n_units; ++u)
                all.insert(all.end(), units[u].streams, units[u].streams + units[u].n_streams);
            settle_streams(pool, all.data(), static_cast<int32_t>(all.size()), 0, "kv_select");
        }
        const UnitInfo &last = info.back();
        const int64_t total_keep = last.offset + last.count;
        if (total_keep == 0) return;

        // Staged: every unit's job, then the streams to compact (DeviceStream records, block
        // tables, compaction jobs, in unit order). Scratch: the kept lists, then the ranking
        // work, whose space compaction reuses after it.
        std::vector<kv::CompactJob> compact_jobs;
        int64_t n_table = 0;
        size_t work_total = 0;
        for (int32_t u = 0; u < n_units; ++u) {
            const UnitInfo &in = info[static_cast<size_t>(u)];
            work_total += in.work_bytes;
            if (!in.compacts) continue;
            n_table += units[u].n_streams * blocks_for(in.length, dp.block_size);
            kv::CompactJob job;
            job.n_keep = in.count;
            compact_jobs.insert(compact_jobs.end(), static_cast<size_t>(units[u].n_streams), job);
        }
        const size_t n_streams = compact_jobs.size();
        const size_t jobs_bytes = align_staging(n_units * sizeof(kv::SelectJob));
        const size_t streams_bytes = align_staging(n_streams * sizeof(DeviceStream));
        const size_t table_bytes = align_staging(static_cast<size_t>(n_table) * sizeof(int32_t));
        const size_t compact_at = jobs_bytes + streams_bytes + table_bytes;
        const size_t staged = compact_at + n_streams * sizeof(kv::CompactJob);
        const size_t keep_bytes = align16(static_cast<size_t>(total_keep) * sizeof(int32_t));
        std::vector<Batch> batches;
        const size_t compact_bytes = plan_batches(dp, compact_jobs, batches);

        char *scr = static_cast<char *>(scratch(keep_bytes + std::max(work_total, compact_bytes)));
        int32_t *keep_dev = reinterpret_cast<int32_t *>(scr);
        char *work = scr + keep_bytes;

        const Staging st = begin_op("kv_select", 0, staged);
        char *host = static_cast<char *>(st.host);
        const char *dev = static_cast<const char *>(st.device);
        auto *jobs = reinterpret_cast<kv::SelectJob *>(host);
        auto *streams = reinterpret_cast<DeviceStream *>(host + jobs_bytes);
        const auto *streams_dev = reinterpret_cast<const DeviceStream *>(dev + jobs_bytes);
        auto *tables = reinterpret_cast<int32_t *>(host + jobs_bytes + streams_bytes);
        const auto *tables_dev =
            reinterpret_cast<const int32_t *>(dev + jobs_bytes + streams_bytes);
        size_t s = 0, w = 0;
        int64_t t = 0;
        for (int32_t u = 0; u < n_units; ++u) {
            const UnitInfo &in = info[static_cast<size_t>(u)];
            const SelectUnit &unit = units[u];
            kv::SelectJob job;
            job.length = in.length;
            job.keep_front = unit.plan.keep_front;
            job.keep_back = unit.plan.keep_back;
            job.k = unit.plan.k;
            job.kind = score_kind(unit.plan.source);
            job.per_observer = unit.plan.per_observer ? 1 : 0;
            job.pool_kernel = unit.plan.pool_kernel;
            job.pool_shift = unit.plan.pool_shift;
            job.chunk = unit.plan.chunk;
            job.bridges = unit.plan.bridges;
            job.keep = keep_dev + in.offset;
            if (in.ranks) {
                job.work = work + w;
                w += in.work_bytes;
            }
            if (in.compacts) {
                job.streams = streams_dev + s;
                job.n_streams = unit.n_streams;
                const int64_t per = blocks_for(in.length, dp.block_size);
                for (int32_t i = 0; i < unit.n_streams; ++i, ++s, t += per) {
                    std::memcpy(tables + t, unit.streams[i].blocks,
                                static_cast<size_t>(per) * sizeof(int32_t));
                    streams[s] = {tables_dev + t, in.length};
                    compact_jobs[s].blocks = tables_dev + t;
                    compact_jobs[s].keep = job.keep;
                }
            }
            jobs[u] = job;
        }
        if (n_streams > 0)
            std::memcpy(host + compact_at, compact_jobs.data(), n_streams * sizeof(kv::CompactJob));
        send(st, staged);

        const auto *jobs_dev = reinterpret_cast<const kv::SelectJob *>(dev);
        const auto *compact_dev = reinterpret_cast<const kv::CompactJob *>(dev + compact_at);
        kv::select(dp, jobs_dev, n_units, stream());
        for (const Batch &b : batches)
            kv::compact_batch(dp, compact_dev + b.first, b.count, b.max_keep, work, stream());
        read_back(keep_dev, host_keep, static_cast<size_t>(total_keep) * sizeof(int32_t));
    });
}

}  // namespace cab::cuda
