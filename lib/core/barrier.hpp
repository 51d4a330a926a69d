#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace surgeon {

// A reusable thread barrier (C++17 has no std::barrier).
class Barrier {
public:
    explicit Barrier(int count) : count_(count) {}

    void arrive_and_wait() {
        std::unique_lock<std::mutex> lock(mutex_);
        const uint64_t generation = generation_;
        if (++waiting_ == count_) {
            waiting_ = 0;
            ++generation_;
            cv_.notify_all();
            return;
        }
        cv_.wait(lock, [&] { return generation != generation_; });
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    int count_;
    int waiting_ = 0;
    uint64_t generation_ = 0;
};

}  // namespace surgeon
