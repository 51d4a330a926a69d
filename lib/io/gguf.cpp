#include "io/gguf.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>

#include "core/error.hpp"
#include "core/half.hpp"
#include "core/output_file.hpp"
#include "core/names.hpp"

namespace surgeon::model {
namespace {

// ggml's own type names.
constexpr EnumName<GgufType> kTypes[] = {{GgufType::F32, "f32"},   {GgufType::F16, "f16"},
                                         {GgufType::BF16, "bf16"}, {GgufType::Q8_0, "q8_0"},
                                         {GgufType::Q4_0, "q4_0"}};

constexpr uint32_t kAlignment = 32;  // general.alignment
constexpr int64_t kBlock = kGgmlBlock;
constexpr uint64_t kQ4Bytes = 2 + kBlock / 2, kQ8Bytes = 2 + kBlock;

// GGUF metadata value types.
enum : uint32_t { kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kString = 8, kArray = 9 };

// llama_token_type of tokenizer.ggml.token_type.
enum : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kByte = 6 };

// llama_ftype of general.file_type.
struct FileType {
    uint32_t value;
    const char* name;
};
FileType file_type_of(GgufType t) {
    switch (t) {
        case GgufType::F32: return {0, "ALL_F32"};
        case GgufType::F16: return {1, "MOSTLY_F16"};
        case GgufType::Q4_0: return {2, "MOSTLY_Q4_0"};
        case GgufType::Q8_0: return {7, "MOSTLY_Q8_0"};
        case GgufType::BF16: return {32, "MOSTLY_BF16"};
    }
    return {0, "ALL_F32"};
}

// The little-endian byte image of the header: metadata and tensor infos.
class Header {
public:
    void u32(uint32_t v) { raw(&v, 4); }
    void u64(uint64_t v) { raw(&v, 8); }
    void str(const std::string& s) {
        u64(s.size());
        raw(s.data(), s.size());
    }
    void key(const std::string& k, uint32_t type) {
        str(k);
        u32(type);
        ++kv_count_;
    }
    void kv_u32(const std::string& k, uint32_t v) {
        key(k, kU32);
        u32(v);
    }
    void kv_f32(const std::string& k, float v) {
        key(k, kF32);
        raw(&v, 4);
    }
    void kv_bool(const std::string& k, bool v) {
        key(k, kBool);
        const uint8_t b = v ? 1 : 0;
        raw(&b, 1);
    }
    void kv_str(const std::string& k, const std::string& v) {
        key(k, kString);
        str(v);
    }
    void array(const std::string& k, uint32_t type, uint64_t n) {
        key(k, kArray);
        u32(type);
        u64(n);
    }
    void raw(const void* p, size_t n) { bytes_.append(static_cast<const char*>(p), n); }

    const std::string& bytes() const { return bytes_; }
    uint64_t kv_count() const { return kv_count_; }

private:
    std::string bytes_;
    uint64_t kv_count_ = 0;
};

uint64_t align_up(uint64_t v) { return (v + kAlignment - 1) / kAlignment * kAlignment; }

// A tensor to write: its info and the function that fills its bytes.
struct Tensor {
    std::string name;
    std::vector<uint64_t> ne;  // ggml order: ne[0] is the contiguous dimension (columns)
    GgufType type;
    std::function<void(uint8_t*)> fill;
    uint64_t bytes() const {
        int64_t n = 1;
        for (size_t i = 1; i < ne.size(); ++i) n *= static_cast<int64_t>(ne[i]);
        return static_cast<uint64_t>(n) * gguf_bytes(type, static_cast<int64_t>(ne[0]));
    }
};

void store_f16(uint8_t* out, float v) {
    const uint16_t h = float_to_f16(v);
    std::memcpy(out, &h, 2);
}

// One row of floats in a float type.
void encode_float_row(const float* x, int64_t n, GgufType t, uint8_t* out) {
    for (int64_t j = 0; j < n; ++j) {
        if (t == GgufType::F32) {
            std::memcpy(out + 4 * j, x + j, 4);
        } else {
            const uint16_t h = t == GgufType::F16 ? float_to_f16(x[j]) : float_to_bf16(x[j]);
            std::memcpy(out + 2 * j, &h, 2);
        }
    }
}

// "▁" (U+2581), SentencePiece's space, which llama.cpp's SPM tokenizer expects where the
// llama2.c file stores ' '.
constexpr const char* kSpmSpace = "\xe2\x96\x81";

bool is_byte_piece(const std::string& p) {
    auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); };
    return p.size() == 6 && p.compare(0, 3, "<0x") == 0 && hex(p[3]) && hex(p[4]) && p[5] == '>';
}

void write_tokenizer(Header& h, const Tokenizer& tok) {
    const uint64_t n = static_cast<uint64_t>(tok.vocab_size());
    h.kv_str("tokenizer.ggml.model", "llama");
    h.array("tokenizer.ggml.tokens", kString, n);
    for (uint64_t i = 0; i < n; ++i) {
        const int id = static_cast<int>(i);
        // llama2.c stores BOS and EOS as "\n<s>\n" and "\n</s>\n".
        std::string piece = id == Tokenizer::kUnk   ? "<unk>"
                            : id == Tokenizer::kBos ? "<s>"
                            : id == Tokenizer::kEos ? "</s>"
                                                    : tok.piece(id);
        std::string spm;
        for (char c : piece) spm += c == ' ' ? std::string(kSpmSpace) : std::string(1, c);
        h.str(spm);
    }
    h.array("tokenizer.ggml.scores", kF32, n);
    for (uint64_t i = 0; i < n; ++i) {
        const float s = tok.score(static_cast<int>(i));
        h.raw(&s, 4);
    }
    h.array("tokenizer.ggml.token_type", kI32, n);
    for (uint64_t i = 0; i < n; ++i) {
        const int id = static_cast<int>(i);
        const int32_t type = id == Tokenizer::kUnk                              ? kUnknown
                             : id == Tokenizer::kBos || id == Tokenizer::kEos  ? kControl
                             : is_byte_piece(tok.piece(id))                    ? kByte
                                                                               : kNormal;
        h.raw(&type, 4);
    }
    h.kv_u32("tokenizer.ggml.unknown_token_id", Tokenizer::kUnk);
    h.kv_u32("tokenizer.ggml.bos_token_id", Tokenizer::kBos);
    h.kv_u32("tokenizer.ggml.eos_token_id", Tokenizer::kEos);
    h.kv_bool("tokenizer.ggml.add_bos_token", true);
    h.kv_bool("tokenizer.ggml.add_eos_token", false);
}

void write_architecture(Header& h, const Model& m, int64_t ffn, const std::string& name, FileType ft) {
    const ModelConfig& c = m.config;
    auto u32 = [](int64_t v, const char* what) {
        require(v >= 0 && v <= static_cast<int64_t>(UINT32_MAX), SURGEON_ERR_UNSUPPORTED,
                std::string("GGUF: ") + what + " " + std::to_string(v) + " does not fit a uint32");
        return static_cast<uint32_t>(v);
    };
    h.kv_str("general.architecture", "llama");
    if (!name.empty()) h.kv_str("general.name", name);
    h.kv_u32("general.alignment", kAlignment);
    h.kv_u32("general.file_type", ft.value);
    h.kv_u32("llama.vocab_size", u32(c.vocab_size, "vocab_size"));
    h.kv_u32("llama.context_length", u32(c.seq_len, "context length"));
    h.kv_u32("llama.embedding_length", u32(c.dim, "dim"));
    h.kv_u32("llama.block_count", u32(c.n_layers, "n_layers"));
    h.kv_u32("llama.feed_forward_length", u32(ffn, "FFN size"));
    h.kv_u32("llama.attention.head_count", u32(c.n_heads, "n_heads"));
    h.kv_u32("llama.attention.head_count_kv", u32(c.n_kv_heads, "n_kv_heads"));
    if (c.head_size() * c.n_heads != c.dim) {
        h.kv_u32("llama.attention.key_length", u32(c.head_size(), "head_dim"));
        h.kv_u32("llama.attention.value_length", u32(c.head_size(), "head_dim"));
    }
    h.kv_f32("llama.attention.layer_norm_rms_epsilon", c.norm_eps);
    h.kv_f32("llama.rope.freq_base", c.rope_theta);
    h.kv_u32("llama.rope.dimension_count", u32(c.head_size(), "head_dim"));
}

// `w` with zero rows (`rows` in all) or zero columns (`cols` in all) appended.
Matrix zero_padded(const Matrix& w, int64_t rows, int64_t cols) {
    Matrix out(rows, cols);
    for (int64_t r = 0; r < w.rows; ++r) std::copy(w.row(r), w.row(r) + w.cols, out.row(r));
    return out;
}

// A ggml-grid result with zero rows appended: blocks of d = 0 (every value 0).
QuantResult zero_rows_padded(const QuantResult& q, int64_t rows) {
    QuantResult out = q;
    const uint8_t zero_code = static_cast<uint8_t>(1 << (q.bits - 1));
    out.rows = rows;
    out.codes.resize(static_cast<size_t>(rows * q.cols), zero_code);
    out.scales.resize(static_cast<size_t>(rows * q.groups), 0.0f);
    out.zeros.resize(out.scales.size(), static_cast<float>(zero_code));
    return out;
}

}  // namespace

const char* gguf_type_name(GgufType t) { return enum_name(kTypes, t); }

GgufType parse_gguf_type(const std::string& name) {
    std::string lower;
    for (char c : name) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    return parse_enum(kTypes, lower, "GGUF type");
}

bool gguf_is_quantized(GgufType t) { return t == GgufType::Q4_0 || t == GgufType::Q8_0; }

uint64_t gguf_bytes(GgufType t, int64_t n) {
    const uint64_t un = static_cast<uint64_t>(n);
    switch (t) {
        case GgufType::F32: return 4 * un;
        case GgufType::F16:
        case GgufType::BF16: return 2 * un;
        case GgufType::Q4_0: return un / kBlock * kQ4Bytes;
        case GgufType::Q8_0: return un / kBlock * kQ8Bytes;
    }
    return 0;
}

std::optional<GgufType> gguf_block_type(const QuantResult& q, std::string* why) {
    auto no = [&](const std::string& reason) -> std::optional<GgufType> {
        if (why) *why = reason;
        return std::nullopt;
    };
    if (!q.row_bits.empty()) return no("rows of different bit widths (mixed precision)");
    if (q.bits != 4 && q.bits != 8) return no(std::to_string(q.bits) + "-bit codes (Q4_0 is 4, Q8_0 is 8)");
    if (q.cols % kBlock != 0) return no(std::to_string(q.cols) + " columns, not a multiple of 32");
    if (q.groups != q.cols / kBlock) return no("groups that are not blocks of 32 columns");
    for (int64_t j = 0; j < q.cols; ++j)
        if (q.g_idx[static_cast<size_t>(j)] != j / kBlock) return no("groups that are not blocks of 32 consecutive columns");
    const float zero = static_cast<float>(1 << (q.bits - 1));
    for (size_t i = 0; i < q.scales.size(); ++i) {
        if (q.zeros[i] != zero) return no("zero points other than " + std::to_string(1 << (q.bits - 1)) + " (not a symmetric ggml grid)");
        if (f16_to_float(float_to_f16(q.scales[i])) != q.scales[i])
            return no("scales that are not fp16 values (quantize with the ggml grid)");
    }
    return q.bits == 4 ? GgufType::Q4_0 : GgufType::Q8_0;
}

void encode_blocks(const QuantResult& q, int64_t r, GgufType t, uint8_t* out) {
    const uint8_t* codes = q.codes.data() + r * q.cols;
    for (int64_t b = 0; b < q.cols / kBlock; ++b) {
        const uint8_t* c = codes + b * kBlock;
        store_f16(out, q.scales[static_cast<size_t>(r * q.groups + b)]);
        if (t == GgufType::Q4_0) {
            for (int64_t j = 0; j < kBlock / 2; ++j)
                out[2 + j] = static_cast<uint8_t>((c[j] & 0x0f) | (c[j + kBlock / 2] << 4));
            out += kQ4Bytes;
        } else {
            for (int64_t j = 0; j < kBlock; ++j) {
                const int8_t v = static_cast<int8_t>(static_cast<int>(c[j]) - 128);
                std::memcpy(out + 2 + j, &v, 1);
            }
            out += kQ8Bytes;
        }
    }
}

void quantize_blocks_rtn(const float* x, int64_t cols, GgufType t, uint8_t* out) {
    for (int64_t b = 0; b < cols / kBlock; ++b) {
        const float* v = x + b * kBlock;
        float amax = 0.0f, signed_max = 0.0f;
        for (int64_t j = 0; j < kBlock; ++j)
            if (amax < std::fabs(v[j])) {
                amax = std::fabs(v[j]);
                signed_max = v[j];
            }
        if (t == GgufType::Q4_0) {
            // Codes from the fp32 scale, half rounded up (truncating x/d + 8.5), at most 15.
            const float d = signed_max / -8.0f;
            const float id = d != 0.0f ? 1.0f / d : 0.0f;
            store_f16(out, d);
            // (ggml casts unclamped; the clamp changes nothing for finite x/d and keeps an
            // infinite 1/d of a subnormal block defined.)
            auto code = [id](float value) { return static_cast<int>(std::fmin(std::fmax(value * id + 8.5f, 0.0f), 15.0f)); };
            for (int64_t j = 0; j < kBlock / 2; ++j)
                out[2 + j] = static_cast<uint8_t>(code(v[j]) | (code(v[j + kBlock / 2]) << 4));
            out += kQ4Bytes;
        } else {
            const float d = amax / 127.0f;
            const float id = d != 0.0f ? 1.0f / d : 0.0f;
            store_f16(out, d);
            for (int64_t j = 0; j < kBlock; ++j) {
                const int8_t q = static_cast<int8_t>(std::fmin(std::fmax(std::round(v[j] * id), -128.0f), 127.0f));
                std::memcpy(out + 2 + j, &q, 1);
            }
            out += kQ8Bytes;
        }
    }
}

std::string gguf_tensor_name(int64_t block, const std::string& linear) {
    static const std::map<std::string, std::string> names = {
        {"wq", "attn_q"},  {"wk", "attn_k"},   {"wv", "attn_v"}, {"wo", "attn_output"},
        {"w1", "ffn_gate"}, {"w2", "ffn_down"}, {"w3", "ffn_up"}};
    return "blk." + std::to_string(block) + "." + names.at(linear) + ".weight";
}

GgufSummary write_gguf(const Model& model, const Tokenizer& tokenizer,
                       const std::map<std::string, QuantResult>& quantized, const std::string& path,
                       const GgufOptions& options) {
    validate_shapes(model);
    const ModelConfig& c = model.config;
    require(c.plain_llama(), SURGEON_ERR_UNSUPPORTED,
            "GGUF output writes the plain Llama block; a " + c.family +
                " model with RoPE scaling, a sliding window, biases, q/k norms or experts is not supported");
    require(c.act_bits == 0, SURGEON_ERR_UNSUPPORTED,
            "GGUF output does not record activation quantization (" + std::to_string(c.act_bits) + "-bit activations)");
    require_arg(!gguf_is_quantized(options.float_type),
                std::string("GGUF float type must be f32, f16 or bf16, got ") + gguf_type_name(options.float_type));
    require_arg(!options.rtn || gguf_is_quantized(*options.rtn),
                "GGUF round-to-nearest type must be q8_0 or q4_0");
    require(tokenizer.vocab_size() == c.vocab_size, SURGEON_ERR_SHAPE,
            "GGUF: the tokenizer has " + std::to_string(tokenizer.vocab_size()) + " tokens, the model " +
                std::to_string(c.vocab_size));
    for (const auto& [name, q] : quantized) {
        bool known = false;
        for (int64_t b = 0; b < c.n_layers && !known; ++b)
            for (const char* l : kLinearNames) known = known || name == "layers." + std::to_string(b) + "." + l;
        require_arg(known, "GGUF: '" + name + "' is not a linear layer of the model");
    }

    GgufSummary summary;
    // llama.cpp's llama architecture holds one FFN size: layers narrower than the widest
    // (FFN slicing) get zero neurons — zero gate and up rows, zero down columns — which add
    // exactly 0 to the block's output. The padded copies live in `padded`.
    int64_t ffn = 0;
    for (const LayerWeights& L : model.layers) ffn = std::max(ffn, L.w1.rows);
    std::deque<Matrix> padded;
    std::deque<QuantResult> padded_codes;
    std::vector<Tensor> tensors;
    auto add_norm = [&](const std::string& name, const std::vector<float>& v) {
        tensors.push_back({name, {v.size()}, GgufType::F32,
                           [&v](uint8_t* out) { encode_float_row(v.data(), static_cast<int64_t>(v.size()), GgufType::F32, out); }});
    };
    // A matrix in a float type, or RTN-quantized (`t` a block type, cols a multiple of 32).
    auto add_matrix = [&](const std::string& name, const Matrix& w, GgufType t) {
        tensors.push_back({name, {static_cast<uint64_t>(w.cols), static_cast<uint64_t>(w.rows)}, t,
                           [&w, t](uint8_t* out) {
                               const uint64_t row = gguf_bytes(t, w.cols);
                               for (int64_t r = 0; r < w.rows; ++r, out += row) {
                                   if (gguf_is_quantized(t))
                                       quantize_blocks_rtn(w.row(r), w.cols, t, out);
                                   else
                                       encode_float_row(w.row(r), w.cols, t, out);
                               }
                           }});
    };
    // The type a matrix gets when it is not written from codes: `wanted` when its width
    // holds blocks of 32, else the fallback (recorded).
    auto fitting = [&](const std::string& name, const Matrix& w, GgufType wanted, GgufType fallback) {
        if (!gguf_is_quantized(wanted) || w.cols % kBlock == 0) return wanted;
        summary.fallbacks.push_back(name + ": " + std::to_string(w.cols) + " columns, not a multiple of 32 -> " +
                                    gguf_type_name(fallback));
        return fallback;
    };
    const GgufType rtn_fallback = options.rtn ? GgufType::F16 : options.float_type;
    const GgufType embedding = options.embedding_type.value_or(options.float_type);

    add_matrix("token_embd.weight", model.tok_emb, fitting("token_embd.weight", model.tok_emb, embedding, rtn_fallback));
    GgufType dominant = options.rtn.value_or(options.float_type);
    bool any_q4 = false, any_q8 = false;
    for (int64_t b = 0; b < c.n_layers; ++b) {
        const LayerWeights& L = model.layers[static_cast<size_t>(b)];
        const std::string blk = "blk." + std::to_string(b) + ".";
        add_norm(blk + "attn_norm.weight", L.rms_att);
        const int64_t pad = ffn - L.w1.rows;
        if (pad > 0) summary.ffn_padded.push_back(b);
        for (const char* l : kLinearNames) {
            const std::string linear_name = l;
            const bool gate_or_up = linear_name == "w1" || linear_name == "w3";
            const Matrix* wp = &linear(L, l);
            if (pad > 0 && (gate_or_up || linear_name == "w2"))
                wp = &padded.emplace_back(zero_padded(*wp, gate_or_up ? ffn : wp->rows, gate_or_up ? wp->cols : ffn));
            const Matrix& w = *wp;
            const std::string name = gguf_tensor_name(b, l);
            const auto it = quantized.find("layers." + std::to_string(b) + "." + l);
            if (it == quantized.end()) {
                const GgufType t = fitting(name, w, options.rtn.value_or(options.float_type), rtn_fallback);
                any_q4 = any_q4 || t == GgufType::Q4_0;
                any_q8 = any_q8 || t == GgufType::Q8_0;
                add_matrix(name, w, t);
                continue;
            }
            require(pad == 0 || linear_name != "w2", SURGEON_ERR_UNSUPPORTED,
                    "GGUF: " + it->first + " would need " + std::to_string(pad) + " zero columns (llama.cpp holds one FFN "
                    "size, " + std::to_string(ffn) + ") and its blocks cannot take them: leave it unquantized");
            const QuantResult& q = pad > 0 && gate_or_up && it->second.rows + pad == ffn
                                       ? padded_codes.emplace_back(zero_rows_padded(it->second, ffn))
                                       : it->second;
            require(q.rows == w.rows && q.cols == w.cols, SURGEON_ERR_SHAPE,
                    "GGUF: the codes of " + it->first + " are " + std::to_string(q.rows) + "x" +
                        std::to_string(q.cols) + ", the layer " + std::to_string(w.rows) + "x" + std::to_string(w.cols));
            std::string why;
            const std::optional<GgufType> t = gguf_block_type(q, &why);
            require(t.has_value(), SURGEON_ERR_UNSUPPORTED,
                    "GGUF: " + it->first + " cannot be stored as Q4_0 or Q8_0 blocks: " + why);
            any_q4 = any_q4 || *t == GgufType::Q4_0;
            any_q8 = any_q8 || *t == GgufType::Q8_0;
            tensors.push_back({name, {static_cast<uint64_t>(q.cols), static_cast<uint64_t>(q.rows)}, *t,
                               [&q, t](uint8_t* out) {
                                   const uint64_t row = gguf_bytes(*t, q.cols);
                                   for (int64_t r = 0; r < q.rows; ++r, out += row) encode_blocks(q, r, *t, out);
                               }});
        }
        add_norm(blk + "ffn_norm.weight", L.rms_ffn);
    }
    add_norm("output_norm.weight", model.rms_final);
    // A tied classifier is token_embd itself: llama.cpp uses it when "output" is absent.
    if (!c.shared_classifier)
        add_matrix("output.weight", model.wcls, fitting("output.weight", model.wcls, embedding, rtn_fallback));
    if (any_q4) dominant = GgufType::Q4_0;
    else if (any_q8) dominant = GgufType::Q8_0;
    const FileType ft = file_type_of(dominant);
    summary.file_type = ft.name;

    Header h;
    write_architecture(h, model, ffn, options.name, ft);
    write_tokenizer(h, tokenizer);
    uint64_t offset = 0;
    Header infos;
    for (const Tensor& t : tensors) {
        infos.str(t.name);
        infos.u32(static_cast<uint32_t>(t.ne.size()));
        for (uint64_t d : t.ne) infos.u64(d);
        infos.u32(static_cast<uint32_t>(t.type));
        infos.u64(offset);
        offset = align_up(offset + t.bytes());
        ++summary.tensors[gguf_type_name(t.type)];
    }
    Header head;
    head.raw("GGUF", 4);
    head.u32(3);
    head.u64(tensors.size());
    head.u64(h.kv_count());
    std::string image = head.bytes() + h.bytes() + infos.bytes();
    image.resize(align_up(image.size()), '\0');
    summary.bytes = image.size() + offset;

    AtomicFile f(path);  // written under "<path>.partial", renamed when complete
    f.write(image.data(), image.size());
    std::vector<uint8_t> buf;
    for (size_t i = 0; i < tensors.size(); ++i) {
        const uint64_t n = tensors[i].bytes();
        buf.assign(align_up(n), 0);
        tensors[i].fill(buf.data());
        f.write(buf.data(), buf.size());
    }
    f.commit();
    return summary;
}

}  // namespace surgeon::model
