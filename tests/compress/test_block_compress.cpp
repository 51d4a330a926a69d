// The staged block pass (each linear's GEMM once per sequence, the groups' inputs kept
// between steps) against the group-by-group protocol that recaptures every group's input
// with a whole block forward: the same arithmetic in the same order, so the compressed
// weights, the per-layer losses and errors and the block outputs agree bit for bit. Also
// the activation stores: memory and files (round trip, removal, errors naming the file).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <exception>
#include <filesystem>
#include <limits>
#include <random>
#include <thread>

#include "compress/activations.hpp"
#include "compress/block_compress.hpp"
#include "compress/pipeline.hpp"
#include "compress/reducer.hpp"
#include "core/barrier.hpp"
#include "group_protocol.hpp"
#include "hf_util.hpp"
#include "pipeline_fixture.hpp"

using namespace surgeon;
using namespace surgeon::model;
using namespace pipeline_test;
namespace fs = std::filesystem;

namespace {

Matrix random_matrix(int64_t rows, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist;
    Matrix m(rows, cols);
    for (float& v : m.data) v = dist(rng);
    return m;
}

// Bitwise equality (NaN-free data: == on every element).
void expect_identical(const Matrix& a, const Matrix& b, const std::string& what) {
    ASSERT_EQ(a.rows, b.rows) << what;
    ASSERT_EQ(a.cols, b.cols) << what;
    size_t differ = 0, first = 0;
    for (size_t i = 0; i < a.data.size(); ++i)
        if (a.data[i] != b.data[i] && differ++ == 0) first = i;
    EXPECT_EQ(differ, 0u) << what << ": first at " << first << ": " << a.data[first] << " vs " << b.data[first];
}

void expect_same_layers(const std::vector<CompressedLayer>& got, const std::vector<CompressedLayer>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
        const CompressedLayer& g = got[i];
        const CompressedLayer& w = want[i];
        EXPECT_EQ(g.name, w.name);
        EXPECT_EQ(g.rows, w.rows);
        EXPECT_EQ(g.cols, w.cols);
        EXPECT_EQ(g.sparsity, w.sparsity) << g.name;
        ASSERT_EQ(g.loss.has_value(), w.loss.has_value()) << g.name;
        if (g.loss) {
            EXPECT_EQ(*g.loss, *w.loss) << g.name;
        }
        ASSERT_EQ(g.rel_error.has_value(), w.rel_error.has_value()) << g.name;
        if (g.rel_error) {
            EXPECT_EQ(*g.rel_error, *w.rel_error) << g.name;
        }
        ASSERT_EQ(g.mixed.has_value(), w.mixed.has_value()) << g.name;
        if (g.mixed) {
            EXPECT_EQ(g.mixed->avg_bits(), w.mixed->avg_bits()) << g.name;
        }
        ASSERT_EQ(g.quant.has_value(), w.quant.has_value()) << g.name;
    }
}

void expect_same_model(const Model& got, const Model& want) {
    for (size_t b = 0; b < got.layers.size(); ++b)
        for (const char* name : kLinearNames)
            expect_identical(linear(got.layers[b], name), linear(want.layers[b], name),
                             "layers." + std::to_string(b) + "." + name);
}

// compress_model against the group-by-group protocol on stories260K.
void expect_as_by_groups(const char* json) {
    SCOPED_TRACE(json);
    const Recipe r = recipe(json);
    Model staged = original(), by_groups = original();
    const CompressionReport report = compress_model(staged, calibration(), r, two_threads());
    const std::vector<CompressedLayer> want =
        group_protocol::compress_model_by_groups(by_groups, calibration(), r, two_threads());
    expect_same_layers(report.layers, want);
    expect_same_model(staged, by_groups);
    // The comparison has teeth: the recipe changed the weights.
    EXPECT_NE(linear(staged.layers[1], "w2").data, linear(original().layers[1], "w2").data);
}

// A recipe reaching every step of the staged pass: some groups uncalibrated (RTN,
// magnitude, skipped), so the pass runs through them without a Hessian; mixed layers
// priced by the downstream proxy (w1/w3 read Σ h² of the SwiGLU output) and by the
// output Fisher.
constexpr const char* kMixedRecipe = R"({"default": {"method": "gptq", "group": 32,
    "mixed": {"allocator": "error", "avg_bits": 3, "sensitivity": "downstream"}},
    "rules": [{"match": "*.wo", "method": "rtn", "bits": 4, "mixed": null},
              {"match": "layers.2.w[13]", "mixed": {"sensitivity": "fisher"}},
              {"match": "layers.3.w[qkv]", "method": "magnitude", "sparsity": 0.5},
              {"match": "layers.4.w2", "skip": true}]})";

// The ranks of a data-parallel run as threads of one process: the collectives of
// compress/reducer.hpp over shared slots and a barrier.
class ThreadRanks {
public:
    explicit ThreadRanks(int n) : barrier_(n), slots_(static_cast<size_t>(n)) {}

    class Rank final : public Reducer {
    public:
        Rank(ThreadRanks& all, int rank) : all_(all), rank_(rank) {}
        int rank() const override { return rank_; }
        int size() const override { return static_cast<int>(all_.slots_.size()); }
        std::vector<std::vector<char>> gather(int root, const std::vector<char>& part) override {
            all_.slots_[static_cast<size_t>(rank_)] = part;
            all_.barrier_.arrive_and_wait();
            std::vector<std::vector<char>> out;
            if (rank_ == root) out = all_.slots_;
            all_.barrier_.arrive_and_wait();
            return out;
        }
        void broadcast(int root, std::vector<char>& bytes) override {
            if (rank_ == root) all_.slots_[static_cast<size_t>(root)] = bytes;
            all_.barrier_.arrive_and_wait();
            if (rank_ != root) bytes = all_.slots_[static_cast<size_t>(root)];
            all_.barrier_.arrive_and_wait();
        }

    private:
        ThreadRanks& all_;
        int rank_;
    };

    // Runs body(rank) on one thread per rank; rethrows the first rank's exception.
    template <typename Body>
    void run(Body body) {
        const int n = static_cast<int>(slots_.size());
        std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
        std::vector<std::thread> threads;
        for (int r = 0; r < n; ++r)
            threads.emplace_back([&, r] {
                Rank rank(*this, r);
                try {
                    body(rank);
                } catch (...) {
                    errors[static_cast<size_t>(r)] = std::current_exception();
                }
            });
        for (std::thread& t : threads) t.join();
        for (const std::exception_ptr& e : errors)
            if (e) std::rethrow_exception(e);
    }

private:
    Barrier barrier_;
    std::vector<std::vector<char>> slots_;
};

// Every block of stories260K by `ranks` ranks (threads), each holding its share of the
// calibration sequences: every rank ends with the one-process weights, report entries
// and block outputs, bit for bit.
void expect_as_one_process(const char* json, int ranks) {
    SCOPED_TRACE(std::string(json) + " on " + std::to_string(ranks) + " ranks");
    const Recipe r = recipe(json);
    const OutputFisher fisher = output_fisher(backend_for(*two_threads()), original(), calibration());
    const BlockExtras extras{&fisher, nullptr};
    const size_t n = calibration().size();
    Model single = original();
    std::unique_ptr<ActivationStore> all = memory_store(n);
    for (size_t i = 0; i < n; ++i) all->put(i, embed(original(), calibration()[i]));
    std::vector<CompressedLayer> want;
    for (size_t blk = 0; blk < single.layers.size(); ++blk)
        compress_block(static_cast<int64_t>(blk), single.config, single.layers[blk], *all, r, extras,
                       ActivationStores{}, two_threads(), want);

    std::vector<Model> models(static_cast<size_t>(ranks), original());
    std::vector<std::vector<CompressedLayer>> got(static_cast<size_t>(ranks));
    std::vector<std::unique_ptr<ActivationStore>> shares(static_cast<size_t>(ranks));
    ThreadRanks threads(ranks);
    threads.run([&](Reducer& rank) {
        const auto me = static_cast<size_t>(rank.rank());
        const auto [first, last] = share_of(static_cast<int64_t>(n), rank.rank(), ranks);
        shares[me] = memory_store(static_cast<size_t>(last - first));
        for (int64_t i = first; i < last; ++i)
            shares[me]->put(static_cast<size_t>(i - first), embed(original(), calibration()[static_cast<size_t>(i)]));
        Model& m = models[me];
        for (size_t blk = 0; blk < m.layers.size(); ++blk)
            compress_block(static_cast<int64_t>(blk), m.config, m.layers[blk], *shares[me], r, extras,
                           ActivationStores{}, two_threads(), got[me], nullptr,
                           DataShare{&rank, first, static_cast<int64_t>(n)});
    });
    for (int k = 0; k < ranks; ++k) {
        SCOPED_TRACE("rank " + std::to_string(k));
        expect_same_layers(got[static_cast<size_t>(k)], want);
        expect_same_model(models[static_cast<size_t>(k)], single);
        const auto [first, last] = share_of(static_cast<int64_t>(n), k, ranks);
        for (int64_t i = first; i < last; ++i)
            expect_identical(shares[static_cast<size_t>(k)]->read(static_cast<size_t>(i - first)),
                             all->read(static_cast<size_t>(i)), "state " + std::to_string(i));
    }
}

}  // namespace

TEST(BlockCompress, RanksAsOneProcess) {
    for (int ranks : {1, 2, 3}) {
        expect_as_one_process(R"({"default": {"method": "sparsegpt", "sparsity": 0.5}})", ranks);
        expect_as_one_process(kMixedRecipe, ranks);
    }
}

// An error on one rank (a non-finite weight its owner finds when compressing wk of
// block 0) is thrown on every rank, naming that rank.
TEST(BlockCompress, AnOwnersErrorIsEveryRanks) {
    const Recipe r = recipe(R"({"default": {"method": "sparsegpt", "sparsity": 0.5}})");
    const size_t n = calibration().size();
    ThreadRanks threads(2);
    std::vector<std::string> messages(2);
    threads.run([&](Reducer& rank) {
        Model m = original();
        linear(m.layers[0], "wk")(0, 0) = std::numeric_limits<float>::quiet_NaN();
        const auto [first, last] = share_of(static_cast<int64_t>(n), rank.rank(), 2);
        std::unique_ptr<ActivationStore> share = memory_store(static_cast<size_t>(last - first));
        for (int64_t i = first; i < last; ++i)
            share->put(static_cast<size_t>(i - first), embed(original(), calibration()[static_cast<size_t>(i)]));
        std::vector<CompressedLayer> out;
        try {
            compress_block(0, m.config, m.layers[0], *share, r, {}, ActivationStores{}, two_threads(), out, nullptr,
                           DataShare{&rank, first, static_cast<int64_t>(n)});
        } catch (const JobError& e) {
            EXPECT_EQ(e.status(), SURGEON_ERR_NUMERIC);
            EXPECT_EQ(e.failed_rank(), 1);
            messages[static_cast<size_t>(rank.rank())] = e.what();
        }
        EXPECT_EQ(out.size(), 1u);  // wq, from rank 0, before wk failed
    });
    EXPECT_EQ(messages[0], messages[1]);
    EXPECT_EQ(messages[0].rfind("rank 1: ", 0), 0u) << messages[0];
}

TEST(BlockCompress, SparseGptAsByGroups) {
    expect_as_by_groups(R"({"default": {"method": "sparsegpt", "sparsity": 0.5}})");
}

TEST(BlockCompress, TwoFourAsByGroups) {
    expect_as_by_groups(R"({"default": {"method": "sparsegpt", "nm": "2:4"}})");
}

TEST(BlockCompress, GptqAsByGroups) {
    expect_as_by_groups(R"({"default": {"method": "gptq", "bits": 4, "group": 32}})");
}

TEST(BlockCompress, RtnAsByGroups) {
    expect_as_by_groups(R"({"default": {"method": "rtn", "bits": 4}})");
}

TEST(BlockCompress, MixedPrecisionAsByGroups) { expect_as_by_groups(kMixedRecipe); }

TEST(BlockCompress, ModelWideBudgetAsByGroups) {
    expect_as_by_groups(R"({"default": {"method": "gptq", "group": 32,
        "mixed": {"allocator": "error", "avg_bits": 3, "scope": "model"}}})");
}

// Block by block with the states and the scratch activations in files: the same bits as
// in memory, and no file left behind.
TEST(BlockCompress, SpilledToDiskAsInMemory) {
    const Recipe r = recipe(kMixedRecipe);
    hfio_test::TempDir dir;
    Model in_memory = original(), spilled = original();
    const OutputFisher fisher = output_fisher(backend_for(*two_threads()), original(), calibration());
    const BlockExtras extras{&fisher, nullptr};
    const size_t n = calibration().size();
    std::unique_ptr<ActivationStore> mem = memory_store(n);
    std::unique_ptr<ActivationStore> disk = disk_store(dir.path().string(), "states", n);
    for (size_t i = 0; i < n; ++i) {
        mem->put(i, embed(original(), calibration()[i]));
        disk->put(i, embed(original(), calibration()[i]));
    }
    EXPECT_EQ(disk->resident_bytes(), 0u);
    EXPECT_GT(mem->resident_bytes(), 0u);
    std::vector<CompressedLayer> a, b;
    for (size_t blk = 0; blk < in_memory.layers.size(); ++blk) {
        const auto bi = static_cast<int64_t>(blk);
        compress_block(bi, in_memory.config, in_memory.layers[blk], *mem, r, extras, ActivationStores{},
                       two_threads(), a);
        compress_block(bi, spilled.config, spilled.layers[blk], *disk, r, extras,
                       ActivationStores{dir.path().string()}, two_threads(), b);
        // Only the states' file stays between blocks.
        EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
    }
    expect_same_layers(b, a);
    expect_same_model(spilled, in_memory);
    for (size_t i = 0; i < n; ++i) expect_identical(disk->read(i), mem->read(i), "state " + std::to_string(i));
    disk.reset();
    EXPECT_TRUE(fs::is_empty(dir.path()));
}

// A block with no calibrated plan only runs its states through: the outputs are the
// block forward's.
TEST(BlockCompress, UncalibratedBlockIsTheForward) {
    Model m = original();
    std::unique_ptr<ActivationStore> states = memory_store(2);
    std::vector<Matrix> want;
    for (size_t i = 0; i < 2; ++i) {
        const Matrix x = embed(m, calibration()[i]);
        states->put(i, x);
        want.push_back(x);
    }
    std::vector<CompressedLayer> out;
    compress_block(0, m.config, m.layers[0], *states, recipe(R"({"default": {"method": "rtn", "bits": 4}})"), {},
                   ActivationStores{}, two_threads(), out);
    ASSERT_EQ(out.size(), 7u);
    for (Matrix& x : want) x = block_forward(backend_for(*two_threads()), m.config, m.layers[0], x);
    for (size_t i = 0; i < 2; ++i) expect_identical(states->read(i), want[i], "state");
}

TEST(ActivationStore, MemoryRoundTrip) {
    std::unique_ptr<ActivationStore> s = memory_store(3);
    EXPECT_EQ(s->size(), 3u);
    const Matrix a = random_matrix(5, 7, 1), b = random_matrix(2, 3, 2);
    s->put(0, a);
    s->put(2, b);
    expect_identical(s->read(0), a, "read");
    EXPECT_EQ(s->resident_bytes(), sizeof(float) * (35 + 6));
    expect_identical(s->take(2), b, "take");
    EXPECT_EQ(s->take(2).rows, 0);  // taken: empty
    EXPECT_EQ(s->read(1).rows, 0);
    EXPECT_THROW(s->put(3, a), Error);
}

TEST(ActivationStore, DiskRoundTripAndRemoval) {
    hfio_test::TempDir dir;
    const std::string path = dir.file("acts.f32");
    {
        std::unique_ptr<ActivationStore> s = disk_store(dir.path().string(), "acts", 3);
        ASSERT_TRUE(fs::exists(path));
        const Matrix a = random_matrix(64, 33, 1), b = random_matrix(17, 5, 2), c = random_matrix(100, 40, 3);
        s->put(0, a);
        s->put(1, b);
        s->put(2, a);
        expect_identical(s->read(0), a, "slot 0");
        expect_identical(s->read(1), b, "slot 1");
        EXPECT_EQ(s->resident_bytes(), 0u);
        EXPECT_EQ(fs::file_size(path), sizeof(float) * (2 * 64 * 33 + 17 * 5));
        // A larger matrix moves its slot; the others keep theirs.
        s->put(1, c);
        expect_identical(s->read(1), c, "slot 1 grown");
        expect_identical(s->read(0), a, "slot 0 after");
        expect_identical(s->read(2), a, "slot 2 after");
        // A smaller one reuses it.
        s->put(1, b);
        expect_identical(s->read(1), b, "slot 1 shrunk");
        expect_identical(s->take(2), a, "take");
        EXPECT_EQ(s->read(2).rows, 0);
        EXPECT_EQ(s->read(2).cols, 0);
        EXPECT_THROW(s->read(3), Error);
    }
    EXPECT_FALSE(fs::exists(path));
}

TEST(ActivationStore, MissingDirectoryIsAnIoErrorNamingTheFile) {
    hfio_test::TempDir dir;
    const std::string missing = (dir.path() / "absent").string();
    try {
        disk_store(missing, "states", 2);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SURGEON_ERR_IO);
        EXPECT_NE(std::string(e.what()).find(missing + "/states.f32"), std::string::npos) << e.what();
    }
    ActivationStores stores{missing};
    EXPECT_THROW(stores.make("x", 1), Error);
    EXPECT_EQ(ActivationStores{}.make("x", 2)->resident_bytes(), 0u);
}

// A write the file system cuts short (here the file size limit, as a full disk would) is
// an I/O error naming the file.
TEST(ActivationStore, ShortWriteIsAnIoErrorNamingTheFile) {
    hfio_test::TempDir dir;
    std::unique_ptr<ActivationStore> s = disk_store(dir.path().string(), "full", 1);
    rlimit old{};
    ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
    rlimit small = old;
    small.rlim_cur = 4096;
    auto previous = signal(SIGXFSZ, SIG_IGN);
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
    std::string message;
    surgeon_status status = SURGEON_OK;
    try {
        s->put(0, random_matrix(100, 100, 4));
    } catch (const Error& e) {
        message = e.what();
        status = e.status();
    }
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, previous);
    EXPECT_EQ(status, SURGEON_ERR_IO);
    EXPECT_NE(message.find(dir.file("full.f32")), std::string::npos) << message;
    EXPECT_EQ(s->read(0).rows, 0);  // the slot holds nothing
}
