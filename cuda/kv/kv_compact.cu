// KV compaction in two stream-ordered phases over (chunk, K/V, kept slot) of every job: gather
// the kept slots' K/V chunks (16 bytes, or 2 when head_dim % 8 != 0 or the pool is not 16-byte
// aligned) and scores into scratch, then write them to slots [0, n_keep). A slot that keeps its
// place (keep[i] == i, the kept prefix) is neither a source nor a destination of any other slot,
// so both phases skip it.
#include <algorithm>
#include <cstdint>
#include <string>

#include "attention/launch.h"
#include "kv/kv_compact.cuh"
#include "util/error.h"

namespace cab::cuda::kv {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65536;
constexpr int64_t kMaxJobBlocks = 65535;  // the grid's y limit

__host__ __device__ int64_t align16(int64_t bytes) {
    return (bytes + 15) / 16 * 16;
}

// Bytes of a job's K/V part of scratch: [n_keep][2][head_dim] bf16, rounded up to 16 so the
// scores ([kScoreKinds][n_keep] f32) and the next job start aligned.
__host__ __device__ int64_t kv_scratch_bytes(int32_t head_dim, int32_t n_keep) {
    return align16(static_cast<int64_t>(n_keep) * 2 * head_dim * 2);
}

// One phase of one job for the items first, first + stride, ... of its n_keep * 2 * per_row.
template <class Chunk, bool kWriteBack>
__device__ void move_job(const DevicePool &pool, Chunk *data, int32_t per_row,
                         const CompactJob &job, char *scratch, int64_t first, int64_t stride) {
    char *base = scratch + job.scratch_offset;
    Chunk *kv_scratch = reinterpret_cast<Chunk *>(base);
    float *score_scratch =
        reinterpret_cast<float *>(base + kv_scratch_bytes(pool.head_dim, job.n_keep));
    const int32_t bs = pool.block_size;
    const int64_t items = static_cast<int64_t>(job.n_keep) * 2 * per_row;
    for (int64_t item = first; item < items; item += stride) {
        const int32_t chunk = static_cast<int32_t>(item % per_row);
        const int64_t t = item / per_row;
        const int32_t value = static_cast<int32_t>(t % 2);
        const int32_t i = static_cast<int32_t>(t / 2);
        const int32_t src = job.keep[i];
        if (src == i) continue;
        const int32_t slot = kWriteBack ? i : src;
        const int64_t pool_row =
            (static_cast<int64_t>(job.blocks[slot / bs]) * 2 + value) * bs + slot % bs;
        Chunk *p = data + pool_row * per_row + chunk;
        // Scratch is [i][K/V][chunk], so item is its index.
        if (kWriteBack)
            *p = kv_scratch[item];
        else
            kv_scratch[item] = *p;
        if (pool.scores && value == 0 && chunk == 0) {
            for (int32_t kind = 0; kind < kScoreKinds; ++kind) {
                float *s = score_at(pool, job.blocks, kind, slot);
                float *c = score_scratch + static_cast<int64_t>(kind) * job.n_keep + i;
                if (kWriteBack)
                    *s = *c;
                else
                    *c = *s;
            }
        }
    }
}

template <class Chunk, bool kWriteBack>
__global__ void compact_kernel(DevicePool pool, Chunk *data, int32_t per_row, CompactJob job,
                               char *scratch) {
    move_job<Chunk, kWriteBack>(pool, data, per_row, job, scratch,
                                static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x,
                                static_cast<int64_t>(gridDim.x) * kThreads);
}

template <class Chunk, bool kWriteBack>
__global__ void compact_batch_kernel(DevicePool pool, Chunk *data, int32_t per_row,
                                     const CompactJob *jobs, int32_t n_jobs, char *scratch) {
    for (int32_t j = blockIdx.y; j < n_jobs; j += gridDim.y) {
        const CompactJob job = jobs[j];
        move_job<Chunk, kWriteBack>(pool, data, per_row, job, scratch,
                                    static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x,
                                    static_cast<int64_t>(gridDim.x) * kThreads);
    }
}

bool aligned16(const void *p) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

void check_pool(const DevicePool &pool, const std::string &name) {
    require(pool.block_size > 0, CAB_ERR_INVALID_ARGUMENT,
            name + "pool.block_size " + std::to_string(pool.block_size) + " <= 0");
    require(pool.head_dim > 0, CAB_ERR_INVALID_ARGUMENT,
            name + "pool.head_dim " + std::to_string(pool.head_dim) + " <= 0");
    require(pool.data, CAB_ERR_INVALID_ARGUMENT, name + "null pool.data");
}

void check_keep(int32_t n_keep, const std::string &what) {
    require(n_keep >= 0, CAB_ERR_INVALID_ARGUMENT, what + " " + std::to_string(n_keep) + " < 0");
}

int64_t job_bytes(const DevicePool &pool, int32_t n_keep) {
    const int64_t scores =
        pool.scores ? align16(static_cast<int64_t>(n_keep) * kScoreKinds * 4) : 0;
    return kv_scratch_bytes(pool.head_dim, n_keep) + scores;
}

// Launches both phases; one_job for compact(), else the batch kernel over `jobs`.
template <class Chunk>
void launch(const DevicePool &pool, const CompactJob *one_job, const CompactJob *jobs,
            int32_t n_jobs, int32_t max_keep, void *scratch, cudaStream_t stream) {
    const int32_t per_row = static_cast<int32_t>(pool.head_dim * 2 / sizeof(Chunk));
    // DevicePool::data is const for the attention kernels, which only read it; compaction moves
    // K/V in place.
    Chunk *data = static_cast<Chunk *>(const_cast<void *>(pool.data));
    char *s = static_cast<char *>(scratch);
    const int64_t items = static_cast<int64_t>(max_keep) * 2 * per_row;
    const dim3 grid(
        static_cast<unsigned>(std::min<int64_t>((items + kThreads - 1) / kThreads, kMaxBlocks)),
        static_cast<unsigned>(std::min<int64_t>(n_jobs, kMaxJobBlocks)));
    if (one_job) {
        compact_kernel<Chunk, false>
            <<<grid, kThreads, 0, stream>>>(pool, data, per_row, *one_job, s);
        attention::check_launch("kv compact gather");
        compact_kernel<Chunk, true>
            <<<grid, kThreads, 0, stream>>>(pool, data, per_row, *one_job, s);
        attention::check_launch("kv compact write-back");
    } else {
        compact_batch_kernel<Chunk, false>
            <<<grid, kThreads, 0, stream>>>(pool, data, per_row, jobs, n_jobs, s);
        attention::check_launch("kv compact_batch gather");
        compact_batch_kernel<Chunk, true>
            <<<grid, kThreads, 0, stream>>>(pool, data, per_row, jobs, n_jobs, s);
        attention::check_launch("kv compact_batch write-back");
    }
}

void dispatch(const DevicePool &pool, const CompactJob *one_job, const CompactJob *jobs,
              int32_t n_jobs, int32_t max_keep, void *scratch, cudaStream_t stream) {
    if (pool.head_dim % 8 == 0 && aligned16(pool.data))
        launch<uint4>(pool, one_job, jobs, n_jobs, max_keep, scratch, stream);
    else
        launch<uint16_t>(pool, one_job, jobs, n_jobs, max_keep, scratch, stream);
}

}  // namespace

size_t compact_scratch_bytes(const DevicePool &pool, int32_t n_keep) {
    check_keep(n_keep, "kv compact_scratch_bytes: n_keep");
    require(pool.head_dim > 0, CAB_ERR_INVALID_ARGUMENT,
            "kv compact_scratch_bytes: pool.head_dim " + std::to_string(pool.head_dim) + " <= 0");
    return static_cast<size_t>(job_bytes(pool, n_keep));
}

void compact(const DevicePool &pool, const int32_t *blocks, const int32_t *keep, int32_t n_keep,
             void *scratch, cudaStream_t stream) {
    check_pool(pool, "kv compact: ");
    check_keep(n_keep, "kv compact: n_keep");
    if (n_keep == 0) return;
    require(blocks && keep && scratch, CAB_ERR_INVALID_ARGUMENT,
            "kv compact: null blocks, keep or scratch");
    require(aligned16(scratch), CAB_ERR_INVALID_ARGUMENT,
            "kv compact: scratch not 16-byte aligned");
    CompactJob job;
    job.blocks = blocks;
    job.keep = keep;
    job.n_keep = n_keep;
    dispatch(pool, &job, nullptr, 1, n_keep, scratch, stream);
}

size_t compact_batch_scratch_bytes(const DevicePool &pool, const int32_t *n_keep, int32_t n_jobs) {
    const std::string name = "kv compact_batch_scratch_bytes: ";
    require(n_jobs >= 0, CAB_ERR_INVALID_ARGUMENT,
            name + "n_jobs " + std::to_string(n_jobs) + " < 0");
    require(n_jobs == 0 || n_keep, CAB_ERR_INVALID_ARGUMENT, name + "null n_keep");
    require(pool.head_dim > 0, CAB_ERR_INVALID_ARGUMENT,
            name + "pool.head_dim " + std::to_string(pool.head_dim) + " <= 0");
    int64_t total = 0;
    for (int32_t j = 0; j < n_jobs; ++j) {
        check_keep(n_keep[j], name + "n_keep[" + std::to_string(j) + "]");
        total += job_bytes(pool, n_keep[j]);
    }
    return static_cast<size_t>(total);
}

void plan_compact_batch(const DevicePool &pool, CompactJob *jobs_host, int32_t n_jobs) {
    const std::string name = "kv plan_compact_batch: ";
    require(n_jobs >= 0, CAB_ERR_INVALID_ARGUMENT,
            name + "n_jobs " + std::to_string(n_jobs) + " < 0");
    require(n_jobs == 0 || jobs_host, CAB_ERR_INVALID_ARGUMENT, name + "null jobs_host");
    require(pool.head_dim > 0, CAB_ERR_INVALID_ARGUMENT,
            name + "pool.head_dim " + std::to_string(pool.head_dim) + " <= 0");
    int64_t offset = 0;
    for (int32_t j = 0; j < n_jobs; ++j) {
        check_keep(jobs_host[j].n_keep, name + "jobs_host[" + std::to_string(j) + "].n_keep");
        jobs_host[j].scratch_offset = offset;
        offset += job_bytes(pool, jobs_host[j].n_keep);
    }
}

void compact_batch(const DevicePool &pool, const CompactJob *jobs, int32_t n_jobs, int32_t max_keep,
                   void *scratch, cudaStream_t stream) {
    const std::string name = "kv compact_batch: ";
    check_pool(pool, name);
    require(n_jobs >= 0, CAB_ERR_INVALID_ARGUMENT,
            name + "n_jobs " + std::to_string(n_jobs) + " < 0");
    check_keep(max_keep, name + "max_keep");
    if (n_jobs == 0 || max_keep == 0) return;
    require(jobs && scratch, CAB_ERR_INVALID_ARGUMENT, name + "null jobs or scratch");
    require(aligned16(scratch), CAB_ERR_INVALID_ARGUMENT, name + "scratch not 16-byte aligned");
    dispatch(pool, nullptr, jobs, n_jobs, max_keep, scratch, stream);
}

}  // namespace cab::cuda::kv
