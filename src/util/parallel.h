// Host threads: how many a thread-count option means, and independent pieces of host-side work
// run on a few (the eviction's per-stream selections; threads started per call and joined before
// it returns: the calls it serves take milliseconds, so a pool's wake-up would save nothing worth
// its state).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <system_error>
#include <thread>
#include <vector>

namespace cab {

// A thread-count option's threads: n_threads when positive, else the machine's (at least 1).
inline int32_t resolve_threads(int32_t n_threads) {
    if (n_threads > 0) return n_threads;
    return static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
}

// Calls fn(i) for every i in [0, n) on up to `threads` threads, the calling one among them, each
// taking the next index in turn; returns when all calls are done. If some throw, the exception of
// the lowest such index is rethrown once every thread has finished, so which error surfaces does
// not depend on the threads' timing. Threads the system refuses to start leave their share to the
// others.
template <class Fn>
void parallel_indices(size_t n, int32_t threads, Fn &&fn) {
    const size_t workers = std::min(n, static_cast<size_t>(std::max(threads, 1)));
    std::vector<std::exception_ptr> errors(n);
    std::atomic<size_t> next{0};
    auto run = [&] {
        for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) {
            try {
                fn(i);
            } catch (...) {
                errors[i] = std::current_exception();
            }
        }
    };
    std::vector<std::thread> pool;
    for (size_t t = 1; t < workers; ++t) {
        try {
            pool.emplace_back(run);
        } catch (const std::system_error &) {
            break;
        }
    }
    run();
    for (std::thread &t : pool) t.join();
    for (const std::exception_ptr &e : errors)
        if (e) std::rethrow_exception(e);
}

}  // namespace cab
