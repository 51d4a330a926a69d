// A command run as one rank of an MPI job (`mpirun -np N surgeon compress ...`): in a
// SURGEON_MPI build started by an MPI launcher, MPI is initialized around the command and
// the command reads its ranks from current_job(); elsewhere the command runs as one
// process (and a build without MPI refuses a launch of several ranks).
#pragma once

#include <string>
#include <vector>

#include "cli/command.hpp"
#include "compress/reducer.hpp"

namespace surgeon::cli {

// The ranks of the running command (null: one process).
model::Reducer* current_job();

// Runs `command` (named `name` in messages) as a job. An error every rank agreed on
// (model::JobError) is printed once, by rank 0, and every rank returns 1; any other error
// is printed with its rank and ends the whole job (MPI_Abort), so no rank waits forever.
int run_as_job(const std::string& name, const std::vector<std::string>& argv, const CommandFn& command);

}  // namespace surgeon::cli
