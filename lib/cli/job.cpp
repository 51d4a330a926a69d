#include "cli/job.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "core/error.hpp"
#ifdef SURGEON_HAVE_MPI
#include "dist/mpi_reducer.hpp"
#endif

namespace surgeon::cli {
namespace {

model::Reducer* g_job = nullptr;

// The size of the MPI job this process belongs to, from the launcher's environment.
int launcher_ranks() {
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
        if (const char* v = std::getenv(name)) return std::atoi(v);
    return 1;
}

}  // namespace

model::Reducer* current_job() { return g_job; }

int run_as_job(const std::string& name, const std::vector<std::string>& argv, const CommandFn& command) {
#ifdef SURGEON_HAVE_MPI
    if (dist::launched_by_mpi()) {
        dist::MpiReducer job;
        g_job = &job;
        try {
            const int rc = command(argv);
            g_job = nullptr;
            return rc;
        } catch (const model::JobError& e) {
            g_job = nullptr;
            if (job.rank() == 0) std::fprintf(stderr, "surgeon %s: error: %s\n", name.c_str(), e.what());
            return 1;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "surgeon %s: rank %d of %d: error: %s (ending the job)\n", name.c_str(), job.rank(),
                         job.size(), e.what());
            std::fflush(stderr);
            job.abort(1);
        }
    }
#endif
    if (launcher_ranks() > 1)
        fail(SURGEON_ERR_UNSUPPORTED, "'surgeon " + name + "' started as one of " +
                                          std::to_string(launcher_ranks()) +
                                          " MPI ranks, but this surgeon was built without MPI "
                                          "(configure with -DSURGEON_MPI=ON)");
    return command(argv);
}

}  // namespace surgeon::cli
