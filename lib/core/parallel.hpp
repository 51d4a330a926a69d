// parallel_for over [0, n) in contiguous chunks on plain threads that block rather than
// spin when idle. This is the library's one threading model: every parallel loop and the
// CPU backend's kernels (over a single-threaded BLAS) run on these workers, with the
// thread count of the calling context, so concurrent calls from contexts with different
// thread counts never affect each other.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace surgeon {

namespace detail {
inline int& max_workers_on_this_thread() {
    thread_local int workers = 0;
    return workers;
}
}  // namespace detail

// The largest worker count a parallel_for started on the calling thread used since the
// last reset (an observation point for tests; 0 when none ran).
inline int max_parallel_workers() { return detail::max_workers_on_this_thread(); }
inline void reset_max_parallel_workers() { detail::max_workers_on_this_thread() = 0; }

template <typename Body>  // Body(int64_t begin, int64_t end, int worker)
void parallel_for(int threads, int64_t n, Body&& body) {
    const int workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, n)));
    int& seen = detail::max_workers_on_this_thread();
    seen = std::max(seen, workers);
    if (workers == 1) {
        body(int64_t{0}, n, 0);
        return;
    }
    std::vector<std::exception_ptr> errors(static_cast<size_t>(workers));
    auto run = [&](int w) {
        const int64_t begin = n * w / workers, end = n * (w + 1) / workers;
        try {
            body(begin, end, w);
        } catch (...) {
            errors[static_cast<size_t>(w)] = std::current_exception();
        }
    };
    std::vector<std::thread> pool;
    pool.reserve(static_cast<size_t>(workers - 1));
    for (int w = 1; w < workers; ++w) pool.emplace_back(run, w);
    run(0);
    for (auto& t : pool) t.join();
    for (auto& e : errors)
        if (e) std::rethrow_exception(e);
}

}  // namespace surgeon
