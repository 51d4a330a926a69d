#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <system_error>

#include "cli/command.hpp"
#include "core/error.hpp"
#include "surgeon/surgeon.h"

namespace surgeon::cli {
std::map<std::string, CommandInfo>& commands() {
    static std::map<std::string, CommandInfo> table;
    return table;
}
}  // namespace surgeon::cli

namespace {
void usage() {
    std::fprintf(stderr, "surgeon %s — one-shot pruning and quantization of LLM layers\n\nusage: surgeon <command> [options]\n\ncommands:\n", surgeon_version());
    for (const auto& [name, info] : surgeon::cli::commands())
        std::fprintf(stderr, "  %-12s %s\n", name.c_str(), info.summary.c_str());
}
// The library's private OpenBLAS starts its server threads (one per further core) when the
// program loads, and each maps a 128 MiB work buffer at once; under an address-space limit
// a mapping that fails is retried forever (OpenBLAS 0.3.21's blas_memory_alloc), and
// exit() then waits for those threads. The library runs OpenBLAS single-threaded and
// never uses them, so under a finite RLIMIT_AS the program runs itself again with
// OPENBLAS_NUM_THREADS=1, which starts none. Where that fails, it carries on as it is.
void run_without_blas_threads_under_a_memory_limit(char** argv) {
    rlimit limit{};
    if (getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return;
    const char* set = std::getenv("OPENBLAS_NUM_THREADS");
    if (set && std::strcmp(set, "1") == 0) return;
    if (setenv("OPENBLAS_NUM_THREADS", "1", 1) != 0) return;
    execv("/proc/self/exe", argv);
}

// An error line, then the exit status. Out-of-memory errors end the process at once
// (_exit: no destructors of static objects, nothing left to wait for).
int report(const char* command, const char* message, bool out_of_memory) {
    std::fprintf(stderr, "surgeon %s: error: %s\n", command, message);
    if (out_of_memory) {
        std::fflush(nullptr);
        _exit(1);
    }
    return 1;
}

bool is_out_of_memory(const std::system_error& e) {
    return e.code() == std::errc::not_enough_memory || e.code() == std::errc::resource_unavailable_try_again;
}

}  // namespace

int main(int argc, char** argv) {
    run_without_blas_threads_under_a_memory_limit(argv);
    // A file-size limit (RLIMIT_FSIZE) makes a write fail with EFBIG, which the writers
    // report and clean up after, instead of killing the process with SIGXFSZ.
    std::signal(SIGXFSZ, SIG_IGN);
    if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
        usage();
        return argc < 2 ? 2 : 0;
    }
    if (std::string(argv[1]) == "--version") {
        std::printf("surgeon %s\n", surgeon_version());
        return 0;
    }
    auto& table = surgeon::cli::commands();
    auto it = table.find(argv[1]);
    if (it == table.end()) {
        std::fprintf(stderr, "surgeon: unknown command '%s'\n", argv[1]);
        usage();
        return 2;
    }
    try {
        return it->second.run(std::vector<std::string>(argv + 2, argv + argc));
    } catch (const surgeon::Error& e) {
        return report(argv[1], e.what(), e.status() == SURGEON_ERR_OUT_OF_MEMORY);
    } catch (const std::bad_alloc&) {
        return report(argv[1], "out of memory (an allocation failed; see ulimit -v)", true);
    } catch (const std::system_error& e) {
        if (is_out_of_memory(e)) {
            const std::string text = std::string("out of memory: ") + e.what();
            return report(argv[1], text.c_str(), true);
        }
        return report(argv[1], e.what(), false);
    } catch (const std::exception& e) {
        return report(argv[1], e.what(), false);
    }
}
