#include "core/output_file.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/error.hpp"

namespace surgeon {
namespace {

namespace fs = std::filesystem;

constexpr size_t kBufferBytes = size_t{1} << 20;

[[noreturn]] void os_fail(const std::string& what, const std::string& path, int err) {
    fail(SURGEON_ERR_IO, what + " '" + path + "': " + std::strerror(err));
}

// `path` without trailing separators ("out/" → "out"), so the temporary name is a sibling.
std::string without_trailing_slash(std::string path) {
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    return path;
}

std::string parent_dir(const std::string& path) {
    const std::string parent = fs::path(without_trailing_slash(path)).parent_path().string();
    return parent.empty() ? "." : parent;
}

bool is_empty_directory(const std::string& path) {
    std::error_code ec;
    return fs::is_directory(path, ec) && fs::is_empty(path, ec) && !ec;
}

// The root, $HOME, and the working directory with its parents: never replaced.
bool protected_directory(const std::string& path) {
    std::error_code ec;
    const fs::path target = fs::weakly_canonical(path, ec);
    if (ec || target == target.root_path()) return true;
    if (const char* home = std::getenv("HOME"); home && *home) {
        const fs::path h = fs::weakly_canonical(home, ec);
        if (!ec && h == target) return true;
    }
    const fs::path cwd = fs::current_path(ec);
    if (ec) return false;
    for (fs::path p = cwd; !p.empty(); p = p.parent_path()) {
        if (p == target) return true;
        if (p == p.root_path()) break;
    }
    return false;
}

void remove_tree(const std::string& path) noexcept {
    std::error_code ec;
    fs::remove_all(path, ec);
}

// `stage` onto `final_path`; an existing non-empty directory is swapped out atomically
// (renameat2 RENAME_EXCHANGE; where the file system cannot, it is renamed aside first)
// and removed afterwards.
void publish(const std::string& stage, const std::string& final_path, OutputKind kind) {
    if (kind == OutputKind::directory) {
        std::error_code ec;
        if (fs::is_directory(final_path, ec) && !is_empty_directory(final_path)) {
            if (::renameat2(AT_FDCWD, stage.c_str(), AT_FDCWD, final_path.c_str(), RENAME_EXCHANGE) == 0) {
                remove_tree(stage);  // the old directory, now under the temporary name
                return;
            }
            if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
                os_fail("cannot replace '" + final_path + "' by", stage, errno);
            const std::string aside = final_path + ".replaced";
            remove_tree(aside);
            if (std::rename(final_path.c_str(), aside.c_str()) != 0)
                os_fail("cannot move aside", final_path, errno);
            if (std::rename(stage.c_str(), final_path.c_str()) != 0) {
                const int err = errno;
                std::rename(aside.c_str(), final_path.c_str());
                os_fail("cannot rename '" + stage + "' to", final_path, err);
            }
            remove_tree(aside);
            return;
        }
    }
    if (std::rename(stage.c_str(), final_path.c_str()) != 0)
        os_fail("cannot rename '" + stage + "' to", final_path, errno);
}

}  // namespace

std::string partial_name(const std::string& path) { return without_trailing_slash(path) + kPartialSuffix; }

void sync_directory(const std::string& dir) {
    const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

void check_output_path(const std::string& path, OutputKind kind, bool overwrite) {
    require_arg(!path.empty(), "empty output path");
    std::error_code ec;
    const fs::file_status st = fs::symlink_status(path, ec);
    if (!fs::exists(st)) return;
    const bool dir = fs::is_directory(fs::status(path, ec));
    if (kind == OutputKind::file && dir) fail(SURGEON_ERR_IO, "output '" + path + "' is a directory");
    if (kind == OutputKind::directory && !dir)
        fail(SURGEON_ERR_IO, "output '" + path + "' exists and is not a directory");
    if (dir && is_empty_directory(path)) return;
    if (!overwrite)
        fail(SURGEON_ERR_IO, "output '" + path + "' exists; remove it, choose another path, or add --overwrite");
    if (dir && protected_directory(path))
        fail(SURGEON_ERR_IO, "output '" + path +
                                 "' is the root, home or working directory (or a parent of it): not replaced");
}

AtomicFile::AtomicFile(std::string path) : path_(without_trailing_slash(std::move(path))), temp_(partial_name(path_)) {
    require_arg(!path_.empty(), "empty output path");
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) os_fail("cannot create", temp_, errno);
}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::discard() noexcept {
    if (fd_ < 0) return;
    ::close(fd_);
    fd_ = -1;
    ::unlink(temp_.c_str());
}

void AtomicFile::flush_buffer() {
    const char* p = buffer_.data();
    size_t n = buffer_.size();
    while (n > 0) {
        const ssize_t w = ::write(fd_, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            const int err = w < 0 ? errno : EIO;
            discard();
            os_fail("cannot write", temp_, err);
        }
        p += w;
        n -= static_cast<size_t>(w);
    }
    buffer_.clear();
}

void AtomicFile::write(const void* data, size_t bytes) {
    require(fd_ >= 0, SURGEON_ERR_IO, "'" + path_ + "' is already closed");
    if (buffer_.size() + bytes > kBufferBytes) flush_buffer();
    if (bytes < kBufferBytes) {
        buffer_.append(static_cast<const char*>(data), bytes);
        return;
    }
    buffer_.assign(static_cast<const char*>(data), bytes);  // large: written at once, no copy kept
    flush_buffer();
    buffer_.shrink_to_fit();
}

void AtomicFile::commit() {
    require(fd_ >= 0, SURGEON_ERR_IO, "'" + path_ + "' is already closed");
    flush_buffer();
    if (::fsync(fd_) != 0) {
        const int err = errno;
        discard();
        os_fail("cannot flush", temp_, err);
    }
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) {
        const int err = errno;
        ::unlink(temp_.c_str());
        os_fail("cannot write", temp_, err);
    }
    if (std::rename(temp_.c_str(), path_.c_str()) != 0) {
        const int err = errno;
        ::unlink(temp_.c_str());
        os_fail("cannot rename '" + temp_ + "' to", path_, err);
    }
    sync_directory(parent_dir(path_));
}

void write_file_atomically(const std::string& path, const void* data, size_t bytes) {
    AtomicFile f(path);
    f.write(data, bytes);
    f.commit();
}

StagedOutputs::~StagedOutputs() {
    if (committed_) return;
    for (const Entry& e : entries_)
        if (!e.keep) remove_tree(e.stage);
}

std::string StagedOutputs::add(const std::string& final_path, OutputKind kind, bool reuse) {
    check_output_path(final_path, kind, overwrite_);
    const std::string name = without_trailing_slash(final_path);
    for (const Entry& e : entries_)
        require_arg(e.final_path != name, "'" + final_path + "' is named as two outputs");
    Entry e{name, partial_name(name), kind};
    if (!reuse) remove_tree(e.stage);
    entries_.push_back(e);
    return e.stage;
}

std::string StagedOutputs::stage_of(const std::string& final_path) const {
    for (const Entry& e : entries_)
        if (e.final_path == without_trailing_slash(final_path)) return e.stage;
    fail(SURGEON_ERR_INVALID_ARGUMENT, "'" + final_path + "' is not a staged output");
}

void StagedOutputs::keep_on_failure(const std::string& final_path, bool keep) {
    for (Entry& e : entries_)
        if (e.final_path == without_trailing_slash(final_path)) e.keep = keep;
}

void StagedOutputs::commit() {
    require(!committed_, SURGEON_ERR_IO, "the outputs were already committed");
    size_t done = 0;
    try {
        for (const Entry& e : entries_) {
            std::error_code ec;
            if (!fs::exists(fs::symlink_status(e.stage, ec)))
                fail(SURGEON_ERR_IO, "output '" + e.final_path + "' was not written");
            check_output_path(e.final_path, e.kind, overwrite_);
        }
        for (; done < entries_.size(); ++done) {
            const Entry& e = entries_[done];
            publish(e.stage, e.final_path, e.kind);
            sync_directory(parent_dir(e.final_path));
        }
    } catch (...) {
        for (size_t i = 0; i < done; ++i) remove_tree(entries_[i].final_path);
        for (size_t i = done; i < entries_.size(); ++i) remove_tree(entries_[i].stage);
        committed_ = true;
        throw;
    }
    committed_ = true;
}

}  // namespace surgeon
