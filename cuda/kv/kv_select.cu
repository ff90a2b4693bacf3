// Keep-plan selection, one thread block per job. Its m = n - keep_back - keep_front ranked slots
// get a 32-bit key that orders their values as apply_keep_plan's comparisons do (NaN as -inf, -0
// as +0); an MSB radix select over the keys (four 8-bit digits) finds the k-th largest key T and
// how many slots equal to T are kept, the earliest ones (ties go to the earlier slot); then a
// block-wide prefix sum over the slots in order writes the kept ones ascending.
// A plan with bridges (cab's) ranks twice. The values the top k leave are the m - k smallest
// (as a multiset), so their median comes from one or two more radix selects of the same keys;
// each slot then gets a 64-bit key, the largest for the top k, else one that grows as its
// value's double distance to the median shrinks, and a radix select of the k + bridges largest
// of those keys, emitted as before, keeps the top k and the closest of the rest, ties to the
// earlier slot (closest_k's rule).
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

// Whether a plan ranks: it picks some but not all of the slots between its kept ends.
bool ranks(int32_t length, int32_t keep_front, int32_t keep_back, int32_t picked) {
    return picked > 0 && picked < length - keep_front - keep_back;
}

// Scratch of the ranking's keys (and pooled or chunk values before them): a multiple of 16.
__host__ __device__ size_t rank_work_bytes(int32_t length, int32_t keep_front, int32_t keep_back,
                                           int32_t pool_kernel, int32_t pool_shift, int32_t chunk) {
    const int32_t back = length - keep_back, m = back - keep_front;
    if (chunk > 1)
        return static_cast<size_t>(align4(m) + align4(chunk_count(keep_front, back, chunk))) * 4;
    if (pool_kernel <= 1) return static_cast<size_t>(align4(m)) * 4;
    const int64_t padded =
        m + pool_reach(m, pool_kernel, pool_shift, -1) + pool_reach(m, pool_kernel, pool_shift, 1);
    return static_cast<size_t>(2 * align4(padded)) * 4;
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

// Block-shared state of the selection steps.
struct Shared {
    uint32_t hist[kBins];
    uint32_t warp_sums[kWarps];
    unsigned long long found_prefix;
    uint32_t found_remaining;
};

// The k-th largest of m keys, and how many keys equal to it are among the k largest (the
// earliest ones: ties go to the earlier slot). 0 < k <= m.
template <class Key>
struct Cut {
    Key threshold;
    uint32_t ties;
};

// MSB radix select: the keys matching `prefix` under `mask` hold the `remaining` largest not yet
// settled; each pass fixes the next 8-bit digit of the k-th largest key.
template <class Key>
__device__ Cut<Key> radix_select(const Key *keys, int32_t m, uint32_t k, Shared &sh) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    Key prefix = 0, mask = 0;
    uint32_t remaining = k;
    for (int shift = static_cast<int>(sizeof(Key)) * 8 - 8; shift >= 0; shift -= 8) {
        for (int t = threadIdx.x; t < kBins; t += kThreads) sh.hist[t] = 0;
        __syncthreads();
        for (int32_t base = 0; base < m; base += kThreads * kItems) {
            Key key[kItems];
#pragma unroll
            for (int j = 0; j < kItems; ++j) {
                const int32_t i = base + j * kThreads + static_cast<int32_t>(threadIdx.x);
                key[j] = i < m ? keys[i] : Key{0};
            }
#pragma unroll
            for (int j = 0; j < kItems; ++j) {
                const int32_t i = base + j * kThreads + static_cast<int32_t>(threadIdx.x);
                const bool match = i < m && (key[j] & mask) == prefix;
                const uint32_t digit =
                    match ? static_cast<uint32_t>(key[j] >> shift) & (kBins - 1) : kBins;
                // One shared-memory atomic per distinct digit in the warp: tied keys (a common
                // case) would otherwise serialise on one bin.
                const uint32_t peers = __match_any_sync(0xffffffffu, digit);
                if (match && lane == __ffs(peers) - 1) atomicAdd(&sh.hist[digit], __popc(peers));
            }
        }
        __syncthreads();
        if (warp == 0) {
            // Lane l holds bins 255 - 8l down to 248 - 8l; the scan counts from the top bin.
            uint32_t count[kBins / 32], local = 0;
#pragma unroll
            for (int j = 0; j < kBins / 32; ++j) {
                count[j] = sh.hist[kBins - 1 - (kBins / 32) * lane - j];
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
                        const Key bin = kBins - 1 - (kBins / 32) * lane - j;
                        sh.found_prefix = prefix | (bin << shift);
                        sh.found_remaining = remaining - above;
                        break;
                    }
                    above += count[j];
                }
            }
        }
        __syncthreads();
        prefix = static_cast<Key>(sh.found_prefix);
        remaining = sh.found_remaining;
        mask |= static_cast<Key>(kBins - 1) << shift;
    }
    return {prefix, remaining};
}

// Visits the m keys in slot order and calls fn(j, at) for each: `at` is the slot's place among
// the kept ones (every key above cut.threshold and the first cut.ties equal to it), or -1 when
// it is not kept. A thread takes kItems consecutive slots; per-thread counts (<= kItems each,
// <= kThreads * kItems per step) are packed above (greater) and below (equal) bit 16 for one
// scan. kStop: stop once all `count` kept slots are visited.
template <bool kStop, class Key, class Fn>
__device__ void visit_kept(const Key *keys, int32_t m, Cut<Key> cut, uint32_t count, Shared &sh,
                           Fn fn) {
    uint32_t run_gt = 0, run_eq = 0;
    for (int32_t base = 0; base < m; base += kThreads * kItems) {
        const int32_t first = base + static_cast<int32_t>(threadIdx.x) * kItems;
        Key key[kItems];
        uint32_t counts = 0;
#pragma unroll
        for (int j = 0; j < kItems; ++j) {
            const bool in = first + j < m;
            key[j] = in ? keys[first + j] : Key{0};
            counts += !in                       ? 0u
                      : key[j] > cut.threshold  ? 1u << 16
                      : key[j] == cut.threshold ? 1u
                                                : 0u;
        }
        uint32_t total = 0;
        const uint32_t before = block_exclusive_sum(counts, sh.warp_sums, total);
        uint32_t gt = run_gt + (before >> 16), eq = run_eq + (before & 0xffffu);
#pragma unroll
        for (int j = 0; j < kItems; ++j) {
            if (first + j >= m) break;
            if (key[j] > cut.threshold) {
                fn(first + j, static_cast<int32_t>(gt + min(eq, cut.ties)));
                ++gt;
            } else if (key[j] == cut.threshold) {
                fn(first + j, eq < cut.ties ? static_cast<int32_t>(gt + eq) : -1);
                ++eq;
            } else {
                fn(first + j, -1);
            }
        }
        run_gt += total >> 16;
        run_eq += total & 0xffffu;
        if (kStop && run_gt + min(run_eq, cut.ties) == count) break;
    }
}

// The value a key of order_key came from (-0 comes back as +0, which ranks and measures alike).
__device__ float key_value(uint32_t key) {
    return __uint_as_float((key & 0x80000000u) ? key & 0x7fffffffu : ~key);
}

// A bridge candidate's key: the closer its value to the median, the larger (distances are
// non-negative doubles, whose bits order as their values; a NaN distance is +infinity's, key 0).
// The top slots, already kept, take the largest key of all.
__device__ uint64_t closeness_key(float v, double median) {
    double d = fabs(__dsub_rn(static_cast<double>(v), median));
    if (isnan(d)) d = INFINITY;
    return 0x7ff0000000000000ull - static_cast<uint64_t>(__double_as_longlong(d));
}

__global__ void __launch_bounds__(kThreads) select_kernel(DevicePool pool, const SelectJob *jobs) {
    __shared__ Shared sh;

    const SelectJob job = jobs[blockIdx.x];
    const int32_t n = job.length, f = job.keep_front, back = n - job.keep_back, k = job.k;
    const int32_t m = back - f, picked = k + job.bridges;
    int32_t *out = job.keep;
    for (int32_t i = threadIdx.x; i < f; i += kThreads) out[i] = i;
    for (int32_t i = back + threadIdx.x; i < n; i += kThreads) out[f + picked + (i - back)] = i;
    if (picked == 0) return;
    if (picked == m) {
        for (int32_t i = f + threadIdx.x; i < back; i += kThreads) out[i] = i;
        return;
    }

    const uint32_t *keys = make_keys(pool, job, f, back);
    // With k == 0 no key passes this cut (order_key(+inf) is below it).
    Cut<uint32_t> top{0xffffffffu, 0u};
    if (k > 0) top = radix_select(keys, m, static_cast<uint32_t>(k), sh);
    const auto emit = [&](int32_t j, int32_t at) {
        if (at >= 0) out[f + at] = f + j;
    };
    if (job.bridges == 0) {
        visit_kept<true>(keys, m, top, static_cast<uint32_t>(k), sh, emit);
        return;
    }

    // Bridges. The rest's values are the r = m - k smallest (as a multiset, whichever tied
    // slots the top took), so its median is the key of ascending rank r / 2 (and r / 2 - 1).
    const int32_t r = m - k, mid = r / 2;
    const float upper =
        key_value(radix_select(keys, m, static_cast<uint32_t>(m - mid), sh).threshold);
    double median = upper;
    if (r % 2 == 0) {
        const float lower =
            key_value(radix_select(keys, m, static_cast<uint32_t>(m - mid + 1), sh).threshold);
        median = (static_cast<double>(lower) + static_cast<double>(upper)) / 2.0;
    }
    uint64_t *near = reinterpret_cast<uint64_t *>(
        static_cast<char *>(job.work) +
        rank_work_bytes(job.length, f, job.keep_back, job.pool_kernel, job.pool_shift, job.chunk));
    visit_kept<false>(keys, m, top, static_cast<uint32_t>(k), sh, [&](int32_t j, int32_t at) {
        near[j] = at >= 0 ? ~0ull : closeness_key(key_value(keys[j]), median);
    });
    __syncthreads();
    const Cut<uint64_t> cut = radix_select(near, m, static_cast<uint32_t>(picked), sh);
    visit_kept<true>(near, m, cut, static_cast<uint32_t>(picked), sh, emit);
}

}  // namespace

size_t select_work_bytes(int32_t length, int32_t keep_front, int32_t keep_back, int32_t k,
                         int32_t bridges, int32_t pool_kernel, int32_t pool_shift, int32_t chunk) {
    if (!ranks(length, keep_front, keep_back, k + bridges)) return 0;
    const size_t bytes =
        rank_work_bytes(length, keep_front, keep_back, pool_kernel, pool_shift, chunk);
    if (bridges == 0) return bytes;
    const int64_t m = length - keep_back - keep_front;
    return bytes + static_cast<size_t>((m + 1) / 2 * 2) * sizeof(uint64_t);
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
