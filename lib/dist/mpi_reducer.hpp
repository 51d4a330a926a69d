// The ranks of a data-parallel compression over MPI (Open MPI's C API): the collectives of
// compress/reducer.hpp as point-to-point messages and broadcasts on a duplicate of
// MPI_COMM_WORLD (nonblocking calls completed by polling with short sleeps, so a waiting
// rank leaves its cores to the ranks that compute), with MPI_ERRORS_RETURN so that a failed call is a surgeon::Error
// (SURGEON_ERR_IO, naming the call and the peer) rather than an abort inside MPI. Messages
// of any length are sent in pieces of at most 1 GiB (MPI counts are int).
//
// Built only with SURGEON_MPI; the library itself never depends on MPI.
#pragma once

#include <string>
#include <vector>

#include "compress/reducer.hpp"

namespace surgeon::dist {

// Whether this process was started by an MPI launcher (mpirun / mpiexec of Open MPI or
// MPICH, a PMIx launcher).
bool launched_by_mpi();

// Initializes MPI on construction and finalizes it on destruction (one per process).
class MpiReducer final : public model::Reducer {
public:
    MpiReducer();
    ~MpiReducer() override;
    MpiReducer(const MpiReducer&) = delete;
    MpiReducer& operator=(const MpiReducer&) = delete;

    int rank() const override { return rank_; }
    int size() const override { return size_; }
    std::vector<std::vector<char>> gather(int root, const std::vector<char>& part) override;
    void broadcast(int root, std::vector<char>& bytes) override;
    // Ends every rank of the job (MPI_Abort) with `code`.
    [[noreturn]] void abort(int code);

private:
    int rank_ = 0, size_ = 1;
    void* comm_ = nullptr;  // MPI_Comm, kept opaque so that this header needs no mpi.h
};

}  // namespace surgeon::dist
