// Host-side work helpers: parallel_indices (util/parallel.h) and cut_batches (util/batches.h).
#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "util/batches.h"
#include "util/parallel.h"

using namespace cab;

TEST_CASE("parallel_indices: every index once, on several threads", "[util]") {
    for (int32_t threads : {0, 1, 3, 8}) {
        INFO(threads << " threads");
        std::vector<std::atomic<int>> hits(1000);
        parallel_indices(hits.size(), threads, [&](size_t i) { ++hits[i]; });
        for (size_t i = 0; i < hits.size(); ++i) CHECK(hits[i] == 1);
    }
    int calls = 0;
    parallel_indices(0, 4, [&](size_t) { ++calls; });
    CHECK(calls == 0);
}

TEST_CASE("parallel_indices: the lowest failing index's exception, after every call", "[util]") {
    std::vector<std::atomic<int>> hits(200);
    try {
        parallel_indices(hits.size(), 4, [&](size_t i) {
            ++hits[i];
            if (i == 150 || i == 37 || i == 90) throw std::runtime_error(std::to_string(i));
        });
        FAIL("no exception");
    } catch (const std::runtime_error &e) {
        CHECK(std::string(e.what()) == "37");
    }
    for (size_t i = 0; i < hits.size(); ++i) CHECK(hits[i] == 1);
}

TEST_CASE("resolve_threads: positive as given, else the machine's", "[util]") {
    CHECK(resolve_threads(5) == 5);
    CHECK(resolve_threads(0) >= 1);
    CHECK(resolve_threads(0) ==
          static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency())));
}

TEST_CASE("cut_batches: consecutive ranges under the cap, a large item alone", "[util]") {
    using Ranges = std::vector<std::pair<size_t, size_t>>;
    CHECK(cut_batches({}, 10).empty());
    CHECK(cut_batches({3, 3, 3, 3}, 10) == Ranges{{0, 3}, {3, 4}});
    CHECK(cut_batches({3, 3, 4, 5}, 10) == Ranges{{0, 3}, {3, 4}});
    CHECK(cut_batches({12, 1, 20, 0, 0}, 10) == Ranges{{0, 1}, {1, 2}, {2, 3}, {3, 5}});
    CHECK(cut_batches({0, 0}, 0) == Ranges{{0, 2}});
}
