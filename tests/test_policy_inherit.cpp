// snapkv's layer inheritance (policy/inherit.h): how many layers inherit, the ranked range it
// normalises over, and the deeper layers' score by position (each stream weighs the same, a
// stream's ranked total is 1, positions no deeper stream holds score 0).
#include <vector>

#include <catch2/catch.hpp>

#include "policy/inherit.h"
#include "policy/policy.h"
#include "policy_fixture.h"

using namespace cab;
using namespace cab::test;

TEST_CASE("snapkv inherit: layers that inherit", "[policy][snapkv][inherit]") {
    CHECK(inherit_layers(0.0f, 30) == 0);
    CHECK(inherit_layers(-1.0f, 30) == 0);
    CHECK(inherit_layers(0.33f, 30) == 10);  // ceil(9.9)
    CHECK(inherit_layers(0.5f, 30) == 15);
    CHECK(inherit_layers(0.01f, 30) == 1);
    CHECK(inherit_layers(0.99f, 30) == 29);  // one layer keeps its own ranking
    CHECK(inherit_layers(0.5f, 1) == 0);
}

TEST_CASE("snapkv inherit: the ranked range", "[policy][snapkv][inherit]") {
    PolicyParams p;
    p.n_sinks = 4;
    p.snapkv_window = 32;
    int32_t first = -1, end = -1;
    ranked_range(1000, 100, p, &first, &end);
    CHECK(first == 4);
    CHECK(end == 1000 - 32);
    ranked_range(1000, 1000, p, &first, &end);  // keeps all
    CHECK(first == end);
    ranked_range(1000, 4, p, &first, &end);  // sinks only
    CHECK(first == end);
    ranked_range(1000, 20, p, &first, &end);  // window cut to k = 16
    CHECK(first == 4);
    CHECK(end == 1000 - 16);
    p.n_recent = 8;
    ranked_range(1000, 100, p, &first, &end);
    CHECK(end == 1000 - 8 - 32);
}

TEST_CASE("snapkv inherit: the deeper score is a sum of per-stream shares, by position",
          "[policy][snapkv][inherit]") {
    // Two deeper streams over positions 100..109; the second lost position 103 earlier.
    Fixture a(10), b(9);
    for (int32_t i = 0; i < 10; ++i) a.window[static_cast<size_t>(i)] = 1.0f;
    a.window[5] = 6.0f;  // ranked [2, 8): total 1*5 + 6 = 11
    b.pos = {100, 101, 102, 104, 105, 106, 107, 108, 109};
    b.window.assign(9, 0.0f);
    b.window[3] = 3.0f;  // position 104
    b.window[4] = 1.0f;  // position 105
    DeepWindowScore deep;
    deep.add(a.view(), 2, 8);
    deep.add(b.view(), 2, 7);  // total 4
    // A lower stream holding positions 100..109 reads them.
    Fixture low(10);
    const std::vector<float> g = deep.for_stream(low.view());
    REQUIRE(g.size() == 10);
    CHECK(g[0] == 0.0f);  // outside both ranked ranges
    CHECK(g[1] == 0.0f);
    CHECK(g[2] == Approx(1.0 / 11));
    CHECK(g[3] == Approx(1.0 / 11));            // b does not hold 103
    CHECK(g[4] == Approx(1.0 / 11 + 3.0 / 4));  // 104
    CHECK(g[5] == Approx(6.0 / 11 + 1.0 / 4));  // 105
    CHECK(g[8] == 0.0f);
    // A stream of zeros adds nothing (no division by zero).
    Fixture zero(10);
    DeepWindowScore none;
    none.add(zero.view(), 0, 10);
    for (float v : none.for_stream(low.view())) CHECK(v == 0.0f);
}
