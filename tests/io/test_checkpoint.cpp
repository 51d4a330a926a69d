// The checkpoint entry point (io/checkpoint.hpp): each format is detected from what is on
// disk, saved by format and loaded back through the one dispatch, bit-exact in float32 and
// rounded exactly once in f16/bf16; a packed GPTQ directory reloads as its codes times its
// fp16 scales; the tokenizer travels into saved directories.
#include <gtest/gtest.h>

#include <cmath>

#include "io/checkpoint.hpp"
#include "io/model_reader.hpp"
#include "layer/quant/rtn.hpp"
#include "hf_util.hpp"

namespace {

using namespace surgeon;
using namespace surgeon::model;
using hfio_test::expect_error;
using hfio_test::TempDir;

float identity(float v) { return v; }

TEST(Checkpoint, EachFormatIsDetectedAndRoundTrips) {
    const Model m = hfio_test::random_model(32, 48, 2, 4, 2, 40, false, 7);
    struct Case {
        const char* name;
        ModelFormat format;
        Dtype dtype;
        float (*round)(float);
    };
    for (const Case& c : {Case{"m.bin", ModelFormat::llama2c, Dtype::F32, identity},
                          Case{"hf32", ModelFormat::hf, Dtype::F32, identity},
                          Case{"hf16", ModelFormat::hf, Dtype::F16, hfio_test::f16_round},
                          Case{"hfbf16", ModelFormat::hf, Dtype::BF16, hfio_test::bf16_round}}) {
        SCOPED_TRACE(c.name);
        TempDir dir;
        const std::string path = dir.file(c.name);
        EXPECT_EQ(output_format(path), c.format);
        save_model(m, path, {c.format, c.dtype, ""});
        EXPECT_EQ(detect_model_format(path), c.format);
        Dtype source = Dtype::I32;
        const Model back = load_model(path, &source);
        EXPECT_EQ(source, c.dtype);
        hfio_test::expect_same_model(back, hfio_test::rounded(m, c.round));
        // Saving what was loaded in its own format and dtype changes nothing.
        const std::string again = dir.file(std::string("again_") + c.name);
        save_model(back, again, {c.format, source, ""});
        hfio_test::expect_same_model(load_model(again), back);
    }
}

TEST(Checkpoint, RefusalsAndNames) {
    const Model m = hfio_test::random_model(32, 48, 2, 4, 2, 40, true, 8);
    TempDir dir;
    expect_error([&] { save_model(m, dir.file("x.bin"), {ModelFormat::llama2c, Dtype::F16, ""}); },
                 SURGEON_ERR_INVALID_ARGUMENT, "float32 only");
    EXPECT_FALSE(std::filesystem::exists(dir.file("x.bin")));
    expect_error([&] { save_model(m, "", {}); }, SURGEON_ERR_INVALID_ARGUMENT);
    expect_error([&] { load_model(dir.file("absent")); }, SURGEON_ERR_IO, "absent");
    expect_error([&] { load_model(dir.path().string()); }, SURGEON_ERR_IO, "config.json");
    EXPECT_EQ(output_format("model.bin"), ModelFormat::llama2c);
    EXPECT_EQ(output_format("model.bin/"), ModelFormat::hf);
    EXPECT_EQ(output_format("bin"), ModelFormat::hf);
    for (ModelFormat f : {ModelFormat::llama2c, ModelFormat::hf})
        EXPECT_EQ(parse_model_format(model_format_name(f)), f);
}

TEST(Checkpoint, TokenizerIsCopiedIntoSavedDirectories) {
    const Model m = hfio_test::random_model(32, 48, 2, 4, 2, 40, false, 9);
    TempDir dir;
    const std::string tok = dir.file("tok40.bin");
    hfio_test::write_bytes(tok, "tokenizer bytes");
    EXPECT_EQ(find_tokenizer_beside(dir.file("m.bin"), 40), tok);
    const std::string out = dir.file("hf");
    save_model(m, out, {ModelFormat::hf, Dtype::F32, tok});
    const std::string found = find_tokenizer_beside(out, 40);
    EXPECT_EQ(found, (std::filesystem::path(out) / "tok40.bin").string());
    EXPECT_EQ(hfio_test::read_bytes(found), "tokenizer bytes");
    // Without a tokenizer nothing is copied.
    save_model(m, dir.file("bare"), {ModelFormat::hf, Dtype::F32, ""});
    EXPECT_EQ(find_tokenizer_beside(dir.file("bare"), 40), "");
}

TEST(Checkpoint, GptqDirectoryReloadsAsCodesTimesHalfScales) {
    const Model m = hfio_test::random_model(64, 64, 1, 4, 2, 32, false, 10);
    QuantConfig cfg;
    cfg.bits = 4;
    QuantResult q;
    Matrix fake = m.layers[0].wq;
    quantize_rtn(Context{}, fake.view(), cfg, &q);
    TempDir dir;
    const std::string tok = dir.file("tokenizer.bin");
    hfio_test::write_bytes(tok, "t");
    const std::string out = dir.file("gptq");
    GptqExportOptions options;
    options.dense_dtype = Dtype::F32;
    const GptqExportSummary s = save_gptq_model(m, {{"layers.0.wq", q}}, out, tok, options);
    EXPECT_EQ(s.bits, 4);
    EXPECT_EQ(s.quantized_layers, 1);
    EXPECT_EQ(detect_model_format(out), ModelFormat::hf);
    EXPECT_EQ(hfio_test::read_bytes(find_tokenizer_beside(out, 32)), "t");
    const Model back = load_model(out);
    const Matrix& wq = back.layers[0].wq;
    ASSERT_EQ(wq.rows, 64);
    ASSERT_EQ(wq.cols, 64);
    for (int64_t r = 0; r < wq.rows; ++r)
        for (int64_t c = 0; c < wq.cols; ++c) {
            const float expected = hfio_test::f16_round(q.scales[static_cast<size_t>(r)]) *
                                   (static_cast<float>(q.codes[static_cast<size_t>(r * wq.cols + c)]) -
                                    q.zeros[static_cast<size_t>(r)]);
            ASSERT_NEAR(wq(r, c), expected, 1e-6f * (1.0f + std::fabs(expected))) << r << "," << c;
        }
    hfio_test::expect_same_matrix(back.layers[0].wk, m.layers[0].wk, "dense wk");
}

}  // namespace

// Activation quantization is part of the model: recorded in config.json, read back, and
// refused where a format cannot record it.
TEST(Checkpoint, ActivationBitsTravelInConfig) {
    Model m = hfio_test::random_model(32, 48, 2, 4, 2, 40, false, 9);
    m.config.act_bits = 4;
    TempDir dir;
    const std::string path = dir.file("hf");
    save_model(m, path, {ModelFormat::hf, Dtype::F32, ""});
    const nlohmann::json config = hfio_test::read_json(dir.file("hf/config.json"));
    EXPECT_EQ(config["surgeon_activation_quantization"],
              nlohmann::json({{"bits", 4}, {"granularity", "per_token"}, {"dynamic", true}, {"symmetric", false}}));
    const Model back = load_model(path);
    EXPECT_EQ(back.config.act_bits, 4);
    hfio_test::expect_same_model(back, m);
    auto source = open_model(path);
    EXPECT_EQ(source->config().act_bits, 4);
    source->set_activation_bits(0);
    EXPECT_EQ(source->config().act_bits, 0);
    expect_error([&] { source->set_activation_bits(1); }, SURGEON_ERR_INVALID_ARGUMENT, "activation bits");
    expect_error([&] { save_model(m, dir.file("m.bin"), {ModelFormat::llama2c, Dtype::F32, ""}); },
                 SURGEON_ERR_UNSUPPORTED, "activation quantization");
    for (const nlohmann::json& bad : {nlohmann::json({{"bits", 4}, {"granularity", "per_tensor"}, {"dynamic", true},
                                                      {"symmetric", false}}),
                                      nlohmann::json({{"bits", 1}, {"granularity", "per_token"}, {"dynamic", true},
                                                      {"symmetric", false}})}) {
        nlohmann::json c = config;
        c["surgeon_activation_quantization"] = bad;
        hfio_test::write_json(dir.file("hf/config.json"), c);
        EXPECT_THROW(load_model(path), Error) << bad.dump();
    }
}
