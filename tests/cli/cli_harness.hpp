// Runs the built `surgeon` binary (SURGEON_CLI_BINARY) in a scratch folder and reads what
// it wrote. The .npy reader here is deliberately independent of lib/core/npy.cpp so the
// integer outputs (codes, masks, indices) are checked byte for byte.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace surgeon::testing {

namespace fs = std::filesystem;

struct CliRun {
    int exit_code = -1;
    std::string out, err;
};

inline std::string read_text(const fs::path& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

// A fresh folder under the system temp dir, removed with the test.
class ScratchDir {
public:
    ScratchDir() {
        std::string pattern = (fs::temp_directory_path() / "surgeon-cli-XXXXXX").string();
        if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~ScratchDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    std::string operator/(const std::string& name) const { return (path_ / name).string(); }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

inline CliRun run_cli(const ScratchDir& dir, const std::vector<std::string>& args) {
    std::string cmd = shell_quote(SURGEON_CLI_BINARY);
    for (const std::string& a : args) cmd += " " + shell_quote(a);
    const std::string out = dir / "stdout.txt", err = dir / "stderr.txt";
    cmd += " >" + shell_quote(out) + " 2>" + shell_quote(err);
    const int status = std::system(cmd.c_str());
    CliRun r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = read_text(out);
    r.err = read_text(err);
    return r;
}

// How run_cli_child runs the binary: resource limits set in the child before exec, and
// when to kill it.
struct ChildLimits {
    long long address_space = -1;  // RLIMIT_AS in bytes (`ulimit -v`); -1: unchanged
    long long file_size = -1;      // RLIMIT_FSIZE in bytes; -1: unchanged
    bool unprivileged = false;     // as root, run as nobody (65534) so file modes apply
    double kill_after = -1;        // seconds after the start: SIGKILL (a crash mid-run)
    double watchdog = 120;         // seconds: SIGKILL and timed_out (a hang)
};

struct ChildRun : CliRun {
    bool killed = false;     // by kill_after
    bool timed_out = false;  // by the watchdog
    double seconds = 0;
};

// Runs the binary in a forked child (stdout and stderr to files in `dir`) under `limits`.
inline ChildRun run_cli_child(const ScratchDir& dir, const std::vector<std::string>& args,
                              const ChildLimits& limits) {
    const std::string out = dir / "stdout.txt", err = dir / "stderr.txt";
    std::vector<std::string> argv_text{SURGEON_CLI_BINARY};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_text) argv.push_back(a.data());
    argv.push_back(nullptr);
    const auto t0 = std::chrono::steady_clock::now();
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
        const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0) _exit(126);
        auto limit = [](int resource, long long bytes) {
            if (bytes < 0) return true;
            const rlimit r{static_cast<rlim_t>(bytes), static_cast<rlim_t>(bytes)};
            return setrlimit(resource, &r) == 0;
        };
        if (!limit(RLIMIT_AS, limits.address_space) || !limit(RLIMIT_FSIZE, limits.file_size)) _exit(126);
        if (limits.unprivileged && geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(126);
        execv(argv[0], argv.data());
        _exit(127);
    }
    ChildRun r;
    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (limits.kill_after >= 0 && elapsed() >= limits.kill_after && !r.killed) {
            kill(pid, SIGKILL);
            r.killed = true;
        } else if (elapsed() >= limits.watchdog && !r.timed_out) {
            kill(pid, SIGKILL);
            r.timed_out = true;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    r.seconds = elapsed();
    r.killed = r.killed && WIFSIGNALED(status);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = read_text(out);
    r.err = read_text(err);
    return r;
}

struct RawNpy {
    std::string descr;
    std::vector<int64_t> shape;
    std::string payload;

    int64_t count() const {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        return n;
    }
    template <typename T>
    std::vector<T> values() const {
        if (payload.size() != static_cast<size_t>(count()) * sizeof(T))
            throw std::runtime_error("payload is " + std::to_string(payload.size()) + " bytes");
        std::vector<T> v(static_cast<size_t>(count()));
        std::memcpy(v.data(), payload.data(), payload.size());
        return v;
    }
};

// Version 1.0 files as the library writes them.
inline RawNpy read_raw_npy(const std::string& path) {
    const std::string all = read_text(path);
    if (all.size() < 10 || all.compare(0, 6, "\x93NUMPY") != 0 || all[6] != 1)
        throw std::runtime_error(path + ": not a version 1.0 .npy file");
    const size_t hlen = static_cast<unsigned char>(all[8]) | (static_cast<unsigned char>(all[9]) << 8);
    const std::string header = all.substr(10, hlen);
    if ((10 + hlen) % 64 != 0 || header.back() != '\n')
        throw std::runtime_error(path + ": header is not padded to 64 bytes");
    RawNpy r;
    const size_t d = header.find("'descr': '") + 10;
    r.descr = header.substr(d, header.find('\'', d) - d);
    if (header.find("'fortran_order': False") == std::string::npos)
        throw std::runtime_error(path + ": not C order");
    const size_t s = header.find("'shape': (") + 10;
    std::string dims = header.substr(s, header.find(')', s) - s);
    for (size_t p = 0; p < dims.size();) {
        const size_t comma = dims.find(',', p);
        const std::string item = dims.substr(p, comma == std::string::npos ? std::string::npos : comma - p);
        if (item.find_first_not_of(' ') != std::string::npos) r.shape.push_back(std::stoll(item));
        if (comma == std::string::npos) break;
        p = comma + 1;
    }
    r.payload = all.substr(10 + hlen);
    return r;
}

}  // namespace surgeon::testing
