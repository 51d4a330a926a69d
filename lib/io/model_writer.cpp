#include "io/model_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/half.hpp"
#include "core/output_file.hpp"
#include "io/hf_model.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "checkpoints are little-endian and written without byte swapping");

namespace surgeon::model {

// ---------------------------------------------------------------------------------------
// Byte sizes

uint64_t parse_byte_size(const std::string& text) {
    auto bad = [&](const std::string& why) -> uint64_t {
        fail(SURGEON_ERR_INVALID_ARGUMENT, "invalid size '" + text + "': " + why +
                                               " (examples: 5GB, 500MB, 1.5GB, 2GiB, 123456)");
    };
    size_t i = 0;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    // The number as `whole` + `fraction` / `scale`, exactly.
    uint64_t whole = 0, fraction = 0, scale = 1;
    int digits = 0;
    bool point = false;
    for (; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '.' && !point) {
            point = true;
            continue;
        }
        if (!std::isdigit(static_cast<unsigned char>(c))) break;
        const uint64_t d = static_cast<uint64_t>(c - '0');
        ++digits;
        if (point) {
            if (scale == 1'000'000) return bad("more than 6 decimals");
            fraction = fraction * 10 + d;
            scale *= 10;
        } else {
            if (whole > (std::numeric_limits<uint64_t>::max() - d) / 10) return bad("too large");
            whole = whole * 10 + d;
        }
    }
    if (digits == 0) return bad("no number");
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    std::string unit;
    for (; i < text.size(); ++i) {
        if (std::isspace(static_cast<unsigned char>(text[i]))) break;
        unit += static_cast<char>(std::toupper(static_cast<unsigned char>(text[i])));
    }
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i != text.size()) return bad("unexpected text after the unit");
    struct Unit {
        const char* name;
        uint64_t bytes;
    };
    constexpr Unit units[] = {{"", 1},
                              {"B", 1},
                              {"KB", 1'000},
                              {"MB", 1'000'000},
                              {"GB", 1'000'000'000},
                              {"TB", 1'000'000'000'000},
                              {"KIB", uint64_t{1} << 10},
                              {"MIB", uint64_t{1} << 20},
                              {"GIB", uint64_t{1} << 30},
                              {"TIB", uint64_t{1} << 40}};
    const Unit* found = nullptr;
    for (const Unit& u : units)
        if (unit == u.name) found = &u;
    if (!found) return bad("unknown unit '" + unit + "'");
    // fraction < 10^6 and a unit ≤ 2^40 keep fraction · unit below 2^64.
    if (whole > std::numeric_limits<uint64_t>::max() / found->bytes) return bad("too large");
    const uint64_t bytes = whole * found->bytes + fraction * found->bytes / scale;
    if (bytes < whole * found->bytes) return bad("too large");
    if (bytes == 0) return bad("the size must be at least one byte");
    return bytes;
}

namespace {

namespace fs = std::filesystem;

constexpr const char* kPartial = kPartialSuffix;
constexpr size_t kChunkBytes = size_t{8} << 20;  // conversion buffer of one write

[[noreturn]] void os_fail(const std::string& what, const std::string& path, int err) {
    fail(SURGEON_ERR_IO, what + " '" + path + "': " + std::strerror(err));
}

void pwrite_all(int fd, const char* p, size_t n, uint64_t offset, const std::string& path) {
    while (n > 0) {
        const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(offset));
        if (w < 0) {
            if (errno == EINTR) continue;
            os_fail("cannot write", path, errno);
        }
        if (w == 0) fail(SURGEON_ERR_IO, "cannot write '" + path + "': short write");
        p += w;
        n -= static_cast<size_t>(w);
        offset += static_cast<uint64_t>(w);
    }
}

bool pread_all(int fd, char* p, size_t n, uint64_t offset) {
    while (n > 0) {
        const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(offset));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= static_cast<size_t>(r);
        offset += static_cast<uint64_t>(r);
    }
    return true;
}

void fsync_or_fail(int fd, const std::string& path) {
    if (::fsync(fd) != 0) os_fail("cannot flush", path, errno);
}

void rename_or_fail(const std::string& from, const std::string& to) {
    if (std::rename(from.c_str(), to.c_str()) != 0) os_fail("cannot rename '" + from + "' to", to, errno);
}

// The tensors of one block, in the order of LayerWeights.
enum BlockTensor { kRmsAtt, kWq, kWk, kWv, kWo, kRmsFfn, kW1, kW2, kW3, kBlockTensors };

struct OutFile {
    std::string final_path;
    std::string head;   // the bytes at offset 0 (safetensors or llama2.c header)
    uint64_t size = 0;  // planned file size
    int fd = -1;
    bool reopened_final = false;  // a resume found it already renamed (a crash inside finish)

    std::string partial_path() const { return final_path + kPartial; }
    std::string open_path() const { return reopened_final ? final_path : partial_path(); }
};

// One tensor of the output: `rows` × `cols` values (a vector is 1 × n) at `offset`.
struct Slot {
    std::string name;
    std::vector<int64_t> shape;  // as stored (HF header)
    size_t file = 0;
    uint64_t offset = 0;  // absolute byte offset in its file
    int64_t rows = 0, cols = 0;
    int64_t qk_heads = 0;     // > 0: rows reordered to HF's rotate-half layout
    std::vector<bool> done;   // per row

    uint64_t bytes(Dtype d) const { return static_cast<uint64_t>(rows * cols) * dtype_size(d); }
};

struct Plan {
    ModelFormat format = ModelFormat::hf;
    std::string path;  // the HF directory or the llama2.c file
    std::vector<OutFile> files;
    std::vector<Slot> slots;  // in file order
    int64_t embedding = -1, classifier = -1, final_norm = -1;
    ModelConfig config;
    std::vector<int64_t> ffn;  // FFN width per block
    // Slot ids of each block's tensors: llama2.c in BlockTensor order, HF in the order of
    // hf_block_parts.
    std::vector<std::vector<int64_t>> blocks;
    // HF
    std::string config_text, index_text;  // index_text empty for one shard
    // llama2.c: the RoPE tables, written by create()
    uint64_t rope_offset = 0;
    std::vector<float> rope;
};

void check_plan_inputs(const ModelConfig& c, const std::vector<int64_t>& ffn, const WriterOptions& o) {
    require_arg(c.dim > 0 && c.n_layers >= 0 && c.n_heads > 0 && c.n_kv_heads > 0 && c.vocab_size > 0 &&
                    c.seq_len > 0,
                "model config has a non-positive size");
    require_arg(c.attention_consistent(), "model config: heads of unequal or odd size");
    require_arg(static_cast<int64_t>(ffn.size()) == c.n_layers,
                std::to_string(ffn.size()) + " FFN sizes for " + std::to_string(c.n_layers) + " blocks");
    for (size_t b = 0; b < ffn.size(); ++b)
        require_arg(ffn[b] > 0 || (ffn[b] == 0 && c.is_moe_block(static_cast<int64_t>(b))),
                    "non-positive FFN size " + std::to_string(ffn[b]));
    if (c.moe.n_experts > 0)
        require_arg(c.moe.top_k >= 1 && c.moe.top_k <= c.moe.n_experts && c.moe.expert_dim > 0,
                    "MoE config: top_k must be in [1, experts] and the expert width positive");
    if (o.format == ModelFormat::hf) {
        require_arg(o.dtype == Dtype::F32 || o.dtype == Dtype::F16 || o.dtype == Dtype::BF16,
                    std::string("HF weights must be F32, F16 or BF16, not ") + dtype_name(o.dtype));
        require_arg(o.max_shard_bytes > 0, "the shard size cap must be positive");
        return;
    }
    if (c.act_bits != 0)
        fail(SURGEON_ERR_UNSUPPORTED, "the llama2.c format cannot record activation quantization (" +
                                          std::to_string(c.act_bits) + "-bit activations): write a Hugging Face "
                                          "directory instead");
    if (!c.plain_llama())
        fail(SURGEON_ERR_UNSUPPORTED, "the llama2.c format holds the plain Llama block only; this " + c.family +
                                          " model has biases, q/k norms, RoPE scaling, a sliding window or "
                                          "experts: write a Hugging Face directory instead");
    require_arg(o.dtype == Dtype::F32,
                "llama2.c files are float32 only (got " + std::string(dtype_name(o.dtype)) + ")");
    const int64_t hidden = ffn.empty() ? c.hidden_dim : ffn[0];
    for (int64_t h : ffn)
        if (h != hidden)
            fail(SURGEON_ERR_UNSUPPORTED, "the llama2.c format stores one FFN size, but layers have " +
                                              std::to_string(hidden) + " and " + std::to_string(h) +
                                              ": write a Hugging Face directory instead");
    // The header has no head size: run.c derives it as dim / n_heads.
    if (c.q_dim() != c.dim)
        fail(SURGEON_ERR_UNSUPPORTED,
             "the llama2.c format derives the head size from dim / n_heads, but this model has " +
                 std::to_string(c.n_heads) + " heads of " + std::to_string(c.head_size()) + " (" +
                 std::to_string(c.q_dim()) + " != dim " + std::to_string(c.dim) +
                 ", attention heads were removed): write a Hugging Face directory instead");
    // run.c hard-codes these two; a model with other values would run wrongly there.
    if (c.norm_eps != 1e-5f || c.rope_theta != 10000.0f)
        fail(SURGEON_ERR_UNSUPPORTED, "the llama2.c format assumes norm eps 1e-5 and RoPE theta "
                                      "10000; this model has " + std::to_string(c.norm_eps) +
                                      " and " + std::to_string(c.rope_theta));
    for (int64_t v : {c.dim, hidden, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len})
        require_arg(v > 0 && v <= INT32_MAX, "model dimension out of the llama2.c header range");
}

// The (rows, cols) of each block tensor, in the order of LayerWeights.
std::array<std::pair<int64_t, int64_t>, kBlockTensors> block_shapes(const ModelConfig& c, int64_t ffn) {
    return {{{1, c.dim},
             {c.q_dim(), c.dim},
             {c.kv_dim(), c.dim},
             {c.kv_dim(), c.dim},
             {c.dim, c.q_dim()},
             {1, c.dim},
             {ffn, c.dim},
             {c.dim, ffn},
             {ffn, c.dim}}};
}

// One tensor of a block in an HF directory, in state-dict order. With a layer, `data`
// points at its values (`owned` when they had to be rearranged: q/k bias and norm
// vectors in HF order, fused 3-D expert tensors) and rows/cols are the layer's sizes.
struct BlockPart {
    std::string name;
    std::vector<int64_t> shape;  // as stored
    int64_t rows = 0, cols = 0;  // as written: rows × cols values
    int64_t qk_heads = 0;        // > 0: rows reordered to rotate-half (q/k projections)
    const float* data = nullptr;
    std::vector<float> owned;
};

std::vector<BlockPart> hf_block_parts(const ModelConfig& c, int64_t b, int64_t ffn, const LayerWeights* L) {
    std::vector<BlockPart> parts;  // pointers from add() last until the next add()
    auto add = [&](std::string name, int64_t rows, int64_t cols, bool vector, const float* data = nullptr) {
        BlockPart part;
        part.name = std::move(name);
        part.rows = rows;
        part.cols = cols;
        part.shape = vector ? std::vector<int64_t>{cols} : std::vector<int64_t>{rows, cols};
        part.data = data;
        parts.push_back(std::move(part));
        return &parts.back();
    };
    auto matrix = [&](std::string name, const Matrix* m, int64_t rows, int64_t cols) {
        return m ? add(std::move(name), m->rows, m->cols, false, m->data.data()) : add(std::move(name), rows, cols, false);
    };
    auto vec = [&](std::string name, const std::vector<float>* v, int64_t n, int64_t qk_heads = 0) {
        if (!v) return add(std::move(name), 1, n, true);
        BlockPart* part = add(std::move(name), 1, static_cast<int64_t>(v->size()), true);
        if (qk_heads > 0 && !v->empty()) {
            part->owned = permute_qk_vector_to_hf(*v, qk_heads);
            part->data = part->owned.data();
        } else {
            part->data = v->data();
        }
        return part;
    };
    const std::string layer = hf_layer_prefix(b);
    const int64_t d = c.dim, q = c.q_dim(), kv = c.kv_dim();
    vec(layer + "input_layernorm.weight", L ? &L->rms_att : nullptr, d);
    const struct {
        const char* name;
        const Matrix* w;
        int64_t rows, cols, heads;
        const std::vector<float>* bias;
        bool has_bias;
    } attention[] = {{"wq", L ? &L->wq : nullptr, q, d, c.n_heads, L ? &L->bq : nullptr, c.qkv_bias},
                     {"wk", L ? &L->wk : nullptr, kv, d, c.n_kv_heads, L ? &L->bk : nullptr, c.qkv_bias},
                     {"wv", L ? &L->wv : nullptr, kv, d, 0, L ? &L->bv : nullptr, c.qkv_bias},
                     {"wo", L ? &L->wo : nullptr, d, q, 0, L ? &L->bo : nullptr, c.o_bias}};
    for (const auto& a : attention) {
        matrix(hf_linear_prefix(b, a.name) + ".weight", a.w, a.rows, a.cols)->qk_heads = a.heads;
        if (a.has_bias) vec(hf_linear_prefix(b, a.name) + ".bias", a.bias, a.rows, a.heads);
    }
    if (c.qk_norm) {
        vec(hf_attention_extra(b, "q_norm"), L ? &L->q_norm : nullptr, c.head_size(), 1);
        vec(hf_attention_extra(b, "k_norm"), L ? &L->k_norm : nullptr, c.head_size(), 1);
    }
    vec(layer + "post_attention_layernorm.weight", L ? &L->rms_ffn : nullptr, d);
    const bool moe = c.is_moe_block(b);
    if (moe) {
        const std::string m = hf_moe_prefix(c, b);
        const int64_t E = c.moe.n_experts, f = c.moe.expert_dim;
        matrix(m + "gate.weight", L ? &L->router : nullptr, E, d);
        if (c.moe.fused) {
            add(m + "experts.gate_up_proj", E * 2 * f, d, false)->shape = {E, 2 * f, d};
            add(m + "experts.down_proj", E * d, f, false)->shape = {E, d, f};
            BlockPart* gate_up = &parts[parts.size() - 2];
            BlockPart* down = &parts.back();
            if (L) {
                // Fused tensors hold every expert at the planned width (shapes checked by the caller).
                gate_up->owned.reserve(static_cast<size_t>(E * 2 * f * d));
                down->owned.reserve(static_cast<size_t>(E * d * f));
                for (const Expert& x : L->experts) {
                    require_shape(x.w1.rows == f && x.w3.rows == f && x.w2.cols == f && x.w1.cols == d,
                                  "block " + std::to_string(b) + ": an expert is not " + std::to_string(f) + " × " +
                                      std::to_string(d) + " (the fused layout holds equal experts)");
                    gate_up->owned.insert(gate_up->owned.end(), x.w1.data.begin(), x.w1.data.end());
                    gate_up->owned.insert(gate_up->owned.end(), x.w3.data.begin(), x.w3.data.end());
                    down->owned.insert(down->owned.end(), x.w2.data.begin(), x.w2.data.end());
                }
                gate_up->rows = static_cast<int64_t>(gate_up->owned.size()) / d;
                down->rows = static_cast<int64_t>(down->owned.size()) / f;
                gate_up->data = gate_up->owned.data();
                down->data = down->owned.data();
            }
        } else {
            for (int64_t e = 0; e < E; ++e) {
                const Expert* x = L && e < static_cast<int64_t>(L->experts.size()) ? &L->experts[static_cast<size_t>(e)]
                                                                                     : nullptr;
                if (L && !x) fail(SURGEON_ERR_SHAPE, "block " + std::to_string(b) + " has no expert " + std::to_string(e));
                matrix(hf_expert_linear_prefix(c, b, e, "w1") + ".weight", x ? &x->w1 : nullptr, f, d);
                matrix(hf_expert_linear_prefix(c, b, e, "w3") + ".weight", x ? &x->w3 : nullptr, f, d);
                matrix(hf_expert_linear_prefix(c, b, e, "w2") + ".weight", x ? &x->w2 : nullptr, d, f);
            }
        }
    }
    if (!moe || ffn > 0) {  // the dense FFN or the shared expert
        matrix(hf_linear_prefix(c, b, "w1") + ".weight", L ? &L->w1 : nullptr, ffn, d);
        matrix(hf_linear_prefix(c, b, "w3") + ".weight", L ? &L->w3 : nullptr, ffn, d);
        matrix(hf_linear_prefix(c, b, "w2") + ".weight", L ? &L->w2 : nullptr, d, ffn);
    }
    if (moe && ffn > 0) matrix(layer + "mlp.shared_expert_gate.weight", L ? &L->shared_gate : nullptr, 1, d);
    return parts;
}

int64_t add_slot(Plan& p, std::string name, int64_t rows, int64_t cols, bool vector) {
    Slot s;
    s.name = std::move(name);
    s.rows = rows;
    s.cols = cols;
    s.shape = vector ? std::vector<int64_t>{cols} : std::vector<int64_t>{rows, cols};
    s.done.assign(static_cast<size_t>(rows), false);
    p.slots.push_back(std::move(s));
    return static_cast<int64_t>(p.slots.size()) - 1;
}

std::string shard_name(size_t i, size_t n) {
    if (n == 1) return "model.safetensors";
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, n);
    return name;
}

Plan plan_hf(const std::string& dir, const ModelConfig& c, const std::vector<int64_t>& ffn,
             const WriterOptions& o) {
    Plan p;
    p.format = ModelFormat::hf;
    p.path = dir;
    p.config = c;
    p.ffn = ffn;
    p.blocks.resize(ffn.size());
    p.embedding = add_slot(p, "model.embed_tokens.weight", c.vocab_size, c.dim, false);
    for (int64_t b = 0; b < c.n_layers; ++b) {
        auto& ids = p.blocks[static_cast<size_t>(b)];
        for (BlockPart& part : hf_block_parts(c, b, ffn[static_cast<size_t>(b)], nullptr)) {
            ids.push_back(add_slot(p, part.name, part.rows, part.cols, part.shape.size() == 1));
            p.slots.back().shape = part.shape;
            p.slots.back().qk_heads = part.qk_heads;
        }
    }
    p.final_norm = add_slot(p, "model.norm.weight", 1, c.dim, true);
    if (!c.shared_classifier) p.classifier = add_slot(p, "lm_head.weight", c.vocab_size, c.dim, false);

    // Greedy shards in state-dict order.
    std::vector<size_t> first_of_shard;
    uint64_t filled = 0, total = 0;
    for (size_t i = 0; i < p.slots.size(); ++i) {
        const uint64_t bytes = p.slots[i].bytes(o.dtype);
        if (first_of_shard.empty() || (filled > 0 && filled + bytes > o.max_shard_bytes)) {
            first_of_shard.push_back(i);
            filled = 0;
        }
        filled += bytes;
        total += bytes;
    }
    const size_t n_shards = first_of_shard.size();
    nlohmann::json weight_map = nlohmann::json::object();
    for (size_t s = 0; s < n_shards; ++s) {
        const size_t begin = first_of_shard[s];
        const size_t end = s + 1 < n_shards ? first_of_shard[s + 1] : p.slots.size();
        OutFile f;
        f.final_path = (fs::path(dir) / shard_name(s, n_shards)).string();
        // The header SafetensorsWriter::write produces: metadata, then the tensors in order.
        nlohmann::ordered_json header = nlohmann::ordered_json::object();
        header["__metadata__"] = {{"format", "pt"}};  // transformers refuses files without it
        uint64_t offset = 0;
        for (size_t i = begin; i < end; ++i) {
            const Slot& t = p.slots[i];
            const uint64_t next = offset + t.bytes(o.dtype);
            header[t.name] = {{"dtype", dtype_name(o.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, next}}};
            offset = next;
            weight_map[t.name] = shard_name(s, n_shards);
        }
        std::string text = header.dump();
        text.append((8 - (8 + text.size()) % 8) % 8, ' ');
        f.head.resize(8);
        for (int k = 0; k < 8; ++k) f.head[static_cast<size_t>(k)] = static_cast<char>(text.size() >> (8 * k));
        f.head += text;
        uint64_t at = f.head.size();
        for (size_t i = begin; i < end; ++i) {
            p.slots[i].file = s;
            p.slots[i].offset = at;
            at += p.slots[i].bytes(o.dtype);
        }
        f.size = at;
        p.files.push_back(std::move(f));
    }
    if (n_shards > 1) {
        const nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
        p.index_text = index.dump(2) + "\n";
    }
    p.config_text = hf_config(c, ffn, o.dtype).dump(2) + "\n";
    return p;
}

// run.c's order: each array for all layers before the next one starts.
Plan plan_llama2c(const std::string& path, const ModelConfig& c, const std::vector<int64_t>& ffn) {
    Plan p;
    p.format = ModelFormat::llama2c;
    p.path = path;
    p.config = c;
    p.ffn = ffn;
    p.blocks.resize(ffn.size());
    const int64_t hidden = ffn.empty() ? c.hidden_dim : ffn[0];
    const int32_t header[7] = {
        static_cast<int32_t>(c.dim),        static_cast<int32_t>(hidden),
        static_cast<int32_t>(c.n_layers),   static_cast<int32_t>(c.n_heads),
        static_cast<int32_t>(c.n_kv_heads),
        static_cast<int32_t>(c.shared_classifier ? c.vocab_size : -c.vocab_size),
        static_cast<int32_t>(c.seq_len)};
    OutFile f;
    f.final_path = path;
    f.head.assign(reinterpret_cast<const char*>(header), sizeof header);
    uint64_t at = f.head.size();
    auto place = [&](int64_t slot) {
        p.slots[static_cast<size_t>(slot)].offset = at;
        at += p.slots[static_cast<size_t>(slot)].bytes(Dtype::F32);
        return slot;
    };
    p.embedding = place(add_slot(p, "tok_emb", c.vocab_size, c.dim, false));
    const char* names[kBlockTensors] = {"rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w2", "w3"};
    const auto shapes = block_shapes(c, hidden);
    for (int t = 0; t < kBlockTensors; ++t)
        for (int64_t b = 0; b < c.n_layers; ++b)
            p.blocks[static_cast<size_t>(b)].push_back(
                place(add_slot(p, std::string(names[t]) + " of layer " + std::to_string(b), shapes[t].first,
                               shapes[t].second, shapes[t].first == 1)));
    p.final_norm = place(add_slot(p, "rms_final", 1, c.dim, true));
    // freq_cis_real then freq_cis_imag, [seq_len][head_size / 2], as llama2.c's export.
    const int64_t half = c.head_size() / 2;
    p.rope.resize(static_cast<size_t>(2 * c.seq_len * half));
    float* re = p.rope.data();
    float* im = re + c.seq_len * half;
    for (int64_t t = 0; t < c.seq_len; ++t)
        for (int64_t j = 0; j < half; ++j) {
            const double angle = static_cast<double>(t) *
                                 std::pow(10000.0, -2.0 * static_cast<double>(j) /
                                                       static_cast<double>(c.head_size()));
            re[t * half + j] = static_cast<float>(std::cos(angle));
            im[t * half + j] = static_cast<float>(std::sin(angle));
        }
    p.rope_offset = at;
    at += 4 * p.rope.size();
    if (!c.shared_classifier) p.classifier = place(add_slot(p, "wcls", c.vocab_size, c.dim, false));
    f.size = at;
    p.files.push_back(std::move(f));
    return p;
}

bool is_shard_name(const std::string& name) {
    if (name == "model.safetensors") return true;
    // model-00001-of-00003.safetensors
    const std::string pattern = "model-#####-of-#####.safetensors";
    if (name.size() != pattern.size()) return false;
    for (size_t i = 0; i < name.size(); ++i)
        if (pattern[i] == '#' ? !std::isdigit(static_cast<unsigned char>(name[i])) : pattern[i] != name[i])
            return false;
    return true;
}

// A file that makes `dir` look like a finished model ("" when there is none).
std::string finished_model_file(const std::string& dir) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        const std::string st = ".safetensors";
        const bool safetensors = name.size() >= st.size() && name.compare(name.size() - st.size(), st.size(), st) == 0;
        if (name == "config.json" || name == "model.safetensors.index.json" || safetensors) return name;
    }
    return "";
}

class PlannedWriter final : public ModelWriter {
public:
    PlannedWriter(Plan plan, const WriterOptions& options) : plan_(std::move(plan)), options_(options) {}
    ~PlannedWriter() override { close_all(); }

    void open(bool resume) {
        for (OutFile& f : plan_.files) {
            if (resume) {
                reopen(f);
            } else {
                f.fd = ::open(f.partial_path().c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (f.fd < 0) os_fail("cannot create", f.partial_path(), errno);
                const int err = ::posix_fallocate(f.fd, 0, static_cast<off_t>(f.size));
                if (err != 0)
                    os_fail("cannot reserve " + std::to_string(f.size) + " bytes for", f.partial_path(), err);
                pwrite_all(f.fd, f.head.data(), f.head.size(), 0, f.partial_path());
            }
        }
        if (!plan_.rope.empty())
            pwrite_all(plan_.files[0].fd, reinterpret_cast<const char*>(plan_.rope.data()), 4 * plan_.rope.size(),
                       plan_.rope_offset, plan_.files[0].open_path());
        plan_.rope = {};
    }

    void write_block(int64_t b, const LayerWeights& L) override {
        require_arg(b >= 0 && b < static_cast<int64_t>(plan_.blocks.size()),
                    "block " + std::to_string(b) + " outside [0, " + std::to_string(plan_.blocks.size()) + ")");
        const auto& ids = plan_.blocks[static_cast<size_t>(b)];
        std::vector<BlockPart> parts;
        if (plan_.format == ModelFormat::hf) {
            parts = hf_block_parts(plan_.config, b, slot_rows_of_ffn(b), &L);
        } else {
            const std::pair<const float*, const Matrix*> llama2c[kBlockTensors] = {
                {L.rms_att.data(), nullptr}, {nullptr, &L.wq}, {nullptr, &L.wk}, {nullptr, &L.wv}, {nullptr, &L.wo},
                {L.rms_ffn.data(), nullptr}, {nullptr, &L.w1}, {nullptr, &L.w2}, {nullptr, &L.w3}};
            for (int t = 0; t < kBlockTensors; ++t) {
                BlockPart part;
                const Matrix* m = llama2c[t].second;
                const std::vector<float>& v = t == kRmsAtt ? L.rms_att : L.rms_ffn;
                part.rows = m ? m->rows : 1;
                part.cols = m ? m->cols : static_cast<int64_t>(v.size());
                part.data = m ? m->data.data() : llama2c[t].first;
                parts.push_back(std::move(part));
            }
        }
        require_shape(parts.size() == ids.size(), "block " + std::to_string(b) + " has " + std::to_string(parts.size()) +
                                                      " tensors, the plan " + std::to_string(ids.size()));
        for (size_t t = 0; t < parts.size(); ++t) {
            const Slot& s = slot(ids[t]);
            require_shape(parts[t].rows == s.rows && parts[t].cols == s.cols,
                          "block " + std::to_string(b) + ": " + s.name + " is " + std::to_string(parts[t].rows) +
                              " × " + std::to_string(parts[t].cols) + ", the plan " + std::to_string(s.rows) +
                              " × " + std::to_string(s.cols));
        }
        for (size_t t = 0; t < parts.size(); ++t) write_rows(ids[t], 0, slot(ids[t]).rows, parts[t].data);
    }

    void write_embedding_rows(int64_t r0, const Matrix& rows) override {
        write_row_range(plan_.embedding, r0, rows, "embedding");
    }

    void write_classifier_rows(int64_t r0, const Matrix& rows) override {
        require_arg(plan_.classifier >= 0, "the classifier is tied to the embedding: there is no classifier to write");
        write_row_range(plan_.classifier, r0, rows, "classifier");
    }

    void write_final_norm(const std::vector<float>& norm) override {
        const Slot& s = slot(plan_.final_norm);
        require_shape(static_cast<int64_t>(norm.size()) == s.cols,
                      "final norm of " + std::to_string(norm.size()) + " values, expected " + std::to_string(s.cols));
        write_rows(plan_.final_norm, 0, 1, norm.data());
    }

    void mark_written_blocks(int64_t count) override {
        require_arg(count >= 0 && count <= static_cast<int64_t>(plan_.blocks.size()),
                    "cannot mark " + std::to_string(count) + " of " + std::to_string(plan_.blocks.size()) +
                        " blocks as written");
        std::lock_guard<std::mutex> lock(mutex_);
        for (int64_t b = 0; b < count; ++b)
            for (int64_t id : plan_.blocks[static_cast<size_t>(b)]) {
                auto& done = plan_.slots[static_cast<size_t>(id)].done;
                std::fill(done.begin(), done.end(), true);
            }
    }

    void finish() override {
        std::lock_guard<std::mutex> lock(mutex_);
        require_arg(!finished_, "the model was already finished");
        require_arg(plan_.files.empty() || plan_.files[0].fd >= 0, "the writer was abandoned");
        for (const Slot& s : plan_.slots) {
            const auto first = std::find(s.done.begin(), s.done.end(), false);
            if (first == s.done.end()) continue;
            const int64_t r0 = first - s.done.begin();
            const int64_t r1 = std::find(first, s.done.end(), true) - s.done.begin();
            const bool none = std::find(s.done.begin(), s.done.end(), true) == s.done.end();
            fail(SURGEON_ERR_IO, "cannot finish '" + plan_.path + "': " + s.name +
                                     (none || s.rows == 1 ? " was never written"
                                                          : " rows " + std::to_string(r0) + ".." +
                                                                std::to_string(r1 - 1) + " were never written"));
        }
        for (const OutFile& f : plan_.files) fsync_or_fail(f.fd, f.open_path());
        if (plan_.format == ModelFormat::hf && options_.overwrite) remove_stale_model_files();
        for (OutFile& f : plan_.files) {
            if (!f.reopened_final) rename_or_fail(f.partial_path(), f.final_path);
            f.reopened_final = true;  // a failure below leaves it under its final name
        }
        if (plan_.format == ModelFormat::hf) {
            copy_tokenizer_into(options_.tokenizer_path, plan_.path);
            if (!plan_.index_text.empty())
                write_file_atomically((fs::path(plan_.path) / "model.safetensors.index.json").string(),
                                      plan_.index_text);
            write_file_atomically((fs::path(plan_.path) / "config.json").string(), plan_.config_text);
        }
        sync_directory(plan_.format == ModelFormat::hf ? plan_.path : fs::path(plan_.path).parent_path().string());
        close_all();
        finished_ = true;
    }

    void abandon() override {
        std::lock_guard<std::mutex> lock(mutex_);
        close_all();
        if (finished_) return;
        for (const OutFile& f : plan_.files)
            if (!f.reopened_final) ::unlink(f.partial_path().c_str());
    }

    std::vector<std::string> files() const override {
        std::vector<std::string> out;
        for (const OutFile& f : plan_.files) out.push_back(f.final_path);
        if (plan_.format == ModelFormat::hf) {
            const fs::path dir(plan_.path);
            if (!plan_.index_text.empty()) out.push_back((dir / "model.safetensors.index.json").string());
            out.push_back((dir / "config.json").string());
            if (!options_.tokenizer_path.empty())
                out.push_back((dir / fs::path(options_.tokenizer_path).filename()).string());
        }
        return out;
    }

private:
    const Slot& slot(int64_t id) const { return plan_.slots[static_cast<size_t>(id)]; }

    // The FFN width the plan has for block b (the dense FFN or the shared expert).
    int64_t slot_rows_of_ffn(int64_t b) const { return plan_.ffn[static_cast<size_t>(b)]; }

    void reopen(OutFile& f) {
        std::error_code ec;
        f.reopened_final = !fs::exists(f.partial_path(), ec) && fs::exists(f.final_path, ec);
        const std::string path = f.open_path();
        f.fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
        if (f.fd < 0) os_fail("cannot resume the output: cannot open", path, errno);
        struct stat st {};
        if (::fstat(f.fd, &st) != 0) os_fail("cannot resume the output: cannot inspect", path, errno);
        if (static_cast<uint64_t>(st.st_size) != f.size)
            fail(SURGEON_ERR_IO, "cannot resume the output: '" + path + "' has " + std::to_string(st.st_size) +
                                     " bytes, the planned model " + std::to_string(f.size) +
                                     " (another model or other options?)");
        std::string head(f.head.size(), '\0');
        if (!pread_all(f.fd, head.data(), head.size(), 0) || head != f.head)
            fail(SURGEON_ERR_IO, "cannot resume the output: the header of '" + path +
                                     "' differs from the planned model (another model or other options?)");
    }

    void write_row_range(int64_t id, int64_t r0, const Matrix& rows, const char* what) {
        const Slot& s = slot(id);
        require_shape(rows.cols == s.cols, std::string(what) + " rows of " + std::to_string(rows.cols) +
                                               " columns, expected " + std::to_string(s.cols));
        require_arg(r0 >= 0 && r0 + rows.rows <= s.rows,
                    std::string(what) + " rows [" + std::to_string(r0) + ", " + std::to_string(r0 + rows.rows) +
                        ") outside [0, " + std::to_string(s.rows) + ")");
        write_rows(id, r0, rows.rows, rows.data.data());
    }

    // Rows [r0, r0 + n) of slot `id` from `src` (n × cols, llama2.c row order), converted
    // to the output dtype in bounded chunks.
    void write_rows(int64_t id, int64_t r0, int64_t n, const float* src) {
        const Slot& s = slot(id);
        const OutFile& f = plan_.files[s.file];
        {
            std::lock_guard<std::mutex> lock(mutex_);
            require_arg(!finished_, "the model was already finished");
            require_arg(f.fd >= 0, "the writer was abandoned");
        }
        std::vector<int64_t> order;
        if (s.qk_heads > 0) order = hf_qk_row_order(s.rows, s.qk_heads);  // whole tensors only (r0 = 0)
        const Dtype dtype = options_.dtype;
        const size_t row_bytes = static_cast<size_t>(s.cols) * dtype_size(dtype);
        const int64_t rows_per_chunk = std::max<int64_t>(1, static_cast<int64_t>(kChunkBytes / std::max<size_t>(row_bytes, 1)));
        std::vector<char> buffer(static_cast<size_t>(std::min(n, rows_per_chunk)) * row_bytes);
        for (int64_t c0 = 0; c0 < n; c0 += rows_per_chunk) {
            const int64_t c1 = std::min(n, c0 + rows_per_chunk);
            for (int64_t r = c0; r < c1; ++r) {
                const float* in = src + (order.empty() ? r : order[static_cast<size_t>(r)]) * s.cols;
                char* out = buffer.data() + static_cast<size_t>(r - c0) * row_bytes;
                if (dtype == Dtype::F32) {
                    std::memcpy(out, in, row_bytes);
                } else {
                    for (int64_t j = 0; j < s.cols; ++j) {
                        const uint16_t h = dtype == Dtype::F16 ? float_to_f16(in[j]) : float_to_bf16(in[j]);
                        std::memcpy(out + 2 * j, &h, 2);
                    }
                }
            }
            pwrite_all(f.fd, buffer.data(), static_cast<size_t>(c1 - c0) * row_bytes,
                       s.offset + static_cast<uint64_t>(r0 + c0) * row_bytes, f.open_path());
        }
        std::lock_guard<std::mutex> lock(mutex_);
        auto& done = plan_.slots[static_cast<size_t>(id)].done;
        std::fill(done.begin() + r0, done.begin() + r0 + n, true);
    }

    // Files of an earlier finished model in the directory that this one does not replace.
    void remove_stale_model_files() {
        std::vector<std::string> ours;
        for (const OutFile& f : plan_.files) ours.push_back(fs::path(f.final_path).filename().string());
        if (!plan_.index_text.empty()) ours.push_back("model.safetensors.index.json");
        std::error_code ec;
        std::vector<fs::path> stale;
        for (const auto& e : fs::directory_iterator(plan_.path, ec)) {
            const std::string name = e.path().filename().string();
            if ((is_shard_name(name) || name == "model.safetensors.index.json") &&
                std::find(ours.begin(), ours.end(), name) == ours.end())
                stale.push_back(e.path());
        }
        for (const fs::path& p : stale)
            if (!fs::remove(p, ec) && ec) fail(SURGEON_ERR_IO, "cannot remove '" + p.string() + "': " + ec.message());
    }

    void close_all() {
        for (OutFile& f : plan_.files)
            if (f.fd >= 0) {
                ::close(f.fd);
                f.fd = -1;
            }
    }

    Plan plan_;
    WriterOptions options_;
    std::mutex mutex_;
    bool finished_ = false;
};

// Removes the partial files of an earlier output in `dir` that the plan does not reuse.
void remove_stale_partials(const std::string& dir, const Plan& plan) {
    std::error_code ec;
    std::vector<fs::path> stale;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        std::string name = e.path().filename().string();
        const std::string suffix = kPartial;
        if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
            continue;
        name.resize(name.size() - suffix.size());
        bool planned = false;
        for (const OutFile& f : plan.files) planned |= fs::path(f.final_path).filename() == name;
        if (!planned && (is_shard_name(name) || name == "model.safetensors.index.json" || name == "config.json"))
            stale.push_back(e.path());
    }
    for (const fs::path& p : stale) fs::remove(p, ec);
}

}  // namespace

std::unique_ptr<ModelWriter> ModelWriter::create(const std::string& path, const ModelConfig& config,
                                                 const std::vector<int64_t>& ffn_sizes,
                                                 const WriterOptions& options, bool resume) {
    require_arg(!path.empty(), "empty output path");
    check_plan_inputs(config, ffn_sizes, options);
    std::error_code ec;
    Plan plan;
    if (options.format == ModelFormat::hf) {
        if (fs::exists(path, ec) && !fs::is_directory(path, ec))
            fail(SURGEON_ERR_IO, "output '" + path + "' exists and is not a directory");
        if (!resume && !options.overwrite && fs::is_directory(path, ec)) {
            const std::string found = finished_model_file(path);
            if (!found.empty())
                fail(SURGEON_ERR_IO, "output directory '" + path + "' holds a model ('" + found +
                                         "' exists); remove it or choose another --out");
        }
        fs::create_directories(path, ec);
        if (ec) fail(SURGEON_ERR_IO, "cannot create directory '" + path + "': " + ec.message());
        plan = plan_hf(path, config, ffn_sizes, options);
        if (!resume) remove_stale_partials(path, plan);
    } else {
        if (fs::is_directory(path, ec)) fail(SURGEON_ERR_IO, "output '" + path + "' is a directory");
        if (!resume && !options.overwrite && fs::exists(path, ec))
            fail(SURGEON_ERR_IO, "output '" + path + "' exists; remove it or choose another --out");
        plan = plan_llama2c(path, config, ffn_sizes);
    }
    auto writer = std::make_unique<PlannedWriter>(std::move(plan), options);
    try {
        writer->open(resume);
    } catch (...) {
        if (!resume) writer->abandon();
        throw;
    }
    return writer;
}

OutputKind output_kind(ModelFormat format) {
    return format == ModelFormat::hf ? OutputKind::directory : OutputKind::file;
}

void write_model(const Model& model, const std::string& path, const WriterOptions& options) {
    validate_shapes(model);
    std::vector<int64_t> ffn;
    for (const LayerWeights& L : model.layers) ffn.push_back(L.w1.rows);
    StagedOutputs outputs(options.overwrite);
    const std::string stage = outputs.add(path, output_kind(options.format));
    WriterOptions staged = options;
    staged.overwrite = true;  // the staging path is this call's own
    auto writer = ModelWriter::create(stage, model.config, ffn, staged);
    try {
        writer->write_embedding_rows(0, model.tok_emb);
        for (size_t b = 0; b < model.layers.size(); ++b) writer->write_block(static_cast<int64_t>(b), model.layers[b]);
        writer->write_final_norm(model.rms_final);
        if (!model.config.shared_classifier) writer->write_classifier_rows(0, model.wcls);
        writer->finish();
    } catch (...) {
        writer->abandon();
        throw;
    }
    outputs.commit();
}

}  // namespace surgeon::model
