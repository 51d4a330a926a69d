// Checkpoints read one part at a time (io/model_reader.hpp): every block, row range and
// norm of a llama2.c file or a Hugging Face directory (f32, f16, bf16, untied, sliced FFNs,
// sharded, GPTQ-packed) equals the model that was written, bit for bit after the storage
// rounding; broken checkpoints fail at open with an I/O error naming the file; reading
// every part keeps the mapped file pages out of the resident set.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <thread>

#include "sanitized.hpp"
#include "core/context.hpp"
#include "io/checkpoint.hpp"
#include "io/gptq_export.hpp"
#include "io/llama2c.hpp"
#include "io/model_reader.hpp"
#include "layer/quant/rtn.hpp"
#include "nn/forward.hpp"
#include "hf_util.hpp"

namespace {

using namespace surgeon;
using namespace surgeon::model;
using hfio_test::expect_error;
using hfio_test::expect_same_matrix;
using hfio_test::expect_same_vector;
using hfio_test::rows_of;
using hfio_test::TempDir;
namespace fs = std::filesystem;

float identity(float v) { return v; }

// Every part of `source` against `want`, then embed() and materialize().
void expect_source_is(const ModelSource& source, const Model& want) {
    const ModelConfig& c = source.config();
    EXPECT_EQ(c.dim, want.config.dim);
    EXPECT_EQ(c.n_layers, want.config.n_layers);
    EXPECT_EQ(c.vocab_size, want.config.vocab_size);
    EXPECT_EQ(c.shared_classifier, want.config.shared_classifier);
    ASSERT_EQ(source.n_blocks(), static_cast<int64_t>(want.layers.size()));
    for (int64_t b = 0; b < source.n_blocks(); ++b) {
        SCOPED_TRACE("block " + std::to_string(b));
        const LayerWeights L = source.block(b);
        const LayerWeights& w = want.layers[static_cast<size_t>(b)];
        EXPECT_EQ(source.ffn_size(b), w.w1.rows);
        expect_same_vector(L.rms_att, w.rms_att, "rms_att");
        expect_same_vector(L.rms_ffn, w.rms_ffn, "rms_ffn");
        for (const char* name : kLinearNames) expect_same_matrix(linear(L, name), linear(w, name), name);
    }
    expect_same_vector(source.final_norm(), want.rms_final, "final norm");
    const int64_t vocab = c.vocab_size;
    expect_same_matrix(source.embedding_rows(0, vocab), want.tok_emb, "embedding");
    expect_same_matrix(source.embedding_rows(vocab / 3, vocab - 2), rows_of(want.tok_emb, vocab / 3, vocab - 2),
                       "embedding rows");
    expect_same_matrix(source.classifier_rows(0, vocab), want.classifier(), "classifier");
    expect_same_matrix(source.classifier_rows(1, vocab / 2), rows_of(want.classifier(), 1, vocab / 2),
                       "classifier rows");
    const std::vector<int> tokens = {1, 2, 2, 3, static_cast<int>(vocab - 1), 0, 7, 3};
    expect_same_matrix(source.embed(tokens), embed(want, tokens), "embed");
    expect_error([&] { source.block(source.n_blocks()); }, SURGEON_ERR_INVALID_ARGUMENT, "block");
    expect_error([&] { source.embedding_rows(0, vocab + 1); }, SURGEON_ERR_INVALID_ARGUMENT, "vocabulary");
    expect_error([&] { source.embed({static_cast<int>(vocab)}); }, SURGEON_ERR_INVALID_ARGUMENT, "vocabulary");
    hfio_test::expect_same_model(materialize(source), want);
}

// The message of the `status` error fn throws: one line naming `file`.
template <typename Fn>
void expect_error_naming(Fn&& fn, surgeon_status status, const std::string& file, const std::string& needle) {
    try {
        fn();
        ADD_FAILURE() << "no error thrown (expected " << surgeon_status_string(status) << " naming " << file << ")";
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_EQ(e.status(), status) << what;
        EXPECT_NE(what.find(file), std::string::npos) << "'" << what << "' does not name " << file;
        EXPECT_NE(what.find(needle), std::string::npos) << "'" << what << "' lacks '" << needle << "'";
        EXPECT_EQ(what.find('\n'), std::string::npos) << "'" << what << "' spans several lines";
    }
}

template <typename Fn>
void expect_io_error_naming(Fn&& fn, const std::string& file, const std::string& needle) {
    expect_error_naming(fn, SURGEON_ERR_IO, file, needle);
}

TEST(ModelReader, Llama2cPartsAreTheWrittenModel) {
    for (bool shared : {true, false}) {
        SCOPED_TRACE(shared ? "tied" : "untied");
        const Model m = hfio_test::random_model(32, 40, 3, 4, 2, 30, shared, 11);
        TempDir dir;
        const std::string path = dir.file("m.bin");
        write_llama2c(m, path);
        Dtype dtype = Dtype::I32;
        const auto source = open_model(path, &dtype);
        EXPECT_EQ(dtype, Dtype::F32);
        EXPECT_EQ(source->ffn_sizes(), std::vector<int64_t>({40, 40, 40}));
        expect_source_is(*source, m);
        EXPECT_NE(source->fingerprint().find(path), std::string::npos);
        EXPECT_NE(source->fingerprint().find(std::to_string(fs::file_size(path)) + " bytes"), std::string::npos);
    }
}

// The arrays of stories260K straight from the file bytes, at offsets computed here from
// llama2.c's layout: each kind of array for all layers in turn.
TEST(ModelReader, Stories260KPartsAreTheFileBytes) {
    const std::string path = hfio_test::stories260k_path();
    if (path.empty()) GTEST_SKIP() << "stories260K.bin not found";
    const std::string bytes = hfio_test::read_bytes(path);
    auto floats_at = [&](size_t offset, size_t n) {
        std::vector<float> v(n);
        std::memcpy(v.data(), bytes.data() + offset, 4 * n);
        return v;
    };
    const auto source = open_model(path);
    const int64_t dim = 64, hidden = 172, layers = 5, kv = 32, vocab = 512;
    ASSERT_EQ(source->config().dim, dim);
    ASSERT_EQ(source->n_blocks(), layers);
    const std::pair<const char*, int64_t> kinds[] = {{"rms_att", dim},           {"wq", dim * dim},
                                                     {"wk", kv * dim},           {"wv", kv * dim},
                                                     {"wo", dim * dim},          {"rms_ffn", dim},
                                                     {"w1", hidden * dim},       {"w2", dim * hidden},
                                                     {"w3", hidden * dim}};
    for (int64_t b = 0; b < layers; ++b) {
        const LayerWeights L = source->block(b);
        size_t at = 28 + 4 * static_cast<size_t>(vocab * dim);
        for (const auto& [name, n] : kinds) {
            const std::vector<float> want = floats_at(at + 4 * static_cast<size_t>(b * n), static_cast<size_t>(n));
            const std::string kind = name;
            const std::vector<float> got = kind == "rms_att"   ? L.rms_att
                                           : kind == "rms_ffn" ? L.rms_ffn
                                                               : std::vector<float>(linear(L, kind).data.begin(),
                                                                                    linear(L, kind).data.end());
            EXPECT_EQ(got, want) << name << " of block " << b;
            at += 4 * static_cast<size_t>(layers * n);
        }
        if (b == layers - 1) {
            EXPECT_EQ(source->final_norm(), floats_at(at, dim));
        }
    }
    const Matrix rows = source->embedding_rows(100, 103);
    EXPECT_EQ(std::vector<float>(rows.data.begin(), rows.data.end()), floats_at(28 + 4 * 100 * dim, 3 * dim));
    expect_same_matrix(source->classifier_rows(100, 103), rows, "tied classifier");
    hfio_test::expect_same_model(materialize(*source), load_model(path));
    hfio_test::expect_same_model(load_model(path), read_llama2c(path));
}

TEST(ModelReader, HfPartsAreTheSavedModel) {
    struct Case {
        const char* name;
        Dtype dtype;
        bool shared;
        std::vector<int64_t> ffn;
        float (*round)(float);
    };
    for (const Case& c : {Case{"f32 tied", Dtype::F32, true, {}, identity},
                          Case{"bf16 untied", Dtype::BF16, false, {}, hfio_test::bf16_round},
                          Case{"f16 sliced", Dtype::F16, false, {48, 20, 36}, hfio_test::f16_round},
                          Case{"f32 sliced", Dtype::F32, true, {32, 48, 16}, identity}}) {
        SCOPED_TRACE(c.name);
        const Model m = hfio_test::random_model(32, 48, 3, 4, 2, 30, c.shared, 12, c.ffn);
        TempDir dir;
        save_model(m, dir.path().string(), {ModelFormat::hf, c.dtype, ""});
        Dtype dtype = Dtype::I32;
        const auto source = open_model(dir.path().string(), &dtype);
        EXPECT_EQ(dtype, c.dtype);
        EXPECT_EQ(source->config().hidden_dim, 48);
        const Model want = hfio_test::rounded(m, c.round);
        expect_source_is(*source, want);
        hfio_test::expect_same_model(load_model(dir.path().string()), want);
        const std::string fp = source->fingerprint();
        for (const char* file : {"config.json", "model.safetensors"})
            EXPECT_NE(fp.find(dir.file(file)), std::string::npos) << fp;
    }
}

TEST(ModelReader, ShardedHfPartsAreTheSavedModel) {
    for (Dtype dtype : {Dtype::F32, Dtype::BF16}) {
        const Model m = hfio_test::random_model(32, 40, 3, 4, 2, 30, false, 13, {40, 24, 40});
        TempDir dir;
        save_model(m, dir.path().string(), {ModelFormat::hf, dtype, ""});
        hfio_test::shard_checkpoint(dir);
        Dtype source_dtype = Dtype::I32;
        const auto source = open_model(dir.path().string(), &source_dtype);
        EXPECT_EQ(source_dtype, dtype);
        expect_source_is(*source, hfio_test::rounded(m, dtype == Dtype::F32 ? identity : hfio_test::bf16_round));
        const std::string fp = source->fingerprint();
        for (size_t s = 0; s < 3; ++s) EXPECT_NE(fp.find(hfio_test::shard_name(s)), std::string::npos) << fp;
        EXPECT_NE(fp.find("model.safetensors.index.json"), std::string::npos) << fp;
    }
}

TEST(ModelReader, PartsReadFromSeveralThreadsAtOnce) {
    const Model m = hfio_test::random_model(32, 40, 4, 4, 2, 30, false, 19);
    TempDir dir;
    save_model(m, dir.path().string(), {ModelFormat::hf, Dtype::BF16, ""});
    hfio_test::shard_checkpoint(dir);
    const std::string bin = dir.file("m.bin");
    write_llama2c(m, bin);
    for (const std::string& path : {dir.path().string(), bin}) {
        const auto source = open_model(path);
        const Model whole = materialize(*source);
        std::vector<Model> seen(4);
        std::vector<std::thread> threads;
        for (size_t t = 0; t < seen.size(); ++t)
            threads.emplace_back([&, t] {
                Model& got = seen[t];
                got.config = source->config();
                // Each thread walks the blocks from another starting point.
                got.layers.resize(static_cast<size_t>(source->n_blocks()));
                for (int64_t k = 0; k < source->n_blocks(); ++k) {
                    const int64_t b = (k + static_cast<int64_t>(t)) % source->n_blocks();
                    got.layers[static_cast<size_t>(b)] = source->block(b);
                }
                got.tok_emb = source->embedding_rows(0, source->config().vocab_size);
                got.wcls = source->classifier_rows(0, source->config().vocab_size);
                got.rms_final = source->final_norm();
            });
        for (std::thread& t : threads) t.join();
        for (const Model& got : seen) hfio_test::expect_same_model(got, whole);
    }
}

// A sharded directory broken in one way per case; each must fail at open.
class BrokenShards : public ::testing::Test {
protected:
    void SetUp() override {
        save_model(hfio_test::random_model(32, 40, 2, 4, 2, 30, false, 14), path(), {ModelFormat::hf, Dtype::F32, ""});
        hfio_test::shard_checkpoint(dir);
        index = hfio_test::read_json(dir.file("model.safetensors.index.json"));
    }
    std::string path() const { return dir.path().string(); }
    std::string shard(size_t s) const { return dir.file(hfio_test::shard_name(s)); }
    std::string index_file() const { return dir.file("model.safetensors.index.json"); }
    // The first tensor the index maps to shard s.
    std::string tensor_in(size_t s) const {
        for (const auto& [name, file] : index["weight_map"].items())
            if (file == hfio_test::shard_name(s)) return name;
        return "";
    }
    // Rewrites shard s with `edit(writer, tensor, values)` applied to each of its tensors.
    template <typename Edit>
    void rewrite_shard(size_t s, Edit&& edit) {
        {
            const SafetensorsFile in(shard(s));
            SafetensorsWriter out;
            for (const TensorInfo& t : in.tensors()) edit(out, t, in.read_f32(t.name));
            out.write(shard(s) + ".new");
        }
        fs::rename(shard(s) + ".new", shard(s));
    }
    void expect_open_fails(const std::string& file, const std::string& needle) {
        expect_io_error_naming([&] { open_model(path()); }, file, needle);
        expect_io_error_naming([&] { load_model(path()); }, file, needle);
    }
    TempDir dir;
    nlohmann::json index;
};

TEST_F(BrokenShards, MissingShard) {
    fs::remove(shard(1));
    expect_open_fails(shard(1), "cannot open");
}

TEST_F(BrokenShards, TruncatedShard) {
    const std::string bytes = hfio_test::read_bytes(shard(2));
    hfio_test::write_bytes(shard(2), bytes.substr(0, bytes.size() - 7));
    expect_open_fails(shard(2), "truncated");
}

TEST_F(BrokenShards, IndexNamesATensorItsShardLacks) {
    const std::string t = tensor_in(0);
    index["weight_map"][t] = hfio_test::shard_name(1);
    hfio_test::write_json(index_file(), index);
    expect_open_fails(index_file(), "'" + t + "' is not in shard");
}

TEST_F(BrokenShards, TensorInAShardTheIndexDoesNotMapItTo) {
    // Shard 0 also holds a copy of a tensor the index maps to shard 1.
    const std::string t = tensor_in(1);
    const SafetensorsFile other(shard(1));
    const std::vector<float> copy = other.read_f32(t);
    const std::vector<int64_t> shape = other.info(t).shape;
    bool added = false;
    rewrite_shard(0, [&](SafetensorsWriter& w, const TensorInfo& info, const std::vector<float>& v) {
        w.add_float(info.name, info.shape, v.data(), info.dtype);
        if (!added) w.add_float(t, shape, copy.data(), Dtype::F32);
        added = true;
    });
    expect_open_fails(index_file(), "'" + t + "' is in shard '" + hfio_test::shard_name(0) +
                                         "' but the weight_map maps it to '" + hfio_test::shard_name(1) + "'");
}

TEST_F(BrokenShards, MisshapenTensorNamesItsShard) {
    const std::string t = "model.layers.1.mlp.up_proj.weight";
    size_t s = 0;
    while (s < 3 && index["weight_map"][t] != hfio_test::shard_name(s)) ++s;
    ASSERT_LT(s, 3u);
    rewrite_shard(s, [&](SafetensorsWriter& w, const TensorInfo& info, const std::vector<float>& v) {
        w.add_float(info.name, info.name == t ? std::vector<int64_t>{20, 64} : info.shape, v.data(), info.dtype);
    });
    expect_open_fails(shard(s), "'" + t + "' has 20 rows, expected 40");
}

TEST_F(BrokenShards, TensorTheIndexDoesNotList) {
    const std::string t = tensor_in(2);
    index["weight_map"].erase(t);
    hfio_test::write_json(index_file(), index);
    expect_open_fails(index_file(), "'" + t + "', which the weight_map does not list");
}

TEST_F(BrokenShards, IndexIsNotJson) {
    hfio_test::write_bytes(index_file(), "{\"weight_map\": {");
    expect_open_fails(index_file(), "invalid JSON");
}

// Everything the tensor headers can tell is checked at open, before any block is read.
TEST(ModelReader, OpenChecksEveryBlock) {
    auto saved = [](TempDir& dir) {
        save_model(hfio_test::random_model(32, 40, 3, 4, 2, 30, false, 15), dir.path().string(),
                   {ModelFormat::hf, Dtype::F32, ""});
    };
    auto rewrite = [](TempDir& dir, auto&& edit) {
        const std::string file = dir.file("model.safetensors");
        {
            const SafetensorsFile in(file);
            SafetensorsWriter out;
            for (const TensorInfo& t : in.tensors()) edit(out, t, in.read_f32(t.name));
            out.write(file + ".new");
        }
        fs::rename(file + ".new", file);
    };
    const std::string down2 = "model.layers.2.mlp.down_proj.weight";
    {
        TempDir dir;
        saved(dir);
        rewrite(dir, [&](SafetensorsWriter& w, const TensorInfo& t, const std::vector<float>& v) {
            w.add_float(t.name, t.name == down2 ? std::vector<int64_t>{32, 20} : t.shape, v.data(), t.dtype);
        });
        expect_error([&] { open_model(dir.path().string()); }, SURGEON_ERR_IO, down2);
    }
    {
        TempDir dir;
        saved(dir);
        rewrite(dir, [&](SafetensorsWriter& w, const TensorInfo& t, const std::vector<float>& v) {
            if (t.name != down2) return w.add_float(t.name, t.shape, v.data(), t.dtype);
            std::vector<int32_t> ints(v.size(), 1);
            w.add_i32(t.name, t.shape, ints.data());
        });
        expect_error([&] { open_model(dir.path().string()); }, SURGEON_ERR_IO, "F32, F16, BF16 or F64 expected");
    }
    {
        TempDir dir;
        saved(dir);
        rewrite(dir, [&](SafetensorsWriter& w, const TensorInfo& t, const std::vector<float>& v) {
            w.add_float(t.name, t.shape, v.data(), t.dtype);
            if (t.name == down2) w.add_float("model.layers.2.mlp.down_proj.bias", {32}, v.data(), t.dtype);
        });
        expect_error([&] { open_model(dir.path().string()); }, SURGEON_ERR_UNSUPPORTED, "down_proj.bias");
    }
    {
        TempDir dir;
        saved(dir);
        nlohmann::json config = hfio_test::read_json(dir.file("config.json"));
        config["num_hidden_layers"] = 2;
        hfio_test::write_json(dir.file("config.json"), config);
        expect_error([&] { open_model(dir.path().string()); }, SURGEON_ERR_IO, "past num_hidden_layers");
    }
    expect_error([&] { open_model("/nonexistent/model.bin"); }, SURGEON_ERR_IO, "/nonexistent/model.bin");
}

// Under a sanitizer, freed blocks stay in its quarantine.
using surgeon::testing::kSanitized;

int64_t status_kb(const std::string& key);

// Peak resident set (VmHWM) since the last reset (kB).
int64_t reset_peak_rss() {
    std::ofstream("/proc/self/clear_refs") << "5";
    return status_kb("VmHWM:");
}

// A config claiming far more blocks than the files hold fails at the first missing block,
// in well under a second and without memory sized by the claim; so does a llama2.c header.
TEST(ModelReader, HugeLayerCountFailsFastWithoutAllocating) {
    TempDir dir;
    const std::string hf = dir.file("hf"), bin = dir.file("m.bin");
    const Model m = hfio_test::random_model(64, 172, 2, 4, 2, 2000, false, 19);  // about 1.1 MB
    save_model(m, hf, {ModelFormat::hf, Dtype::F32, ""});
    write_llama2c(m, bin);
    nlohmann::json config = hfio_test::read_json(hf + "/config.json");
    for (const int64_t layers : {int64_t{50000000}, int64_t{1} << 40}) {
        SCOPED_TRACE(layers);
        config["num_hidden_layers"] = layers;
        hfio_test::write_json(hf + "/config.json", config);
        const int64_t before = reset_peak_rss();
        const auto start = std::chrono::steady_clock::now();
        expect_error_naming([&] { open_model(hf); }, SURGEON_ERR_IO, hf,
                            "no tensor 'model.layers.2.");
        expect_error_naming([&] { load_model(hf); }, SURGEON_ERR_IO, hf, "model.layers.2.");
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        EXPECT_LT(seconds, 1.0);
        if (!kSanitized && before > 0) {
            EXPECT_LT(status_kb("VmHWM:") - before, 32 * 1024) << "kB more at the peak";
        }
    }
    // llama2.c: the most blocks a header may claim (4096), checked against the file size.
    std::string bytes = hfio_test::read_bytes(bin);
    const int32_t layers = 4096;
    std::memcpy(&bytes[8], &layers, 4);
    hfio_test::write_bytes(bin, bytes);
    const int64_t before = reset_peak_rss();
    expect_io_error_naming([&] { open_model(bin); }, bin, "header describes");
    if (!kSanitized && before > 0) {
        EXPECT_LT(status_kb("VmHWM:") - before, 32 * 1024) << "kB more at the peak";
    }
}

// A llama2.c file is checked against its header at open; a non-finite value only shows
// when the part holding it is read.
TEST(ModelReader, Llama2cFileIsCheckedAtOpenAndValuesWhenRead) {
    const Model m = hfio_test::random_model(32, 40, 3, 4, 2, 30, true, 16);
    TempDir dir;
    const std::string path = dir.file("m.bin");
    write_llama2c(m, path);
    std::string bytes = hfio_test::read_bytes(path);
    hfio_test::write_bytes(path, bytes.substr(0, bytes.size() - 4));
    expect_io_error_naming([&] { open_model(path); }, path, "header describes");
    // A NaN in wq of layer 2: wq arrays start after the embedding and all rms_att arrays.
    const size_t wq2 = 28 + 4 * (30 * 32 + 3 * 32 + 2 * 32 * 32);
    const float nan = std::nanf("");
    std::memcpy(&bytes[wq2 + 4 * 5], &nan, 4);
    hfio_test::write_bytes(path, bytes);
    const auto source = open_model(path);
    EXPECT_NO_THROW(source->block(1));
    expect_error_naming([&] { source->block(2); }, SURGEON_ERR_NUMERIC, path,
                        "wq of layer 2 has a non-finite value (nan) at element 5");
    expect_error_naming([&] { load_model(path); }, SURGEON_ERR_NUMERIC, path, "non-finite");
}

// A NaN or Inf in a safetensors tensor shows when the part holding it is converted to
// fp32: SURGEON_ERR_NUMERIC naming the file and the tensor.
TEST(ModelReader, NonFiniteTensorValueIsANumericErrorNamingFileAndTensor) {
    const Model m = hfio_test::random_model(32, 40, 3, 4, 2, 30, false, 18);
    const std::string up1 = "model.layers.1.mlp.up_proj.weight";
    const std::string embed = "model.embed_tokens.weight", head = "lm_head.weight";
    const std::string norm = "model.norm.weight";
    struct Case {
        std::string tensor;
        double value;
        Dtype dtype;
        int64_t element;
    };
    const Case cases[] = {{up1, std::nan(""), Dtype::F32, 77},
                          {up1, -HUGE_VAL, Dtype::BF16, 3},
                          {embed, HUGE_VAL, Dtype::F16, 32 * 7 + 2},
                          {head, -HUGE_VAL, Dtype::F32, 32 * 29 + 31},
                          {norm, std::nan(""), Dtype::F32, 0}};
    for (const Case& k : cases) {
        SCOPED_TRACE(k.tensor + " " + dtype_name(k.dtype));
        TempDir dir;
        save_model(m, dir.path().string(), {ModelFormat::hf, k.dtype, ""});
        const std::string file = dir.file("model.safetensors");
        {
            const SafetensorsFile in(file);
            SafetensorsWriter out;
            for (const TensorInfo& t : in.tensors()) {
                if (t.name != k.tensor) {
                    out.add_float(t.name, t.shape, in.read_f32(t.name).data(), t.dtype);
                    continue;
                }
                std::vector<float> v(static_cast<size_t>(t.numel()), 0.5f);
                v[static_cast<size_t>(k.element)] = static_cast<float>(k.value);
                out.add_float(t.name, t.shape, v.data(), t.dtype);
            }
            out.write(file + ".new");
        }
        fs::rename(file + ".new", file);
        const auto source = open_model(dir.path().string());  // shapes only: opens
        const std::string needle = "tensor '" + k.tensor + "' has a non-finite value";
        const std::string at = "at element " + std::to_string(k.element);
        if (k.tensor == up1) {
            EXPECT_NO_THROW(source->block(0));
            expect_error_naming([&] { source->block(1); }, SURGEON_ERR_NUMERIC, file, needle);
            expect_error_naming([&] { source->block(1); }, SURGEON_ERR_NUMERIC, file, at);
        } else if (k.tensor == embed) {
            EXPECT_NO_THROW(source->embedding_rows(0, 7));
            expect_error_naming([&] { source->embedding_rows(6, 9); }, SURGEON_ERR_NUMERIC, file, needle);
            expect_error_naming([&] { source->embed({1, 7}); }, SURGEON_ERR_NUMERIC, file, at);
        } else if (k.tensor == head) {
            expect_error_naming([&] { source->classifier_rows(29, 30); }, SURGEON_ERR_NUMERIC, file, at);
        } else {
            expect_error_naming([&] { source->final_norm(); }, SURGEON_ERR_NUMERIC, file, needle);
        }
        expect_error_naming([&] { load_model(dir.path().string()); }, SURGEON_ERR_NUMERIC, file, needle);
    }
}

TEST(ModelReader, FileChangedAfterOpenIsAnIoError) {
    const Model m = hfio_test::random_model(32, 40, 2, 4, 2, 30, true, 17);
    TempDir dir;
    save_model(m, dir.path().string(), {ModelFormat::hf, Dtype::F32, ""});
    const auto source = open_model(dir.path().string());
    const std::string file = dir.file("model.safetensors");
    fs::resize_file(file, fs::file_size(file) / 2);
    expect_io_error_naming([&] { source->block(1); }, file, "changed size");
}

TEST(ModelReader, GptqDirectoryReadsBackAsLoadModelDoes) {
    const Model m = hfio_test::random_model(64, 64, 2, 4, 2, 32, false, 18);
    QuantConfig cfg;
    cfg.bits = 4;
    std::map<std::string, QuantResult> quantized;
    for (const auto& [block, name] : {std::pair<int, const char*>{0, "wq"}, {1, "wk"}, {1, "w2"}}) {
        Matrix w = linear(m.layers[static_cast<size_t>(block)], name);
        quantize_rtn(Context{}, w.view(), cfg, &quantized["layers." + std::to_string(block) + "." + name]);
    }
    TempDir dir;
    GptqExportOptions options;
    options.dense_dtype = Dtype::F32;
    write_gptq_model(m, quantized, dir.path().string(), options);
    const Model loaded = load_model(dir.path().string());
    const auto source = open_model(dir.path().string());
    expect_source_is(*source, loaded);
    // Independently: packed linears are codes times fp16 scales, the others are stored exactly.
    for (const auto& [name, q] : quantized) {
        const int64_t block = name[7] - '0';
        const Matrix got = linear(source->block(block), name.substr(9));
        QuantResult half = q;
        for (float& s : half.scales) s = hfio_test::f16_round(s);
        Matrix want(q.rows, q.cols);
        half.dequantize(want.data.data(), q.cols);
        for (size_t i = 0; i < want.data.size(); ++i)
            ASSERT_NEAR(got.data[i], want.data[i], 1e-6f * (1.0f + std::fabs(want.data[i]))) << name << " " << i;
    }
    expect_same_matrix(source->block(0).wk, m.layers[0].wk, "dense wk");
    expect_same_matrix(source->block(1).wq, m.layers[1].wq, "dense wq");
    EXPECT_NE(source->fingerprint().find("quantize_config.json"), std::string::npos);

    // An Inf among the fp16 scales makes the dequantized linear non-finite: NUMERIC,
    // naming the file and the packed linear.
    const std::string file = dir.file("model.safetensors"), scales = "model.layers.1.mlp.down_proj.scales";
    {
        const SafetensorsFile in(file);
        SafetensorsWriter out;
        for (const TensorInfo& t : in.tensors()) {
            if (t.dtype == Dtype::I32) {
                out.add_i32(t.name, t.shape, in.read_i32(t.name).data());
            } else if (t.name == scales) {
                std::vector<uint16_t> bits = in.read_u16_bits(t.name);
                bits[3] = 0x7c00;  // +Inf in binary16
                out.add_u16_bits(t.name, t.shape, bits.data(), t.dtype);
            } else {
                out.add_float(t.name, t.shape, in.read_f32(t.name).data(), t.dtype);
            }
        }
        out.write(file + ".new");
    }
    fs::rename(file + ".new", file);
    const auto broken = open_model(dir.path().string());
    EXPECT_NO_THROW(broken->block(0));
    expect_error_naming([&] { broken->block(1); }, SURGEON_ERR_NUMERIC, file,
                        "GPTQ linear 'model.layers.1.mlp.down_proj' (from its scales) has a non-finite value");
}

// ---------------------------------------------------------------------------------------
// Bounded memory: the pages of the mapped file a read touched leave the resident set.

int64_t status_kb(const std::string& key) {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.compare(0, key.size(), key) == 0) return std::stoll(line.substr(key.size()));
    return -1;
}


TEST(ModelReader, ReadingEveryPartKeepsTheResidentSetBounded) {
    // About 115 MB in float32: 24 blocks of 3.4 MB, an untied 16384-row vocabulary.
    TempDir dir;
    const std::string bin = dir.file("big.bin"), hf = dir.file("big-hf");
    {
        Model m;
        ModelConfig& c = m.config;
        c.dim = 256;
        c.hidden_dim = 768;
        c.n_layers = 24;
        c.n_heads = c.n_kv_heads = 8;
        c.vocab_size = 16384;
        c.seq_len = 256;
        c.shared_classifier = false;
        m.tok_emb = Matrix(c.vocab_size, c.dim, 0.5f);
        m.wcls = Matrix(c.vocab_size, c.dim, 0.25f);
        m.rms_final.assign(static_cast<size_t>(c.dim), 1.0f);
        for (int64_t l = 0; l < c.n_layers; ++l) {
            LayerWeights L;
            L.rms_att = L.rms_ffn = m.rms_final;
            L.wq = L.wk = L.wv = L.wo = Matrix(c.dim, c.dim, 0.01f * static_cast<float>(l + 1));
            L.w1 = L.w3 = Matrix(c.hidden_dim, c.dim, 0.02f);
            L.w2 = Matrix(c.dim, c.hidden_dim, 0.03f);
            m.layers.push_back(std::move(L));
        }
        save_model(m, bin, {ModelFormat::llama2c, Dtype::F32, ""});
        save_model(m, hf, {ModelFormat::hf, Dtype::BF16, ""});
    }
    for (const std::string& path : {bin, hf}) {
        SCOPED_TRACE(path);
        const int64_t file_bytes = static_cast<int64_t>(
            fs::file_size(path == bin ? path : (fs::path(hf) / "model.safetensors").string()));
        const auto source = open_model(path);
        const int64_t vocab = source->config().vocab_size, chunk = 2048;
        source->block(0);  // first use: code pages of the readers
        source->embedding_rows(0, chunk);
        source->classifier_rows(0, chunk);
        const int64_t file0 = status_kb("RssFile:"), rss0 = status_kb("VmRSS:");
        ASSERT_GE(file0, 0) << "no RssFile in /proc/self/status";
        int64_t file_peak = file0, rss_peak = rss0;
        auto sample = [&] {
            file_peak = std::max(file_peak, status_kb("RssFile:"));
            rss_peak = std::max(rss_peak, status_kb("VmRSS:"));
        };
        for (int64_t b = 0; b < source->n_blocks(); ++b) {
            const LayerWeights L = source->block(b);
            const float stored = 0.01f * static_cast<float>(b + 1);
            ASSERT_EQ(L.wq(3, 5), path == bin ? stored : hfio_test::bf16_round(stored)) << "block " << b;
            sample();
        }
        for (int64_t r0 = 0; r0 < vocab; r0 += chunk) {
            const Matrix e = source->embedding_rows(r0, std::min(vocab, r0 + chunk));
            sample();
            const Matrix w = source->classifier_rows(r0, std::min(vocab, r0 + chunk));
            sample();
        }
        std::printf("%s: %lld-byte file, resident set grew by %lld kB (mapped file pages %lld kB)\n",
                    path == bin ? "llama2.c" : "HF bf16", static_cast<long long>(file_bytes),
                    static_cast<long long>(rss_peak - rss0), static_cast<long long>(file_peak - file0));
        // Without the release, every page read stays mapped: the growth is the file size;
        // without widening it, pages mapped around faults pile up (megabytes here).
        EXPECT_LT(1024 * (file_peak - file0), file_bytes / 40);
        // One block (3.4 MB) or chunk lives at a time; heap reuse keeps the rest flat.
        if (!kSanitized) {
            EXPECT_LT(1024 * (rss_peak - rss0), file_bytes / 3);
        }
    }
}

}  // namespace
