#include "backend/cpu/thread_pool.h"

#include <algorithm>
#include <utility>

namespace cab::cpu {

ThreadPool::ThreadPool(int32_t n_threads) {
    for (int32_t i = 1; i < n_threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    for (auto &t : workers_) t.join();
}

void ThreadPool::worker_loop() {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        lock.unlock();
        run_chunks();
        lock.lock();
        if (--busy_ == 0) done_.notify_one();
    }
}

// Takes chunks until the job is exhausted. Chunks are claimed under the lock: they are coarse
// (a few per thread), so the lock is not contended.
void ThreadPool::run_chunks() {
    for (;;) {
        int64_t begin;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (next_ >= n_ || error_) return;
            begin = next_;
            next_ += chunk_;
        }
        try {
            (*fn_)(begin, std::min(n_, begin + chunk_));
        } catch (...) {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!error_) error_ = std::current_exception();
        }
    }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)> &fn) {
    if (n <= 0) return;
    grain = std::max<int64_t>(grain, 1);
    if (workers_.empty() || n <= grain) {
        fn(0, n);
        return;
    }
    // About four chunks per thread balances uneven rows without much claiming.
    int64_t chunk = std::max(grain, (n + 4 * size() - 1) / (4 * size()));
    {
        std::lock_guard<std::mutex> lock(mutex_);
        fn_ = &fn;
        n_ = n;
        chunk_ = chunk;
        next_ = 0;
        error_ = nullptr;
        busy_ = static_cast<int32_t>(workers_.size());
        ++generation_;
    }
    wake_.notify_all();
    run_chunks();
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return busy_ == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

}  // namespace cab::cpu
