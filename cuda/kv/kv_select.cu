// Keep-plan selection, one thread block per job. Its m = n - keep_back - keep_front ranked slots
// get a 32-bit key that orders their values as apply_keep_plan's comparisons do (NaN as -inf, -0
// as +0); an MSB radix select over the keys (four 8-bit digits) finds the k-th largest key T and
// how many slots equal to T are kept, the earliest ones (ties go to the earlier slot); then a
// block-wide prefix sum over the slots in order writes the kept ones ascending.
//
// Values follow the host reference step by step: f32 sums over the streams in stream order from
// 0, the division only where the summed observers are > 0 (IEEE, round to nearest), NaN -> -inf,
// then the max-pool. Pooling and chunk sums read only the ranked range [f, back) (f =
// keep_front, back = n - keep_back), as KeepPlan states: the kept ends add nothing. Slot i's
// window is [i - before, i + after] clipped to [f, back), before = half + shift and after =
// half - shift. The pool works on a copy of the ranked values padded with -inf, `before` slots in
// front and `after` behind, so that every window spans exactly before + after + 1 slots: a sparse
// table (max over 1, 2, 4, ... slots, one level per doubling) answers each window with two
// overlapping ranges. A reach of m - 1 covers the whole ranked range on that side from every
// slot, so a longer one is clamped to it.
// A chunked plan instead sums the ranked values per chunk, chunks aligned to slot 0 and clipped
// to [f, back): one thread per chunk adds its slots in slot order from 0 (__fadd_rn, as the
// host's f32 loop), NaN sums become -inf, and every slot's key is its chunk's sum.
// Keys and pooled values live in the job's global scratch: one block reads them back through
// L1/L2, which __syncthreads makes coherent within the block.
#include <cmath>
#include <cstdint>
#include <string>

#include "attention/launch.h"
#include "kv/kv_select.cuh"
#include "util/error.h"

namespace cab::cuda::kv {
namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;
constexpr int kItems = 4;  // keys per thread per loop step (independent loads in flight)
constexpr int kBins = 256;

__host__ __device__ int64_t align4(int64_t n) {
    return (n + 3) / 4 * 4;
}

// How far the pool window reaches before a slot (side -1) or after it (side +1), clamped to
// what changes a window over the m ranked slots.
__host__ __device__ int64_t pool_reach(int32_t m, int32_t pool_kernel, int32_t pool_shift,
                                       int side) {
    const int64_t reach = int64_t{pool_kernel / 2} - side * int64_t{pool_shift};
    return reach < m - 1 ? reach : m - 1;
}

// The chunks that hold ranked slots: c0 = f / chunk up to (back - 1) / chunk.
__host__ __device__ int64_t first_chunk(int32_t f, int32_t chunk) {
    return f / chunk;
}
__host__ __device__ int64_t chunk_count(int32_t f, int32_t back, int32_t chunk) {
    return (back - 1) / chunk - f / chunk + 1;
}

bool ranks(int32_t length, int32_t keep_front, int32_t keep_back, int32_t k) {
    return k > 0 && k < length - keep_front - keep_back;
}

// The plan's value of one slot (before pooling), as apply_keep_plan computes it.
__device__ float slot_value(const DevicePool &pool, const SelectJob &job, int32_t slot) {
    float src = 0.0f, obs = 0.0f;
    for (int32_t s = 0; s < job.n_streams; ++s) {
        const int32_t *blocks = job.streams[s].blocks;
        src = __fadd_rn(src, *score_at(pool, blocks, job.kind, slot));
        if (job.per_observer) obs = __fadd_rn(obs, *score_at(pool, blocks, 1, slot));
    }
    float v = src;
    if (job.per_observer) v = obs > 0.0f ? __fdiv_rn(src, obs) : 0.0f;
    return isnan(v) ? -INFINITY : v;
}

// Order-preserving key of a NaN-free value: a > b as floats iff key(a) > key(b), -0 == +0.
__device__ uint32_t order_key(float v) {
    const uint32_t bits = __float_as_uint(v == 0.0f ? 0.0f : v);
    return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

// Exclusive prefix sum of v over the block's threads in order; `total` gets the sum of all.
__device__ uint32_t block_exclusive_sum(uint32_t v, uint32_t *warp_sums, uint32_t &total) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    uint32_t incl = v;
    for (int o = 1; o < 32; o *= 2) {
        const uint32_t t = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += t;
    }
    if (lane == 31) warp_sums[warp] = incl;
    __syncthreads();
    if (warp == 0) {
        uint32_t w = warp_sums[lane];
        for (int o = 1; o < 32; o *= 2) {
            const uint32_t t = __shfl_up_sync(0xffffffffu, w, o);
            if (lane >= o) w += t;
        }
        warp_sums[lane] = w;
    }
    __syncthreads();
    const uint32_t before = warp > 0 ? warp_sums[warp - 1] : 0u;
    total = warp_sums[kWarps - 1];
    __syncthreads();  // warp_sums is reused by the next call
    return before + incl - v;
}

// Writes the keys of slots [f, back) to keys[0, m), pooling or summing chunks over those slots
// first when the plan says so; returns where the keys are.
__device__ uint32_t *make_keys(const DevicePool &pool, const SelectJob &job, int32_t f,
                               int32_t back) {
    const int32_t m = back - f;
    float *a = static_cast<float *>(job.work);
    if (job.chunk > 1) {
        const int64_t chunk = job.chunk, c0 = first_chunk(f, job.chunk);
        const int64_t n_chunks = chunk_count(f, back, job.chunk);
        float *sums = a + align4(m);
        // a[j] holds slot f + j; sums[c - c0] chunk c's sum over its ranked slots.
        for (int32_t j = threadIdx.x; j < m; j += kThreads) a[j] = slot_value(pool, job, f + j);
        __syncthreads();
        for (int64_t c = c0 + threadIdx.x; c < c0 + n_chunks; c += kThreads) {
            const int64_t start = c * chunk > f ? c * chunk : f;
            const int64_t end = c * chunk + chunk < back ? c * chunk + chunk : back;
            float sum = 0.0f;
            for (int64_t i = start; i < end; ++i) sum = __fadd_rn(sum, a[i - f]);
            sums[c - c0] = isnan(sum) ? -INFINITY : sum;
        }
        __syncthreads();
        // The values are no longer read: the keys take their place.
        uint32_t *keys = reinterpret_cast<uint32_t *>(a);
        for (int32_t j = threadIdx.x; j < m; j += kThreads)
            keys[j] = order_key(sums[(f + j) / chunk - c0]);
        __syncthreads();
        return keys;
    }
    if (job.pool_kernel <= 1) {
        uint32_t *keys = reinterpret_cast<uint32_t *>(a);
        for (int32_t i = f + threadIdx.x; i < back; i += kThreads)
            keys[i - f] = order_key(slot_value(pool, job, i));
        __syncthreads();
        return keys;
    }
    const int64_t before = pool_reach(m, job.pool_kernel, job.pool_shift, -1);
    const int64_t after = pool_reach(m, job.pool_kernel, job.pool_shift, 1);
    const int64_t padded = m + before + after;
    float *b = a + align4(padded);
    // a[x] holds slot f + x - before, -inf outside [f, back).
    for (int64_t x = threadIdx.x; x < padded; x += kThreads) {
        const int64_t slot = f + x - before;
        a[x] = slot >= f && slot < back ? slot_value(pool, job, static_cast<int32_t>(slot))
                                        : -INFINITY;
    }
    __syncthreads();
    // After the level of width w, a[x] = max over [x, min(x + w, padded)).
    const int64_t window = before + after + 1;
    int64_t width = 1;
    for (; width * 2 <= window; width *= 2) {
        for (int64_t x = threadIdx.x; x < padded; x += kThreads)
            b[x] = x + width < padded ? fmaxf(a[x], a[x + width]) : a[x];
        __syncthreads();
        float *t = a;
        a = b;
        b = t;
    }
    // Slot f + j's window is [j, j + before + after] in padded coordinates: two ranges of
    // `width` cover it.
    uint32_t *keys = reinterpret_cast<uint32_t *>(b);
    for (int64_t j = threadIdx.x; j < m; j += kThreads)
        keys[j] = order_key(fmaxf(a[j], a[j + window - width]));
    __syncthreads();
    return keys;
}

__global__ void __launch_bounds__(kThreads) select_kernel(DevicePool pool, const SelectJob *jobs) {
    __shared__ uint32_t hist[kBins];
    __shared__ uint32_t warp_sums[kWarps];
    __shared__ uint32_t found_prefix, found_remaining;

    const SelectJob job = jobs[blockIdx.x];
    const int32_t n = job.length, f = job.keep_front, back = n - job.keep_back, k = job.k;
    const int32_t m = back - f;
    int32_t *out = job.keep;
    for (int32_t i = threadIdx.x; i < f; i += kThreads) out[i] = i;
    for (int32_t i = back + threadIdx.x; i < n; i += kThreads) out[f + k + (i - back)] = i;
    if (k == 0) return;
    if (k == m) {
        for (int32_t i = f + threadIdx.x; i < back; i += kThreads) out[i] = i;
        return;
    }

    const uint32_t *keys = make_keys(pool, job, f, back);
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;

    // Radix select: the keys matching `prefix` under `mask` hold the `remaining` largest not yet
    // settled; each pass fixes the next digit of the k-th largest key.
    uint32_t prefix = 0, mask = 0, remaining = static_cast<uint32_t>(k);
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int t = threadIdx.x; t < kBins; t += kThreads) hist[t] = 0;
        __syncthreads();
        for (int32_t base = 0; base < m; base += kThreads * kItems) {
            uint32_t key[kItems];
#pragma unroll
            for (int j = 0; j < kItems; ++j) {
                const int32_t i = base + j * kThreads + static_cast<int32_t>(threadIdx.x);
                key[j] = i < m ? keys[i] : 0u;
            }
#pragma unroll
            for (int j = 0; j < kItems; ++j) {
                const int32_t i = base + j * kThreads + static_cast<int32_t>(threadIdx.x);
                const bool match = i < m && (key[j] & mask) == prefix;
                const uint32_t digit = match ? (key[j] >> shift) & (kBins - 1) : kBins;
                // One shared-memory atomic per distinct digit in the warp: tied keys (a common
                // case) would otherwise serialise on one bin.
                const uint32_t peers = __match_any_sync(0xffffffffu, digit);
                if (match && lane == __ffs(peers) - 1) atomicAdd(&hist[digit], __popc(peers));
            }
        }
        __syncthreads();
        if (warp == 0) {
            // Lane l holds bins 255 - 8l down to 248 - 8l; the scan counts from the top bin.
            uint32_t count[kBins / 32], local = 0;
#pragma unroll
            for (int j = 0; j < kBins / 32; ++j) {
                count[j] = hist[kBins - 1 - (kBins / 32) * lane - j];
                local += count[j];
            }
            uint32_t incl = local;
            for (int o = 1; o < 32; o *= 2) {
                const uint32_t t = __shfl_up_sync(0xffffffffu, incl, o);
                if (lane >= o) incl += t;
            }
            uint32_t above = incl - local;
            if (above < remaining && remaining <= incl) {
                for (int j = 0; j < kBins / 32; ++j) {
                    if (above + count[j] >= remaining) {
                        const uint32_t bin = kBins - 1 - (kBins / 32) * lane - j;
                        found_prefix = prefix | (bin << shift);
                        found_remaining = remaining - above;
                        break;
                    }
                    above += count[j];
                }
            }
        }
        __syncthreads();
        prefix = found_prefix;
        remaining = found_remaining;
        mask |= static_cast<uint32_t>(kBins - 1) << shift;
    }

    // Emit: every key above T, and the first `remaining` keys equal to T. A thread takes kItems
    // consecutive slots; per-thread counts (<= kItems each, <= kThreads * kItems per step) are
    // packed above (greater) and below (equal) bit 16 for one scan.
    const uint32_t threshold = prefix, ties = remaining;
    uint32_t run_gt = 0, run_eq = 0;
    for (int32_t base = 0; base < m; base += kThreads * kItems) {
        const int32_t first = base + static_cast<int32_t>(threadIdx.x) * kItems;
        uint32_t key[kItems], counts = 0;
#pragma unroll
        for (int j = 0; j < kItems; ++j) {
            key[j] = first + j < m ? keys[first + j] : 0u;
            // Key 0 is no value's key (-inf's is 0x007fffff), so it neither passes nor ties.
            counts += key[j] > threshold ? 1u << 16 : key[j] == threshold ? 1u : 0u;
        }
        uint32_t total = 0;
        const uint32_t before = block_exclusive_sum(counts, warp_sums, total);
        uint32_t gt = run_gt + (before >> 16), eq = run_eq + (before & 0xffffu);
#pragma unroll
        for (int j = 0; j < kItems; ++j) {
            if (key[j] > threshold) {
                out[f + gt + min(eq, ties)] = f + first + j;
                ++gt;
            } else if (key[j] == threshold) {
                if (eq < ties) out[f + gt + eq] = f + first + j;
                ++eq;
            }
        }
        run_gt += total >> 16;
        run_eq += total & 0xffffu;
        if (run_gt + min(run_eq, ties) == static_cast<uint32_t>(k)) break;
    }
}

}  // namespace

size_t select_work_bytes(int32_t length, int32_t keep_front, int32_t keep_back, int32_t k,
                         int32_t pool_kernel, int32_t pool_shift, int32_t chunk) {
    if (!ranks(length, keep_front, keep_back, k)) return 0;
    const int32_t back = length - keep_back, m = back - keep_front;
    if (chunk > 1)
        return static_cast<size_t>(align4(m) + align4(chunk_count(keep_front, back, chunk))) * 4;
    if (pool_kernel <= 1) return static_cast<size_t>(align4(m)) * 4;
    const int64_t padded =
        m + pool_reach(m, pool_kernel, pool_shift, -1) + pool_reach(m, pool_kernel, pool_shift, 1);
    return static_cast<size_t>(2 * align4(padded)) * 4;
}

void select(const DevicePool &pool, const SelectJob *jobs, int32_t n_jobs, cudaStream_t stream) {
    require(n_jobs >= 0, CAB_ERR_INVALID_ARGUMENT,
            "kv select: n_jobs " + std::to_string(n_jobs) + " < 0");
    if (n_jobs == 0) return;
    require(jobs != nullptr, CAB_ERR_INVALID_ARGUMENT, "kv select: null jobs");
    require(pool.block_size > 0, CAB_ERR_INVALID_ARGUMENT,
            "kv select: pool.block_size " + std::to_string(pool.block_size) + " <= 0");
    select_kernel<<<static_cast<unsigned>(n_jobs), kThreads, 0, stream>>>(pool, jobs);
    attention::check_launch("kv select");
}

}  // namespace cab::cuda::kv
