// snapkv and chunkkv spread the window score over the ranked slots only (KeepPlan's rule): the
// sinks before them, which draw the largest window score of all, lift none of the slots after
// them, in the max-pool or in a chunk's sum. Hand-made cases where the old rule (spreading from
// slot 0) would have kept the slots after the sinks, the edges (no sinks, sinks up to the window,
// a stream shorter than the pool or the chunk), and naive references on random scores with heavy
// sinks, for select and for its keep plan.
#include <algorithm>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "policy/keep_plan.h"
#include "policy/policy.h"
#include "policy_fixture.h"

using namespace cab;
using namespace cab::test;

namespace {

bool holds_any(const Slots &kept, int32_t begin, int32_t end) {
    return std::any_of(kept.begin(), kept.end(), [&](int32_t i) { return i >= begin && i < end; });
}

// A 64-slot stream as SmolLM2's streams look: the 4 sinks draw 10 each, the question's hit at
// slot 30 draws 3, the observation window (56..63) 9 each, the rest 0.
std::vector<float> sink_heavy() {
    std::vector<float> w(64, 0.0f);
    std::fill(w.begin(), w.begin() + 4, 10.0f);
    w[30] = 3.0f;
    std::fill(w.begin() + 56, w.end(), 9.0f);
    return w;
}

// The naive rule on the ranked slots [first, back): max over [i - K/2 - S, i + K/2 - S] or the
// chunk's sum, both clipped to the ranked slots; the k best, ties to the earlier slot.
Slots naive_ranked(const std::vector<float> &w, int32_t first, int32_t back, int32_t k,
                   int32_t kernel, int32_t shift, int32_t chunk) {
    std::vector<float> value(w.size(), 0.0f);
    for (int32_t i = first; i < back; ++i) {
        if (chunk > 1) {
            const int32_t lo = std::max(first, i / chunk * chunk);
            const int32_t hi = std::min(back, i / chunk * chunk + chunk);
            float sum = 0.0f;
            for (int32_t j = lo; j < hi; ++j) sum += w[static_cast<size_t>(j)];
            value[static_cast<size_t>(i)] = sum;
        } else {
            float best = w[static_cast<size_t>(i)];
            const int32_t lo = std::max(first, i - kernel / 2 - shift);
            const int32_t hi = std::min(back - 1, i + kernel / 2 - shift);
            for (int32_t j = lo; j <= hi; ++j) best = std::max(best, w[static_cast<size_t>(j)]);
            value[static_cast<size_t>(i)] = best;
        }
    }
    Slots order = range(first, back);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
        return value[static_cast<size_t>(a)] > value[static_cast<size_t>(b)];
    });
    order.resize(static_cast<size_t>(k));
    std::sort(order.begin(), order.end());
    return order;
}

}  // namespace

TEST_CASE("snapkv: the sinks lift none of the slots after them", "[policy][snapkv]") {
    PolicyParams p;  // 4 sinks
    p.snapkv_window = 8;
    for (const auto &[kernel, shift] : {std::pair<int32_t, int32_t>{7, 0}, {15, 7}, {5, 2}}) {
        INFO("kernel " << kernel << " shift " << shift);
        p.snapkv_kernel = kernel;
        p.snapkv_shift = shift;
        // The ranked budget is one pool's width: exactly the span the hit at 30 lifts,
        // [30 - K/2 + S, 30 + K/2 + S]. Spreading from slot 0 instead would put the sinks' 10 on
        // slots 4 .. 3 + K/2 + S and keep those first.
        const Slots kept = select_by_window("snapkv", sink_heavy(), 4 + 8 + kernel, p);
        CHECK(kept ==
              join(join(range(0, 4), range(30 - kernel / 2 + shift, 31 + kernel / 2 + shift)),
                   range(56, 64)));
        CHECK_FALSE(holds_any(kept, 4, 4 + kernel / 2 + shift));
    }
}

TEST_CASE("chunkkv: the sinks add nothing to their chunk's sum", "[policy][chunkkv]") {
    // Chunks of 16: [0, 16) holds the sinks (40 from slot 0) and nothing ranked; [16, 32) the hit
    // (3). The ranked budget is one chunk: the hit's, not the rest of the sinks' chunk.
    PolicyParams p;
    p.snapkv_window = 8;
    p.chunk_size = 16;
    CHECK(select_by_window("chunkkv", sink_heavy(), 4 + 8 + 16, p) ==
          join(join(range(0, 4), range(16, 32)), range(56, 64)));
    // A chunk that starts among the sinks: chunks of 6 are aligned to slot 0, so [0, 6) ranks by
    // slots 4 and 5 only (0 here), below [30, 36) (3); the rest tie at 0, earliest first.
    p.chunk_size = 6;
    CHECK(select_by_window("chunkkv", sink_heavy(), 4 + 8 + 8, p) ==
          join(join(range(0, 4), join({4, 5}, range(30, 36))), range(56, 64)));
    // Slot 5 at 1: [0, 6) sums 1, after the hit's chunk (from slot 0 it would sum 41, first).
    std::vector<float> w = sink_heavy();
    w[5] = 1.0f;
    CHECK(select_by_window("chunkkv", w, 4 + 8 + 7, p) ==
          join(join(range(0, 4), join({4}, range(30, 36))), range(56, 64)));
    w[5] = 4.0f;  // 4: before it, and the hit's chunk from its start
    CHECK(select_by_window("chunkkv", w, 4 + 8 + 7, p) ==
          join(join(range(0, 4), join({4, 5}, range(30, 35))), range(56, 64)));
}

TEST_CASE("snapkv and chunkkv without sinks spread from slot 0, as before", "[policy]") {
    // keep_front 0: slot 0 is ranked like any other, and its score lifts its neighbours.
    PolicyParams p;
    p.n_sinks = 0;
    p.snapkv_window = 8;
    p.snapkv_kernel = 7;
    CHECK(select_by_window("snapkv", sink_heavy(), 8 + 7, p) == join(range(0, 7), range(56, 64)));
    p.chunk_size = 16;
    CHECK(select_by_window("chunkkv", sink_heavy(), 8 + 16, p) ==
          join(range(0, 16), range(56, 64)));
}

TEST_CASE("snapkv and chunkkv: sinks up to the window, streams shorter than the pool", "[policy]") {
    // Sinks 0..13, window 16..19: two ranked slots. Kernel 3, shift 1: slot i pools [i - 2, i],
    // clipped to {14, 15}: 14 takes 0 (not the sinks' 100), 15 takes 1.
    std::vector<float> w(20, 0.0f);
    std::fill(w.begin(), w.begin() + 14, 100.0f);
    w[15] = 1.0f;
    PolicyParams p;
    p.n_sinks = 14;
    p.snapkv_window = 4;
    p.snapkv_kernel = 3;
    p.snapkv_shift = 1;
    CHECK(select_by_window("snapkv", w, 19, p) == join(range(0, 14), join({15}, range(16, 20))));
    // Chunks of 8: [8, 16) holds sinks 8..13 and the ranked 14, 15, and sums only those: 1 for
    // both, so the earlier one.
    p.chunk_size = 8;
    CHECK(select_by_window("chunkkv", w, 19, p) == join(range(0, 14), join({14}, range(16, 20))));

    // 10 slots, kernel 15, shift 7 (slot i pools [i - 14, i]): wider than the stream. The ranked
    // slots 2..7 pool 0, 0, 5, 5, 5, 5; from slot 0 they would all take the sinks' 10.
    const std::vector<float> short_w = {10, 10, 0, 0, 5, 0, 0, 0, 9, 9};
    p = PolicyParams{};
    p.n_sinks = 2;
    p.snapkv_window = 2;
    p.snapkv_kernel = 15;
    p.snapkv_shift = 7;
    CHECK(select_by_window("snapkv", short_w, 7, p) == Slots{0, 1, 4, 5, 6, 8, 9});
    // A chunk wider than the stream: one chunk, every ranked slot ties, earliest first.
    p.chunk_size = 1000;
    CHECK(select_by_window("chunkkv", short_w, 7, p) == Slots{0, 1, 2, 3, 4, 8, 9});
}

TEST_CASE("snapkv and chunkkv match a naive ranked-range reference, sinks heavy", "[policy]") {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> score(0.0f, 1.0f);
    std::uniform_int_distribution<int> level(0, 2);
    for (const char *name : {"snapkv", "chunkkv"})
        for (int trial = 0; trial < 120; ++trial) {
            const int32_t n = 48, window = 5;
            PolicyParams p;
            p.n_sinks = trial % 7;
            p.n_recent = trial % 3;
            p.snapkv_window = window;
            const int32_t kernels[] = {1, 3, 7, 15, 61};
            p.snapkv_kernel = kernels[trial % 5];
            p.snapkv_shift = (trial / 5) % (p.snapkv_kernel / 2 + 1);
            const int32_t chunks[] = {1, 2, 3, 5, 16, 100};
            p.chunk_size = chunks[trial % 6];
            std::vector<float> w(static_cast<size_t>(n));
            // Every third trial draws from three levels, so that pooled values and sums tie.
            for (float &v : w) v = trial % 3 == 0 ? static_cast<float>(level(rng)) : score(rng);
            // Sinks far above the rest, as in a model.
            for (int32_t i = 0; i < p.n_sinks; ++i) w[static_cast<size_t>(i)] = 100.0f;
            const int32_t back = n - p.n_recent - window;
            const int32_t k = 1 + trial % (back - p.n_sinks - 1);
            const int32_t budget = p.n_sinks + p.n_recent + window + k;
            const bool chunked = std::string(name) == "chunkkv";
            const Slots expected =
                join(join(range(0, p.n_sinks), range(back, n)),
                     naive_ranked(w, p.n_sinks, back, k, chunked ? 1 : p.snapkv_kernel,
                                  chunked ? 0 : p.snapkv_shift, chunked ? p.chunk_size : 1));
            INFO(name << " trial " << trial << " sinks " << p.n_sinks << " recent " << p.n_recent
                      << " kernel " << p.snapkv_kernel << " shift " << p.snapkv_shift << " chunk "
                      << p.chunk_size << " budget " << budget);
            CHECK(select_by_window(name, w, budget, p) == expected);
            Fixture s(n);
            s.window = w;
            const std::optional<KeepPlan> plan = find_policy(name)->keep_plan(n, budget, p);
            REQUIRE(plan.has_value());
            CHECK(plan->keep_front == p.n_sinks);
            CHECK(apply_keep_plan(*plan, s.view()) == expected);
        }
}
