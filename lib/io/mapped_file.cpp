#include "io/mapped_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.hpp"

namespace surgeon::model {
namespace {

std::string stamp_of(const std::string& path, const struct stat& st) {
    char mtime[48];
    std::snprintf(mtime, sizeof mtime, "%lld.%09ld", static_cast<long long>(st.st_mtim.tv_sec),
                  static_cast<long>(st.st_mtim.tv_nsec));
    return path + " (" + std::to_string(static_cast<long long>(st.st_size)) + " bytes, modified " + mtime + ")";
}

// A page fault on a file mapping also maps the cached pages around it ("fault-around",
// 64 KiB by default, aligned), including pages of ranges read and released earlier. A
// release therefore covers the aligned windows around its range: whole 2 MiB units, a
// multiple of every fault-around setting and of the huge page size. Dropping a neighbour's
// pages is harmless: they are clean and fault back in from the page cache when read.
constexpr uint64_t kReleaseUnit = uint64_t{2} << 20;

}  // namespace

MappedFile::MappedFile(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) fail(SURGEON_ERR_IO, "cannot open '" + path + "': " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
        const int err = errno;
        ::close(fd_);
        fail(SURGEON_ERR_IO, "cannot examine '" + path + "': " + std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd_);
        fail(SURGEON_ERR_IO, "'" + path + "' is " + (S_ISDIR(st.st_mode) ? "a directory" : "not a regular file"));
    }
    size_ = static_cast<uint64_t>(st.st_size);
    stamp_ = stamp_of(path, st);
    if (size_ == 0) return;  // nothing to map; every read range is then empty
    void* p = ::mmap(nullptr, static_cast<size_t>(size_), PROT_READ, MAP_PRIVATE, fd_, 0);
    if (p == MAP_FAILED) {
        const int err = errno;
        ::close(fd_);
        fail(SURGEON_ERR_IO, "cannot map '" + path + "': " + std::strerror(err));
    }
    data_ = static_cast<unsigned char*>(p);
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(data_, static_cast<size_t>(size_));
    if (fd_ >= 0) ::close(fd_);
}

const unsigned char* MappedFile::bytes(uint64_t offset, uint64_t length, const std::string& what) const {
    require(offset <= size_ && length <= size_ - offset, SURGEON_ERR_INTERNAL,
            path_ + ": read of " + what + " past the end of the file");
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || static_cast<uint64_t>(st.st_size) != size_)
        fail(SURGEON_ERR_IO, "'" + path_ + "' changed size since it was opened; cannot read " + what);
    return data_ + offset;
}

void MappedFile::release(uint64_t offset, uint64_t length) const {
    if (!data_ || length == 0) return;
    const uint64_t begin = offset / kReleaseUnit * kReleaseUnit;
    const uint64_t end = std::min(size_, (offset + length + kReleaseUnit - 1) / kReleaseUnit * kReleaseUnit);
    if (end > begin) ::madvise(data_ + begin, static_cast<size_t>(end - begin), MADV_DONTNEED);
}

std::string file_stamp(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        fail(SURGEON_ERR_IO, "cannot examine '" + path + "': " + std::strerror(errno));
    return stamp_of(path, st);
}

}  // namespace surgeon::model
