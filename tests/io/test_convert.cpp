// convert_model between llama2.c files and HF directories: the round trip reproduces the
// llama2.c file, the dtype option narrows exactly once, and what a target format cannot
// hold is refused without leaving a file behind.
#include <gtest/gtest.h>

#include "io/convert.hpp"
#include "io/hf_model.hpp"
#include "io/llama2c.hpp"
#include "hf_util.hpp"

namespace {

using namespace surgeon;
using namespace surgeon::model;
using hfio_test::expect_error;
using hfio_test::TempDir;

#define REQUIRE_STORIES() \
    if (hfio_test::stories260k_path().empty()) GTEST_SKIP() << "stories260K.bin not found"

// stories260K's parameters from SOURCES.md: tok_emb 512·64, per layer 2 norms of 64,
// wq/wo 64·64, wk/wv 32·64, w1/w2/w3 172·64; rms_final 64 (the classifier is tied).
constexpr int64_t kStoriesParameters =
    512 * 64 + 5 * (2 * 64 + 2 * 64 * 64 + 2 * 32 * 64 + 3 * 172 * 64) + 64;

ConvertOptions to(ModelFormat format, std::optional<Dtype> dtype = std::nullopt) {
    ConvertOptions o;
    o.format = format;
    o.dtype = dtype;
    return o;
}

TEST(Convert, Llama2cToHfToLlama2cReproducesTheFile) {
    REQUIRE_STORIES();
    const std::string orig = hfio_test::stories260k_path();
    TempDir dir;
    const std::string hf = dir.file("hf"), back = dir.file("back.bin"), direct = dir.file("direct.bin");

    const ConvertReport there = convert_model(orig, hf, {});
    EXPECT_EQ(there.from, ModelFormat::llama2c);
    EXPECT_EQ(there.to, ModelFormat::hf);  // the default target is the other format
    EXPECT_EQ(there.source_dtype, Dtype::F32);
    EXPECT_EQ(there.dtype, Dtype::F32);
    EXPECT_EQ(there.parameters, kStoriesParameters);
    EXPECT_TRUE(there.warnings.empty());
    EXPECT_EQ(detect_model_format(hf), ModelFormat::hf);

    const ConvertReport home = convert_model(hf, back, {});
    EXPECT_EQ(home.from, ModelFormat::hf);
    EXPECT_EQ(home.to, ModelFormat::llama2c);
    EXPECT_EQ(home.parameters, kStoriesParameters);
    EXPECT_TRUE(home.warnings.empty());

    // Byte for byte what writing the original model directly gives ...
    write_llama2c(read_llama2c(orig), direct);
    const std::string a = hfio_test::read_bytes(orig), b = hfio_test::read_bytes(back);
    EXPECT_EQ(b, hfio_test::read_bytes(direct));
    // ... and byte for byte the original file up to its RoPE tables, which llama2.c
    // exports for readers to ignore and which we recompute (freq_cis_real/imag, 2·512·4).
    ASSERT_EQ(a.size(), b.size());
    const size_t rope_at = a.size() - 2 * 512 * 4 * sizeof(float);
    EXPECT_EQ(a.compare(0, rope_at, b, 0, rope_at), 0) << "header or weights changed";
    hfio_test::expect_same_model(read_llama2c(orig), read_llama2c(back));
}

TEST(Convert, DtypeOptionNarrowsExactlyOnce) {
    REQUIRE_STORIES();
    const std::string orig = hfio_test::stories260k_path();
    const Model m = read_llama2c(orig);
    TempDir dir;
    for (Dtype dtype : {Dtype::F16, Dtype::BF16}) {
        float (*round)(float) = dtype == Dtype::F16 ? hfio_test::f16_round : hfio_test::bf16_round;
        const std::string tag = dtype_name(dtype);
        const std::string narrow = dir.file("narrow_" + tag), copy = dir.file("copy_" + tag),
                          wide = dir.file("wide_" + tag), bin = dir.file("back_" + tag + ".bin");
        EXPECT_EQ(convert_model(orig, narrow, to(ModelFormat::hf, dtype)).dtype, dtype);
        EXPECT_EQ(hfio_test::read_json(narrow + "/config.json")["torch_dtype"], torch_dtype_name(dtype));
        const SafetensorsFile narrow_file(narrow + "/model.safetensors");
        for (const TensorInfo& t : narrow_file.tensors())
            EXPECT_EQ(t.dtype, dtype) << t.name;

        Model expected = m;  // every value rounded once to the narrow type
        for (float& v : expected.tok_emb.data) v = round(v);
        for (float& v : expected.rms_final) v = round(v);
        for (auto& L : expected.layers) {
            for (float& v : L.rms_att) v = round(v);
            for (float& v : L.rms_ffn) v = round(v);
            for (const char* name : kLinearNames)
                for (float& v : linear(L, name).data) v = round(v);
        }
        hfio_test::expect_same_model(expected, load_hf(narrow));

        // HF -> HF keeps the source dtype unless told otherwise; widening is exact.
        const ConvertReport same = convert_model(narrow, copy, to(ModelFormat::hf));
        EXPECT_EQ(same.source_dtype, dtype);
        EXPECT_EQ(same.dtype, dtype);
        EXPECT_EQ(hfio_test::read_bytes(copy + "/model.safetensors"),
                  hfio_test::read_bytes(narrow + "/model.safetensors"));
        EXPECT_EQ(convert_model(narrow, wide, to(ModelFormat::hf, Dtype::F32)).dtype, Dtype::F32);
        EXPECT_EQ(SafetensorsFile(wide + "/model.safetensors").info("model.norm.weight").dtype, Dtype::F32);
        hfio_test::expect_same_model(expected, load_hf(wide));

        // To llama2.c: float32 holds the narrowed values exactly; a narrow dtype is refused.
        EXPECT_EQ(convert_model(narrow, bin, {}).dtype, Dtype::F32);
        hfio_test::expect_same_model(expected, read_llama2c(bin));
        const std::string refused = dir.file("refused_" + tag + ".bin");
        expect_error([&] { convert_model(narrow, refused, to(ModelFormat::llama2c, dtype)); },
                     SURGEON_ERR_INVALID_ARGUMENT, "float32 only");
        EXPECT_FALSE(hfio_test::fs::exists(refused));
    }
}

TEST(Convert, FormatNamesAndDetection) {
    EXPECT_EQ(parse_model_format("hf"), ModelFormat::hf);
    EXPECT_EQ(parse_model_format("llama2c"), ModelFormat::llama2c);
    EXPECT_STREQ(model_format_name(ModelFormat::hf), "hf");
    EXPECT_STREQ(model_format_name(ModelFormat::llama2c), "llama2c");
    expect_error([] { parse_model_format("gguf"); }, SURGEON_ERR_INVALID_ARGUMENT, "gguf");
    TempDir dir;
    expect_error([&] { detect_model_format(dir.file("absent.bin")); }, SURGEON_ERR_IO, "absent.bin");
    expect_error([&] { detect_model_format(dir.path().string()); }, SURGEON_ERR_IO, "config.json");
    expect_error([&] { convert_model(dir.file("absent.bin"), dir.file("out"), {}); }, SURGEON_ERR_IO);
    hfio_test::write_bytes(dir.file("junk.bin"), "not a model");
    EXPECT_EQ(detect_model_format(dir.file("junk.bin")), ModelFormat::llama2c);
    expect_error([&] { convert_model(dir.file("junk.bin"), dir.file("out"), {}); }, SURGEON_ERR_IO);
    EXPECT_FALSE(hfio_test::fs::exists(dir.file("out")));
}

TEST(Convert, RefusesWhatLlama2cCannotHold) {
    TempDir dir;
    // Per-layer FFN sizes (structured pruning): fine in HF, one size only in llama2.c.
    const Model sliced = hfio_test::random_model(32, 48, 2, 4, 2, 30, true, 12, {48, 32});
    save_hf(sliced, dir.file("sliced"), Dtype::F32);
    expect_error([&] { convert_model(dir.file("sliced"), dir.file("sliced.bin"), {}); },
                 SURGEON_ERR_UNSUPPORTED, "FFN size");
    EXPECT_FALSE(hfio_test::fs::exists(dir.file("sliced.bin")));
    // run.c hard-codes RoPE theta 10000 and eps 1e-5.
    Model theta = hfio_test::random_model(32, 48, 2, 4, 2, 30, true, 13);
    theta.config.rope_theta = 500000.0f;
    save_hf(theta, dir.file("theta"), Dtype::F32);
    EXPECT_EQ(load_hf(dir.file("theta")).config.rope_theta, 500000.0f);
    expect_error([&] { convert_model(dir.file("theta"), dir.file("theta.bin"), {}); },
                 SURGEON_ERR_UNSUPPORTED, "theta");
    EXPECT_FALSE(hfio_test::fs::exists(dir.file("theta.bin")));
    // The uniform model converts, and an unshared classifier survives both ways.
    const Model plain = hfio_test::random_model(32, 48, 2, 4, 2, 30, false, 14);
    save_hf(plain, dir.file("plain"), Dtype::F32);
    const ConvertReport r = convert_model(dir.file("plain"), dir.file("plain.bin"), {});
    EXPECT_EQ(r.parameters, parameter_count(plain));
    EXPECT_EQ(r.parameters, 30 * 32 * 2 + 32 + 2 * (2 * 32 + 2 * 32 * 32 + 2 * 16 * 32 + 3 * 48 * 32));
    hfio_test::expect_same_model(plain, read_llama2c(dir.file("plain.bin")));
}

}  // namespace
