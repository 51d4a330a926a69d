// The `surgeon` binary under an address-space limit (RLIMIT_AS, `ulimit -v`) of 128 MB to
// 1 GB (its shared libraries, OpenBLAS, ICU's data and MPI among them, map about 90 MB
// before main runs, so a smaller limit fails in the dynamic loader): each run either
// succeeds or ends within seconds with a one-line out-of-memory error and a non-zero exit; it
// never spins in OpenBLAS's buffer allocator or hangs at exit (a watchdog kills a run after
// 120 s and fails the test).
#include <nlohmann/json.hpp>

#include "cli_harness.hpp"
#include "sanitized.hpp"

using namespace surgeon::testing;

namespace {

void run_under_limits(const std::vector<std::string>& args, const std::string& out) {
    // AddressSanitizer reserves terabytes of shadow address space at start-up, so a
    // sanitized binary cannot start under any RLIMIT_AS: the normal build runs this test.
    if (kSanitized) GTEST_SKIP() << "sanitizer builds cannot run under RLIMIT_AS (shadow memory)";
    int succeeded = 0, refused = 0;
    for (const long long mb : {128, 192, 256, 512, 1024}) {
        ScratchDir dir;
        ChildLimits limits;
        limits.address_space = mb << 20;
        std::vector<std::string> a = args;
        if (!out.empty()) a.insert(a.end(), {"--out", dir / out});
        const ChildRun r = run_cli_child(dir, a, limits);
        const std::string what = args[0] + " under " + std::to_string(mb) + " MB";
        ASSERT_FALSE(r.timed_out) << what << ": still running after 120 s";
        if (r.exit_code == 0) {
            ++succeeded;
            EXPECT_NO_THROW(nlohmann::json::parse(r.out)) << what;
            continue;
        }
        ++refused;
        EXPECT_EQ(r.exit_code, 1) << what << ": " << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << what << ": " << r.err;
        EXPECT_NE(r.err.find("out of memory"), std::string::npos) << what << ": " << r.err;
        EXPECT_LT(r.seconds, 30.0) << what;
        if (!out.empty()) EXPECT_FALSE(fs::exists(dir / out)) << what;
    }
    // 128 MB cannot hold the BLAS work buffer; 1 GB holds a run on the bundled model.
    EXPECT_GE(refused, 1);
    EXPECT_GE(succeeded, 1);
}

}  // namespace

TEST(MemoryLimitsCli, EvalSucceedsOrReportsOutOfMemory) {
    run_under_limits({"eval", "--range", "0:20"}, "");
}

TEST(MemoryLimitsCli, CompressSucceedsOrReportsOutOfMemory) {
    run_under_limits({"compress", "--method", "gptq", "--bits", "4", "--quiet"}, "m");
}
