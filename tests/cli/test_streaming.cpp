// `surgeon compress` streaming from a checkpoint: sharded output, interrupted runs that
// leave no finished-looking model, and a run killed with SIGKILL at a random block that
// --resume completes with the same bytes as an uninterrupted run.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "cli_harness.hpp"
#include "io/random_checkpoint.hpp"

namespace {

using surgeon::testing::CliRun;
using surgeon::testing::read_text;
using surgeon::testing::run_cli;
using surgeon::testing::ScratchDir;
namespace fs = std::filesystem;

// A random 8-block Llama checkpoint (bf16, shards of at most 1 MB) and 16 windows of 128
// random token ids: each block takes a noticeable fraction of a second to compress.
struct Source {
    std::string model, tokens;
};

Source make_source(const ScratchDir& dir) {
    surgeon::model::ModelConfig c;
    c.dim = 256;
    c.hidden_dim = 704;
    c.n_layers = 8;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.vocab_size = 512;
    c.seq_len = 128;
    c.shared_classifier = false;
    Source s{dir / "src", dir / "tokens.bin"};
    surgeon::model::write_random_checkpoint(s.model, c, surgeon::model::Dtype::BF16, 7, 1'000'000);
    std::mt19937 rng(3);
    std::vector<int32_t> ids(16 * 128);
    for (int32_t& id : ids) id = static_cast<int32_t>(rng() % 512);
    std::ofstream(s.tokens, std::ios::binary)
        .write(reinterpret_cast<const char*>(ids.data()), static_cast<std::streamsize>(ids.size() * 4));
    return s;
}

std::vector<std::string> compress_args(const Source& s, const std::string& out) {
    return {"compress", "--model", s.model, "--calib-tokens", s.tokens, "--method", "gptq", "--bits", "4",
            "--group", "64", "--out", out, "--max-shard-size", "1MB", "--threads", "2", "--quiet"};
}

// Every file under `dir` (relative name → bytes).
std::map<std::string, std::string> files_of(const std::string& dir) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = read_text(e.path());
    return out;
}

// Blocks an interrupted run into `out` has finished (its state is in "<out>.partial").
int blocks_done(const std::string& out) {
    const fs::path state = fs::path(out + ".partial") / ".surgeon-run" / "state.json";
    std::ifstream in(state);
    if (!in) return -1;
    try {
        return nlohmann::json::parse(in).at("blocks_done").get<int>();
    } catch (...) {
        return -1;  // being renamed into place
    }
}

TEST(StreamingCli, ShardedOutputWithIndexAndReport) {
    ScratchDir dir;
    const Source s = make_source(dir);
    const CliRun r = run_cli(dir, compress_args(s, dir / "out"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto summary = nlohmann::json::parse(r.out);
    const auto files = files_of(dir / "out");
    ASSERT_TRUE(files.count("model.safetensors.index.json")) << r.out;
    const auto index = nlohmann::json::parse(files.at("model.safetensors.index.json"));
    int shards = 0;
    for (const auto& [name, bytes] : files)
        if (name.rfind("model-", 0) == 0) {
            ++shards;
            EXPECT_LE(bytes.size(), 1'000'000u) << name;
        }
    EXPECT_GT(shards, 4);
    EXPECT_EQ(index["weight_map"].size(), 1u + 8 * 9 + 2);  // embedding, 9 per block, norm, lm_head
    for (const auto& [name, bytes] : files) EXPECT_EQ(name.find(".partial"), std::string::npos) << name;
    EXPECT_FALSE(fs::exists(dir / "out/.surgeon-run"));
    ASSERT_EQ(summary["blocks"].size(), 8u);
    for (const auto& b : summary["blocks"]) {
        EXPECT_GT(b["seconds"].get<double>(), 0.0);
        EXPECT_GT(b["peak_rss_bytes"].get<double>(), 0.0);
    }
    // The output evaluates like any model (streamed from its shards).
    const CliRun e = run_cli(dir, {"eval", "--model", dir / "out", "--tokens", s.tokens});
    ASSERT_EQ(e.exit_code, 0) << e.err;
    EXPECT_GT(nlohmann::json::parse(e.out)["ppl"].get<double>(), 1.0);
    // A second run into the finished output is refused before any work.
    const CliRun again = run_cli(dir, compress_args(s, dir / "out"));
    EXPECT_NE(again.exit_code, 0);
    EXPECT_NE(again.err.find("out"), std::string::npos) << again.err;
}

TEST(StreamingCli, KilledRunResumesToIdenticalBytes) {
    ScratchDir dir;
    const Source s = make_source(dir);
    const CliRun ref = run_cli(dir, compress_args(s, dir / "ref"));
    ASSERT_EQ(ref.exit_code, 0) << ref.err;

    std::mt19937 rng(static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()));
    const int kill_after = 1 + static_cast<int>(rng() % 6);  // blocks done when killed: 1..6
    const std::string out = dir / "run";
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        std::vector<std::string> args = compress_args(s, out);
        std::vector<char*> argv{const_cast<char*>(SURGEON_CLI_BINARY)};
        for (std::string& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        freopen("/dev/null", "w", stdout);
        execv(SURGEON_CLI_BINARY, argv.data());
        _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
    while (blocks_done(out) < kill_after && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before it was killed";
    const int done = blocks_done(out);
    ASSERT_GE(done, kill_after);
    ASSERT_LT(done, 8);

    // Nothing under the final name; inside the temporary directory, nothing a loader would
    // take for a finished model.
    EXPECT_FALSE(fs::exists(out));
    EXPECT_FALSE(fs::exists(out + ".partial/config.json"));
    EXPECT_FALSE(fs::exists(out + ".partial/model.safetensors.index.json"));
    for (const auto& [name, bytes] : files_of(out + ".partial"))
        EXPECT_TRUE(name.find(".partial") != std::string::npos || name.rfind(".surgeon-run", 0) == 0) << name;
    EXPECT_NE(run_cli(dir, {"eval", "--model", out, "--tokens", s.tokens}).exit_code, 0);
    // Without --resume the interrupted run is not overwritten.
    const CliRun fresh = run_cli(dir, compress_args(s, out));
    EXPECT_NE(fresh.exit_code, 0);
    EXPECT_NE(fresh.err.find("--resume"), std::string::npos) << fresh.err;
    // Another command line does not resume it.
    std::vector<std::string> other = compress_args(s, out);
    other[8] = "3";  // --bits 3
    other.push_back("--resume");
    const CliRun refused = run_cli(dir, other);
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_NE(refused.err.find("another command line"), std::string::npos) << refused.err;

    std::vector<std::string> resume = compress_args(s, out);
    resume.push_back("--resume");
    const CliRun resumed = run_cli(dir, resume);
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    EXPECT_EQ(nlohmann::json::parse(resumed.out)["resumed_at_block"].get<int>(), done);
    EXPECT_EQ(files_of(out), files_of(dir / "ref"));
    EXPECT_FALSE(fs::exists(out + ".partial"));
}

}  // namespace
