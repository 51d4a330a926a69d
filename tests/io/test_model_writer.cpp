// ModelWriter: the planned layout reproduces what the in-memory writers produce
// (SafetensorsWriter for HF, stories260K's own file for llama2.c), shards respect the cap
// and load back, parts written in any order, or by a writer killed half-way and resumed,
// give the same bytes, and nothing looks finished before finish(). Also the byte-size
// parser and the random checkpoint generator.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "io/checkpoint.hpp"
#include "io/hf_model.hpp"
#include "io/llama2c.hpp"
#include "io/model_writer.hpp"
#include "io/random_checkpoint.hpp"
#include "hf_util.hpp"

namespace {

using namespace surgeon;
using namespace surgeon::model;
using hfio_test::expect_error;
using hfio_test::read_bytes;
using hfio_test::TempDir;
namespace fs = std::filesystem;

#define REQUIRE_STORIES() \
    if (hfio_test::stories260k_path().empty()) GTEST_SKIP() << "stories260K.bin not found"

std::vector<int64_t> ffn_of(const Model& m) {
    std::vector<int64_t> ffn;
    for (const auto& L : m.layers) ffn.push_back(L.w1.rows);
    return ffn;
}

WriterOptions hf_options(Dtype dtype = Dtype::F32, uint64_t cap = 5'000'000'000) {
    WriterOptions o;
    o.format = ModelFormat::hf;
    o.dtype = dtype;
    o.max_shard_bytes = cap;
    return o;
}

WriterOptions llama2c_options() {
    WriterOptions o;
    o.format = ModelFormat::llama2c;
    return o;
}

// Every file of a directory (name → bytes).
std::map<std::string, std::string> dir_bytes(const std::string& dir) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out[e.path().filename().string()] = read_bytes(e.path().string());
    return out;
}

std::set<std::string> dir_names(const std::string& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
    return out;
}

Matrix rows_of(const Matrix& m, int64_t r0, int64_t r1) {
    Matrix out(r1 - r0, m.cols);
    std::copy(m.row(r0), m.row(r0) + (r1 - r0) * m.cols, out.data.data());
    return out;
}

// The embedding / classifier in slices of `step` rows, last slice first.
void write_rows_backwards(const Matrix& m, int64_t step, const std::function<void(int64_t, const Matrix&)>& write) {
    std::vector<int64_t> starts;
    for (int64_t r = 0; r < m.rows; r += step) starts.push_back(r);
    std::reverse(starts.begin(), starts.end());
    for (int64_t r0 : starts) write(r0, rows_of(m, r0, std::min(m.rows, r0 + step)));
}

// Writes every part of `m` in an order unlike the file's: final norm first, blocks last
// to first, embedding and classifier in reversed slices.
void write_scrambled(ModelWriter& w, const Model& m) {
    w.write_final_norm(m.rms_final);
    for (int64_t b = m.config.n_layers - 1; b >= 0; --b) w.write_block(b, m.layers[static_cast<size_t>(b)]);
    if (!m.config.shared_classifier)
        write_rows_backwards(m.wcls, 7, [&](int64_t r0, const Matrix& r) { w.write_classifier_rows(r0, r); });
    write_rows_backwards(m.tok_emb, 5, [&](int64_t r0, const Matrix& r) { w.write_embedding_rows(r0, r); });
}

// What save_hf stored before the writer existed: every tensor through SafetensorsWriter, in
// state-dict order, q/k rows in HF's layout.
std::string reference_safetensors(const Model& m, Dtype dtype, const std::string& path) {
    SafetensorsWriter w;
    w.set_metadata("format", "pt");
    auto mat = [&](const std::string& name, const Matrix& x) { w.add_float(name, {x.rows, x.cols}, x.data.data(), dtype); };
    auto vec = [&](const std::string& name, const std::vector<float>& v) {
        w.add_float(name, {static_cast<int64_t>(v.size())}, v.data(), dtype);
    };
    mat("model.embed_tokens.weight", m.tok_emb);
    for (int64_t i = 0; i < m.config.n_layers; ++i) {
        const LayerWeights& L = m.layers[static_cast<size_t>(i)];
        const std::string p = "model.layers." + std::to_string(i) + ".";
        vec(p + "input_layernorm.weight", L.rms_att);
        mat(p + "self_attn.q_proj.weight", permute_qk_to_hf(L.wq, m.config.n_heads));
        mat(p + "self_attn.k_proj.weight", permute_qk_to_hf(L.wk, m.config.n_kv_heads));
        mat(p + "self_attn.v_proj.weight", L.wv);
        mat(p + "self_attn.o_proj.weight", L.wo);
        vec(p + "post_attention_layernorm.weight", L.rms_ffn);
        mat(p + "mlp.gate_proj.weight", L.w1);
        mat(p + "mlp.up_proj.weight", L.w3);
        mat(p + "mlp.down_proj.weight", L.w2);
    }
    vec("model.norm.weight", m.rms_final);
    if (!m.config.shared_classifier) mat("lm_head.weight", m.wcls);
    w.write(path);
    return read_bytes(path);
}

// ---------------------------------------------------------------------------------------

TEST(ModelWriter, ParsesByteSizes) {
    EXPECT_EQ(parse_byte_size("5GB"), 5'000'000'000u);
    EXPECT_EQ(parse_byte_size("500MB"), 500'000'000u);
    EXPECT_EQ(parse_byte_size("2GiB"), uint64_t{2} << 30);
    EXPECT_EQ(parse_byte_size("1.5GB"), 1'500'000'000u);
    EXPECT_EQ(parse_byte_size("1.5GiB"), uint64_t{3} << 29);
    EXPECT_EQ(parse_byte_size("123456"), 123456u);
    EXPECT_EQ(parse_byte_size("100kb"), 100'000u);
    EXPECT_EQ(parse_byte_size(" 64 KiB "), 65536u);
    EXPECT_EQ(parse_byte_size("7B"), 7u);
    EXPECT_EQ(parse_byte_size("0.1KiB"), 102u);  // 102.4 bytes, rounded down
    EXPECT_EQ(parse_byte_size("2TB"), 2'000'000'000'000u);
    for (const char* bad : {"", "GB", "abc", "5XB", "-5GB", "0", "0GB", "0.0001KB", "5 GB x", "1.2.3GB",
                            "99999999999999999999", "20000000TiB", "1.1234567GB"})
        expect_error([&] { parse_byte_size(bad); }, SURGEON_ERR_INVALID_ARGUMENT, "invalid size");
}

TEST(ModelWriter, HfLayoutIsThatOfSafetensorsWriter) {
    for (Dtype dtype : {Dtype::F32, Dtype::F16, Dtype::BF16})
        for (bool shared : {true, false}) {
            SCOPED_TRACE(std::string(dtype_name(dtype)) + (shared ? " tied" : " untied"));
            const Model m = hfio_test::random_model(32, 48, 3, 4, 2, 40, shared, 5, {48, 40, 48});
            TempDir dir;
            save_hf(m, dir.file("out"), dtype);
            EXPECT_EQ(dir_names(dir.file("out")), (std::set<std::string>{"config.json", "model.safetensors"}));
            EXPECT_EQ(read_bytes(dir.file("out/model.safetensors")), reference_safetensors(m, dtype, dir.file("ref")));
            EXPECT_EQ(read_bytes(dir.file("out/config.json")), hf_config(m, dtype).dump(2) + "\n");
            EXPECT_EQ(hf_config(m, dtype), hf_config(m.config, ffn_of(m), dtype));
            Dtype stored = Dtype::I8;
            const Model back = load_model(dir.file("out"), &stored);
            EXPECT_EQ(stored, dtype);
            if (dtype == Dtype::F32) hfio_test::expect_same_model(m, back);
            else EXPECT_EQ(back.layers[1].w1.rows, 40);
        }
}

TEST(ModelWriter, ShardsRespectTheCapAndLoadBack) {
    REQUIRE_STORIES();
    const Model m = read_llama2c(hfio_test::stories260k_path());
    TempDir dir;
    const uint64_t cap = parse_byte_size("100KB");
    SaveOptions o;
    o.max_shard_bytes = cap;
    save_model(m, dir.file("sharded"), o);
    save_model(m, dir.file("single"), SaveOptions{});

    const SafetensorsFile single(dir.file("single/model.safetensors"));
    const auto index = hfio_test::read_json(dir.file("sharded/model.safetensors.index.json"));
    const auto names = dir_names(dir.file("sharded"));
    EXPECT_FALSE(names.count("model.safetensors"));
    std::vector<std::string> shards;
    for (const auto& n : names)
        if (n != "config.json" && n != "model.safetensors.index.json") shards.push_back(n);
    ASSERT_GE(shards.size(), 5u);
    const size_t n = shards.size();
    std::vector<std::string> order;  // tensor names in shard order, then offset order
    uint64_t total = 0;
    std::set<std::string> mapped;
    for (size_t s = 0; s < n; ++s) {
        char expected[64];
        std::snprintf(expected, sizeof expected, "model-%05zu-of-%05zu.safetensors", s + 1, n);
        ASSERT_EQ(shards[s], expected);
        const SafetensorsFile f(dir.file("sharded/" + shards[s]));
        EXPECT_EQ(f.metadata().at("format"), "pt");
        uint64_t bytes = 0;
        for (const TensorInfo& t : f.tensors()) {
            order.push_back(t.name);
            bytes += t.end - t.begin;
            EXPECT_EQ(index["weight_map"][t.name], shards[s]) << t.name;
            mapped.insert(t.name);
        }
        total += bytes;
        EXPECT_TRUE(bytes <= cap || f.tensors().size() == 1) << shards[s] << ": " << bytes << " bytes";
        // Greedy: the next shard's first tensor did not fit into this one.
        if (s + 1 < n) {
            const SafetensorsFile next(dir.file("sharded/" + shards[s + 1]));
            const TensorInfo& first = next.tensors().front();
            EXPECT_GT(bytes + (first.end - first.begin), cap) << shards[s];
        }
    }
    EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), total);
    EXPECT_EQ(index["weight_map"].size(), mapped.size());
    std::vector<std::string> single_order;
    for (const TensorInfo& t : single.tensors()) single_order.push_back(t.name);
    EXPECT_EQ(order, single_order);  // the state-dict order, cut into shards
    EXPECT_EQ(total, single.tensors().back().end);
    // Tensor bytes equal those of the single file; the model loads back exactly.
    const TensorStore store(dir.file("sharded"));
    EXPECT_EQ(store.shard_count(), n);
    for (const auto& name : single_order)
        EXPECT_EQ(store.read_f32(name), single.read_f32(name)) << name;
    hfio_test::expect_same_model(m, load_model(dir.file("sharded")));

    // save_model replaces a model in place: the single-file model removes the shards.
    save_model(m, dir.file("sharded"), SaveOptions{});
    EXPECT_EQ(dir_names(dir.file("sharded")), (std::set<std::string>{"config.json", "model.safetensors"}));
    // ... and the sharded one removes the single file (a reader would prefer it).
    save_model(m, dir.file("single"), o);
    EXPECT_FALSE(fs::exists(dir.file("single/model.safetensors")));
    EXPECT_EQ(TensorStore(dir.file("single")).shard_count(), n);
}

TEST(ModelWriter, PartsInAnyOrderGiveTheSameBytes) {
    const Model m = hfio_test::random_model(32, 48, 3, 4, 2, 40, false, 9);
    TempDir dir;
    for (Dtype dtype : {Dtype::F32, Dtype::BF16}) {
        const auto o = hf_options(dtype, 20'000);
        const std::string a = dir.file(std::string("inorder_") + dtype_name(dtype));
        const std::string b = dir.file(std::string("scrambled_") + dtype_name(dtype));
        write_model(m, a, o);
        auto w = ModelWriter::create(b, m.config, ffn_of(m), o);
        write_scrambled(*w, m);
        w->finish();
        const auto files_a = dir_bytes(a);
        EXPECT_GT(files_a.size(), 3u);  // sharded
        EXPECT_EQ(files_a, dir_bytes(b));
        // Blocks from several threads at once.
        const std::string c = dir.file(std::string("threads_") + dtype_name(dtype));
        auto t = ModelWriter::create(c, m.config, ffn_of(m), o);
        std::vector<std::thread> pool;
        for (int64_t k = 0; k < m.config.n_layers; ++k)
            pool.emplace_back([&, k] { t->write_block(k, m.layers[static_cast<size_t>(k)]); });
        t->write_embedding_rows(0, m.tok_emb);
        t->write_classifier_rows(0, m.wcls);
        t->write_final_norm(m.rms_final);
        for (auto& th : pool) th.join();
        t->finish();
        EXPECT_EQ(files_a, dir_bytes(c));
    }
}

TEST(ModelWriter, Llama2cInAnyOrderReproducesStories) {
    REQUIRE_STORIES();
    const std::string orig = hfio_test::stories260k_path();
    const Model m = read_llama2c(orig);
    TempDir dir;
    const std::string out = dir.file("scrambled.bin");
    auto w = ModelWriter::create(out, m.config, ffn_of(m), llama2c_options());
    EXPECT_EQ(w->files(), std::vector<std::string>{out});
    write_scrambled(*w, m);
    EXPECT_FALSE(fs::exists(out));
    w->finish();
    write_llama2c(m, dir.file("direct.bin"));
    const std::string a = read_bytes(orig), b = read_bytes(out);
    EXPECT_EQ(b, read_bytes(dir.file("direct.bin")));
    // The header and weights are the original's (Llama2c.WriterReproducesTheFile compares the
    // recomputed RoPE tables after them).
    ASSERT_EQ(a.size(), b.size());
    const size_t rope_at = a.size() - 2 * 4 * 512 * 4;
    EXPECT_EQ(a.compare(0, rope_at, b, 0, rope_at), 0);
}

TEST(ModelWriter, NothingLooksFinishedBeforeFinish) {
    const Model m = hfio_test::random_model(32, 48, 2, 4, 4, 40, true, 3);
    TempDir dir;
    const std::string out = dir.file("model");
    auto o = hf_options(Dtype::F16, 10'000);
    o.tokenizer_path = dir.file("tok40.bin");
    hfio_test::write_bytes(o.tokenizer_path, "tokenizer bytes");
    auto w = ModelWriter::create(out, m.config, ffn_of(m), o);
    w->write_embedding_rows(0, m.tok_emb);
    w->write_block(0, m.layers[0]);
    const auto before = dir_names(out);
    ASSERT_FALSE(before.empty());
    for (const auto& name : before) EXPECT_EQ(fs::path(name).extension(), ".partial") << name;
    expect_error([&] { load_model(out); }, SURGEON_ERR_IO);
    w->write_block(1, m.layers[1]);
    w->write_final_norm(m.rms_final);
    w->finish();
    std::set<std::string> listed;
    for (const auto& f : w->files()) listed.insert(fs::path(f).filename().string());
    EXPECT_EQ(dir_names(out), listed);  // no .partial left, nothing unlisted
    EXPECT_TRUE(listed.count("model.safetensors.index.json"));
    EXPECT_EQ(read_bytes(out + "/tok40.bin"), "tokenizer bytes");
    EXPECT_EQ(load_model(out).layers[1].w2.rows, 32);
    expect_error([&] { w->write_final_norm(m.rms_final); }, SURGEON_ERR_INVALID_ARGUMENT, "finished");
}

// Writes the embedding and blocks [0, half) in a child process that then dies by SIGKILL
// (no destructor, no flush), as an interrupted compression would.
void killed_after_half(const std::string& path, const Model& m, const WriterOptions& o, int64_t half) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        try {
            auto w = ModelWriter::create(path, m.config, ffn_of(m), o);
            w->write_embedding_rows(0, m.tok_emb);
            for (int64_t b = 0; b < half; ++b) w->write_block(b, m.layers[static_cast<size_t>(b)]);
            ::kill(::getpid(), SIGKILL);
        } catch (...) {
        }
        ::_exit(3);  // the parent's check fails: the child was not killed
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

TEST(ModelWriter, ResumeAfterKillGivesTheSameBytes) {
    const Model m = hfio_test::random_model(32, 48, 4, 4, 2, 40, false, 11);
    TempDir dir;
    for (bool hf : {true, false}) {
        SCOPED_TRACE(hf ? "hf" : "llama2c");
        const WriterOptions o = hf ? hf_options(Dtype::BF16, 15'000) : llama2c_options();
        const std::string whole = dir.file(hf ? "whole" : "whole.bin"), resumed = dir.file(hf ? "resumed" : "resumed.bin");
        write_model(m, whole, o);
        killed_after_half(resumed, m, o, 2);
        if (hf) {
            const auto names = dir_names(resumed);
            for (const auto& name : names) EXPECT_EQ(fs::path(name).extension(), ".partial");
            // As if a finish() had renamed the first shard when it died: resume takes it too.
            const std::string first = resumed + "/" + *names.begin();
            fs::rename(first, first.substr(0, first.size() - std::string(".partial").size()));
        } else {
            EXPECT_FALSE(fs::exists(resumed));
        }
        auto w = ModelWriter::create(resumed, m.config, ffn_of(m), o, /*resume=*/true);
        w->mark_written_blocks(2);
        w->write_embedding_rows(0, m.tok_emb);  // non-block parts are written again
        for (int64_t b = 2; b < 4; ++b) w->write_block(b, m.layers[static_cast<size_t>(b)]);
        w->write_final_norm(m.rms_final);
        w->write_classifier_rows(0, m.wcls);
        w->finish();
        if (hf) EXPECT_EQ(dir_bytes(resumed), dir_bytes(whole));
        else EXPECT_EQ(read_bytes(resumed), read_bytes(whole));
    }
}

TEST(ModelWriter, ResumeRefusesAnotherPlanOrMissingFiles) {
    const Model m = hfio_test::random_model(32, 48, 2, 4, 2, 40, true, 12);
    TempDir dir;
    const std::string out = dir.file("out");
    ModelWriter::create(out, m.config, ffn_of(m), hf_options(Dtype::F16, 10'000));  // destroyed at once
    expect_error([&] { ModelWriter::create(out, m.config, ffn_of(m), hf_options(Dtype::BF16, 10'000), true); },
                 SURGEON_ERR_IO, "cannot resume");
    // The same size with another header.
    const std::string shard = out + "/" + *dir_names(out).begin();  // model-00001-of-0000N…partial
    std::string bytes = read_bytes(shard);
    const size_t at = bytes.find("\"F16\"");
    ASSERT_NE(at, std::string::npos);
    bytes[at + 1] = 'I';
    hfio_test::write_bytes(shard, bytes);
    expect_error([&] { ModelWriter::create(out, m.config, ffn_of(m), hf_options(Dtype::F16, 10'000), true); },
                 SURGEON_ERR_IO, "header of '" + shard + "' differs from the planned model");
    bytes[at + 1] = 'F';
    hfio_test::write_bytes(shard, bytes);
    expect_error([&] { ModelWriter::create(out, m.config, ffn_of(m), hf_options(Dtype::F16, 5'000), true); },
                 SURGEON_ERR_IO, "cannot resume");
    expect_error([&] { ModelWriter::create(out, m.config, {48, 40}, hf_options(Dtype::F16, 10'000), true); },
                 SURGEON_ERR_IO, "cannot resume");
    expect_error([&] { ModelWriter::create(dir.file("none"), m.config, ffn_of(m), hf_options(), true); },
                 SURGEON_ERR_IO, "none/model.safetensors.partial");
    expect_error([&] { ModelWriter::create(dir.file("none.bin"), m.config, ffn_of(m), llama2c_options(), true); },
                 SURGEON_ERR_IO, "none.bin.partial");
    // The matching plan reopens without losing anything.
    EXPECT_NO_THROW(ModelWriter::create(out, m.config, ffn_of(m), hf_options(Dtype::F16, 10'000), true));
}

TEST(ModelWriter, FinishNamesTheFirstMissingPart) {
    const Model m = hfio_test::random_model(32, 48, 3, 4, 2, 40, false, 13);
    TempDir dir;
    const std::string out = dir.file("out");
    auto w = ModelWriter::create(out, m.config, ffn_of(m), hf_options());
    w->write_block(0, m.layers[0]);
    w->write_block(2, m.layers[2]);
    w->write_final_norm(m.rms_final);
    w->write_classifier_rows(0, m.wcls);
    w->write_embedding_rows(0, rows_of(m.tok_emb, 0, 10));
    w->write_embedding_rows(25, rows_of(m.tok_emb, 25, 40));
    expect_error([&] { w->finish(); }, SURGEON_ERR_IO, "model.embed_tokens.weight rows 10..24 were never written");
    w->write_embedding_rows(10, rows_of(m.tok_emb, 10, 25));
    expect_error([&] { w->finish(); }, SURGEON_ERR_IO, "model.layers.1.input_layernorm.weight was never written");
    EXPECT_EQ(dir_names(out), std::set<std::string>{"model.safetensors.partial"});  // left for a resume
    w->mark_written_blocks(2);
    w->finish();
    EXPECT_EQ(dir_names(out), (std::set<std::string>{"config.json", "model.safetensors"}));

    auto l = ModelWriter::create(dir.file("m.bin"), m.config, ffn_of(m), llama2c_options());
    expect_error([&] { l->finish(); }, SURGEON_ERR_IO, "tok_emb was never written");
}

TEST(ModelWriter, RefusesBadParts) {
    const Model m = hfio_test::random_model(32, 48, 2, 4, 2, 40, true, 14);
    TempDir dir;
    auto w = ModelWriter::create(dir.file("out"), m.config, ffn_of(m), hf_options());
    expect_error([&] { w->write_classifier_rows(0, m.tok_emb); }, SURGEON_ERR_INVALID_ARGUMENT, "tied");
    expect_error([&] { w->write_block(2, m.layers[0]); }, SURGEON_ERR_INVALID_ARGUMENT, "block 2");
    LayerWeights wide = m.layers[0];
    wide.w2 = Matrix(32, 40);
    expect_error([&] { w->write_block(0, wide); }, SURGEON_ERR_SHAPE, "mlp.down_proj");
    expect_error([&] { w->write_embedding_rows(35, rows_of(m.tok_emb, 0, 10)); }, SURGEON_ERR_INVALID_ARGUMENT,
                 "outside [0, 40)");
    expect_error([&] { w->write_final_norm({1.0f}); }, SURGEON_ERR_SHAPE);
    expect_error([&] { w->mark_written_blocks(3); }, SURGEON_ERR_INVALID_ARGUMENT);
    expect_error([&] { ModelWriter::create(dir.file("x"), m.config, {48}, hf_options()); },
                 SURGEON_ERR_INVALID_ARGUMENT, "1 FFN sizes for 2 blocks");
    expect_error([&] { ModelWriter::create(dir.file("x"), m.config, ffn_of(m), hf_options(Dtype::I32)); },
                 SURGEON_ERR_INVALID_ARGUMENT, "F32, F16 or BF16");
    // What the llama2.c header cannot hold, before any file exists.
    expect_error([&] { ModelWriter::create(dir.file("x.bin"), m.config, {48, 40}, llama2c_options()); },
                 SURGEON_ERR_UNSUPPORTED, "one FFN size");
    ModelConfig theta = m.config;
    theta.rope_theta = 500000.0f;
    expect_error([&] { ModelWriter::create(dir.file("x.bin"), theta, ffn_of(m), llama2c_options()); },
                 SURGEON_ERR_UNSUPPORTED, "RoPE theta");
    ModelConfig heads = m.config;
    heads.head_dim = 4;
    expect_error([&] { ModelWriter::create(dir.file("x.bin"), heads, ffn_of(m), llama2c_options()); },
                 SURGEON_ERR_UNSUPPORTED, "heads were removed");
    WriterOptions bf16 = llama2c_options();
    bf16.dtype = Dtype::BF16;
    expect_error([&] { ModelWriter::create(dir.file("x.bin"), m.config, ffn_of(m), bf16); },
                 SURGEON_ERR_INVALID_ARGUMENT, "float32 only");
    EXPECT_FALSE(fs::exists(dir.file("x.bin.partial")));
    EXPECT_FALSE(fs::exists(dir.file("x")));
}

TEST(ModelWriter, RefusesAFinishedOutputUnlessOverwriting) {
    const Model m = hfio_test::random_model(32, 48, 2, 4, 2, 40, true, 15);
    TempDir dir;
    const std::string out = dir.file("out");
    write_model(m, out, hf_options());
    expect_error([&] { ModelWriter::create(out, m.config, ffn_of(m), hf_options()); }, SURGEON_ERR_IO,
                 "remove it or choose another --out");
    fs::remove(out + "/config.json");  // shards alone are a model too
    expect_error([&] { ModelWriter::create(out, m.config, ffn_of(m), hf_options()); }, SURGEON_ERR_IO,
                 "'model.safetensors' exists");
    auto o = hf_options();
    o.overwrite = true;
    EXPECT_NO_THROW(write_model(m, out, o));
    // An empty directory takes a new model; write_model refuses any other existing path
    // (here the partial files of an unfinished writer) unless overwriting, and then
    // replaces the directory whole.
    fs::create_directories(dir.file("empty"));
    EXPECT_NO_THROW(write_model(m, dir.file("empty"), hf_options()));
    ModelWriter::create(dir.file("partial"), m.config, ffn_of(m), hf_options(Dtype::F32, 10'000));
    expect_error([&] { write_model(m, dir.file("partial"), hf_options()); }, SURGEON_ERR_IO, "--overwrite");
    EXPECT_NO_THROW(write_model(m, dir.file("partial"), o));
    EXPECT_EQ(dir_names(dir.file("partial")), (std::set<std::string>{"config.json", "model.safetensors"}));
    // A llama2.c file.
    write_model(m, dir.file("m.bin"), llama2c_options());
    expect_error([&] { ModelWriter::create(dir.file("m.bin"), m.config, ffn_of(m), llama2c_options()); },
                 SURGEON_ERR_IO, "exists");
}

// A full disk, imitated by a file size limit (SIGXFSZ ignored, so writes fail with EFBIG).
class FileSizeLimit {
public:
    explicit FileSizeLimit(rlim_t bytes) {
        old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
        ::getrlimit(RLIMIT_FSIZE, &old_);
        rlimit limit = old_;
        limit.rlim_cur = bytes;
        ok_ = ::setrlimit(RLIMIT_FSIZE, &limit) == 0;
    }
    ~FileSizeLimit() {
        ::setrlimit(RLIMIT_FSIZE, &old_);
        ::signal(SIGXFSZ, old_handler_);
    }
    bool ok() const { return ok_; }

private:
    rlimit old_{};
    sighandler_t old_handler_;
    bool ok_ = false;
};

TEST(ModelWriter, FailedWritesNameTheFile) {
    const Model m = hfio_test::random_model(64, 96, 2, 4, 2, 200, false, 16);
    TempDir dir;
    {
        // No room for the planned size: create() fails (in write_model's temporary
        // "<out>.partial") and leaves nothing.
        FileSizeLimit limit(4096);
        ASSERT_TRUE(limit.ok());
        expect_error([&] { write_model(m, dir.file("small"), hf_options()); }, SURGEON_ERR_IO,
                     "small.partial/model.safetensors.partial': File too large");
        expect_error([&] { write_model(m, dir.file("small.bin"), llama2c_options()); }, SURGEON_ERR_IO,
                     "small.bin.partial.partial': File too large");
    }
    EXPECT_TRUE(dir_names(dir.path().string()).empty());
    // The space is there, then a write past the limit fails: the error names the file.
    auto w = ModelWriter::create(dir.file("late"), m.config, ffn_of(m), hf_options());
    {
        FileSizeLimit limit(8192);
        ASSERT_TRUE(limit.ok());
        expect_error([&] { w->write_classifier_rows(0, m.wcls); }, SURGEON_ERR_IO,
                     "cannot write '" + dir.file("late/model.safetensors.partial") + "': File too large");
    }
}

// ---------------------------------------------------------------------------------------
// Random checkpoints

ModelConfig random_config(bool shared) {
    ModelConfig c;
    c.dim = 64;
    c.hidden_dim = 96;
    c.n_layers = 3;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.vocab_size = 5000;  // more rows than one generation slice
    c.seq_len = 64;
    c.shared_classifier = shared;
    return c;
}

TEST(RandomCheckpoint, IsDeterministicLoadableAndNormal) {
    TempDir dir;
    const ModelConfig c = random_config(false);
    write_random_checkpoint(dir.file("a"), c, Dtype::F32, 7, 200'000, 1);
    write_random_checkpoint(dir.file("b"), c, Dtype::F32, 7, 200'000, 3);
    write_random_checkpoint(dir.file("c"), c, Dtype::F32, 8, 200'000, 2);
    const auto a = dir_bytes(dir.file("a"));
    EXPECT_GT(a.size(), 3u);  // sharded
    EXPECT_EQ(a, dir_bytes(dir.file("b")));  // independent of the thread count
    EXPECT_NE(a, dir_bytes(dir.file("c")));

    const Model m = load_model(dir.file("a"));
    EXPECT_EQ(m.config.dim, 64);
    EXPECT_EQ(m.config.n_layers, 3);
    EXPECT_EQ(m.config.n_heads, 4);
    EXPECT_EQ(m.config.n_kv_heads, 2);
    EXPECT_EQ(m.config.vocab_size, 5000);
    EXPECT_EQ(m.config.seq_len, 64);
    EXPECT_FALSE(m.config.shared_classifier);
    validate_shapes(m);
    EXPECT_EQ(m.layers[2].w2.cols, 96);
    // Every weight matrix is N(0, 0.02²): sample moments within a few standard errors, and
    // the matrices differ from one another.
    auto check = [](const Matrix& x, const std::string& what) {
        double sum = 0, sq = 0, fourth = 0;
        for (float v : x.data) {
            sum += v;
            sq += double(v) * v;
            fourth += double(v) * v * v * v;
        }
        const double n = static_cast<double>(x.data.size());
        const double mean = sum / n, var = sq / n - mean * mean;
        EXPECT_NEAR(mean, 0.0, 5 * 0.02 / std::sqrt(n)) << what;
        EXPECT_NEAR(std::sqrt(var), 0.02, 5 * 0.02 / std::sqrt(2 * n)) << what;
        EXPECT_NEAR(fourth / n / (var * var), 3.0, 0.5) << what << " kurtosis";
    };
    check(m.tok_emb, "tok_emb");
    check(m.wcls, "wcls");
    for (const auto& L : m.layers) {
        for (const char* name : kLinearNames) check(linear(L, name), name);
        EXPECT_TRUE(std::all_of(L.rms_att.begin(), L.rms_att.end(), [](float v) { return v == 1.0f; }));
        EXPECT_TRUE(std::all_of(L.rms_ffn.begin(), L.rms_ffn.end(), [](float v) { return v == 1.0f; }));
    }
    EXPECT_NE(m.layers[0].w1.data, m.layers[0].w3.data);
    EXPECT_NE(m.layers[0].w1.data, m.layers[1].w1.data);
    EXPECT_NE(m.tok_emb.data, m.wcls.data);
    EXPECT_TRUE(std::all_of(m.rms_final.begin(), m.rms_final.end(), [](float v) { return v == 1.0f; }));

    // The same values as bf16 and as a llama2.c file.
    write_random_checkpoint(dir.file("bf16"), c, Dtype::BF16, 7, 5'000'000'000, 0);
    const Model half = load_model(dir.file("bf16"));
    for (size_t i = 0; i < m.layers[1].wv.data.size(); ++i)
        ASSERT_EQ(half.layers[1].wv.data[i], hfio_test::bf16_round(m.layers[1].wv.data[i]));
    write_random_checkpoint(dir.file("m.bin"), c, Dtype::F32, 7, 1, 2);
    hfio_test::expect_same_model(m, read_llama2c(dir.file("m.bin")));
    expect_error([&] { write_random_checkpoint(dir.file("m.bin"), c, Dtype::F32, 7, 1, 2); }, SURGEON_ERR_IO, "exists");
    expect_error([&] { write_random_checkpoint(dir.file("h.bin"), c, Dtype::F16, 7, 1, 2); },
                 SURGEON_ERR_INVALID_ARGUMENT, "float32 only");
}

}  // namespace
