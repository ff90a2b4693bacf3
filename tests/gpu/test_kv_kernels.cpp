// The paged KV kernels (append, compaction, batched compaction, read-out) against a host model of
// the pool, bit for bit: every call is followed by a comparison of the WHOLE pool (K, V and
// scores), so rows that must stay (slots past n_keep, other streams' blocks, unassigned blocks)
// are checked as well as the rows that move. Fresh random data each run (the seed is printed on
// failure); appended slots and read-out buffers are poisoned (0xff bytes, NaN) first; block
// tables are slices of a shuffled permutation (non-contiguous, non-monotone). Block sizes 1, 16
// and 32, head_dim 64, 128 and 20 (no 16-byte chunks), pools and inputs one element off 16-byte
// alignment (the scalar paths), with and without scores.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "device_buffer.h"
#include "guarded_buffer.h"
#include "kv/kv_append.cuh"
#include "kv/kv_compact.cuh"
#include "kv/kv_gather.cuh"
#include "util/error.h"

namespace cab::gpu_test {
namespace {

namespace kv = cab::cuda::kv;
using cab::cuda::DevicePool;
using cab::cuda::DeviceStream;
using cab::cuda::kScoreKinds;

constexpr uint16_t kPoisonBf16 = 0xffff;
constexpr uint32_t kPoisonF32 = 0xffffffffu;

std::vector<uint16_t> random_bf16(size_t n, std::mt19937 &rng) {
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<uint16_t> v(n);
    for (uint16_t &x : v) x = to_bf16(dist(rng));
    return v;
}

// Streams of the given lengths over a pool of exactly the blocks they need plus `spare` blocks
// that belong to no stream; each block table is a slice of one shuffled permutation.
struct Streams {
    Streams(const std::vector<int32_t> &lens, int32_t block_size, int32_t spare, std::mt19937 &rng)
        : lengths(lens) {
        int32_t needed = 0;
        for (int32_t len : lengths) needed += (len + block_size - 1) / block_size;
        n_blocks = needed + spare;
        std::vector<int32_t> perm(n_blocks);
        std::iota(perm.begin(), perm.end(), 0);
        std::shuffle(perm.begin(), perm.end(), rng);
        int32_t next = 0;
        for (int32_t len : lengths) {
            const int32_t count = (len + block_size - 1) / block_size;
            tables.emplace_back(perm.begin() + next, perm.begin() + next + count);
            next += count;
            tables_dev.emplace_back(tables.back());
        }
    }
    // DeviceStream records of every stream, in order.
    std::vector<DeviceStream> device_streams() const {
        std::vector<DeviceStream> out(lengths.size());
        for (size_t i = 0; i < lengths.size(); ++i)
            out[i] = {tables_dev[i].get<int32_t>(), lengths[i]};
        return out;
    }
    std::vector<int32_t> lengths;
    std::vector<std::vector<int32_t>> tables;
    std::vector<DeviceBuffer> tables_dev;
    int32_t n_blocks = 0;
};

// The pool on the device and its host model: random K/V and scores.
struct Pool {
    Pool(int32_t block_size, int32_t head_dim, int32_t n_blocks, bool with_scores,
         size_t data_offset, std::mt19937 &rng)
        : bs(block_size),
          hd(head_dim),
          with_scores(with_scores),
          data(random_bf16(static_cast<size_t>(n_blocks) * 2 * block_size * head_dim, rng)),
          scores(static_cast<size_t>(n_blocks) * kScoreKinds * block_size),
          data_dev(data.size(), data_offset),
          scores_dev(scores.size(), 0) {
        std::normal_distribution<float> dist(0.0f, 10.0f);
        for (uint32_t &s : scores) s = bits_of(dist(rng));
    }
    DevicePool device() const {
        DevicePool p;
        p.data = data_dev.ptr();
        p.block_size = bs;
        p.head_dim = hd;
        p.scores = with_scores ? reinterpret_cast<float *>(scores_dev.ptr()) : nullptr;
        return p;
    }
    void upload() {
        data_dev.upload(data);
        scores_dev.upload(scores);
    }
    // The whole pool (and the score pages even when the kernels were given none) must match.
    void check(const char *what) const {
        check_bits(data_dev, data, what);
        check_bits(scores_dev, scores, what);
    }
    // Index of the first element of slot's K (value 0) or V (1) row.
    size_t row(const std::vector<int32_t> &table, int32_t slot, int value) const {
        const size_t block = static_cast<size_t>(table[slot / bs]);
        return ((block * 2 + value) * bs + slot % bs) * hd;
    }
    size_t score(const std::vector<int32_t> &table, int32_t kind, int32_t slot) const {
        return (static_cast<size_t>(table[slot / bs]) * kScoreKinds + kind) * bs + slot % bs;
    }

    int32_t bs, hd;
    bool with_scores;
    std::vector<uint16_t> data;
    std::vector<uint32_t> scores;
    Guarded<uint16_t> data_dev;
    Guarded<uint32_t> scores_dev;
};

// The host reference of compaction: slot i takes the K, V and scores slot keep[i] held before.
void compact_ref(Pool &pool, const std::vector<int32_t> &table, const std::vector<int32_t> &keep) {
    const std::vector<uint16_t> data = pool.data;
    const std::vector<uint32_t> scores = pool.scores;
    for (size_t i = 0; i < keep.size(); ++i) {
        const int32_t dst = static_cast<int32_t>(i);
        for (int value = 0; value < 2; ++value)
            std::copy_n(data.begin() + pool.row(table, keep[i], value), pool.hd,
                        pool.data.begin() + pool.row(table, dst, value));
        if (pool.with_scores)
            for (int32_t kind = 0; kind < kScoreKinds; ++kind)
                pool.scores[pool.score(table, kind, dst)] =
                    scores[pool.score(table, kind, keep[i])];
    }
}

template <class T>
size_t count_differences(const std::vector<T> &a, const std::vector<T> &b) {
    size_t n = a.size() == b.size() ? 0 : 1;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) n += a[i] != b[i];
    return n;
}

enum class Keep { None, All, Random, FirstLast, PrefixRandom, Single };
constexpr Keep kKeeps[] = {Keep::None,      Keep::All,          Keep::Random,
                           Keep::FirstLast, Keep::PrefixRandom, Keep::Single};

const char *keep_name(Keep k) {
    constexpr const char *kNames[] = {
        "none", "all", "random", "first and last", "a kept prefix, then random", "one middle slot"};
    return kNames[static_cast<int>(k)];
}

// A strictly increasing keep-set of the given kind over slots [0, length).
std::vector<int32_t> make_keep(Keep kind, int32_t length, std::mt19937 &rng) {
    std::vector<int32_t> keep;
    std::bernoulli_distribution coin(0.5);
    switch (kind) {
        case Keep::None:
            break;
        case Keep::All:
            keep.resize(length);
            std::iota(keep.begin(), keep.end(), 0);
            break;
        case Keep::Random:
            for (int32_t s = 0; s < length; ++s)
                if (coin(rng)) keep.push_back(s);
            break;
        case Keep::FirstLast:
            keep.push_back(0);
            if (length > 1) keep.push_back(length - 1);
            break;
        case Keep::PrefixRandom:
            for (int32_t s = 0; s < length; ++s)
                if (s < 5 || coin(rng)) keep.push_back(s);
            break;
        case Keep::Single:
            keep.push_back(length / 2);
            break;
    }
    return keep;
}

// Scratch for a compaction, poisoned: what the kernels read from it must be what they wrote.
DeviceBuffer scratch_for(size_t bytes) {
    DeviceBuffer s(bytes);
    if (bytes > 0) s.poison();
    return s;
}

struct Shape {
    int32_t block_size, head_dim;
};
constexpr Shape kShapes[] = {{16, 128}, {16, 64}, {32, 128}, {32, 64},
                             {1, 64},   {1, 128}, {16, 20},  {32, 20}};

TEST_CASE("kv append: rows land in the last slots of their streams, scores zeroed", "[kv]") {
    const uint32_t seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    struct Layout {
        int32_t n_seqs, rows_per_seq, n_head_kv;
    };
    // Decode-like (one row each, many sequences), prefill-like (one sequence, many rows) and
    // between.
    for (Layout layout : {Layout{37, 1, 3}, Layout{1, 45, 4}, Layout{3, 5, 2}}) {
        for (Shape shape : kShapes) {
            for (bool with_scores : {true, false}) {
                // 0: all aligned; 1: k and v one element off; 2: the pool one element off;
                // 3: k and v column views of one fused QKV buffer (rows of q + 2 kv columns,
                // q = 2 kv); 4: the same with rows one element longer (an odd stride).
                for (int misalign = 0; misalign < 5; ++misalign) {
                    const int32_t n_streams = layout.n_seqs * layout.n_head_kv;
                    const int32_t rps = layout.rows_per_seq, bs = shape.block_size;
                    INFO("n_seqs " << layout.n_seqs << " rows_per_seq " << rps << " n_head_kv "
                                   << layout.n_head_kv << " block_size " << bs << " head_dim "
                                   << shape.head_dim << " scores " << with_scores << " misalign "
                                   << misalign);
                    // Lengths before the append: empty, one short of a block boundary (the
                    // append crosses it), on a boundary, or random; every stream differs.
                    std::uniform_int_distribution<int32_t> before_len(0, 70);
                    std::vector<int32_t> lengths(n_streams);
                    for (int32_t i = 0; i < n_streams; ++i) {
                        const int32_t pick[] = {0, bs - 1, 2 * bs, before_len(rng)};
                        lengths[i] = pick[i % 4] + rps;
                    }
                    Streams streams(lengths, bs, 5, rng);
                    Pool pool(bs, shape.head_dim, streams.n_blocks, with_scores,
                              misalign == 2 ? 1 : 0, rng);
                    // Poison the slots the append writes.
                    for (int32_t i = 0; i < n_streams; ++i) {
                        for (int32_t slot = lengths[i] - rps; slot < lengths[i]; ++slot) {
                            for (int value = 0; value < 2; ++value)
                                std::fill_n(
                                    pool.data.begin() + pool.row(streams.tables[i], slot, value),
                                    shape.head_dim, kPoisonBf16);
                            for (int32_t kind = 0; kind < kScoreKinds; ++kind)
                                pool.scores[pool.score(streams.tables[i], kind, slot)] = kPoisonF32;
                        }
                    }
                    pool.upload();

                    const int64_t width = static_cast<int64_t>(layout.n_head_kv) * shape.head_dim;
                    const bool fused = misalign >= 3;
                    const int64_t stride = fused ? 4 * width + (misalign == 4 ? 1 : 0) : width;
                    const size_t rows = static_cast<size_t>(layout.n_seqs) * rps;
                    const size_t n = rows * width;
                    std::vector<uint16_t> k = random_bf16(n, rng), v = random_bf16(n, rng);
                    Guarded<uint16_t> k_dev(n, misalign == 1 ? 1 : 0),
                        v_dev(n, misalign == 1 ? 1 : 0);
                    // The fused layout: Q (random), then K, then V in each row of qkv.
                    std::vector<uint16_t> qkv =
                        random_bf16(fused ? rows * static_cast<size_t>(stride) : 0, rng);
                    for (size_t r = 0; r < (fused ? rows : 0); ++r) {
                        std::copy_n(k.begin() + r * width, width,
                                    qkv.begin() + r * stride + 2 * width);
                        std::copy_n(v.begin() + r * width, width,
                                    qkv.begin() + r * stride + 3 * width);
                    }
                    Guarded<uint16_t> qkv_dev(qkv.size(), 0);
                    const uint16_t *k_ptr = k_dev.ptr(), *v_ptr = v_dev.ptr();
                    if (fused) {
                        qkv_dev.upload(qkv);
                        k_ptr = qkv_dev.ptr() + 2 * width;
                        v_ptr = qkv_dev.ptr() + 3 * width;
                    } else {
                        k_dev.upload(k);
                        v_dev.upload(v);
                    }
                    DeviceBuffer streams_dev(streams.device_streams());

                    kv::append(pool.device(), streams_dev.get<DeviceStream>(), layout.n_seqs,
                               layout.n_head_kv, rps, k_ptr, v_ptr, stride, nullptr);
                    cuda_check(cudaDeviceSynchronize(), "kv append");

                    for (int32_t s = 0; s < layout.n_seqs; ++s) {
                        for (int32_t h = 0; h < layout.n_head_kv; ++h) {
                            const int32_t i = s * layout.n_head_kv + h;
                            const std::vector<int32_t> &table = streams.tables[i];
                            for (int32_t r = 0; r < rps; ++r) {
                                const int32_t slot = lengths[i] - rps + r;
                                const size_t src = (static_cast<size_t>(s) * rps + r) * width +
                                                   static_cast<size_t>(h) * shape.head_dim;
                                std::copy_n(k.begin() + src, shape.head_dim,
                                            pool.data.begin() + pool.row(table, slot, 0));
                                std::copy_n(v.begin() + src, shape.head_dim,
                                            pool.data.begin() + pool.row(table, slot, 1));
                                if (with_scores)
                                    for (int32_t kind = 0; kind < kScoreKinds; ++kind)
                                        pool.scores[pool.score(table, kind, slot)] = 0u;
                            }
                        }
                    }
                    pool.check("pool after append");
                    if (fused) {
                        check_bits(qkv_dev, qkv, "qkv untouched");
                    } else {
                        check_bits(k_dev, k, "k untouched");
                    }
                }
            }
        }
    }
}

TEST_CASE("kv compact: kept slots move to the front, everything else stays", "[kv]") {
    const uint32_t seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int32_t> random_len(1, 150);
    for (Shape shape : kShapes) {
        for (bool with_scores : {true, false}) {
            for (size_t offset : {size_t{0}, size_t{1}}) {
                const int32_t bs = shape.block_size;
                INFO("block_size " << bs << " head_dim " << shape.head_dim << " scores "
                                   << with_scores << " pool offset " << offset);
                Streams streams({random_len(rng), 3 * bs, random_len(rng), 2 * bs + 1, 1}, bs, 4,
                                rng);
                Pool pool(bs, shape.head_dim, streams.n_blocks, with_scores, offset, rng);
                pool.upload();
                const DevicePool dev = pool.device();
                // Lengths stay as they are between compactions, so every keep-set spans the whole
                // stream; the slots past n_keep keep their (stale) contents.
                for (size_t t = 0; t < streams.lengths.size(); ++t) {
                    for (Keep kind : kKeeps) {
                        std::vector<int32_t> keep = make_keep(kind, streams.lengths[t], rng);
                        const int32_t n_keep = static_cast<int32_t>(keep.size());
                        INFO("stream " << t << " length " << streams.lengths[t] << " keep "
                                       << keep_name(kind) << " (" << n_keep << ")");
                        DeviceBuffer keep_dev(keep);
                        DeviceBuffer scratch = scratch_for(kv::compact_scratch_bytes(dev, n_keep));
                        kv::compact(dev, streams.tables_dev[t].get<int32_t>(),
                                    keep_dev.get<int32_t>(), n_keep, scratch.get(), nullptr);
                        cuda_check(cudaDeviceSynchronize(), "kv compact");
                        compact_ref(pool, streams.tables[t], keep);
                        pool.check("pool after compact");
                    }
                }
            }
        }
    }
}

TEST_CASE("kv compact_batch: equals compacting each stream on its own", "[kv]") {
    const uint32_t seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int32_t> random_len(1, 120);
    for (Shape shape : kShapes) {
        for (bool with_scores : {true, false}) {
            for (size_t offset : {size_t{0}, size_t{1}}) {
                const int32_t bs = shape.block_size;
                INFO("block_size " << bs << " head_dim " << shape.head_dim << " scores "
                                   << with_scores << " pool offset " << offset);
                // Streams 0..6 are compacted, stream 7 is not.
                std::vector<int32_t> lengths = {1, 2 * bs};
                for (int i = 0; i < 6; ++i) lengths.push_back(random_len(rng));
                Streams streams(lengths, bs, 3, rng);
                Pool pool(bs, shape.head_dim, streams.n_blocks, with_scores, offset, rng);
                const DevicePool dev = pool.device();
                const Keep kinds[] = {Keep::All,       Keep::Random,       Keep::None,
                                      Keep::FirstLast, Keep::PrefixRandom, Keep::Random,
                                      Keep::Single};
                const int32_t n_jobs = 7;
                std::vector<std::vector<int32_t>> keeps;
                std::vector<DeviceBuffer> keeps_dev;
                std::vector<kv::CompactJob> jobs(n_jobs);
                std::vector<int32_t> n_keep(n_jobs);
                int32_t max_keep = 0;
                for (int32_t j = 0; j < n_jobs; ++j) {
                    keeps.push_back(make_keep(kinds[j], lengths[j], rng));
                    keeps_dev.emplace_back(keeps.back());
                    n_keep[j] = static_cast<int32_t>(keeps.back().size());
                    max_keep = std::max(max_keep, n_keep[j]);
                    jobs[j].blocks = streams.tables_dev[j].get<int32_t>();
                    jobs[j].keep = keeps_dev.back().get<int32_t>();
                    jobs[j].n_keep = n_keep[j];
                }
                kv::plan_compact_batch(dev, jobs.data(), n_jobs);
                const size_t total = kv::compact_batch_scratch_bytes(dev, n_keep.data(), n_jobs);
                size_t sum = 0;
                for (int32_t j = 0; j < n_jobs; ++j) {
                    CHECK(jobs[j].scratch_offset == static_cast<int64_t>(sum));
                    CHECK(jobs[j].scratch_offset % 16 == 0);
                    sum += kv::compact_scratch_bytes(dev, n_keep[j]);
                }
                CHECK(total == sum);

                // Batched.
                pool.upload();
                DeviceBuffer jobs_dev(jobs);
                DeviceBuffer scratch = scratch_for(total);
                kv::compact_batch(dev, jobs_dev.get<kv::CompactJob>(), n_jobs, max_keep,
                                  scratch.get(), nullptr);
                cuda_check(cudaDeviceSynchronize(), "kv compact_batch");
                const std::vector<uint16_t> batched_data = pool.data_dev.buf.download<uint16_t>();
                const std::vector<uint32_t> batched_scores =
                    pool.scores_dev.buf.download<uint32_t>();

                // One stream at a time, from the same start.
                pool.upload();
                for (int32_t j = 0; j < n_jobs; ++j) {
                    DeviceBuffer s = scratch_for(kv::compact_scratch_bytes(dev, n_keep[j]));
                    kv::compact(dev, jobs[j].blocks, jobs[j].keep, n_keep[j], s.get(), nullptr);
                    cuda_check(cudaDeviceSynchronize(), "kv compact");
                }
                CHECK(count_differences(pool.data_dev.buf.download<uint16_t>(), batched_data) == 0);
                CHECK(count_differences(pool.scores_dev.buf.download<uint32_t>(), batched_scores) ==
                      0);

                for (int32_t j = 0; j < n_jobs; ++j) compact_ref(pool, streams.tables[j], keeps[j]);
                pool.check("pool after per-stream compaction");
            }
        }
    }
}

TEST_CASE("kv gather_rows and gather_scores: a stream's slots as dense f32", "[kv]") {
    const uint32_t seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    for (Shape shape : kShapes) {
        for (size_t pool_offset : {size_t{0}, size_t{1}}) {
            for (size_t out_offset : {size_t{0}, size_t{1}}) {
                const int32_t bs = shape.block_size, hd = shape.head_dim;
                INFO("block_size " << bs << " head_dim " << hd << " pool offset " << pool_offset
                                   << " out offset " << out_offset);
                Streams streams({1, 7, bs, 3 * bs + 5, 100}, bs, 3, rng);
                Pool pool(bs, hd, streams.n_blocks, true, pool_offset, rng);
                pool.upload();
                const DevicePool dev = pool.device();
                for (size_t t = 0; t < streams.lengths.size(); ++t) {
                    const int32_t len = streams.lengths[t];
                    const std::vector<int32_t> &table = streams.tables[t];
                    INFO("stream " << t << " length " << len);
                    for (int value = 0; value < 2; ++value) {
                        Guarded<float> out(static_cast<size_t>(len) * hd, out_offset);
                        out.poison();
                        kv::gather_rows(dev, streams.tables_dev[t].get<int32_t>(), len, value == 1,
                                        out.ptr(), nullptr);
                        cuda_check(cudaDeviceSynchronize(), "kv gather_rows");
                        std::vector<uint32_t> expected(out.n);
                        for (int32_t slot = 0; slot < len; ++slot)
                            for (int32_t c = 0; c < hd; ++c)
                                expected[static_cast<size_t>(slot) * hd + c] =
                                    static_cast<uint32_t>(
                                        pool.data[pool.row(table, slot, value) + c])
                                    << 16;
                        check_bits(out, expected, value ? "values" : "keys");
                    }
                    Guarded<float> out(static_cast<size_t>(len) * kScoreKinds, out_offset);
                    out.poison();
                    kv::gather_scores(dev, streams.tables_dev[t].get<int32_t>(), len, out.ptr(),
                                      nullptr);
                    cuda_check(cudaDeviceSynchronize(), "kv gather_scores");
                    std::vector<uint32_t> expected(out.n);
                    for (int32_t kind = 0; kind < kScoreKinds; ++kind)
                        for (int32_t slot = 0; slot < len; ++slot)
                            expected[static_cast<size_t>(kind) * len + slot] =
                                pool.scores[pool.score(table, kind, slot)];
                    check_bits(out, expected, "scores");
                }
                // Length 0 writes nothing.
                Guarded<float> empty(0, 0);
                empty.poison();
                kv::gather_rows(dev, streams.tables_dev[0].get<int32_t>(), 0, false, empty.ptr(),
                                nullptr);
                kv::gather_scores(dev, streams.tables_dev[0].get<int32_t>(), 0, empty.ptr(),
                                  nullptr);
                cuda_check(cudaDeviceSynchronize(), "kv gather, length 0");
                check_bits(empty, std::vector<uint32_t>{}, "length 0");
                pool.check("pool after read-out");
            }
        }
    }
}

TEST_CASE("kv kernels: bad arguments are INVALID_ARGUMENT", "[kv]") {
    DeviceBuffer data(1 << 16), scores(1 << 12), table(std::vector<int32_t>{0, 1}),
        keep(std::vector<int32_t>{0}), out(1 << 16), scratch(1 << 12);
    DeviceBuffer streams(std::vector<DeviceStream>{{table.get<int32_t>(), 1}});
    DevicePool pool;
    pool.data = data.get();
    pool.block_size = 16;
    pool.head_dim = 64;
    pool.scores = scores.get<float>();
    const DeviceStream *st = streams.get<DeviceStream>();
    const int32_t *blocks = table.get<int32_t>(), *kp = keep.get<int32_t>();
    void *kv_rows = out.get();

    DevicePool bad = pool;
    bad.block_size = 0;
    check_invalid([&] { kv::append(bad, st, 1, 1, 1, kv_rows, kv_rows, 64, nullptr); },
                  "block_size 0");
    check_invalid([&] { kv::compact(bad, blocks, kp, 1, scratch.get(), nullptr); }, "block_size 0");
    check_invalid([&] { kv::gather_rows(bad, blocks, 1, false, out.get<float>(), nullptr); },
                  "block_size 0");
    bad = pool;
    bad.head_dim = -64;
    check_invalid([&] { kv::append(bad, st, 1, 1, 1, kv_rows, kv_rows, 64, nullptr); },
                  "head_dim -64");
    check_invalid([&] { kv::compact_scratch_bytes(bad, 4); }, "head_dim -64");
    bad = pool;
    bad.data = nullptr;
    check_invalid([&] { kv::append(bad, st, 1, 1, 1, kv_rows, kv_rows, 64, nullptr); },
                  "pool.data");
    check_invalid([&] { kv::compact_batch(bad, nullptr, 1, 1, scratch.get(), nullptr); },
                  "pool.data");
    bad = pool;
    bad.scores = nullptr;
    check_invalid([&] { kv::gather_scores(bad, blocks, 1, out.get<float>(), nullptr); },
                  "pool.scores");

    check_invalid([&] { kv::append(pool, st, -1, 1, 1, kv_rows, kv_rows, 64, nullptr); },
                  "n_seqs -1");
    check_invalid([&] { kv::append(pool, st, 1, 0, 1, kv_rows, kv_rows, 64, nullptr); },
                  "n_head_kv 0");
    check_invalid([&] { kv::append(pool, st, 1, 1, -2, kv_rows, kv_rows, 64, nullptr); },
                  "rows_per_seq -2");
    check_invalid([&] { kv::append(pool, nullptr, 1, 1, 1, kv_rows, kv_rows, 64, nullptr); },
                  "null");
    check_invalid([&] { kv::append(pool, st, 1, 1, 1, kv_rows, kv_rows, 63, nullptr); },
                  "kv_stride 63");
    check_invalid([&] { kv::append(pool, st, 1, 1, 1, kv_rows, nullptr, 64, nullptr); }, "null");

    check_invalid([&] { kv::compact(pool, blocks, kp, -1, scratch.get(), nullptr); }, "n_keep -1");
    check_invalid([&] { kv::compact(pool, blocks, nullptr, 1, scratch.get(), nullptr); }, "null");
    check_invalid([&] { kv::compact(pool, blocks, kp, 1, nullptr, nullptr); }, "null");
    check_invalid([&] { kv::compact(pool, blocks, kp, 1, scratch.get<char>() + 4, nullptr); },
                  "16-byte aligned");
    check_invalid([&] { kv::compact_scratch_bytes(pool, -3); }, "n_keep -3");
    const int32_t n_keep[] = {2, -1};
    check_invalid([&] { kv::compact_batch_scratch_bytes(pool, n_keep, 2); }, "n_keep[1]");
    check_invalid([&] { kv::compact_batch_scratch_bytes(pool, n_keep, -1); }, "n_jobs -1");
    kv::CompactJob jobs[2];
    jobs[1].n_keep = -4;
    check_invalid([&] { kv::plan_compact_batch(pool, jobs, 2); }, "jobs_host[1].n_keep");
    check_invalid([&] { kv::compact_batch(pool, nullptr, -1, 1, scratch.get(), nullptr); },
                  "n_jobs -1");
    check_invalid([&] { kv::compact_batch(pool, nullptr, 1, -1, scratch.get(), nullptr); },
                  "max_keep -1");
    check_invalid([&] { kv::compact_batch(pool, nullptr, 1, 1, scratch.get(), nullptr); }, "null");

    check_invalid([&] { kv::gather_rows(pool, blocks, -1, true, out.get<float>(), nullptr); },
                  "length -1");
    check_invalid([&] { kv::gather_rows(pool, nullptr, 1, true, out.get<float>(), nullptr); },
                  "null");
    check_invalid([&] { kv::gather_scores(pool, blocks, -2, out.get<float>(), nullptr); },
                  "length -2");
    check_invalid([&] { kv::gather_scores(pool, blocks, 1, nullptr, nullptr); }, "null");

    // Empty work is not an error and launches nothing, even with null pointers.
    CHECK_NOTHROW(kv::append(pool, nullptr, 0, 1, 1, nullptr, nullptr, 64, nullptr));
    CHECK_NOTHROW(kv::append(pool, nullptr, 3, 1, 0, nullptr, nullptr, 64, nullptr));
    CHECK_NOTHROW(kv::compact(pool, nullptr, nullptr, 0, nullptr, nullptr));
    CHECK_NOTHROW(kv::compact_batch(pool, nullptr, 0, 0, nullptr, nullptr));
    CHECK(kv::compact_scratch_bytes(pool, 0) == 0);
    cuda_check(cudaDeviceSynchronize(), "empty calls");
}

}  // namespace
}  // namespace cab::gpu_test
