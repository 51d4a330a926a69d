// surgeon-make-checkpoint: a random Llama-family checkpoint of any shape (weights
// N(0, 0.02²), norm gains 1), written block by block, so a 7B shape needs about one
// block of memory. Only the shapes mean anything; it feeds the streamed-pipeline
// benchmarks and tests at real model sizes.
//
//   surgeon-make-checkpoint --out DIR|FILE.bin --dim 4096 --ffn 11008 --blocks 32
//                           --heads 32 [--kv-heads 32] --vocab 32000 [--dtype bf16]
//                           [--seed 1] [--max-shard-size 5GB] [--seq-len 2048]
//                           [--untied] [--threads N] [--tokens FILE --token-count N]
//                           [--family llama|mistral|qwen2|qwen3|mixtral|qwen2_moe|qwen3_moe]
//                           [--head-dim N] [--rope-llama3 FACTOR] [--sliding-window N]
//                           [--experts N --top-k K --expert-ffn N [--shared-ffn N] [--fused]]
//
// --family sets the family's parts (docs/models.md): qwen2 q/k/v biases, qwen3 q/k norms,
// mixtral / qwen*_moe experts; --rope-llama3 adds Llama 3 RoPE scaling (low 1, high 4,
// original context seq-len / 4).
//
// --tokens also writes N uniformly random int32 token ids below the vocabulary size (the
// --calib-tokens / --tokens format of `surgeon compress` and `surgeon eval`).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/model_writer.hpp"
#include "io/random_checkpoint.hpp"
#include "bench_util.hpp"

using namespace surgeon;
using namespace surgeon::model;

namespace {

[[noreturn]] void usage(const std::string& why) {
    std::fprintf(stderr,
                 "surgeon-make-checkpoint: %s\n"
                 "usage: surgeon-make-checkpoint --out DIR|FILE.bin --dim N --ffn N --blocks N --heads N\n"
                 "       [--kv-heads N] --vocab N [--dtype f32|f16|bf16] [--seed N] [--max-shard-size 5GB]\n"
                 "       [--seq-len 2048] [--untied] [--threads N] [--tokens FILE --token-count N]\n"
                 "       [--family F] [--head-dim N] [--rope-llama3 FACTOR] [--sliding-window N]\n"
                 "       [--experts N --top-k K --expert-ffn N [--shared-ffn N] [--fused]]\n",
                 why.c_str());
    std::exit(2);
}

int64_t positive(const std::string& flag, const std::string& text) {
    char* end = nullptr;
    const long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || v <= 0) usage(flag + " needs a positive integer, got '" + text + "'");
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    std::string out, dtype_text = "bf16", shard_text = "5GB", tokens_path;
    int64_t token_count = 0;
    ModelConfig c;
    c.seq_len = 2048;
    c.norm_eps = 1e-5f;
    c.shared_classifier = true;
    uint64_t seed = 1;
    int threads = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--help" || flag == "-h") usage("a random checkpoint of a given shape");
        if (flag == "--untied") {
            c.shared_classifier = false;
            continue;
        }
        if (flag == "--fused") {
            c.moe.fused = true;
            continue;
        }
        if (i + 1 >= argc) usage(flag + " needs a value");
        const std::string value = argv[++i];
        if (flag == "--out") out = value;
        else if (flag == "--dim") c.dim = positive(flag, value);
        else if (flag == "--ffn") c.hidden_dim = positive(flag, value);
        else if (flag == "--blocks") c.n_layers = positive(flag, value);
        else if (flag == "--heads") c.n_heads = positive(flag, value);
        else if (flag == "--kv-heads") c.n_kv_heads = positive(flag, value);
        else if (flag == "--vocab") c.vocab_size = positive(flag, value);
        else if (flag == "--seq-len") c.seq_len = positive(flag, value);
        else if (flag == "--seed") seed = static_cast<uint64_t>(positive(flag, value));
        else if (flag == "--threads") threads = static_cast<int>(positive(flag, value));
        else if (flag == "--dtype") dtype_text = value;
        else if (flag == "--max-shard-size") shard_text = value;
        else if (flag == "--tokens") tokens_path = value;
        else if (flag == "--token-count") token_count = positive(flag, value);
        else if (flag == "--family") c.family = value;
        else if (flag == "--head-dim") c.head_dim = positive(flag, value);
        else if (flag == "--rope-llama3") {
            c.rope_scaling.kind = RopeScalingKind::llama3;
            c.rope_scaling.factor = std::strtod(value.c_str(), nullptr);
            if (!(c.rope_scaling.factor >= 1.0)) usage("--rope-llama3 needs a factor >= 1");
        }
        else if (flag == "--sliding-window") c.sliding_window = positive(flag, value);
        else if (flag == "--experts") c.moe.n_experts = positive(flag, value);
        else if (flag == "--top-k") c.moe.top_k = positive(flag, value);
        else if (flag == "--expert-ffn") c.moe.expert_dim = positive(flag, value);
        else if (flag == "--shared-ffn") c.moe.shared_dim = positive(flag, value);
        else usage("unknown option " + flag);
    }
    if (out.empty()) usage("--out is required");
    if (!c.dim || !c.hidden_dim || !c.n_layers || !c.n_heads || !c.vocab_size)
        usage("--dim, --ffn, --blocks, --heads and --vocab are required");
    if (!c.n_kv_heads) c.n_kv_heads = c.n_heads;
    const std::string& fam = c.family;
    if (fam != "llama" && fam != "mistral" && fam != "qwen2" && fam != "qwen3" && fam != "mixtral" &&
        fam != "qwen2_moe" && fam != "qwen3_moe")
        usage("unknown --family " + fam);
    c.qkv_bias = fam == "qwen2" || fam == "qwen2_moe";
    c.qk_norm = fam == "qwen3" || fam == "qwen3_moe";
    if (c.rope_scaling.kind == RopeScalingKind::llama3) c.rope_scaling.original_max_positions = c.seq_len / 4;
    if (c.sliding_window && fam != "mistral" && fam != "mixtral") usage("--sliding-window is Mistral's and Mixtral's");
    const bool moe_family = fam == "mixtral" || fam == "qwen2_moe" || fam == "qwen3_moe";
    if (moe_family != (c.moe.n_experts > 0) || (moe_family && (!c.moe.top_k || !c.moe.expert_dim)))
        usage("--experts, --top-k and --expert-ffn go with (and only with) a MoE --family");
    if ((fam == "qwen2_moe") != (c.moe.shared_dim > 0)) usage("--shared-ffn goes with --family qwen2_moe");
    c.moe.norm_topk_prob = fam != "qwen2_moe";
    if (tokens_path.empty() != (token_count == 0)) usage("--tokens and --token-count go together");
    try {
        const Dtype dtype = parse_float_dtype(dtype_text);
        const double t0 = bench::now();
        write_random_checkpoint(out, c, dtype, seed, parse_byte_size(shard_text), threads);
        std::printf("wrote %s (%s, seed %llu) in %.1f s\n", out.c_str(), dtype_name(dtype),
                    static_cast<unsigned long long>(seed), bench::now() - t0);
        if (!tokens_path.empty()) {
            std::mt19937_64 rng(seed);
            std::vector<int32_t> ids(static_cast<size_t>(token_count));
            for (int32_t& id : ids) id = static_cast<int32_t>(rng() % static_cast<uint64_t>(c.vocab_size));
            std::ofstream f(tokens_path, std::ios::binary);
            f.write(reinterpret_cast<const char*>(ids.data()), static_cast<std::streamsize>(ids.size() * sizeof(int32_t)));
            if (!f) fail(SURGEON_ERR_IO, "cannot write '" + tokens_path + "'");
            std::printf("wrote %s (%lld token ids)\n", tokens_path.c_str(), static_cast<long long>(token_count));
        }
    } catch (const Error& e) {
        std::fprintf(stderr, "surgeon-make-checkpoint: %s\n", e.what());
        return 1;
    }
    return 0;
}
