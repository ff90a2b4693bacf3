// A small fixed pool of worker threads for data-parallel loops of the CPU backend.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace cab::cpu {

class ThreadPool {
public:
    // n_threads counts the calling thread: n_threads - 1 workers are started.
    explicit ThreadPool(int32_t n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool &) = delete;
    ThreadPool &operator=(const ThreadPool &) = delete;

    int32_t size() const { return static_cast<int32_t>(workers_.size()) + 1; }

    // Calls fn(begin, end) on disjoint ranges covering [0, n), ranges of at least `grain` items
    // (but the last), on the workers and the calling thread; returns when all are done. The
    // first exception thrown by fn is rethrown here. Not reentrant.
    void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)> &fn);

private:
    void worker_loop();
    void run_chunks();

    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    uint64_t generation_ = 0;
    bool stop_ = false;
    int32_t busy_ = 0;
    // The current job.
    const std::function<void(int64_t, int64_t)> *fn_ = nullptr;
    int64_t n_ = 0;
    int64_t chunk_ = 0;
    int64_t next_ = 0;  // guarded by mutex_
    std::exception_ptr error_;
};

}  // namespace cab::cpu
