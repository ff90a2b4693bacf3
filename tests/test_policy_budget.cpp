// Budget specs ("256", "10%") and the budget allocators (uniform, pyramid, adaptive): hand-worked
// allocations, and exact totals with per-stream caps on random layouts.
#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "policy/budget.h"
#include "policy/budget_spec.h"
#include "util/error.h"

using namespace cab;

namespace {

template <class F>
void require_invalid(F &&f, const std::string &needle) {
    try {
        f();
        FAIL("expected CAB_ERR_INVALID_ARGUMENT mentioning '" << needle << "'");
    } catch (const Error &e) {
        CHECK(e.status() == CAB_ERR_INVALID_ARGUMENT);
        CHECK_THAT(e.what(), Catch::Contains(needle));
    }
}

StreamLayout layout_of(int32_t n_layer, int32_t n_head, std::vector<int32_t> lengths) {
    StreamLayout l;
    l.n_layer = n_layer;
    l.n_head = n_head;
    l.lengths = std::move(lengths);
    return l;
}

int64_t total_of(const std::vector<int32_t> &v) {
    return std::accumulate(v.begin(), v.end(), int64_t{0});
}

}  // namespace

TEST_CASE("policy budget: specs parse tokens and exact percentages", "[policy]") {
    const BudgetSpec t = parse_budget_spec("256");
    CHECK_FALSE(t.is_ratio);
    CHECK(t.tokens_for(1000) == 256);
    CHECK(t.tokens_for(10) == 256);
    CHECK(parse_budget_spec("0").tokens_for(50) == 0);
    CHECK(parse_budget_spec("10%").tokens_for(1000) == 100);
    CHECK(parse_budget_spec("10%").tokens_for(1009) == 100);
    CHECK(parse_budget_spec("29%").tokens_for(100) == 29);
    CHECK(parse_budget_spec("12.5%").tokens_for(200) == 25);
    CHECK(parse_budget_spec("100%").tokens_for(77) == 77);
    CHECK(parse_budget_spec("0.000001%").tokens_for(2000000000) == 20);
    CHECK(parse_budget_spec("2147483647").tokens == 2147483647);
    for (const char *text : {"", "%", "-5", "+5", "1e3", " 5", "5 ", "5.5", "101%", "100.1%",
                             "1.2345678%", "2147483648", "1..2%", ".%", "abc", "10%%"}) {
        INFO(text);
        require_invalid([&] { parse_budget_spec(text); }, "budget");
    }
    CHECK(parse_budget_allocation("pyramid") == BudgetAllocation::Pyramid);
    require_invalid([&] { parse_budget_allocation("flat"); }, "flat");
}

TEST_CASE("policy budget: uniform gives each stream its share and moves what it cannot use",
          "[policy]") {
    AllocationParams p;
    CHECK(allocate_budgets(layout_of(2, 2, {500, 500, 500, 500}), parse_budget_spec("256"), p) ==
          std::vector<int32_t>{256, 256, 256, 256});
    CHECK(allocate_budgets(layout_of(1, 3, {100, 200, 50}), parse_budget_spec("10%"), p) ==
          std::vector<int32_t>{10, 20, 5});
    // A 100-token stream cannot use 256: its 156 go equally to the others.
    CHECK(allocate_budgets(layout_of(1, 3, {100, 1000, 1000}), parse_budget_spec("256"), p) ==
          std::vector<int32_t>{100, 334, 334});
    // More budget than tokens: everything is kept.
    CHECK(allocate_budgets(layout_of(1, 2, {10, 20}), parse_budget_spec("256"), p) ==
          std::vector<int32_t>{10, 20});
}

TEST_CASE("policy budget: pyramid decreases with depth, keeps the floor and the exact total",
          "[policy]") {
    AllocationParams p;
    p.method = BudgetAllocation::Pyramid;
    // 5 layers x 2 heads, avg 100: b_min = max(5, 100 / 20) = 5, b_max = 195, step 47.5:
    // layer totals 390, 295, 200, 105, 10, split across heads with the odd token to head 0.
    const std::vector<int32_t> b = allocate_budgets(layout_of(5, 2, std::vector<int32_t>(10, 1000)),
                                                    parse_budget_spec("100"), p);
    CHECK(b == std::vector<int32_t>{195, 195, 148, 147, 100, 100, 53, 52, 5, 5});
    for (int32_t n_layer : {1, 2, 3, 7, 30}) {
        for (int32_t avg : {0, 3, 5, 6, 17, 100, 257}) {
            for (int32_t n_head : {1, 3}) {
                INFO("layers " << n_layer << " heads " << n_head << " avg " << avg);
                const std::vector<int32_t> lengths(static_cast<size_t>(n_layer * n_head), 4000);
                const std::vector<int32_t> got = allocate_budgets(
                    layout_of(n_layer, n_head, lengths), parse_budget_spec(std::to_string(avg)), p);
                CHECK(total_of(got) == int64_t{avg} * n_layer * n_head);
                for (int32_t l = 0; l + 1 < n_layer; ++l)
                    CHECK(got[l * n_head] + 1 >= got[(l + 1) * n_head]);
                if (avg > p.min_budget)
                    for (int32_t v : got) CHECK(v >= p.min_budget);
            }
        }
    }
    // Short streams in the lowest layer hand their excess on; the total stays exact.
    const std::vector<int32_t> capped =
        allocate_budgets(layout_of(3, 1, {150, 1000, 1000}), parse_budget_spec("100"), p);
    CHECK(capped[0] == 150);
    CHECK(total_of(capped) == 300);
}

TEST_CASE("policy budget: adaptive gives concentrated heads less, totals exact", "[policy]") {
    // Head 0 puts all attention on one slot, head 1 spreads it evenly.
    std::vector<float> peaked(100, 0.0f), flat(100, 1.0f);
    peaked[40] = 50.0f;
    StreamLayout l = layout_of(1, 2, {100, 100});
    l.scores = {peaked.data(), flat.data()};
    AllocationParams p;
    p.method = BudgetAllocation::Adaptive;
    // Layer budget 40; floors 5 + 5; the 30 left are the best of the pooled rest: head 1's
    // 0.01s beat head 0's zeros.
    CHECK(allocate_budgets(l, parse_budget_spec("20"), p) == std::vector<int32_t>{5, 35});
    p.min_budget = 0;
    CHECK(allocate_budgets(l, parse_budget_spec("20"), p) == std::vector<int32_t>{1, 39});
    // Floors above the layer budget: an even split.
    p.min_budget = 30;
    CHECK(allocate_budgets(l, parse_budget_spec("10"), p) == std::vector<int32_t>{10, 10});

    std::mt19937 rng(9);
    std::uniform_int_distribution<int32_t> len(0, 300);
    std::exponential_distribution<float> score(1.0f);
    for (int trial = 0; trial < 30; ++trial) {
        StreamLayout r = layout_of(4, 3, {});
        std::vector<std::vector<float>> store;
        for (int32_t s = 0; s < 12; ++s) {
            r.lengths.push_back(len(rng));
            store.emplace_back(static_cast<size_t>(r.lengths.back()));
            for (float &v : store.back()) v = score(rng);
        }
        for (const auto &v : store) r.scores.push_back(v.data());
        AllocationParams a;
        a.method = BudgetAllocation::Adaptive;
        const BudgetSpec spec = parse_budget_spec(trial % 2 ? "64" : "20%");
        const std::vector<int32_t> got = allocate_budgets(r, spec, a);
        INFO("trial " << trial);
        CHECK(total_of(got) == std::min(total_budget(spec, r.lengths), total_of(r.lengths)));
        for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] <= r.lengths[i]);
        for (BudgetAllocation m : {BudgetAllocation::Uniform, BudgetAllocation::Pyramid}) {
            a.method = m;
            const std::vector<int32_t> other = allocate_budgets(r, spec, a);
            CHECK(total_of(other) == total_of(got));
            for (size_t i = 0; i < other.size(); ++i) CHECK(other[i] <= r.lengths[i]);
        }
    }

    StreamLayout missing = layout_of(1, 2, {3, 3});
    require_invalid([&] { allocate_budgets(missing, parse_budget_spec("2"), p); }, "scores");
    require_invalid([&] { allocate_budgets(layout_of(1, 2, {3}), parse_budget_spec("2"), {}); },
                    "lengths");
}

TEST_CASE("policy budget: protected slots raise the floor, adaptive ranks only the rest",
          "[policy]") {
    // Both heads give their last 10 slots (the observation window) most of the attention; head 0
    // puts the rest on one slot, head 1 spreads it. The window must not buy head 0 budget.
    std::vector<float> peaked(100, 0.0f), flat(100, 0.01f);
    for (int i = 90; i < 100; ++i) peaked[i] = flat[i] = 100.0f;
    peaked[40] = 1.0f;
    StreamLayout l = layout_of(1, 2, {100, 100});
    l.scores = {peaked.data(), flat.data()};
    AllocationParams p;
    p.method = BudgetAllocation::Adaptive;
    p.min_budget = 0;
    p.protect_front = 2;
    p.protect_back = 10;
    // Layer budget 60; floors 12 + 12; of the 36 left, head 0's one hit (1.0 of its ranked mass)
    // beats head 1's 1/88 each, then head 1's ties beat head 0's zeros.
    CHECK(allocate_budgets(l, parse_budget_spec("30"), p) == std::vector<int32_t>{13, 47});
    // Without the protection a head that attends to one slot falls below its window.
    std::vector<float> one(100, 0.0f);
    one[40] = 1.0f;
    StreamLayout c = layout_of(1, 2, {100, 100});
    c.scores = {one.data(), flat.data()};
    AllocationParams bare = p;
    bare.protect_front = bare.protect_back = 0;
    CHECK(allocate_budgets(c, parse_budget_spec("30"), bare) == std::vector<int32_t>{1, 59});
    CHECK(allocate_budgets(c, parse_budget_spec("30"), p) == std::vector<int32_t>{13, 47});
    // A budget below the protected slots: the floor holds where the layer has room ...
    p.method = BudgetAllocation::Pyramid;
    const std::vector<int32_t> pyramid =
        allocate_budgets(layout_of(4, 1, {100, 100, 100, 100}), parse_budget_spec("20"), p);
    for (int32_t b : pyramid) CHECK(b >= 12);
    CHECK(total_of(pyramid) == 80);
    // ... and the total stays exact when it has none (an even split).
    const std::vector<int32_t> tight =
        allocate_budgets(layout_of(4, 1, {100, 100, 100, 100}), parse_budget_spec("8"), p);
    CHECK(tight == std::vector<int32_t>{8, 8, 8, 8});
    p.protect_back = -1;
    require_invalid([&] { allocate_budgets(l, parse_budget_spec("30"), p); }, "protected");
}
