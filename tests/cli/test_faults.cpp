// Faults while the `surgeon` binary writes its outputs: a file-size limit (RLIMIT_FSIZE), a
// read-only directory, SIGKILL at random moments, and a failure after an earlier output
// was complete. After each, no final name holds a partial file: every output is absent or
// byte-identical to a complete old or new output, and a clean failure leaves no temporary
// (".partial") name behind. Existing outputs are refused unless --overwrite.
#include <sys/stat.h>

#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "cli_harness.hpp"

using namespace surgeon::testing;

namespace {

const std::string kData = SURGEON_SAMPLES_DATA_DIR;
const std::string kModel = kData + "/stories260K.bin";
const std::string kLayerDir = std::string(SURGEON_FIXTURES_DIR) + "/stories260K_block2_wq";

using Files = std::map<std::string, std::string>;

// Every regular file under `path` (a directory, or one file named ""), relative name → bytes.
Files files_of(const std::string& path) {
    Files out;
    if (fs::is_regular_file(path)) {
        out[""] = read_text(path);
        return out;
    }
    for (const auto& e : fs::recursive_directory_iterator(path))
        if (e.is_regular_file()) out[fs::relative(e.path(), path).string()] = read_text(e.path());
    return out;
}

// Names under `dir` (recursively) containing ".partial".
std::vector<std::string> partial_names(const fs::path& dir) {
    std::vector<std::string> found;
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.path().filename().string().find(".partial") != std::string::npos) found.push_back(e.path().string());
    return found;
}

void expect_one_line_error(const CliRun& r, const std::string& mentions, const std::string& what) {
    EXPECT_NE(r.exit_code, 0) << what;
    EXPECT_EQ(r.out, "") << what;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << what << ": " << r.err;
    EXPECT_NE(r.err.find(mentions), std::string::npos) << what << ": " << r.err;
}

std::vector<std::string> layer(const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> a = {"layer", "--weight", kLayerDir + "/W.npy", "--hessian", kLayerDir + "/H.npy",
                                  "--out", out};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
}

const std::vector<std::string> kGptq = {"--method", "gptq", "--bits", "4"};
const std::vector<std::string> kRtn = {"--method", "rtn", "--bits", "3"};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& more) {
    a.insert(a.end(), more.begin(), more.end());
    return a;
}

}  // namespace

TEST(FaultsCli, ExistingOutputsAreRefusedUnlessOverwrite) {
    ScratchDir dir;
    std::ofstream(dir / "out.npy") << "old";
    expect_one_line_error(run_cli(dir, layer(dir / "out.npy", kGptq)), "--overwrite", "layer into an existing file");
    EXPECT_EQ(read_text(dir / "out.npy"), "old");
    const CliRun ok = run_cli(dir, layer(dir / "out.npy", with(kGptq, {"--overwrite"})));
    ASSERT_EQ(ok.exit_code, 0) << ok.err;
    EXPECT_EQ(read_raw_npy(dir / "out.npy").shape, read_raw_npy(kLayerDir + "/W.npy").shape);

    // Another output of the same command existing is enough to refuse before any work.
    std::ofstream(dir / "q.scales.npy") << "old";
    expect_one_line_error(run_cli(dir, layer(dir / "w.npy", with(kGptq, {"--codes-out", dir / "q"}))),
                          "q.scales.npy", "layer with an existing codes file");
    EXPECT_FALSE(fs::exists(dir / "w.npy"));
    EXPECT_EQ(read_text(dir / "q.scales.npy"), "old");

    // Directories: an empty one is taken, a non-empty one needs --overwrite and is then
    // replaced whole (a stray file of the old one does not survive).
    fs::create_directory(dir / "empty");
    ASSERT_EQ(run_cli(dir, {"convert", "--model", kModel, "--out", dir / "empty"}).exit_code, 0);
    EXPECT_TRUE(fs::exists(dir / "empty/config.json"));
    fs::create_directory(dir / "hf");
    std::ofstream(dir / "hf/stray.txt") << "old";
    expect_one_line_error(run_cli(dir, {"convert", "--model", kModel, "--out", dir / "hf"}), "--overwrite",
                          "convert into a non-empty directory");
    EXPECT_EQ(files_of(dir / "hf"), (Files{{"stray.txt", "old"}}));
    ASSERT_EQ(run_cli(dir, {"convert", "--model", kModel, "--out", dir / "hf", "--overwrite"}).exit_code, 0);
    EXPECT_FALSE(fs::exists(dir / "hf/stray.txt"));
    EXPECT_EQ(files_of(dir / "hf"), files_of(dir / "empty"));

    // compress and structured refuse before reading the model; --overwrite never replaces
    // the working directory or its parents.
    expect_one_line_error(run_cli(dir, {"compress", "--method", "magnitude", "--out", dir / "hf", "--quiet"}),
                          "--overwrite", "compress into an existing model");
    expect_one_line_error(run_cli(dir, {"structured", "--model", kModel, "--ratio", "0.2", "--out", dir / "s.bin",
                                        "--policy-out", dir / "out.npy"}),
                          "--overwrite", "structured with an existing policy path");
    EXPECT_FALSE(fs::exists(dir / "s.bin"));
    expect_one_line_error(run_cli(dir, {"convert", "--model", kModel, "--out", ".", "--overwrite"}),
                          "working directory", "convert --out . --overwrite");
    EXPECT_TRUE(partial_names(dir.path()).empty());
}

// RLIMIT_FSIZE below the output size: the write fails with EFBIG (the CLI ignores SIGXFSZ),
// the old output stays byte for byte, and no temporary file is left.
TEST(FaultsCli, FileSizeLimitLeavesOldOutputsWhole) {
    ScratchDir dir;
    ASSERT_EQ(run_cli(dir, layer(dir / "out.npy", with(kRtn, {"--codes-out", dir / "q"}))).exit_code, 0);
    ASSERT_EQ(run_cli(dir, {"convert", "--model", kModel, "--out", dir / "hf"}).exit_code, 0);
    ASSERT_EQ(run_cli(dir, {"convert", "--model", dir / "hf", "--out", dir / "m.bin"}).exit_code, 0);
    const Files before = files_of(dir.path());
    ChildLimits limits;
    limits.file_size = 8 << 10;  // the weight is 16 KB, the model 1 MB
    const ChildRun l = run_cli_child(dir, layer(dir / "out.npy", with(kGptq, {"--codes-out", dir / "q", "--overwrite"})),
                                     limits);
    expect_one_line_error(l, "File too large", "layer under RLIMIT_FSIZE");
    const ChildRun c = run_cli_child(dir, {"convert", "--model", kModel, "--out", dir / "hf", "--overwrite",
                                           "--dtype", "f16"},
                                     limits);
    expect_one_line_error(c, "File too large", "convert to HF under RLIMIT_FSIZE");
    const ChildRun b = run_cli_child(dir, {"convert", "--model", dir / "hf", "--out", dir / "m.bin", "--overwrite"},
                                     limits);
    expect_one_line_error(b, "File too large", "convert to llama2.c under RLIMIT_FSIZE");
    const ChildRun z = run_cli_child(dir, {"compress", "--method", "magnitude", "--out", dir / "new", "--quiet"},
                                     limits);
    expect_one_line_error(z, "File too large", "compress under RLIMIT_FSIZE");
    for (const std::string f : {"stdout.txt", "stderr.txt"}) {
        fs::remove(dir / f);
    }
    Files after = files_of(dir.path());
    Files expected = before;
    expected.erase("stdout.txt");
    expected.erase("stderr.txt");
    EXPECT_EQ(after, expected);
    EXPECT_TRUE(partial_names(dir.path()).empty());
    EXPECT_FALSE(fs::exists(dir / "new"));
}

// A directory the process may not write to (as root, the child runs as nobody).
TEST(FaultsCli, ReadOnlyDirectoryIsAnErrorThatChangesNothing) {
    ScratchDir dir;
    fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                    fs::perms::others_read | fs::perms::others_exec);
    fs::create_directory(dir / "ro");
    std::ofstream(dir / "ro/out.npy") << "old";
    // The child's stdout/stderr files must be writable by it.
    for (const std::string f : {"stdout.txt", "stderr.txt"}) {
        std::ofstream(dir / f).close();
        fs::permissions(dir / f, fs::perms::all);
    }
    fs::permissions(dir / "ro", fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                                    fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
    ChildLimits limits;
    limits.unprivileged = true;
    const ChildRun l = run_cli_child(dir, layer(dir / "ro/out.npy", with(kGptq, {"--overwrite"})), limits);
    expect_one_line_error(l, "Permission denied", "layer into a read-only directory");
    const ChildRun c = run_cli_child(dir, {"convert", "--model", kModel, "--out", dir / "ro/hf"}, limits);
    expect_one_line_error(c, "Permission denied", "convert into a read-only directory");
    EXPECT_EQ(files_of(dir / "ro"), (Files{{"out.npy", "old"}}));
    fs::permissions(dir / "ro", fs::perms::owner_all);
}

// SIGKILL at random moments while outputs replace older ones: every final name holds a
// complete old or new output (byte-identical to an uninterrupted run), never a mix or a
// part; the next run clears the temporary names a kill left.
TEST(FaultsCli, KilledWritesLeaveWholeOutputs) {
    ScratchDir dir;
    // References: the model in HF f32 and f16, and the layer outputs of two methods.
    ASSERT_EQ(run_cli(dir, {"convert", "--model", kModel, "--out", dir / "ref32"}).exit_code, 0);
    ASSERT_EQ(run_cli(dir, {"convert", "--model", kModel, "--out", dir / "ref16", "--dtype", "f16"}).exit_code, 0);
    const std::set<Files> models = {files_of(dir / "ref32"), files_of(dir / "ref16")};
    ASSERT_EQ(models.size(), 2u);
    const std::vector<std::string> layer_files = {"w.npy", "q.codes.npy", "q.scales.npy", "q.zeros.npy",
                                                  "q.g_idx.npy", "q.perm.npy"};
    std::map<std::string, std::set<std::string>> layer_refs;
    for (const auto& method : {kGptq, kRtn}) {
        ASSERT_EQ(run_cli(dir, layer(dir / "w.npy", with(method, {"--codes-out", dir / "q", "--overwrite"}))).exit_code,
                  0);
        for (const std::string& f : layer_files) layer_refs[f].insert(read_text(dir / f));
    }
    ASSERT_EQ(run_cli(dir, {"convert", "--model", dir / "ref32", "--out", dir / "hf", "--format", "hf"}).exit_code, 0);
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(run_cli(dir, {"convert", "--model", kModel, "--out", dir / "timed"}).exit_code, 0);
    const double convert_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    std::mt19937 rng(std::random_device{}());
    int killed = 0;
    for (int round = 0; round < 8; ++round) {
        ChildLimits limits;
        limits.kill_after = std::uniform_real_distribution<double>(0.0, 1.2 * convert_seconds)(rng);
        const std::string dtype = round % 2 ? "f16" : "f32";
        const ChildRun c = run_cli_child(
            dir, {"convert", "--model", kModel, "--out", dir / "hf", "--overwrite", "--dtype", dtype}, limits);
        killed += c.killed ? 1 : 0;
        ASSERT_TRUE(c.killed || c.exit_code == 0) << c.err;
        ASSERT_TRUE(fs::exists(dir / "hf")) << "round " << round;
        EXPECT_TRUE(models.count(files_of(dir / "hf"))) << "round " << round << ": a mixed or partial model";
        EXPECT_TRUE(partial_names(dir / "hf").empty()) << "round " << round;

        limits.kill_after = std::uniform_real_distribution<double>(0.0, 0.5)(rng);
        const ChildRun l = run_cli_child(
            dir, layer(dir / "w.npy", with(round % 2 ? kGptq : kRtn, {"--codes-out", dir / "q", "--overwrite"})),
            limits);
        killed += l.killed ? 1 : 0;
        ASSERT_TRUE(l.killed || l.exit_code == 0) << l.err;
        for (const std::string& f : layer_files)
            EXPECT_TRUE(layer_refs[f].count(read_text(dir / f))) << "round " << round << ": " << f << " is partial";
    }
    EXPECT_GT(killed, 0);
    // A finished run leaves no temporary name, including those of the killed runs before it.
    ASSERT_EQ(run_cli(dir, {"convert", "--model", kModel, "--out", dir / "hf", "--overwrite"}).exit_code, 0);
    ASSERT_EQ(run_cli(dir, layer(dir / "w.npy", with(kGptq, {"--codes-out", dir / "q", "--overwrite"}))).exit_code, 0);
    EXPECT_EQ(files_of(dir / "hf"), files_of(dir / "ref32"));
    EXPECT_TRUE(partial_names(dir.path()).empty());
}

// A failure after an earlier output was complete removes it: the command leaves nothing.
TEST(FaultsCli, LaterFailureRemovesEarlierOutputs) {
    ScratchDir dir;
    // The weight is written, then the codes cannot be (their folder does not exist).
    expect_one_line_error(run_cli(dir, layer(dir / "w.npy", with(kGptq, {"--codes-out", dir / "missing/q"}))),
                          "missing/q", "layer with an unwritable --codes-out");
    EXPECT_FALSE(fs::exists(dir / "w.npy"));
    // The model is complete, then the evaluation text is missing.
    const CliRun c = run_cli(dir, {"compress", "--method", "magnitude", "--out", dir / "m", "--quiet", "--eval",
                                   dir / "no-such.txt"});
    expect_one_line_error(c, "no-such.txt", "compress with a missing --eval text");
    EXPECT_FALSE(fs::exists(dir / "m"));
    const CliRun s = run_cli(dir, {"structured", "--model", kModel, "--ratio", "0.2", "--method", "l2", "--out",
                                   dir / "s.bin", "--eval", dir / "no-such.txt"});
    EXPECT_NE(s.exit_code, 0);
    EXPECT_FALSE(fs::exists(dir / "s.bin"));
    std::vector<std::string> left;
    for (const auto& e : fs::directory_iterator(dir.path()))
        if (e.path().filename() != "stdout.txt" && e.path().filename() != "stderr.txt") left.push_back(e.path());
    EXPECT_TRUE(left.empty()) << left.front();
}
