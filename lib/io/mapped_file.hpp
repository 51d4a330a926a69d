// A whole file mapped read-only into memory, for the checkpoint readers: tensors are
// converted straight out of the mapping, and the pages a read touched are handed back
// (release) so that reading a model part by part keeps the resident set near one part,
// whatever the file size. The page cache keeps the data, so a second read is still fast.
#pragma once

#include <cstdint>
#include <string>

namespace surgeon::model {

class MappedFile {
public:
    // Maps `path`. Throws SURGEON_ERR_IO naming the file when it cannot be opened, is not
    // a regular file, or cannot be mapped.
    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const std::string& path() const { return path_; }
    uint64_t size() const { return size_; }

    // The mapped bytes [offset, offset + length), after checking that the file still has
    // the size it had when it was mapped (a file truncated since would fault on access):
    // SURGEON_ERR_IO naming the file and `what` otherwise. The range must lie in the file.
    const unsigned char* bytes(uint64_t offset, uint64_t length, const std::string& what) const;

    // Drops this process's pages of [offset, offset + length), widened to the aligned 2 MiB
    // units around it (so pages the kernel mapped around a fault go too). The mapping is
    // read-only and file-backed, so a later access reads the data back from the page cache
    // or the disk; no content changes, and concurrent reads of nearby ranges stay correct.
    void release(uint64_t offset, uint64_t length) const;

    // "<path> (<size> bytes, modified <seconds>.<nanoseconds>)" as of the mapping.
    const std::string& stamp() const { return stamp_; }

private:
    std::string path_;
    int fd_ = -1;
    uint64_t size_ = 0;
    unsigned char* data_ = nullptr;
    std::string stamp_;
};

// The stamp of a file that is read whole rather than mapped (a JSON file), as MappedFile::stamp.
// Throws SURGEON_ERR_IO when the file cannot be examined.
std::string file_stamp(const std::string& path);

}  // namespace surgeon::model
