#include "dist/mpi_reducer.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <thread>

#include "core/error.hpp"

namespace surgeon::dist {
namespace {

constexpr int64_t kPieceBytes = int64_t{1} << 30;
constexpr int kTag = 16;

MPI_Comm& as_comm(void*& p) { return *static_cast<MPI_Comm*>(p); }

void check(int rc, const std::string& what);

// Completes a request without spinning: MPI's own waits poll at full speed, which takes a
// core from the rank that computes (an owner solving) when ranks share a machine. Polls
// with a sleep growing to 1 ms instead.
void wait_idle(MPI_Request& request, const std::string& what) {
    auto pause = std::chrono::microseconds(20);
    for (;;) {
        int done = 0;
        check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what);
        if (done) return;
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::microseconds(1000));
    }
}

void check(int rc, const std::string& what) {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING] = {};
    int length = 0;
    MPI_Error_string(rc, text, &length);
    fail(SURGEON_ERR_IO, "MPI: " + what + " failed: " + std::string(text, static_cast<size_t>(length)));
}

}  // namespace

bool launched_by_mpi() {
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
        if (std::getenv(name)) return true;
    return false;
}

MpiReducer::MpiReducer() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    require(!initialized, SURGEON_ERR_INTERNAL, "MPI is already initialized");
    if (MPI_Init(nullptr, nullptr) != MPI_SUCCESS) fail(SURGEON_ERR_IO, "MPI: MPI_Init failed");
    comm_ = new MPI_Comm(MPI_COMM_NULL);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    check(MPI_Comm_dup(MPI_COMM_WORLD, &as_comm(comm_)), "MPI_Comm_dup");
    check(MPI_Comm_set_errhandler(as_comm(comm_), MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check(MPI_Comm_rank(as_comm(comm_), &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(as_comm(comm_), &size_), "MPI_Comm_size");
}

MpiReducer::~MpiReducer() {
    if (as_comm(comm_) != MPI_COMM_NULL) MPI_Comm_free(&as_comm(comm_));
    delete static_cast<MPI_Comm*>(comm_);
    MPI_Finalize();
}

std::vector<std::vector<char>> MpiReducer::gather(int root, const std::vector<char>& part) {
    require(root >= 0 && root < size_, SURGEON_ERR_INTERNAL, "gather to rank " + std::to_string(root));
    MPI_Comm comm = as_comm(comm_);
    if (rank_ != root) {
        const auto n = static_cast<int64_t>(part.size());
        const std::string to = " to rank " + std::to_string(root);
        MPI_Request request;
        check(MPI_Isend(&n, 1, MPI_INT64_T, root, kTag, comm, &request), "MPI_Isend" + to);
        wait_idle(request, "MPI_Isend" + to);
        for (int64_t at = 0; at < n; at += kPieceBytes) {
            check(MPI_Isend(part.data() + at, static_cast<int>(std::min(kPieceBytes, n - at)), MPI_BYTE, root, kTag,
                            comm, &request),
                  "MPI_Isend" + to);
            wait_idle(request, "MPI_Isend" + to);
        }
        return {};
    }
    std::vector<std::vector<char>> all(static_cast<size_t>(size_));
    for (int r = 0; r < size_; ++r) {
        if (r == root) {
            all[static_cast<size_t>(r)] = part;
            continue;
        }
        const std::string from = " from rank " + std::to_string(r);
        int64_t n = 0;
        MPI_Request request;
        check(MPI_Irecv(&n, 1, MPI_INT64_T, r, kTag, comm, &request), "MPI_Irecv" + from);
        wait_idle(request, "MPI_Irecv" + from);
        require(n >= 0, SURGEON_ERR_IO, "MPI: a message of " + std::to_string(n) + " bytes" + from);
        std::vector<char>& p = all[static_cast<size_t>(r)];
        p.resize(static_cast<size_t>(n));
        for (int64_t at = 0; at < n; at += kPieceBytes) {
            check(MPI_Irecv(p.data() + at, static_cast<int>(std::min(kPieceBytes, n - at)), MPI_BYTE, r, kTag, comm,
                            &request),
                  "MPI_Irecv" + from);
            wait_idle(request, "MPI_Irecv" + from);
        }
    }
    return all;
}

void MpiReducer::broadcast(int root, std::vector<char>& bytes) {
    require(root >= 0 && root < size_, SURGEON_ERR_INTERNAL, "broadcast from rank " + std::to_string(root));
    MPI_Comm comm = as_comm(comm_);
    const std::string what = "MPI_Ibcast from rank " + std::to_string(root);
    auto n = static_cast<int64_t>(bytes.size());
    MPI_Request request;
    check(MPI_Ibcast(&n, 1, MPI_INT64_T, root, comm, &request), what);
    wait_idle(request, what);
    if (rank_ != root) bytes.resize(static_cast<size_t>(n));
    for (int64_t at = 0; at < n; at += kPieceBytes) {
        check(MPI_Ibcast(bytes.data() + at, static_cast<int>(std::min(kPieceBytes, n - at)), MPI_BYTE, root, comm,
                         &request),
              what);
        wait_idle(request, what);
    }
}

void MpiReducer::abort(int code) {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
}

}  // namespace surgeon::dist
