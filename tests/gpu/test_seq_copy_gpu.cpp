// Copying a sequence on the CUDA backend.
// - CudaExecutor::kv_copy_blocks against a host model of the whole pool, bit for bit: fresh random
//   bf16 K/V and f32 scores, destination blocks poisoned (NaN) first, blocks in shuffled order;
//   16-byte and scalar paths (a pool and scores one row off 16-byte alignment, a block of K/V not
//   a multiple of 16 bytes), without scores, more blocks than the grid's y limit, inside a decode
//   step (which the copy leaves); bad arguments are INVALID_ARGUMENT and change nothing.
// - Context::seq_copy on random models: the copy holds src's positions and scores exactly, gives
//   src's logits (from the host and from the device, where a decode step leaves them) and decodes
//   as a never-copied run; evicting or decoding the copy leaves src as it was; KV_FULL leaves dst
//   as it was; an empty src empties dst.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "backend/backend.h"
#include "backend_fixture.h"
#include "model_fixture.h"
#include "policy/policy.h"
#include "runtime/evict.h"
#include "util/error.h"

namespace cab::gpu_test {
namespace {

// Bitwise equality that treats every NaN as equal (poisoned elements stay NaN).
bool same(const std::vector<float> &a, const std::vector<float> &b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](float x, float y) {
               return (std::isnan(x) && std::isnan(y)) || std::memcmp(&x, &y, sizeof x) == 0;
           });
}

struct PoolShape {
    int32_t n_blocks, block_size, head_dim;
    bool scores;
    bool misaligned;  // storage and scores start one row into their allocations
    int32_t n_copy;
};

// A pool on the GPU and its host model; blocks src[i] -> dst[i] from one shuffled permutation.
struct CopyCase {
    KvPoolRef pool;
    std::vector<float> kv, scores;
    std::vector<int32_t> src, dst, spare;
    size_t kv_per_block = 0, scores_per_block = 0;
};

CopyCase make_case(Executor &ex, const PoolShape &s, std::mt19937 &rng) {
    CopyCase c;
    const int64_t kv_rows = int64_t{s.n_blocks} * 2 * s.block_size;
    const int64_t score_rows = int64_t{s.n_blocks} * kScoreKinds;
    const int64_t skip = s.misaligned ? 1 : 0;
    c.pool.block_size = s.block_size;
    c.pool.head_dim = s.head_dim;
    c.pool.storage = gpu().alloc(DType::BF16, kv_rows + skip, s.head_dim).rows_view(skip, kv_rows);
    if (s.scores)
        c.pool.scores =
            gpu().alloc(DType::F32, score_rows + skip, s.block_size).rows_view(skip, score_rows);
    c.kv_per_block = size_t{2} * s.block_size * s.head_dim;
    c.scores_per_block = size_t{kScoreKinds} * s.block_size;
    c.kv = bf16_values(c.kv_per_block * s.n_blocks, 1.0f, rng);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    c.scores.resize(c.scores_per_block * s.n_blocks);
    for (float &x : c.scores) x = normal(rng);
    std::vector<int32_t> ids(static_cast<size_t>(s.n_blocks));
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    c.src.assign(ids.begin(), ids.begin() + s.n_copy);
    c.dst.assign(ids.begin() + s.n_copy, ids.begin() + 2 * s.n_copy);
    c.spare.assign(ids.begin() + 2 * s.n_copy, ids.end());
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (int32_t d : c.dst) {
        std::fill_n(c.kv.begin() + d * c.kv_per_block, c.kv_per_block, nan);
        std::fill_n(c.scores.begin() + d * c.scores_per_block, c.scores_per_block, nan);
    }
    ex.upload(c.kv.data(), c.pool.storage);
    if (s.scores) ex.upload(c.scores.data(), c.pool.scores);
    return c;
}

// The whole pool (and its scores) equals the host model.
void check_pool(Executor &ex, const CopyCase &c, const std::string &when) {
    INFO(when);
    CHECK(same(read(ex, c.pool.storage), c.kv));
    if (!c.pool.scores.empty()) CHECK(same(read(ex, c.pool.scores), c.scores));
}

// The host model of a copy.
void copy_on_host(CopyCase &c, const std::vector<int32_t> &src, const std::vector<int32_t> &dst) {
    for (size_t i = 0; i < src.size(); ++i) {
        std::copy_n(c.kv.begin() + src[i] * c.kv_per_block, c.kv_per_block,
                    c.kv.begin() + dst[i] * c.kv_per_block);
        if (!c.pool.scores.empty())
            std::copy_n(c.scores.begin() + src[i] * c.scores_per_block, c.scores_per_block,
                        c.scores.begin() + dst[i] * c.scores_per_block);
    }
}

TEST_CASE("CUDA kv_copy_blocks: the given blocks are copied whole, nothing else changes",
          "[cuda][seq_copy]") {
    const uint32_t seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    const std::vector<PoolShape> shapes = {
        {64, 16, 64, true, false, 20},       // 16-byte K/V and float4 scores
        {48, 32, 128, true, false, 23},      // several CTAs per block
        {40, 2, 4, true, true, 15},          // one row off alignment: 2-byte K/V, float scores
        {30, 1, 6, true, false, 12},         // 12 bytes of K/V per block: 2-byte chunks
        {30, 16, 64, false, false, 9},       // no scores
        {140000, 1, 8, true, false, 70000},  // more copies than the grid's y limit (65535)
    };
    for (const bool graphs : {false, true}) {
        auto ex = executor_with_graphs(gpu(), graphs);
        for (const PoolShape &s : shapes) {
            INFO("blocks " << s.n_blocks << ", block_size " << s.block_size << ", head_dim "
                           << s.head_dim << (s.scores ? "" : ", no scores")
                           << (s.misaligned ? ", misaligned" : "") << ", graphs " << graphs);
            CopyCase c = make_case(*ex, s, rng);
            check_pool(*ex, c, "uploaded");
            ex->kv_copy_blocks(c.pool, c.src.data(), c.dst.data(), s.n_copy);
            copy_on_host(c, c.src, c.dst);
            check_pool(*ex, c, "after the copy");
            // Copying back over the sources (now distinct from the destinations read).
            if (c.spare.size() >= 3) {
                const std::vector<int32_t> from = {c.dst[0], c.dst[1], c.spare[2]};
                const std::vector<int32_t> to = {c.spare[0], c.src[1], c.spare[1]};
                ex->kv_copy_blocks(c.pool, from.data(), to.data(), 3);
                copy_on_host(c, from, to);
                check_pool(*ex, c, "after a second copy");
            }
        }
    }
}

TEST_CASE("CUDA kv_copy_blocks: inside a decode step it leaves the step and copies",
          "[cuda][seq_copy]") {
    std::mt19937 rng(5);
    auto ex = executor_with_graphs(gpu(), true);
    CopyCase c = make_case(*ex, {32, 16, 64, true, false, 8}, rng);
    // The first step of a shape is captured: the copy must end the capture before it stages or
    // launches anything (as a KV read or compaction does, so step_end then has no step to end).
    ex->step_begin(1, 16);
    ex->kv_copy_blocks(c.pool, c.src.data(), c.dst.data(), 8);
    CHECK_THROWS_AS(ex->step_end(), Error);
    copy_on_host(c, c.src, c.dst);
    check_pool(*ex, c, "after a copy inside a step");
}

TEST_CASE("CUDA kv_copy_blocks: bad arguments are INVALID_ARGUMENT and change nothing",
          "[cuda][seq_copy]") {
    std::mt19937 rng(6);
    auto ex = executor_with_graphs(gpu(), false);
    CopyCase c = make_case(*ex, {16, 16, 64, true, false, 4}, rng);
    const auto bad = [&](std::vector<int32_t> s, std::vector<int32_t> d, const char *what) {
        INFO(what);
        try {
            ex->kv_copy_blocks(c.pool, s.data(), d.data(), static_cast<int32_t>(s.size()));
            FAIL("kv_copy_blocks should have thrown");
        } catch (const Error &e) {
            CHECK(e.status() == CAB_ERR_INVALID_ARGUMENT);
            CHECK_THAT(e.what(), Catch::Contains(what));
        }
    };
    bad({c.src[0], c.src[1]}, {c.dst[0], 16}, "dst[1] = 16");
    bad({-3}, {c.dst[0]}, "src[0] = -3");
    bad({c.src[0], c.src[1]}, {c.dst[0], c.dst[0]}, "appears twice");
    bad({c.src[0], c.src[1]}, {c.dst[0], c.src[1]}, "appears twice");
    CHECK_THROWS_AS(ex->kv_copy_blocks(c.pool, c.src.data(), c.dst.data(), -1), Error);
    KvPoolRef f32 = c.pool;
    f32.storage = gpu().alloc(DType::F32, c.pool.storage.rows(), c.pool.storage.cols());
    CHECK_THROWS_AS(ex->kv_copy_blocks(f32, c.src.data(), c.dst.data(), 1), Error);
    ex->kv_copy_blocks(c.pool, nullptr, nullptr, 0);
    check_pool(*ex, c, "after the refused calls");
}

// ---- whole sequences on random models --------------------------------------------------------

// Everything a sequence holds that a copy must reproduce bit for bit.
struct SeqState {
    int64_t length = 0;
    std::vector<int32_t> history;
    cab_kv_stats stats{};
    std::vector<CachedStream> streams;
};

SeqState state(const Context &ctx, int32_t seq) {
    SeqState s;
    s.length = ctx.seq_length(seq);
    s.history = ctx.history(seq);
    s.stats = ctx.kv_stats(seq);
    s.streams = all_scores(ctx, seq);
    return s;
}

void check_same(const SeqState &got, const SeqState &want, const std::string &what) {
    INFO(what);
    CHECK(got.length == want.length);
    CHECK(got.history == want.history);
    CHECK(got.stats.tokens_cached == want.stats.tokens_cached);
    CHECK(got.stats.tokens_evicted == want.stats.tokens_evicted);
    CHECK(got.stats.blocks_used == want.stats.blocks_used);
    CHECK(got.stats.stream_min == want.stats.stream_min);
    CHECK(got.stats.stream_max == want.stats.stream_max);
    REQUIRE(got.streams.size() == want.streams.size());
    for (size_t i = 0; i < want.streams.size(); ++i) {
        INFO("stream " << i);
        const CachedStream &g = got.streams[i], &w = want.streams[i];
        CHECK(g.pos == w.pos);
        CHECK(same(g.score, w.score));
        CHECK(same(g.observers, w.observers));
        CHECK(same(g.window, w.window));
        CHECK(same(g.last, w.last));
    }
}

// Logits of the same computation run twice on the GPU: equal but for the order of floating
// point sums that a kernel may not fix (atomics); a wrong cache moves them by far more.
constexpr double kRepeatRel = 1e-4;

EvictOptions h2o(int32_t budget) {
    EvictOptions o;
    o.policy = find_policy("h2o");
    REQUIRE(o.policy != nullptr);
    o.budget.tokens = budget;
    return o;
}

TEST_CASE("CUDA seq_copy: the copy is src, decodes as a never-copied run, and is independent",
          "[model][seq_copy]") {
    for (const RandomModelSpec &spec : {random_specs()[0], random_specs()[2]}) {
        INFO(spec.label());
        RandomModel rm(spec);
        const Model &model = *rm.models.gpu;
        CtxConfig cfg;
        cfg.n_seq_max = 3;
        cfg.capacity = 512;
        cfg.chunk = 32;
        cfg.score_window = 8;
        auto ctx = make_ctx(model, cfg);
        std::mt19937 rng(spec.seed);
        const std::vector<int32_t> p = random_tokens(rng, 75, rm.models.n_vocab());
        ctx->prefill(0, p.data(), p.size());
        ctx->prefill(2, p.data(), p.size());  // the reference, never copied
        ctx->seq_copy(0, 1);
        const SeqState src = state(*ctx, 0);
        check_same(state(*ctx, 1), src, "right after the copy");
        CHECK(logits_of(*ctx, 1) == logits_of(*ctx, 0));

        // Decode steps leave logits on the device; a copy then shares them.
        const std::vector<int32_t> tokens = random_tokens(rng, 4, rm.models.n_vocab());
        for (int32_t t : tokens) {
            decode_one(*ctx, 2, t);
            decode_one(*ctx, 0, t);
            decode_one(*ctx, 1, t);
            const std::vector<float> ref = logits_of(*ctx, 2);
            check_relative(logits_of(*ctx, 0), ref, kRepeatRel, "src vs never copied");
            check_relative(logits_of(*ctx, 1), ref, kRepeatRel, "copy vs never copied");
        }

        // src's logits on the device when copied; then each side moves alone.
        const int32_t u = tokens[0];
        decode_one(*ctx, 0, u);
        ctx->seq_copy(0, 1);
        const std::optional<int32_t> greedy = ctx->greedy_token(0);
        CHECK(greedy.has_value());
        CHECK(ctx->greedy_token(1) == greedy);
        decode_one(*ctx, 0, u);  // overwrites the device row the copy shares
        decode_one(*ctx, 2, u);
        const std::vector<float> after_u = logits_of(*ctx, 2);
        decode_one(*ctx, 2, u);
        check_relative(logits_of(*ctx, 1), after_u, kRepeatRel, "copy after src moved on");
        check_relative(logits_of(*ctx, 0), logits_of(*ctx, 2), kRepeatRel, "src moved on");

        // Evicting and decoding the copy leave src as it was.
        ctx->seq_copy(0, 1);
        const SeqState before = state(*ctx, 0);
        const std::vector<float> src_logits = logits_of(*ctx, 0);
        const int64_t free_before = ctx->kv_stats(CAB_SEQ_ALL).blocks_free;
        const EvictResult r = ctx->evict(1, h2o(24));
        CHECK(r.blocks_freed > 0);
        CHECK(ctx->kv_stats(CAB_SEQ_ALL).blocks_free == free_before + r.blocks_freed);
        CHECK(ctx->kv_stats(1).stream_max == 24);
        decode_one(*ctx, 1, u);
        check_same(state(*ctx, 0), before, "src after the copy was evicted and decoded");
        CHECK(logits_of(*ctx, 0) == src_logits);

        // A copy of the evicted sequence is it, eviction count included.
        ctx->seq_copy(1, 0);
        check_same(state(*ctx, 0), state(*ctx, 1), "a copy of an evicted sequence");
        decode_one(*ctx, 0, u);
        decode_one(*ctx, 1, u);
        check_relative(logits_of(*ctx, 0), logits_of(*ctx, 1), kRepeatRel,
                       "decoding a copy of an evicted sequence");
    }
}

TEST_CASE("CUDA seq_copy: KV_FULL and bad arguments leave dst as it was; an empty src empties it",
          "[model][seq_copy]") {
    RandomModel rm(random_specs()[1]);
    const Model &model = *rm.models.gpu;
    CtxConfig cfg;
    cfg.n_seq_max = 3;
    cfg.capacity = 160;  // 10 blocks of 16 per stream
    auto ctx = make_ctx(model, cfg);
    std::mt19937 rng(41);
    const std::vector<int32_t> a = random_tokens(rng, 80, rm.models.n_vocab());  // 5 blocks
    const std::vector<int32_t> b = random_tokens(rng, 40, rm.models.n_vocab());  // 3 blocks
    ctx->prefill(0, a.data(), a.size());
    ctx->prefill(1, b.data(), b.size());
    const SeqState src = state(*ctx, 0), dst = state(*ctx, 1);
    const std::vector<float> dst_logits = logits_of(*ctx, 1);
    const int64_t free_before = ctx->kv_stats(CAB_SEQ_ALL).blocks_free;
    for (const auto &[from, to, status] :
         {std::tuple{0, 1, CAB_ERR_KV_FULL}, std::tuple{1, 1, CAB_ERR_INVALID_ARGUMENT},
          std::tuple{3, 1, CAB_ERR_INVALID_ARGUMENT},
          std::tuple{0, -1, CAB_ERR_INVALID_ARGUMENT}}) {
        INFO("copy " << from << " -> " << to);
        try {
            ctx->seq_copy(from, to);
            FAIL("seq_copy should have thrown");
        } catch (const Error &e) {
            CHECK(e.status() == status);
        }
        check_same(state(*ctx, 1), dst, "dst after a refused copy");
        check_same(state(*ctx, 0), src, "src after a refused copy");
        CHECK(logits_of(*ctx, 1) == dst_logits);
        CHECK(ctx->kv_stats(CAB_SEQ_ALL).blocks_free == free_before);
    }

    // With dst's blocks back in the pool the copy fits exactly.
    ctx->seq_reset(1);
    ctx->seq_copy(0, 1);
    check_same(state(*ctx, 1), src, "after reset and copy");
    CHECK(ctx->kv_stats(CAB_SEQ_ALL).blocks_free == 0);

    // An empty src empties dst and frees its blocks.
    ctx->seq_copy(2, 1);
    CHECK(ctx->seq_length(1) == 0);
    CHECK(ctx->logits(1) == nullptr);
    CHECK(ctx->kv_stats(1).blocks_used == 0);
    CHECK(ctx->kv_stats(CAB_SEQ_ALL).blocks_free ==
          ctx->kv_stats(CAB_SEQ_ALL).blocks_total - src.stats.blocks_used);
}

}  // namespace
}  // namespace cab::gpu_test
