// How the ranks of a data-parallel compression exchange data. A run of N ranks splits the
// calibration sequences into N contiguous shares; every rank runs its share through the
// current block, the Hessian sums of a group of linears go to the ranks that own its
// linears, each owner compresses its linears and broadcasts them, and every rank goes on
// with the same compressed block (docs/distributed.md). The single-process run is the
// same protocol on one rank.
//
// The interface has the two collectives that protocol needs, on bytes; an implementation
// over MPI lives in lib/dist (built with SURGEON_MPI), so nothing here depends on MPI.
#pragma once

#include <cstdint>
#include <exception>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace surgeon::model {

class Reducer {
public:
    virtual ~Reducer() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    // Collective: every rank passes `part`; `root` receives every rank's part in rank order,
    // the other ranks an empty list. Parts may differ in length (and be empty).
    virtual std::vector<std::vector<char>> gather(int root, const std::vector<char>& part) = 0;
    // Collective: `bytes` of `root` replaces `bytes` on every other rank.
    virtual void broadcast(int root, std::vector<char>& bytes) = 0;
};

// The one rank of a single-process run.
class SingleProcess final : public Reducer {
public:
    int rank() const override { return 0; }
    int size() const override { return 1; }
    std::vector<std::vector<char>> gather(int root, const std::vector<char>& part) override;
    void broadcast(int root, std::vector<char>& bytes) override;
};

// An error every rank of the run has thrown (agree_on_errors): the program reports it once
// (on rank 0) and every rank ends normally, with no need to abort the job.
class JobError : public Error {
public:
    JobError(surgeon_status status, const std::string& message, int failed_rank)
        : Error(status, message), failed_rank_(failed_rank) {}
    int failed_rank() const noexcept { return failed_rank_; }

private:
    int failed_rank_;
};

// Collective: `status`/`message` are this rank's outcome of a step (SURGEON_OK, "" for
// success). When some rank failed, every rank throws the JobError of the lowest failing
// rank (its message prefixed with "rank r: " in a run of several ranks).
void agree_on_errors(Reducer& reducer, surgeon_status status, const std::string& message);

// The status and message of an exception: a surgeon::Error's own, out of memory, any
// other exception as SURGEON_ERR_INTERNAL.
std::pair<surgeon_status, std::string> outcome_of(const std::exception_ptr& error);

// Runs `step` on every rank and agrees on its outcome.
template <typename Step>
void run_agreed(Reducer& reducer, Step&& step) {
    std::exception_ptr error;
    try {
        step();
    } catch (...) {
        error = std::current_exception();
    }
    const auto [status, message] = error ? outcome_of(error) : std::make_pair(SURGEON_OK, std::string());
    agree_on_errors(reducer, status, message);
}

// The calibration sequences [first, last) of `rank` among `size` ranks: contiguous shares
// whose lengths differ by at most one, the longer ones first.
std::pair<int64_t, int64_t> share_of(int64_t sequences, int rank, int size);

}  // namespace surgeon::model
