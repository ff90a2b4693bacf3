// Executor::kv_select on the CUDA backend against its host reference, bit for bit: each unit's
// kept slots must equal apply_keep_plan over the unit's scores summed on the host in stream order
// (what the default Executor::kv_select does), host_keep must hold them unit after unit (and
// nothing past them), and the WHOLE pool (K, V and the four score kinds of every block, owned or
// not) must equal a host model in which each compacted stream's slots [0, kept) took the K, V and
// scores of its kept slots and everything else stayed. Fresh random data each run (the seed is
// printed on failure); block tables are slices of a shuffled permutation. Scores: random, tied
// (three levels), zeros, and special values (NaN, +-inf, -0, denormals, negatives), with random
// observers (zeros included); every RankSource, per_observer on/off, pool_kernel 1, 3, 7, 23 and
// wider than the stream with a random pool_shift in [0, pool_kernel / 2], chunk 4, 16, 1000 and
// wider than the stream; a kept front (which adds nothing to a pool or a chunk sum) inside a
// chunk, past one, and up to two ranked slots before the kept back, ahead of pools and chunks;
// k = 0, 1, m - 1, m (keep all: no compaction), random; bridges (cab's) on a third of the units
// and beside k = 0, up to all of the rest and all but one; units of 1 to 4 streams; lengths 1, 15,
// 16, 17, 1000, 40000 and 131077 (whose compaction is cut into batches).
// Bad arguments are INVALID_ARGUMENT and change nothing, even after a good unit.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "backend_fixture.h"
#include "policy/keep_plan.h"
#include "policy/policy.h"
#include "util/error.h"

namespace cab::gpu_test {
namespace {

enum class Dist { Random, Tied, Zeros, Special };

const char *dist_name(Dist d) {
    return d == Dist::Random  ? "random"
           : d == Dist::Tied  ? "tied"
           : d == Dist::Zeros ? "zeros"
                              : "special";
}

float draw(Dist d, bool observers, std::mt19937 &rng) {
    std::uniform_real_distribution<float> unit(0.0f, 1.0f);
    switch (d) {
        case Dist::Random:
            return observers ? (rng() % 4 == 0 ? 0.0f : static_cast<float>(1 + rng() % 40))
                             : unit(rng);
        case Dist::Tied:
            return observers ? static_cast<float>(rng() % 3)
                             : 0.25f * static_cast<float>(rng() % 3);
        case Dist::Zeros:
            return observers ? static_cast<float>(rng() % 3) : 0.0f;
        case Dist::Special: {
            const float inf = std::numeric_limits<float>::infinity();
            const float pick[] = {std::numeric_limits<float>::quiet_NaN(),
                                  inf,
                                  -inf,
                                  0.0f,
                                  -0.0f,
                                  1.0f,
                                  -1.0f,
                                  1e-40f,
                                  -1e-40f};
            const uint32_t i = rng() % 12;
            return i < 9 ? pick[i] : 2.0f * unit(rng) - 1.0f;
        }
    }
    return 0.0f;
}

// A paged KV pool on the GPU and its host model; streams own slices of a shuffled permutation of
// the blocks, and `spare` blocks belong to none.
struct Cache {
    Cache(Executor &ex, int32_t block_size, int32_t head_dim, const std::vector<int32_t> &lens,
          int32_t spare, Dist dist, std::mt19937 &rng)
        : bs(block_size), hd(head_dim), lengths(lens) {
        int32_t needed = 0;
        for (int32_t len : lengths) needed += (len + bs - 1) / bs;
        n_blocks = needed + spare;
        std::vector<int32_t> perm(static_cast<size_t>(n_blocks));
        std::iota(perm.begin(), perm.end(), 0);
        std::shuffle(perm.begin(), perm.end(), rng);
        int32_t next = 0;
        for (int32_t len : lengths) {
            const int32_t count = (len + bs - 1) / bs;
            tables.emplace_back(perm.begin() + next, perm.begin() + next + count);
            next += count;
        }
        kv = bf16_values(static_cast<size_t>(n_blocks) * 2 * bs * hd, 1.0f, rng);
        scores.resize(static_cast<size_t>(n_blocks) * kScoreKinds * bs);
        for (size_t i = 0; i < scores.size(); ++i)
            scores[i] = draw(
                dist, static_cast<int32_t>(i / static_cast<size_t>(bs) % kScoreKinds) == kObservers,
                rng);
        pool.block_size = bs;
        pool.head_dim = hd;
        pool.storage = make_tensor(gpu(), ex, gpu().kv_dtype(), int64_t{n_blocks} * 2 * bs, hd, kv);
        pool.scores =
            make_tensor(gpu(), ex, DType::F32, int64_t{n_blocks} * kScoreKinds, bs, scores);
    }

    StreamRef ref(int32_t s) const { return {tables[s].data(), lengths[s]}; }
    size_t kv_row(int32_t s, int32_t slot, int32_t value) const {
        const int64_t b = tables[s][slot / bs];
        return static_cast<size_t>((b * 2 + value) * bs + slot % bs);
    }
    size_t score_index(int32_t s, int32_t kind, int32_t slot) const {
        const int64_t b = tables[s][slot / bs];
        return static_cast<size_t>((b * kScoreKinds + kind) * bs + slot % bs);
    }

    int32_t bs, hd, n_blocks = 0;
    std::vector<int32_t> lengths;
    std::vector<std::vector<int32_t>> tables;
    std::vector<float> kv, scores;
    KvPoolRef pool;
};

struct UnitSpec {
    std::vector<int32_t> streams;
    KeepPlan plan;
};

// What the default Executor::kv_select keeps: the unit's four score kinds summed in stream order
// from 0, then apply_keep_plan.
std::vector<int32_t> reference_keep(const Cache &c, const UnitSpec &u) {
    const int32_t n = c.lengths[u.streams[0]];
    StreamScores view;
    view.n = n;
    std::vector<float> sums;
    if (u.plan.ranks()) {
        sums.assign(static_cast<size_t>(n) * kScoreKinds, 0.0f);
        for (int32_t s : u.streams)
            for (int32_t kind = 0; kind < kScoreKinds; ++kind)
                for (int32_t j = 0; j < n; ++j)
                    sums[static_cast<size_t>(kind) * n + j] += c.scores[c.score_index(s, kind, j)];
        view.score = sums.data() + static_cast<size_t>(kScore) * n;
        view.observers = sums.data() + static_cast<size_t>(kObservers) * n;
        view.window = sums.data() + static_cast<size_t>(kWindow) * n;
        view.last = sums.data() + static_cast<size_t>(kLast) * n;
    }
    return apply_keep_plan(u.plan, view);
}

std::vector<SelectUnit> select_units(const Cache &c, const std::vector<UnitSpec> &units,
                                     std::vector<std::vector<StreamRef>> &refs) {
    refs.clear();
    std::vector<SelectUnit> out;
    for (const UnitSpec &u : units) {
        refs.emplace_back();
        for (int32_t s : u.streams) refs.back().push_back(c.ref(s));
    }
    for (size_t i = 0; i < units.size(); ++i)
        out.push_back({refs[i].data(), static_cast<int32_t>(refs[i].size()), units[i].plan});
    return out;
}

// Bitwise equality of two float arrays (NaN payloads included); reports the first difference.
void check_bits(const std::vector<float> &got, const std::vector<float> &want,
                const std::string &what) {
    REQUIRE(got.size() == want.size());
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < want.size(); ++i)
        if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0 && bad++ == 0) first = i;
    INFO(what << ": " << bad << " of " << want.size() << " differ; first at " << first << ": got "
              << (bad ? got[first] : 0.0f) << ", expected " << (bad ? want[first] : 0.0f));
    CHECK(bad == 0);
}

void check_pool(Executor &ex, const Cache &c, const std::vector<float> &kv,
                const std::vector<float> &scores, const std::string &what) {
    check_bits(read(ex, c.pool.storage), kv, what + ": K/V of the pool");
    check_bits(read(ex, c.pool.scores), scores, what + ": scores of the pool");
}

constexpr int32_t kGuard = 16;
constexpr int32_t kPoison = -7;

// Runs kv_select over `units` and checks host_keep and the whole pool against the host model.
void run_and_check(Executor &ex, const Cache &c, const KvPoolRef &pool,
                   const std::vector<UnitSpec> &units, const std::string &what) {
    std::vector<std::vector<int32_t>> want;
    size_t total = 0;
    for (const UnitSpec &u : units) {
        want.push_back(reference_keep(c, u));
        total += want.back().size();
    }
    std::vector<float> kv = c.kv, scores = c.scores;
    for (size_t i = 0; i < units.size(); ++i) {
        const std::vector<int32_t> &keep = want[i];
        const int32_t n = c.lengths[units[i].streams[0]];
        if (keep.empty() || static_cast<int32_t>(keep.size()) == n) continue;
        for (int32_t s : units[i].streams)
            for (int32_t j = 0; j < static_cast<int32_t>(keep.size()); ++j) {
                for (int32_t value = 0; value < 2; ++value)
                    std::copy_n(c.kv.begin() + c.kv_row(s, keep[j], value) * c.hd, c.hd,
                                kv.begin() + c.kv_row(s, j, value) * c.hd);
                if (!pool.scores.empty())
                    for (int32_t kind = 0; kind < kScoreKinds; ++kind)
                        scores[c.score_index(s, kind, j)] =
                            c.scores[c.score_index(s, kind, keep[j])];
            }
    }

    std::vector<std::vector<StreamRef>> refs;
    const std::vector<SelectUnit> su = select_units(c, units, refs);
    std::vector<int32_t> host_keep(total + kGuard, kPoison);
    ex.kv_select(pool, su.data(), static_cast<int32_t>(su.size()), host_keep.data());

    size_t at = 0;
    for (size_t i = 0; i < units.size(); ++i) {
        const KeepPlan &p = units[i].plan;
        INFO(what << ": unit " << i << " of " << units[i].streams.size() << " streams, length "
                  << c.lengths[units[i].streams[0]] << ", keep_front " << p.keep_front
                  << ", keep_back " << p.keep_back << ", k " << p.k << ", source "
                  << static_cast<int>(p.source) << ", per_observer " << p.per_observer
                  << ", pool_kernel " << p.pool_kernel << ", pool_shift " << p.pool_shift
                  << ", chunk " << p.chunk << ", bridges " << p.bridges);
        const std::vector<int32_t> got(
            host_keep.begin() + static_cast<std::ptrdiff_t>(at),
            host_keep.begin() + static_cast<std::ptrdiff_t>(at + want[i].size()));
        CHECK(got == want[i]);
        at += want[i].size();
    }
    CHECK(std::all_of(host_keep.begin() + static_cast<std::ptrdiff_t>(total), host_keep.end(),
                      [](int32_t v) { return v == kPoison; }));
    check_pool(ex, c, kv, scores, what);
}

// A plan over n slots: random protected ends, and k chosen by `mode` (0 random, 1 one, 2 all
// but one, 3 half of the slots between the ends) and a random pool_shift in [0, pool_kernel / 2].
KeepPlan make_plan(int32_t n, RankSource source, bool per_observer, int32_t pool_kernel, int mode,
                   std::mt19937 &rng, int32_t chunk = 1) {
    KeepPlan p;
    p.keep_front = static_cast<int32_t>(rng() % (std::min(n, 8) + 1));
    p.keep_back = static_cast<int32_t>(rng() % (std::min(n - p.keep_front, 40) + 1));
    const int32_t m = n - p.keep_front - p.keep_back;
    p.k = mode == 0   ? static_cast<int32_t>(rng() % (m + 1))
          : mode == 1 ? std::min(m, 1)
          : mode == 2 ? std::max(m - 1, 0)
                      : m / 2;
    p.source = source;
    p.per_observer = per_observer;
    p.pool_kernel = pool_kernel;
    p.pool_shift = static_cast<int32_t>(rng() % (pool_kernel / 2 + 1));
    p.chunk = chunk;
    return p;
}

// Units over every (source, per_observer, pool_kernel or chunk) (a random third of them when
// `sample`), of 1 to 4 streams each, plus units that keep nothing, keep all, rank nothing, pool
// or chunk wider than the stream and keep one slot; every unit on fresh streams of length n.
std::vector<UnitSpec> make_units(int32_t n, bool sample, std::mt19937 &rng,
                                 std::vector<int32_t> &lengths) {
    std::vector<UnitSpec> units;
    auto add = [&](int32_t n_streams, const KeepPlan &plan) {
        UnitSpec u;
        for (int32_t i = 0; i < n_streams; ++i) {
            u.streams.push_back(static_cast<int32_t>(lengths.size()));
            lengths.push_back(n);
        }
        u.plan = plan;
        units.push_back(u);
    };
    int idx = 0;
    for (RankSource src : {RankSource::Score, RankSource::Window, RankSource::Last})
        for (bool per_obs : {false, true})
            for (const auto &[pool, chunk] : {std::pair<int32_t, int32_t>{1, 1},
                                              {3, 1},
                                              {7, 1},
                                              {23, 1},
                                              {1, 4},
                                              {1, 16},
                                              {1, 1000}}) {
                if (sample && rng() % 3 != 0) continue;
                KeepPlan p = make_plan(n, src, per_obs, pool, idx % 4, rng, chunk);
                const int32_t rest = n - p.keep_front - p.keep_back - p.k;
                if (idx % 3 == 0) p.bridges = static_cast<int32_t>(rng() % (rest + 1));
                add(1 + idx % 4, p);
                ++idx;
            }
    const auto src = static_cast<RankSource>(rng() % 3);
    KeepPlan none;  // keeps nothing
    add(2, none);
    KeepPlan all = make_plan(n, src, true, 7, 0, rng);
    all.k = n - all.keep_front - all.keep_back;
    add(3, all);
    KeepPlan ends = make_plan(n, src, false, 1, 0, rng);
    ends.k = 0;
    add(1, ends);
    add(2, make_plan(n, src, rng() % 2 == 0, 2 * n + 7, 0, rng));
    add(4, make_plan(n, src, true, 1001, 1, rng));
    add(3, make_plan(n, src, rng() % 2 == 0, 1, 0, rng, 2 * n + 5));
    add(1, make_plan(n, src, false, 1, 1, rng, 3));
    // Bridges as cab plans them (no top, a few, all of the rest but one, all of it).
    for (int mode = 0; mode < 4; ++mode) {
        KeepPlan p = make_plan(n, src, false, 1, mode == 0 ? 0 : 3, rng);
        if (mode == 0) p.k = 0;
        const int32_t rest = n - p.keep_front - p.keep_back - p.k;
        p.bridges = mode == 2 ? std::max(rest - 1, 0) : mode == 3 ? rest : (rest + 4) / 5;
        add(1 + mode % 2, p);
    }
    // Pools and chunks after a kept front: the front ends inside a chunk (5 of 4), past a whole
    // one (17 of 16), within a pool's reach (4 of 7 and 23), or two slots before the kept back.
    auto front = [&](int32_t f, int32_t pool, int32_t chunk, bool two_ranked) {
        KeepPlan p = make_plan(n, src, rng() % 2 == 0, pool, 3, rng, chunk);
        p.keep_front = std::min(f, n);
        p.keep_back = std::min(p.keep_back, n - p.keep_front);
        if (two_ranked) p.keep_front = std::max(n - p.keep_back - 2, 0);
        p.k = (n - p.keep_front - p.keep_back) / 2;
        return p;
    };
    add(1, front(5, 1, 4, false));
    add(2, front(17, 1, 16, false));
    add(1, front(4, 7, 1, false));
    add(3, front(4, 23, 1, false));
    add(1, front(0, 23, 1, true));
    add(2, front(0, 1, 16, true));
    return units;
}

TEST_CASE("kv_select ranks and compacts as apply_keep_plan", "[cuda][kv_select]") {
    const uint32_t seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    auto ex = gpu().make_executor(1);
    for (const Dist dist : {Dist::Random, Dist::Tied, Dist::Zeros, Dist::Special})
        for (const int32_t n : {1, 15, 16, 17, 1000, 40000}) {
            const int32_t bs = dist == Dist::Special ? 1 : dist == Dist::Tied ? 32 : 16;
            const int32_t hd = n >= 10000 ? 8 : dist == Dist::Zeros ? 20 : 64;
            std::vector<int32_t> lengths;
            const std::vector<UnitSpec> units = make_units(n, n >= 10000, rng, lengths);
            const Cache c(*ex, bs, hd, lengths, 5, dist, rng);
            run_and_check(*ex, c, c.pool, units,
                          std::string(dist_name(dist)) + " scores, length " + std::to_string(n) +
                              ", block size " + std::to_string(bs));
        }
}

TEST_CASE("kv_select over 131077 slots, compaction in batches", "[cuda][kv_select]") {
    const uint32_t seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    auto ex = gpu().make_executor(1);
    const int32_t n = 131077;
    for (const Dist dist : {Dist::Random, Dist::Tied}) {
        // 3 + 1 streams keeping ~3/4 of 131077 slots of 128-wide bf16 K/V: ~200 MiB of
        // compaction scratch, several batches; one stream ranked by chunks, keeping half; and
        // two keeping half and a tenth as bridges.
        std::vector<UnitSpec> units(3);
        units[0].streams = {0, 1, 2};
        units[0].plan = make_plan(n, RankSource::Window, false, 7, 0, rng);
        units[0].plan.k = (n - units[0].plan.keep_front - units[0].plan.keep_back) * 3 / 4;
        units[1].streams = {3};
        units[1].plan = make_plan(n, RankSource::Score, true, 1, 0, rng);
        units[1].plan.k = (n - units[1].plan.keep_front - units[1].plan.keep_back) * 3 / 4;
        units[2].streams = {4};
        units[2].plan = make_plan(n, RankSource::Window, false, 1, 3, rng, 16);
        // cab's split of a long stream: local in the kept back, a tenth as bridges.
        units.emplace_back();
        units[3].streams = {5, 6};
        units[3].plan = make_plan(n, RankSource::Score, false, 1, 3, rng);
        units[3].plan.bridges = n / 10;
        const Cache c(*ex, 16, 128, std::vector<int32_t>(7, n), 3, dist, rng);
        run_and_check(*ex, c, c.pool, units, std::string(dist_name(dist)) + " scores");
    }
}

TEST_CASE("kv_select: a pool without scores runs plans that rank nothing", "[cuda][kv_select]") {
    const uint32_t seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    auto ex = gpu().make_executor(1);
    std::vector<int32_t> lengths;
    std::vector<UnitSpec> units;
    for (const int32_t n : {1, 17, 300}) {
        KeepPlan p = make_plan(n, RankSource::Score, false, 1, 0, rng);
        p.k = 0;
        UnitSpec u;
        for (int32_t i = 0; i < 2; ++i) {
            u.streams.push_back(static_cast<int32_t>(lengths.size()));
            lengths.push_back(n);
        }
        u.plan = p;
        units.push_back(u);
    }
    const Cache c(*ex, 16, 64, lengths, 2, Dist::Random, rng);
    KvPoolRef no_scores = c.pool;
    no_scores.scores = Tensor();
    run_and_check(*ex, c, no_scores, units, "no scores");
}

TEST_CASE("kv_select inside a decode step leaves the step and runs", "[cuda][kv_select]") {
    const uint32_t seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    auto ex = executor_with_graphs(gpu(), true);
    std::vector<int32_t> lengths;
    const std::vector<UnitSpec> units = make_units(200, true, rng, lengths);
    const Cache c(*ex, 16, 64, lengths, 1, Dist::Random, rng);
    ex->step_begin(1, 200);
    run_and_check(*ex, c, c.pool, units, "in a step");
}

TEST_CASE("kv_select: bad arguments are INVALID_ARGUMENT and change nothing", "[cuda][kv_select]") {
    const uint32_t seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    auto ex = gpu().make_executor(1);
    // Streams 0 and 1 of 100 slots, stream 2 of 90.
    const Cache c(*ex, 16, 64, {100, 100, 90}, 2, Dist::Random, rng);
    const StreamRef s0 = c.ref(0), s1 = c.ref(1), s2 = c.ref(2);
    // A good unit first: it would compact stream 0 if anything ran before the checks.
    KeepPlan good;
    good.keep_front = 4;
    good.keep_back = 10;
    good.k = 30;
    good.source = RankSource::Window;
    good.pool_kernel = 7;
    const StreamRef pair_unequal[] = {s1, s2};
    const StreamRef pair_same[] = {s1, s1};
    const StreamRef first[] = {s0};
    const StreamRef second[] = {s1};
    const StreamRef shared_with_first[] = {s0};
    StreamRef no_table = s1;
    no_table.blocks = nullptr;
    std::vector<int32_t> outside(c.tables[1]);
    outside.back() = c.n_blocks;
    const StreamRef out_of_pool = {outside.data(), s1.length};
    const StreamRef negative_len = {s1.blocks, -1};

    KvPoolRef no_scores = c.pool;
    no_scores.scores = Tensor();

    struct Bad {
        const char *what;
        SelectUnit unit;
        const KvPoolRef *pool;
    };
    auto plan = [&](int32_t f, int32_t b, int32_t k, int32_t pool_kernel, int32_t chunk = 1,
                    int32_t pool_shift = 0) {
        KeepPlan p = good;
        p.keep_front = f;
        p.keep_back = b;
        p.k = k;
        p.pool_kernel = pool_kernel;
        p.pool_shift = pool_shift;
        p.chunk = chunk;
        return p;
    };
    auto bridged = [&](int32_t k, int32_t bridges) {
        KeepPlan p = plan(4, 10, k, 1);
        p.bridges = bridges;
        return p;
    };
    const std::vector<Bad> bad = {
        {"null streams", {nullptr, 1, good}, &c.pool},
        {"no streams", {second, 0, good}, &c.pool},
        {"unequal lengths", {pair_unequal, 2, good}, &c.pool},
        {"ends overlap", {second, 1, plan(60, 41, 0, 1)}, &c.pool},
        {"k too large", {second, 1, plan(4, 10, 87, 1)}, &c.pool},
        {"negative k", {second, 1, plan(4, 10, -1, 1)}, &c.pool},
        {"k + bridges too large", {second, 1, bridged(80, 7)}, &c.pool},
        {"negative bridges", {second, 1, bridged(5, -1)}, &c.pool},
        {"bridges without scores", {second, 1, bridged(0, 5)}, &no_scores},
        {"negative keep_front", {second, 1, plan(-1, 10, 5, 1)}, &c.pool},
        {"even pool_kernel", {second, 1, plan(4, 10, 5, 2)}, &c.pool},
        {"pool_kernel 0", {second, 1, plan(4, 10, 5, 0)}, &c.pool},
        {"pool_shift past half", {second, 1, plan(4, 10, 5, 7, 1, 4)}, &c.pool},
        {"negative pool_shift", {second, 1, plan(4, 10, 5, 7, 1, -1)}, &c.pool},
        {"chunk 0", {second, 1, plan(4, 10, 5, 1, 0)}, &c.pool},
        {"chunk with pooling", {second, 1, plan(4, 10, 5, 3, 4)}, &c.pool},
        {"negative length", {&negative_len, 1, plan(0, 0, 0, 1)}, &c.pool},
        {"ranks without scores", {second, 1, good}, &no_scores},
        {"no block table", {&no_table, 1, good}, &c.pool},
        {"block outside the pool", {&out_of_pool, 1, good}, &c.pool},
        {"a stream twice in a unit", {pair_same, 2, good}, &c.pool},
        {"a stream in two units", {shared_with_first, 1, good}, &c.pool},
    };
    const std::vector<float> kv = c.kv, scores = c.scores;
    for (const Bad &b : bad) {
        INFO(b.what);
        const SelectUnit units[] = {{first, 1, good}, b.unit};
        std::vector<int32_t> host_keep(256, kPoison);
        cab_status status = CAB_OK;
        try {
            ex->kv_select(*b.pool, units, 2, host_keep.data());
        } catch (const Error &e) {
            status = e.status();
        }
        CHECK(status == CAB_ERR_INVALID_ARGUMENT);
        CHECK(std::all_of(host_keep.begin(), host_keep.end(),
                          [](int32_t v) { return v == kPoison; }));
    }
    const SelectUnit one[] = {{first, 1, good}};
    for (const bool null_units : {true, false}) {
        INFO((null_units ? "null units" : "null host_keep"));
        cab_status status = CAB_OK;
        std::vector<int32_t> host_keep(64, kPoison);
        try {
            ex->kv_select(c.pool, null_units ? nullptr : one, 1,
                          null_units ? host_keep.data() : nullptr);
        } catch (const Error &e) {
            status = e.status();
        }
        CHECK(status == CAB_ERR_INVALID_ARGUMENT);
    }
    cab_status status = CAB_OK;
    try {
        ex->kv_select(c.pool, one, -1, nullptr);
    } catch (const Error &e) {
        status = e.status();
    }
    CHECK(status == CAB_ERR_INVALID_ARGUMENT);
    check_pool(*ex, c, kv, scores, "after the bad calls");

    // The executor still works: the good unit alone.
    std::vector<UnitSpec> units(1);
    units[0].streams = {0};
    units[0].plan = good;
    run_and_check(*ex, c, c.pool, units, "after the bad calls");
}

}  // namespace
}  // namespace cab::gpu_test
