// Writes the seed corpora of tests/fuzz/corpus/<target>/ from the library's own writers and
// the bundled data (samples/data): `surgeon-fuzz-seeds <source dir>`. Run once when a
// format changes; the seeds are committed.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/context.hpp"
#include "core/npy.hpp"
#include "support.hpp"
#include "io/random_checkpoint.hpp"
#include "io/safetensors.hpp"
#include "io/tokenizer.hpp"
#include "layer/hessian/hessian.hpp"
#include "structured/prunenet.hpp"

using namespace surgeon;
namespace fs = std::filesystem;

namespace {

std::vector<char> slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void put(const fs::path& path, const std::vector<char>& bytes) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void put(const fs::path& path, const std::string& text) { put(path, std::vector<char>(text.begin(), text.end())); }

// The first `entries` entries of a llama2.c tokenizer file (max length, then per entry a
// float score, an int32 length and the bytes).
std::vector<char> tokenizer_prefix(const std::vector<char>& file, int entries) {
    size_t pos = 4;
    for (int i = 0; i < entries && pos + 8 <= file.size(); ++i) {
        int32_t len = 0;
        std::memcpy(&len, file.data() + pos + 4, 4);
        pos += 8 + static_cast<size_t>(len);
    }
    return {file.begin(), file.begin() + static_cast<std::ptrdiff_t>(std::min(pos, file.size()))};
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <surgeon source dir>\n", argv[0]);
        return 2;
    }
    const fs::path src = argv[1];
    const fs::path corpus = src / "tests/fuzz/corpus";
    const fs::path data = src / "samples/data";
    const std::string tmp = fuzz::work_dir();
    const model::ModelConfig config = fuzz::tiny_config();

    // HF directory: its model.safetensors and config.json.
    model::write_random_checkpoint(tmp + "/hf", config, model::Dtype::F16, 1, 1 << 20, 1);
    put(corpus / "safetensors/tiny_model.safetensors", slurp(tmp + "/hf/model.safetensors"));
    put(corpus / "hf_config/config.json", slurp(tmp + "/hf/config.json"));
    // Every readable dtype and metadata in one file.
    {
        model::SafetensorsWriter w;
        const std::vector<float> f = {1.5f, -2.0f, 0.25f, 3.0f, -0.5f, 8.0f};
        const std::vector<int32_t> i = {0, -1, 7, 42};
        const std::vector<uint8_t> u = {1, 2, 3};
        w.add_float("a.f32", {2, 3}, f.data(), model::Dtype::F32);
        w.add_float("b.bf16", {6}, f.data(), model::Dtype::BF16);
        w.add_float("c.f16", {3, 1, 2}, f.data(), model::Dtype::F16);
        w.add_i32("d.i32", {4}, i.data());
        w.add_u8("e.u8", {3}, u.data());
        w.set_metadata("format", "pt");
        w.write(tmp + "/mixed.safetensors");
        put(corpus / "safetensors/dtypes.safetensors", slurp(tmp + "/mixed.safetensors"));
    }

    // llama2.c: a tiny random checkpoint and the head of stories260K.bin (its real header).
    model::write_random_checkpoint(tmp + "/tiny.bin", config, model::Dtype::F32, 2, 0, 1);
    put(corpus / "llama2c/tiny.bin", slurp(tmp + "/tiny.bin"));
    {
        std::vector<char> head = slurp((data / "stories260K.bin").string());
        head.resize(std::min<size_t>(head.size(), 2048));
        put(corpus / "llama2c/stories260K_head.bin", head);
    }

    // .npy in each stored dtype.
    {
        const std::vector<float> v = {1, -2, 3.5f, 0, 1e-3f, -7, 2, 4, 8, 16, 0.5f, 9};
        write_npy(tmp + "/a.npy", {3, 4}, v.data(), NpyDtype::f32);
        write_npy(tmp + "/b.npy", {5}, v.data(), NpyDtype::f16);
        write_npy(tmp + "/c.npy", {2, 1, 3}, v.data(), NpyDtype::f64);
        for (const char* n : {"a.npy", "b.npy", "c.npy"}) put(corpus / "npy" / n, slurp(tmp + "/" + n));
    }

    // Tokenizer: tok512.bin whole (6 KB) and its first 40 entries; token ids of a sentence.
    const std::vector<char> tok512 = slurp((data / "tok512.bin").string());
    put(corpus / "tokenizer/tok512.bin", tok512);
    put(corpus / "tokenizer/tok512_40.bin", tokenizer_prefix(tok512, 40));
    {
        const auto tok = model::Tokenizer::load((data / "tok512.bin").string());
        model::write_token_file(tok.encode("Once upon a time, there was a little girl named Lily.", true, true),
                                tmp + "/tokens.bin");
        put(corpus / "tokens/sentence.bin", slurp(tmp + "/tokens.bin"));
    }

    // Hessian: six columns from a few rows, without the trailing checksum (fuzz_hessian
    // appends it).
    {
        Hessian h(default_context(), 6);
        const std::vector<float> x = {1, 2, 0, -1, 0.5f, 3, -2, 1, 1, 0, 2, -1, 0, 0, 4, 1, -3, 2};
        h.add(x.data(), 3, 6);
        h.save(tmp + "/h.bin");
        std::vector<char> bytes = slurp(tmp + "/h.bin");
        bytes.resize(bytes.size() - 8);
        put(corpus / "hessian/cols6.bin", bytes);
    }

    // Recipes (docs/recipes.md).
    put(corpus / "recipe/rules.json",
        "{ \"default\": {\"method\": \"sparsegpt\", \"sparsity\": 0.5},\n"
        "  \"rules\": [ {\"match\": \"layers.0.*\", \"skip\": true},\n"
        "             {\"match\": \"*.w2\", \"method\": \"gptq\", \"bits\": 8, \"group\": 128} ] }\n");
    put(corpus / "recipe/nm.json",
        "{\"default\": {\"method\": \"sparsegpt\", \"nm\": \"2:4\", \"bits\": 4, \"group\": 16, \"sym\": false,"
        " \"mse\": true, \"damp\": 0.02, \"blocksize\": 64, \"mask_scope\": \"row\"},"
        " \"rules\": [{\"match\": \"*.w[13]\", \"method\": \"wanda\", \"sparsity\": 0.6},"
        " {\"match\": \"layers.1[0-9].*\", \"method\": \"rtn\", \"bits\": 3}]}\n");
    put(corpus / "recipe/mixed.json",
        "{ \"default\": {\"method\": \"gptq\", \"act_order\": true, \"static_groups\": true,\n"
        "              \"mixed\": {\"allocator\": \"error\", \"avg_bits\": 3.5, \"error_model\": \"solver\"}},\n"
        "  \"rules\": [ {\"match\": \"layers.[3-4].*\", \"mixed\": {\"avg_bits\": 4.5}},\n"
        "             {\"match\": \"*.wo\", \"mixed\": {\"allocator\": \"budget\"}} ] }\n");

    // PruneNet policy.
    structured::Policy(8, 4, 3).save(tmp + "/policy.json");
    put(corpus / "prunenet/policy.json", slurp(tmp + "/policy.json"));
    std::printf("seeds written under %s\n", corpus.string().c_str());
    return 0;
}
