// parallel_for over [0, n) in contiguous chunks on plain threads that block rather than
// spin when idle. The solver alternates its row loops with OpenBLAS calls; OpenMP's
// spinning workers would steal the cores OpenBLAS needs (measured: GEMM time +40% on 2
// cores), and the wait policy cannot be changed from inside a library.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace surgeon {

template <typename Body>  // Body(int64_t begin, int64_t end, int worker)
void parallel_for(int threads, int64_t n, Body&& body) {
    const int workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, n)));
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
