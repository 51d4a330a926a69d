// core/output_file: files reach their final name whole or not at all; staged outputs are
// renamed together or removed; existing outputs are refused unless overwritten; a
// file-size limit (RLIMIT_FSIZE, in a forked child) fails a write cleanly.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/npy.hpp"
#include "core/output_file.hpp"
#include "hf_util.hpp"

namespace surgeon {
namespace {

namespace fs = std::filesystem;

// A scratch folder with `dir / "name"` paths and a sorted listing.
class Scratch : public hfio_test::TempDir {
public:
    std::string operator/(const std::string& name) const { return file(name); }
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& e : fs::recursive_directory_iterator(path())) out.push_back(fs::relative(e.path(), path()).string());
        std::sort(out.begin(), out.end());
        return out;
    }
};

std::string read(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

surgeon_status status_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.status();
    }
    return SURGEON_OK;
}

TEST(OutputFile, CommitReplacesAndAnUncommittedFileLeavesNothing) {
    Scratch d;
    write_file_atomically(d / "a.txt", "old");
    {
        AtomicFile f(d / "a.txt");
        f.write("new, but never committed");
        EXPECT_TRUE(fs::exists(d / "a.txt.partial"));
        EXPECT_EQ(read(d / "a.txt"), "old");
    }
    EXPECT_EQ(d.names(), (std::vector<std::string>{"a.txt"}));
    // A write larger than the buffer goes out at once; the content is exact.
    std::string big(3 << 20, 'x');
    for (size_t i = 0; i < big.size(); i += 4097) big[i] = static_cast<char>('a' + i % 26);
    AtomicFile f(d / "a.txt");
    f.write("head");
    f.write(big);
    f.write("tail");
    f.commit();
    EXPECT_EQ(read(d / "a.txt"), "head" + big + "tail");
    EXPECT_EQ(d.names(), (std::vector<std::string>{"a.txt"}));
    // A missing folder is an IO error naming the temporary file.
    EXPECT_EQ(status_of([&] { write_file_atomically(d / "missing/b.txt", "x"); }), SURGEON_ERR_IO);
}

TEST(OutputFile, ExistingPathsAreRefusedUnlessOverwrite) {
    Scratch d;
    write_file_atomically(d / "f", "old");
    fs::create_directory(d / "empty");
    fs::create_directory(d / "full");
    write_file_atomically(d / "full/x", "old");
    EXPECT_EQ(status_of([&] { check_output_path(d / "new", OutputKind::file, false); }), SURGEON_OK);
    EXPECT_EQ(status_of([&] { check_output_path(d / "f", OutputKind::file, false); }), SURGEON_ERR_IO);
    EXPECT_EQ(status_of([&] { check_output_path(d / "f", OutputKind::file, true); }), SURGEON_OK);
    EXPECT_EQ(status_of([&] { check_output_path(d / "f", OutputKind::directory, true); }), SURGEON_ERR_IO);
    EXPECT_EQ(status_of([&] { check_output_path(d / "empty", OutputKind::directory, false); }), SURGEON_OK);
    EXPECT_EQ(status_of([&] { check_output_path(d / "empty", OutputKind::file, true); }), SURGEON_ERR_IO);
    EXPECT_EQ(status_of([&] { check_output_path(d / "full", OutputKind::directory, false); }), SURGEON_ERR_IO);
    EXPECT_EQ(status_of([&] { check_output_path(d / "full", OutputKind::directory, true); }), SURGEON_OK);
    for (const std::string& p : {std::string("/"), fs::current_path().string(), fs::current_path().parent_path().string()})
        EXPECT_EQ(status_of([&] { check_output_path(p, OutputKind::directory, true); }), SURGEON_ERR_IO) << p;
}

TEST(OutputFile, StagedOutputsAreRenamedTogetherOrRemoved) {
    Scratch d;
    fs::create_directory(d / "dir");
    write_file_atomically(d / "dir/old", "old");
    {
        // A failure before commit: nothing of this run remains, the old outputs are whole.
        StagedOutputs out(true);
        const std::string f = out.add(d / "file", OutputKind::file);
        const std::string dir = out.add(d / "dir/", OutputKind::directory);  // a trailing '/' is one name
        EXPECT_EQ(dir, d / "dir.partial");
        EXPECT_EQ(out.stage_of(d / "dir"), dir);
        write_file_atomically(f, "new");
        fs::create_directory(dir);
        write_file_atomically(dir + "/new", "new");
    }
    EXPECT_EQ(d.names(), (std::vector<std::string>{"dir", "dir/old"}));

    StagedOutputs out(true);
    write_file_atomically(out.add(d / "file", OutputKind::file), "new");
    const std::string dir = out.add(d / "dir", OutputKind::directory);
    fs::create_directory(dir);
    write_file_atomically(dir + "/new", "new");
    EXPECT_EQ(status_of([&] { out.add(d / "file", OutputKind::file); }), SURGEON_ERR_INVALID_ARGUMENT);
    out.commit();
    EXPECT_EQ(d.names(), (std::vector<std::string>{"dir", "dir/new", "file"}));
    EXPECT_EQ(read(d / "dir/new"), "new");

    // An output that was never written fails the commit, which removes the others.
    StagedOutputs missing(true);
    write_file_atomically(missing.add(d / "g", OutputKind::file), "g");
    missing.add(d / "h", OutputKind::file);
    EXPECT_EQ(status_of([&] { missing.commit(); }), SURGEON_ERR_IO);
    EXPECT_EQ(d.names(), (std::vector<std::string>{"dir", "dir/new", "file"}));

    // Kept on failure: a resumable output stays under its temporary name.
    {
        StagedOutputs kept(false);
        const std::string k = kept.add(d / "k", OutputKind::directory);
        fs::create_directory(k);
        kept.keep_on_failure(d / "k", true);
    }
    EXPECT_TRUE(fs::exists(d / "k.partial"));
    // A later run that does not reuse it clears the stale temporary path first.
    StagedOutputs again(false);
    EXPECT_FALSE(fs::exists(again.add(d / "k", OutputKind::directory)));
}

// RLIMIT_FSIZE in a forked child (SIGXFSZ ignored, as the CLI does): the write fails with
// SURGEON_ERR_IO, the old file is intact and no temporary file is left.
TEST(OutputFile, FileSizeLimitFailsCleanly) {
    Scratch d;
    const std::vector<float> old(16, 1.0f);
    write_npy(d / "w.npy", {4, 4}, old.data());
    const std::string before = read(d / "w.npy");
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        const rlimit limit{8192, 8192};
        if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(3);
        const std::vector<float> big(64 * 64, 2.0f);  // 16 KB
        const surgeon_status s = status_of([&] { write_npy(d / "w.npy", {64, 64}, big.data()); });
        _exit(s == SURGEON_ERR_IO ? 0 : 4);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_EQ(read(d / "w.npy"), before);
    EXPECT_EQ(d.names(), (std::vector<std::string>{"w.npy"}));
}

}  // namespace
}  // namespace surgeon
