#include "compress/activations.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/error.hpp"

namespace surgeon::model {
namespace {

class MemoryStore final : public ActivationStore {
public:
    explicit MemoryStore(size_t count) : slots_(count) {}

    size_t size() const override { return slots_.size(); }
    Matrix take(size_t i) override { return std::exchange(slot(i), Matrix()); }
    Matrix read(size_t i) const override { return slots_.at(i); }
    void put(size_t i, Matrix m) override { slot(i) = std::move(m); }
    uint64_t resident_bytes() const override {
        uint64_t bytes = 0;
        for (const Matrix& m : slots_) bytes += sizeof(float) * m.data.size();
        return bytes;
    }

private:
    Matrix& slot(size_t i) {
        require(i < slots_.size(), SURGEON_ERR_INTERNAL,
                "activation slot " + std::to_string(i) + " of " + std::to_string(slots_.size()));
        return slots_[i];
    }
    std::vector<Matrix> slots_;
};

// One file; slot i lives at its own offset, given when it is first written (a slot put
// back with the same or a smaller size reuses its place, a larger one moves to the end).
class DiskStore final : public ActivationStore {
public:
    DiskStore(std::string path, size_t count) : path_(std::move(path)), slots_(count) {
        fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd_ < 0) fail(SURGEON_ERR_IO, "cannot create activation file '" + path_ + "': " + std::strerror(errno));
    }
    ~DiskStore() override {
        ::close(fd_);
        ::unlink(path_.c_str());
    }
    DiskStore(const DiskStore&) = delete;
    DiskStore& operator=(const DiskStore&) = delete;

    size_t size() const override { return slots_.size(); }

    Matrix take(size_t i) override {
        Matrix m = read(i);
        slot(i).filled = false;
        return m;
    }

    Matrix read(size_t i) const override {
        const Slot& s = slot(i);
        Matrix m(s.filled ? s.rows : 0, s.filled ? s.cols : 0);
        transfer(false, reinterpret_cast<char*>(m.data.data()), bytes(m), s.offset);
        return m;
    }

    void put(size_t i, Matrix m) override {
        Slot& s = slot(i);
        const uint64_t need = bytes(m);
        if (need > s.capacity) {
            s.offset = end_;
            s.capacity = need;
            end_ += need;
        }
        s.filled = false;  // until the write completed
        transfer(true, reinterpret_cast<char*>(m.data.data()), need, s.offset);
        s.rows = m.rows;
        s.cols = m.cols;
        s.filled = true;
    }

    uint64_t resident_bytes() const override { return 0; }

private:
    struct Slot {
        uint64_t offset = 0, capacity = 0;
        int64_t rows = 0, cols = 0;
        bool filled = false;
    };

    static uint64_t bytes(const Matrix& m) { return sizeof(float) * static_cast<uint64_t>(m.data.size()); }

    const Slot& slot(size_t i) const {
        require(i < slots_.size(), SURGEON_ERR_INTERNAL,
                "activation slot " + std::to_string(i) + " of " + std::to_string(slots_.size()));
        return slots_[i];
    }
    Slot& slot(size_t i) { return const_cast<Slot&>(std::as_const(*this).slot(i)); }

    // pwrite/pread of n bytes at `offset`, resuming partial transfers; a write that makes
    // no progress (a full disk) or a read past the end is an error naming the file.
    void transfer(bool write, char* data, uint64_t n, uint64_t offset) const {
        uint64_t done = 0;
        while (done < n) {
            const ssize_t r = write ? ::pwrite(fd_, data + done, n - done, static_cast<off_t>(offset + done))
                                    : ::pread(fd_, data + done, n - done, static_cast<off_t>(offset + done));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                const std::string why = r < 0 ? std::strerror(errno) : (write ? "no space written" : "end of file");
                fail(SURGEON_ERR_IO, std::string(write ? "cannot write " : "cannot read ") + std::to_string(n) +
                                         " bytes at offset " + std::to_string(offset) + " of activation file '" +
                                         path_ + "': " + why);
            }
            done += static_cast<uint64_t>(r);
        }
    }

    std::string path_;
    int fd_ = -1;
    std::vector<Slot> slots_;
    uint64_t end_ = 0;
};

}  // namespace

std::unique_ptr<ActivationStore> memory_store(size_t count) { return std::make_unique<MemoryStore>(count); }

std::unique_ptr<ActivationStore> disk_store(const std::string& dir, const std::string& name, size_t count) {
    return std::make_unique<DiskStore>(dir + "/" + name + ".f32", count);
}

std::unique_ptr<ActivationStore> ActivationStores::make(const std::string& name, size_t count) const {
    return offload_dir.empty() ? memory_store(count) : disk_store(offload_dir, name, count);
}

}  // namespace surgeon::model
