#include "support.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace surgeon::fuzz {
namespace {

struct WorkDir {
    std::string path;
    WorkDir() {
        // Memory-backed /dev/shm when TMPDIR is unset: writing each input to a disk
        // directory makes the targets about 20x slower.
        const char* tmp = std::getenv("TMPDIR");
        std::string base = tmp && *tmp ? tmp : "/tmp";
        if (!(tmp && *tmp) && access("/dev/shm", W_OK | X_OK) == 0) base = "/dev/shm";
        std::string pattern = base + "/surgeon-fuzz-XXXXXX";
        if (!mkdtemp(pattern.data())) {
            std::perror("surgeon fuzz: mkdtemp");
            std::abort();
        }
        path = pattern;
    }
    ~WorkDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

}  // namespace

const std::string& work_dir() {
    static WorkDir dir;
    return dir.path;
}

std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
    const std::string path = work_dir() + "/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.close();
    if (!out) {
        std::fprintf(stderr, "surgeon fuzz: cannot write %s\n", path.c_str());
        std::abort();
    }
    return path;
}

model::ModelConfig tiny_config() {
    model::ModelConfig c;
    c.dim = 8;
    c.hidden_dim = 12;
    c.n_layers = 2;
    c.n_heads = 2;
    c.n_kv_heads = 1;
    c.vocab_size = 24;
    c.seq_len = 16;
    c.shared_classifier = false;
    return c;
}

void require_invariant(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "surgeon fuzz: an accepted input breaks an invariant: %s\n", what);
    std::abort();
}

void report_rejection(const char* message) {
    static const bool verbose = std::getenv("SURGEON_FUZZ_VERBOSE") != nullptr;
    if (verbose) std::fprintf(stderr, "surgeon fuzz: rejected: %s\n", message);
}

void unexpected_exception(const char* type, const char* what) {
    std::fprintf(stderr, "surgeon fuzz: an exception other than surgeon::Error escaped: %s: %s\n", type, what);
    std::abort();
}

}  // namespace surgeon::fuzz
