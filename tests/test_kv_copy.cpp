// Copying a sequence below the C API: KvCache::copy_seq hands the copy blocks of its own (as
// many as src uses, taken before dst's are returned, so KV_FULL changes nothing), and
// CpuExecutor::kv_copy_blocks copies exactly the blocks it is given (K, V, scores; poisoned
// destinations; every other block unchanged) and refuses bad block lists.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "backend/backend.h"
#include "kv/kv_cache.h"
#include "util/error.h"

using namespace cab;

TEST_CASE("KvCache::copy_seq gives the copy blocks of its own, as many as src uses",
          "[seq_copy][kv]") {
    auto backend = make_cpu_backend(1);
    auto ex = backend->make_executor(1);
    KvConfig c;
    c.n_layer = 2;
    c.n_head_kv = 2;
    c.head_dim = 4;
    c.block_size = 4;
    c.capacity_tokens = 32;  // 8 blocks per stream, 32 in the pool
    c.n_seq_max = 3;
    KvCache kv(*backend, c);
    const auto append = [&](int32_t seq, int32_t n) {
        kv.reserve(&seq, &n, 1);
        const int32_t start = kv.stream(seq, 0, 0).length;
        std::vector<int32_t> pos(static_cast<size_t>(n)), tok(static_cast<size_t>(n));
        for (int32_t i = 0; i < n; ++i) {
            pos[i] = start + i;
            tok[i] = 100 * seq + start + i;
        }
        kv.commit(seq, n, pos.data(), tok.data());
    };
    append(0, 9);  // 3 blocks per stream
    append(1, 2);  // 1 block per stream
    REQUIRE(kv.blocks_free() == 16);

    // dst's own 4 blocks are returned once the copy's 12 are taken.
    kv.copy_seq(*ex, 0, 1);
    CHECK(kv.blocks_free() == 16 - 12 + 4);
    CHECK(kv.blocks_used(1).full == 12);
    std::vector<int32_t> held;
    for (int32_t q = 0; q < 2; ++q)
        for (int32_t l = 0; l < 2; ++l)
            for (int32_t h = 0; h < 2; ++h) {
                const Stream &s = kv.stream(q, l, h);
                held.insert(held.end(), s.blocks.begin(), s.blocks.end());
                if (q == 1) {
                    const Stream &o = kv.stream(0, l, h);
                    CHECK(s.length == o.length);
                    CHECK(s.pos == o.pos);
                    CHECK(s.token == o.token);
                }
            }
    std::sort(held.begin(), held.end());
    CHECK(std::adjacent_find(held.begin(), held.end()) == held.end());

    // 12 needed, 0 free once seq 2 holds the rest: KV_FULL names both and changes nothing.
    append(2, 8);
    REQUIRE(kv.blocks_free() == 0);
    const std::vector<int32_t> blocks_before = kv.stream(2, 1, 1).blocks.ids();
    try {
        kv.copy_seq(*ex, 0, 2);
        FAIL("copy_seq should have thrown KV_FULL");
    } catch (const Error &e) {
        CHECK(e.status() == CAB_ERR_KV_FULL);
        CHECK_THAT(e.what(), Catch::Contains("needs 12 blocks") && Catch::Contains("0 free"));
    }
    CHECK(kv.stream(2, 1, 1).blocks.ids() == blocks_before);
    CHECK(kv.stream(2, 1, 1).length == 8);
}

TEST_CASE("CpuExecutor::kv_copy_blocks copies exactly the given blocks and checks them",
          "[seq_copy][kv]") {
    auto backend = make_cpu_backend(2);
    auto ex = backend->make_executor(2);
    constexpr int32_t kBlocks = 40, kBlockSize = 8, kHeadDim = 12;
    KvPoolRef pool;
    pool.block_size = kBlockSize;
    pool.head_dim = kHeadDim;
    pool.storage = backend->alloc(DType::F32, int64_t{kBlocks} * 2 * kBlockSize, kHeadDim);
    pool.scores = backend->alloc(DType::F32, int64_t{kBlocks} * kScoreKinds, kBlockSize);
    const size_t kv_per_block = size_t{2} * kBlockSize * kHeadDim;
    const size_t scores_per_block = size_t{kScoreKinds} * kBlockSize;
    std::mt19937 rng(21);
    std::normal_distribution<float> normal;
    std::vector<float> kv(kv_per_block * kBlocks), scores(scores_per_block * kBlocks);
    for (float &x : kv) x = normal(rng);
    for (float &x : scores) x = normal(rng);
    // Distinct random blocks: the first 15 copied to the next 15, whose data is poisoned.
    std::vector<int32_t> ids(kBlocks);
    for (int32_t i = 0; i < kBlocks; ++i) ids[i] = i;
    std::shuffle(ids.begin(), ids.end(), rng);
    const std::vector<int32_t> src(ids.begin(), ids.begin() + 15),
        dst(ids.begin() + 15, ids.begin() + 30);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (int32_t d : dst) {
        std::fill_n(kv.begin() + d * kv_per_block, kv_per_block, nan);
        std::fill_n(scores.begin() + d * scores_per_block, scores_per_block, nan);
    }
    ex->upload(kv.data(), pool.storage);
    ex->upload(scores.data(), pool.scores);
    const auto read = [&](const Tensor &t) {
        std::vector<float> v(static_cast<size_t>(t.rows() * t.cols()));
        ex->download(t, v.data());
        return v;
    };

    // Bad arguments change nothing.
    const auto bad = [&](std::vector<int32_t> s, std::vector<int32_t> d, const char *what) {
        INFO(what);
        try {
            ex->kv_copy_blocks(pool, s.data(), d.data(), static_cast<int32_t>(s.size()));
            FAIL("kv_copy_blocks should have thrown");
        } catch (const Error &e) {
            CHECK(e.status() == CAB_ERR_INVALID_ARGUMENT);
            CHECK_THAT(e.what(), Catch::Contains(what));
        }
    };
    bad({src[0], src[1]}, {dst[0], kBlocks}, "dst[1] = 40");
    bad({-1}, {dst[0]}, "src[0] = -1");
    bad({src[0], src[1]}, {dst[0], dst[0]}, "appears twice");
    bad({src[0], src[1]}, {dst[0], src[0]}, "appears twice");
    bad({src[0]}, {src[0]}, "appears twice");
    CHECK_THROWS_AS(ex->kv_copy_blocks(pool, src.data(), dst.data(), -1), Error);
    ex->kv_copy_blocks(pool, nullptr, nullptr, 0);
    CHECK(std::equal(kv.begin(), kv.end(), read(pool.storage).begin(),
                     [](float a, float b) { return a == b || (std::isnan(a) && std::isnan(b)); }));

    ex->kv_copy_blocks(pool, src.data(), dst.data(), static_cast<int32_t>(src.size()));
    for (size_t i = 0; i < src.size(); ++i) {
        std::copy_n(kv.begin() + src[i] * kv_per_block, kv_per_block,
                    kv.begin() + dst[i] * kv_per_block);
        std::copy_n(scores.begin() + src[i] * scores_per_block, scores_per_block,
                    scores.begin() + dst[i] * scores_per_block);
    }
    CHECK(read(pool.storage) == kv);
    CHECK(read(pool.scores) == scores);

    // Without scores only K/V move.
    KvPoolRef bare = pool;
    bare.scores = Tensor();
    ex->kv_copy_blocks(bare, &dst[0], &ids[35], 1);
    std::copy_n(kv.begin() + dst[0] * kv_per_block, kv_per_block,
                kv.begin() + ids[35] * kv_per_block);
    CHECK(read(pool.storage) == kv);
    CHECK(read(pool.scores) == scores);
}
