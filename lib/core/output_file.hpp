// How every output reaches its final name. A file is written under "<path>.partial" in the
// same directory, flushed to disk (fsync) and renamed, so a reader of `path` sees the old
// file or the whole new one, never a part. A command's outputs (files or directories) are
// assembled under "<output>.partial" names by StagedOutputs and renamed into place together
// once all of them are complete; an earlier failure removes everything staged, so a failed
// command leaves no output (and no temporary file) behind. A process killed mid-write can
// leave a ".partial" name, never a partial file under a final name.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace surgeon {

// The suffix of every temporary name an output is written under.
inline constexpr const char* kPartialSuffix = ".partial";

// The temporary name of `path` ("<path>.partial"; a trailing '/' is ignored).
std::string partial_name(const std::string& path);

// Makes the renames inside `dir` durable; a file system that cannot sync a directory is no
// error.
void sync_directory(const std::string& dir);

enum class OutputKind { file, directory };

// Whether `path` may become an output of the given kind, else SURGEON_ERR_IO naming it:
// an existing path is refused unless `overwrite` (an empty directory counts as absent for
// a directory output); a file cannot replace a directory nor a directory a file; even with
// `overwrite`, the root, the home directory, the working directory and its parents are
// never replaced.
void check_output_path(const std::string& path, OutputKind kind, bool overwrite);

// One file written under its temporary name. Destroyed without commit() (an exception, an
// early return), it closes and removes the temporary file: `path` is left as it was.
class AtomicFile {
public:
    explicit AtomicFile(std::string path);  // creates "<path>.partial" (SURGEON_ERR_IO)
    ~AtomicFile();
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    // Appends (buffered); a failed write (a full disk, a file size limit) is SURGEON_ERR_IO.
    void write(const void* data, size_t bytes);
    void write(const std::string& text) { write(text.data(), text.size()); }
    // Flushes, fsyncs, closes and renames onto `path` (replacing an old file), then syncs
    // the directory. Throws SURGEON_ERR_IO (the temporary file removed) on any failure.
    void commit();

    const std::string& path() const { return path_; }

private:
    void flush_buffer();
    void discard() noexcept;

    std::string path_, temp_;
    int fd_ = -1;
    std::string buffer_;
};

// `bytes` at `path` through an AtomicFile.
void write_file_atomically(const std::string& path, const void* data, size_t bytes);
inline void write_file_atomically(const std::string& path, const std::string& text) {
    write_file_atomically(path, text.data(), text.size());
}

// The outputs of one command. add() checks a final path (check_output_path) before any
// work and names where the output is to be written; commit() renames every staged output
// to its final name, in the order added (a replaced directory is swapped out atomically
// and then removed). Destroyed without a successful commit(), it removes every staged
// output not marked kept; a failed commit() also removes the outputs it already renamed.
class StagedOutputs {
public:
    explicit StagedOutputs(bool overwrite) : overwrite_(overwrite) {}
    ~StagedOutputs();
    StagedOutputs(const StagedOutputs&) = delete;
    StagedOutputs& operator=(const StagedOutputs&) = delete;

    // The temporary path the output `final_path` is to be written at. A stale temporary
    // path of an earlier run is removed, unless `reuse` (a resumed run continues there).
    std::string add(const std::string& final_path, OutputKind kind, bool reuse = false);
    // The temporary path add() returned for `final_path` (SURGEON_ERR_INVALID_ARGUMENT when
    // it was not added).
    std::string stage_of(const std::string& final_path) const;
    // A failure leaves this output's temporary path in place (a resumable run's state).
    void keep_on_failure(const std::string& final_path, bool keep);
    void commit();

private:
    struct Entry {
        std::string final_path, stage;
        OutputKind kind;
        bool keep = false;
    };
    bool overwrite_;
    bool committed_ = false;
    std::vector<Entry> entries_;
};

}  // namespace surgeon
