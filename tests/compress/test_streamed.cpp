// compress_streamed: one block in memory from a ModelSource to a ModelWriter. Its output
// must equal compress_model's in-memory result; an interrupted run (an exception after
// some block, as a crash would leave it) resumes to the same bytes; another run's state is
// refused; spilled activations give the same result as activations in RAM.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>

#include "compress/pipeline.hpp"
#include "compress/streamed.hpp"
#include "core/error.hpp"
#include "io/checkpoint.hpp"
#include "io/model_writer.hpp"
#include "nn/model_source.hpp"
#include "hf_util.hpp"
#include "pipeline_fixture.hpp"

using namespace surgeon;
using namespace surgeon::model;
using namespace pipeline_test;

namespace {

namespace fs = std::filesystem;

using hfio_test::TempDir;

std::map<std::string, std::string> files_of(const std::string& dir) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file()) {
            std::ifstream f(e.path(), std::ios::binary);
            out[fs::relative(e.path(), dir).string()] =
                std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        }
    return out;
}

WriterOptions f32_dir() {
    WriterOptions o;
    o.format = ModelFormat::hf;
    o.dtype = Dtype::F32;
    o.max_shard_bytes = 200'000;  // stories260K (~1 MB in f32) in several shards
    return o;
}

CompressionReport stream(const std::string& out, const Recipe& r, StreamOptions options = {},
                         const BlockProgress& progress = {}, bool resume = false) {
    const InMemorySource source(original());
    auto writer = ModelWriter::create(out, source.config(), source.ffn_sizes(), f32_dir(), resume);
    options.resume = resume;
    return compress_streamed(source, writer.get(), calibration(), r, two_threads(), options, progress);
}

void expect_models_equal(const Model& a, const Model& b) {
    ASSERT_EQ(a.layers.size(), b.layers.size());
    EXPECT_EQ(a.tok_emb.data, b.tok_emb.data);
    EXPECT_EQ(a.rms_final, b.rms_final);
    for (size_t l = 0; l < a.layers.size(); ++l)
        for (const char* name : kLinearNames)
            EXPECT_EQ(linear(a.layers[l], name).data, linear(b.layers[l], name).data) << "layer " << l << " " << name;
}

const char* const kRecipes[] = {
    R"({"default": {"method": "sparsegpt", "sparsity": 0.5}})",
    R"({"default": {"method": "gptq", "bits": 4, "group": 32}, "rules": [{"match": "*.w2", "method": "dense"}]})",
};

TEST(Streamed, EqualsTheInMemoryPipeline) {
    for (const char* json : kRecipes) {
        SCOPED_TRACE(json);
        Model expected = original();
        const CompressionReport in_memory = compress_model(expected, calibration(), recipe(json), two_threads());
        TempDir dir;
        const CompressionReport streamed = stream(dir.file("out"), recipe(json));
        expect_models_equal(load_model(dir.file("out")), expected);
        ASSERT_EQ(streamed.layers.size(), in_memory.layers.size());
        for (size_t i = 0; i < streamed.layers.size(); ++i) {
            EXPECT_EQ(streamed.layers[i].name, in_memory.layers[i].name);
            EXPECT_EQ(streamed.layers[i].loss, in_memory.layers[i].loss);
            EXPECT_EQ(streamed.layers[i].sparsity, in_memory.layers[i].sparsity);
            EXPECT_FALSE(streamed.layers[i].quant.has_value());  // codes kept only when asked
        }
        ASSERT_EQ(streamed.blocks.size(), original().layers.size());
        EXPECT_FALSE(fs::exists(dir.file("out/.surgeon-run")));
    }
}

TEST(Streamed, SpilledActivationsGiveTheSameModel) {
    TempDir dir;
    fs::create_directories(dir.file("spill"));
    stream(dir.file("ram"), recipe(kRecipes[1]));
    StreamOptions spilled;
    spilled.offload_dir = dir.file("spill");
    stream(dir.file("disk"), recipe(kRecipes[1]), spilled);
    EXPECT_EQ(files_of(dir.file("disk")), files_of(dir.file("ram")));
    EXPECT_TRUE(fs::is_empty(dir.file("spill")));
}

struct Interrupted : std::runtime_error {
    Interrupted() : std::runtime_error("interrupted") {}
};

TEST(Streamed, InterruptedRunResumesToTheSameBytesAndCodes) {
    const Recipe r = recipe(kRecipes[1]);
    TempDir dir;
    StreamOptions options;
    options.keep_quant = true;
    options.run_key = "compress --bits 4";
    const CompressionReport whole = stream(dir.file("whole"), r, options);

    for (int64_t stop_after = 0; stop_after < 5; stop_after += 2) {
        SCOPED_TRACE("interrupted after block " + std::to_string(stop_after));
        const std::string out = dir.file("run" + std::to_string(stop_after));
        options.run_dir = run_dir_for(out, ModelFormat::hf);
        EXPECT_THROW(stream(out, r, options,
                            [&](int64_t done, int64_t) {
                                if (done == stop_after) throw Interrupted();
                            }),
                     Interrupted);
        EXPECT_FALSE(fs::exists(out + "/config.json"));
        EXPECT_THROW(load_model(out), Error);

        StreamOptions other = options;
        other.run_key = "compress --bits 3";
        try {
            stream(out, r, other, {}, true);
            FAIL() << "another run's state was resumed";
        } catch (const Error& e) {
            EXPECT_EQ(e.status(), SURGEON_ERR_IO);
            EXPECT_NE(std::string(e.what()).find("another command line"), std::string::npos) << e.what();
        }

        const CompressionReport resumed = stream(out, r, options, {}, true);
        EXPECT_EQ(resumed.resumed_at_block, stop_after);
        EXPECT_EQ(files_of(out), files_of(dir.file("whole")));
        ASSERT_EQ(resumed.layers.size(), whole.layers.size());
        for (size_t i = 0; i < whole.layers.size(); ++i) {
            EXPECT_EQ(resumed.layers[i].loss, whole.layers[i].loss) << whole.layers[i].name;
            ASSERT_EQ(resumed.layers[i].quant.has_value(), whole.layers[i].quant.has_value()) << whole.layers[i].name;
            if (whole.layers[i].quant) {
                EXPECT_EQ(resumed.layers[i].quant->codes, whole.layers[i].quant->codes);
                EXPECT_EQ(resumed.layers[i].quant->scales, whole.layers[i].quant->scales);
            }
        }
        EXPECT_FALSE(fs::exists(options.run_dir));
    }
}

TEST(Streamed, ResumeWithoutStateIsAnIoError) {
    TempDir dir;
    StreamOptions options;
    options.run_dir = dir.file("nothing");
    const InMemorySource source(original());
    auto writer = ModelWriter::create(dir.file("out"), source.config(), source.ffn_sizes(), f32_dir());
    options.resume = true;
    try {
        compress_streamed(source, writer.get(), calibration(), recipe(kRecipes[0]), two_threads(), options);
        FAIL() << "resumed without a state";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SURGEON_ERR_IO);
    }
}

TEST(Streamed, MemoryEstimateCountsWhatIsHeld) {
    const InMemorySource source(original());
    const ModelConfig& c = source.config();
    const MemoryEstimate ram = estimate_stream_memory(source, 1000, 100, false, false);
    const MemoryEstimate spilled = estimate_stream_memory(source, 1000, 100, true, false);
    EXPECT_LT(spilled.activations, ram.activations);
    EXPECT_EQ(ram.dense_model, 0u);
    // At least the block's own weights and every calibration token's hidden state.
    const uint64_t block = 4 * static_cast<uint64_t>(c.dim * (2 * c.q_dim() + 2 * c.kv_dim()) + 3 * c.dim * c.hidden_dim);
    EXPECT_GE(ram.block_weights, block);
    EXPECT_GE(ram.activations, 4u * 1000 * static_cast<uint64_t>(c.dim));
    EXPECT_GT(estimate_stream_memory(source, 1000, 100, false, true).dense_model, 4u * 5 * block / 5);
}

}  // namespace
