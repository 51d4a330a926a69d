// The families' Hugging Face names, shapes and config keys as written, read back: every
// tensor of a Qwen2-MoE (biases, shared expert, its gate, per-expert projections), a
// Mixtral (block_sparse_moe), a fused-expert Qwen3-MoE (3-D tensors, q/k norms) and a
// Llama 3 config (rope_scaling) round trip through the writer and the reader unchanged.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "io/hf_model.hpp"
#include "io/random_checkpoint.hpp"
#include "io/safetensors.hpp"
#include "hf_util.hpp"

using namespace surgeon;
using namespace surgeon::model;

namespace {

using hfio_test::TempDir;

ModelConfig small(const std::string& family) {
    ModelConfig c;
    c.family = family;
    c.dim = 32;
    c.hidden_dim = 48;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.vocab_size = 50;
    c.seq_len = 64;
    return c;
}

nlohmann::json config_of(const TempDir& dir, const std::string& name) {
    std::ifstream f(dir.file(name) + "/config.json");
    return nlohmann::json::parse(f);
}

void expect_same_model(const Model& a, const Model& b) {
    ASSERT_EQ(a.layers.size(), b.layers.size());
    for (size_t l = 0; l < a.layers.size(); ++l) {
        const LayerWeights &x = a.layers[l], &y = b.layers[l];
        EXPECT_EQ(x.wq.data, y.wq.data);
        EXPECT_EQ(x.wk.data, y.wk.data);
        EXPECT_EQ(x.bq, y.bq);
        EXPECT_EQ(x.bk, y.bk);
        EXPECT_EQ(x.bv, y.bv);
        EXPECT_EQ(x.q_norm, y.q_norm);
        EXPECT_EQ(x.k_norm, y.k_norm);
        EXPECT_EQ(x.w1.data, y.w1.data);
        EXPECT_EQ(x.router.data, y.router.data);
        EXPECT_EQ(x.shared_gate.data, y.shared_gate.data);
        ASSERT_EQ(x.experts.size(), y.experts.size());
        for (size_t e = 0; e < x.experts.size(); ++e) {
            EXPECT_EQ(x.experts[e].w1.data, y.experts[e].w1.data);
            EXPECT_EQ(x.experts[e].w2.data, y.experts[e].w2.data);
            EXPECT_EQ(x.experts[e].w3.data, y.experts[e].w3.data);
        }
    }
}

TEST(FamiliesIo, Qwen2MoeTensorsAndConfigRoundTrip) {
    TempDir dir;
    ModelConfig c = small("qwen2_moe");
    c.qkv_bias = true;
    c.moe = MoeConfig{3, 2, 16, 24, false, false, 1, {1}};  // block 1 dense
    write_random_checkpoint(dir.file("m"), c, Dtype::F32, 3, uint64_t{1} << 30, 1);
    const TensorStore st(dir.file("m"));
    const std::string p = "model.layers.0.";
    EXPECT_EQ(st.info(p + "self_attn.q_proj.bias").shape, (std::vector<int64_t>{32}));
    EXPECT_EQ(st.info(p + "self_attn.k_proj.bias").shape, (std::vector<int64_t>{16}));
    EXPECT_EQ(st.info(p + "mlp.gate.weight").shape, (std::vector<int64_t>{3, 32}));
    EXPECT_EQ(st.info(p + "mlp.experts.2.down_proj.weight").shape, (std::vector<int64_t>{32, 16}));
    EXPECT_EQ(st.info(p + "mlp.shared_expert.up_proj.weight").shape, (std::vector<int64_t>{24, 32}));
    EXPECT_EQ(st.info(p + "mlp.shared_expert_gate.weight").shape, (std::vector<int64_t>{1, 32}));
    EXPECT_FALSE(st.contains(p + "self_attn.o_proj.bias"));
    EXPECT_EQ(st.info("model.layers.1.mlp.gate_proj.weight").shape, (std::vector<int64_t>{48, 32}));
    EXPECT_FALSE(st.contains("model.layers.1.mlp.gate.weight"));
    const nlohmann::json j = config_of(dir, "m");
    EXPECT_EQ(j.at("model_type"), "qwen2_moe");
    EXPECT_EQ(j.at("architectures")[0], "Qwen2MoeForCausalLM");
    EXPECT_EQ(j.at("num_experts"), 3);
    EXPECT_EQ(j.at("moe_intermediate_size"), 16);
    EXPECT_EQ(j.at("shared_expert_intermediate_size"), 24);
    EXPECT_EQ(j.at("mlp_only_layers"), nlohmann::json::array({1}));
    EXPECT_EQ(j.at("norm_topk_prob"), false);

    const Model m = load_hf(dir.file("m"));
    EXPECT_TRUE(m.config.qkv_bias);
    EXPECT_FALSE(m.config.o_bias);
    EXPECT_TRUE(m.config.is_moe_block(0));
    EXPECT_FALSE(m.config.is_moe_block(1));
    save_hf(m, dir.file("again"), Dtype::F32);
    expect_same_model(m, load_hf(dir.file("again")));
    // The bytes of a tensor whose rows are reordered on the way in come back the same.
    const TensorStore again(dir.file("again"));
    EXPECT_EQ(again.read_f32(p + "self_attn.q_proj.bias"), st.read_f32(p + "self_attn.q_proj.bias"));
    EXPECT_EQ(again.read_f32(p + "self_attn.k_proj.weight"), st.read_f32(p + "self_attn.k_proj.weight"));
}

TEST(FamiliesIo, MixtralAndFusedExpertLayouts) {
    TempDir dir;
    ModelConfig c = small("mixtral");
    c.moe = MoeConfig{4, 2, 16, 0, true, false, 1, {}};
    c.sliding_window = 16;
    write_random_checkpoint(dir.file("mixtral"), c, Dtype::BF16, 5, uint64_t{1} << 30, 1);
    const TensorStore st(dir.file("mixtral"));
    EXPECT_EQ(st.info("model.layers.1.block_sparse_moe.gate.weight").shape, (std::vector<int64_t>{4, 32}));
    EXPECT_EQ(st.info("model.layers.1.block_sparse_moe.experts.3.w2.weight").shape, (std::vector<int64_t>{32, 16}));
    EXPECT_FALSE(st.contains("model.layers.1.mlp.gate_proj.weight"));
    const nlohmann::json j = config_of(dir, "mixtral");
    EXPECT_EQ(j.at("num_local_experts"), 4);
    EXPECT_EQ(j.at("intermediate_size"), 16);
    EXPECT_EQ(j.at("sliding_window"), 16);
    const Model m = load_hf(dir.file("mixtral"));
    EXPECT_EQ(m.config.sliding_window, 16);
    EXPECT_TRUE(m.config.moe.norm_topk_prob);

    ModelConfig q = small("qwen3_moe");
    q.qk_norm = true;
    q.head_dim = 16;
    q.moe = MoeConfig{3, 1, 8, 0, true, true, 1, {}};
    write_random_checkpoint(dir.file("fused"), q, Dtype::F32, 9, uint64_t{1} << 30, 1);
    const TensorStore f(dir.file("fused"));
    EXPECT_EQ(f.info("model.layers.0.mlp.experts.gate_up_proj").shape, (std::vector<int64_t>{3, 16, 32}));
    EXPECT_EQ(f.info("model.layers.0.mlp.experts.down_proj").shape, (std::vector<int64_t>{3, 32, 8}));
    EXPECT_EQ(f.info("model.layers.0.self_attn.q_norm.weight").shape, (std::vector<int64_t>{16}));
    const Model fm = load_hf(dir.file("fused"));
    EXPECT_TRUE(fm.config.moe.fused);
    // Expert 1's up projection is rows 8..15 of slab 1.
    const std::vector<float> slab = f.read_f32_rows("model.layers.0.mlp.experts.gate_up_proj", 1, 2);
    EXPECT_EQ(std::vector<float>(slab.begin() + 8 * 32, slab.end()),
              std::vector<float>(fm.layers[0].experts[1].w3.data.begin(), fm.layers[0].experts[1].w3.data.end()));
    save_hf(fm, dir.file("fused2"), Dtype::F32);
    expect_same_model(fm, load_hf(dir.file("fused2")));
    EXPECT_EQ(TensorStore(dir.file("fused2")).read_f32("model.layers.1.mlp.experts.down_proj"),
              f.read_f32("model.layers.1.mlp.experts.down_proj"));
}

TEST(FamiliesIo, RopeScalingConfigRoundTripsAndRefusals) {
    TempDir dir;
    ModelConfig c = small("llama");
    c.rope_scaling = {RopeScalingKind::llama3, 8.0, 1.0, 4.0, 8192};
    write_random_checkpoint(dir.file("l3"), c, Dtype::F32, 1, uint64_t{1} << 30, 1);
    const nlohmann::json j = config_of(dir, "l3");
    EXPECT_EQ(j.at("rope_scaling").at("rope_type"), "llama3");
    EXPECT_EQ(j.at("rope_scaling").at("original_max_position_embeddings"), 8192);
    const Model m = load_hf(dir.file("l3"));
    EXPECT_EQ(m.config.rope_scaling.kind, RopeScalingKind::llama3);
    EXPECT_EQ(m.config.rope_scaling.factor, 8.0);
    EXPECT_EQ(m.config.rope_scaling.high_freq_factor, 4.0);
    // rope_parameters (newer transformers) carries the theta too.
    nlohmann::json k = j;
    k.erase("rope_scaling");
    k["rope_parameters"] = {{"rope_type", "linear"}, {"factor", 2.0}, {"rope_theta", 1e6}};
    hfio_test::write_json(dir.file("l3") + "/config.json", k);
    const Model lin = load_hf(dir.file("l3"));
    EXPECT_EQ(lin.config.rope_scaling.kind, RopeScalingKind::linear);
    EXPECT_EQ(lin.config.rope_theta, 1e6f);
    // llama3 without its original context, and families we do not model.
    k["rope_parameters"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
    hfio_test::write_json(dir.file("l3") + "/config.json", k);
    hfio_test::expect_error([&] { load_hf(dir.file("l3")); }, SURGEON_ERR_IO, "original_max_position_embeddings");
    k.erase("rope_parameters");
    k["model_type"] = "deepseek_v3";
    hfio_test::write_json(dir.file("l3") + "/config.json", k);
    hfio_test::expect_error([&] { load_hf(dir.file("l3")); }, SURGEON_ERR_UNSUPPORTED, "model_type 'deepseek_v3'");
    // The llama2.c format holds the plain block only.
    hfio_test::expect_error([&] { write_random_checkpoint(dir.file("m.bin"), c, Dtype::F32, 1, 1 << 30, 1); },
                            SURGEON_ERR_UNSUPPORTED, "llama2.c");
}

}  // namespace
