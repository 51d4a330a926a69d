// C API of the whole-model pipeline (surgeon_model.h).
#include <cmath>
#include <cstring>

#include "capi/buffer.hpp"
#include "capi/guard.hpp"
#include "capi/handles.hpp"
#include "capi/model_handle.hpp"
#include "compress/export_plan.hpp"
#include "compress/cbq.hpp"
#include "compress/pipeline.hpp"
#include "compress/recipe.hpp"
#include "core/checks.hpp"
#include "io/checkpoint.hpp"
#include "io/convert.hpp"
#include "io/hf_model.hpp"
#include "io/hf_tokenizer.hpp"
#include "nn/generate.hpp"
#include "nn/perplexity.hpp"

using namespace surgeon;
using namespace surgeon::capi;
namespace sm = surgeon::model;

namespace {

const char* require_text(const char* s, const char* what) {
    require_not_null(s, what);
    return s;
}

// llama2.c names, or the Hugging Face projection names.
std::string linear_name(const char* name) {
    require_not_null(name, "name");
    return sm::llama2c_linear_name(name);
}

sm::LayerWeights& block_of(sm::Model& m, int64_t block) {
    require_arg(block >= 0 && block < static_cast<int64_t>(m.layers.size()),
                "block " + std::to_string(block) + " outside [0, " + std::to_string(m.layers.size()) + ")");
    return m.layers[static_cast<size_t>(block)];
}

const Matrix& linear_of(const surgeon_model* model, int64_t block, const char* name) {
    const surgeon_model& h = deref(model, "model");
    return sm::linear(block_of(const_cast<sm::Model&>(h.model), block), linear_name(name));
}

void to_c(const sm::PerplexityResult& r, surgeon_perplexity* out) {
    out->sequences = r.sequences;
    out->tokens = r.tokens;
    out->nll = r.nll;
    out->ppl = r.ppl;
}

int64_t context_length(const sm::Model& m, int64_t seq_len) {
    require_arg(seq_len >= 0, "seq_len must be >= 0, got " + std::to_string(seq_len));
    return seq_len > 0 ? seq_len : m.config.seq_len;
}

const sm::TextTokenizer& tokenizer_of(const surgeon_model& h) {
    require(h.tokenizer != nullptr, SURGEON_ERR_INVALID_ARGUMENT,
            "the model has no tokenizer: call surgeon_model_set_tokenizer");
    return *h.tokenizer;
}

// surgeon_model_perplexity(_file) once the text is in memory.
void text_perplexity(const surgeon_context* ctx, const surgeon_model& h, const std::string& text,
                     surgeon_eval_mode mode, int64_t begin, int64_t end, int64_t seq_len,
                     surgeon_perplexity* out) {
    require_version(out, SURGEON_PERPLEXITY_VERSION, "out");
    const int mode_value = enum_value(mode);
    require_arg(mode_value == SURGEON_EVAL_PARAGRAPHS || mode_value == SURGEON_EVAL_WINDOWS,
                "unknown mode " + std::to_string(mode_value));
    const int64_t len = context_length(h.model, seq_len);
    const sm::TextTokenizer& tok = tokenizer_of(h);
    const sm::Range range{begin, end};
    const auto seqs = mode_value == SURGEON_EVAL_PARAGRAPHS
                          ? sm::paragraph_sequences(tok, text, range, len)
                          : sm::window_sequences(tok.encode(text, false), range, len);
    to_c(sm::evaluate_sequences(backend_for(*context_of(ctx)), h.model, seqs), out);
}

}  // namespace

surgeon_status surgeon_model_config_init(surgeon_model_config* config, unsigned int version) {
    SURGEON_GUARD({ init_struct(config, version, SURGEON_MODEL_CONFIG_VERSION, "config"); });
}

surgeon_status surgeon_perplexity_init(surgeon_perplexity* result, unsigned int version) {
    SURGEON_GUARD({ init_struct(result, version, SURGEON_PERPLEXITY_VERSION, "result"); });
}

surgeon_status surgeon_model_load(surgeon_model** out, const surgeon_context* ctx, const char* path) {
    SURGEON_GUARD({
        require_out(out);
        require_text(path, "path");
        const ContextPtr c = context_of(ctx);
        auto h = std::make_unique<surgeon_model>();
        h->model = sm::load_model(path);
        h->tokenizer_path = sm::find_model_tokenizer(path, h->model.config.vocab_size);
        if (!h->tokenizer_path.empty()) h->tokenizer = sm::open_tokenizer(h->tokenizer_path, h->model.config.vocab_size);
        c->log(SURGEON_LOG_INFO, std::string("loaded '") + path + "': " + std::to_string(h->model.layers.size()) +
                                     " blocks, " + std::to_string(sm::parameter_count(h->model)) + " parameters, " +
                                     (h->tokenizer ? "tokenizer '" + h->tokenizer_path + "'" : "no tokenizer"));
        *out = h.release();
    });
}

void surgeon_model_free(surgeon_model* model) { release(model); }

surgeon_status surgeon_model_clone(surgeon_model** out, const surgeon_model* model) {
    SURGEON_GUARD({
        require_out(out);
        const surgeon_model& h = deref(model, "model");
        auto copy = std::make_unique<surgeon_model>();
        copy->model = h.model;
        copy->tokenizer = h.tokenizer;
        copy->tokenizer_path = h.tokenizer_path;
        *out = copy.release();
    });
}

surgeon_status surgeon_model_get_config(const surgeon_model* model, surgeon_model_config* out) {
    SURGEON_GUARD({
        const sm::ModelConfig& c = deref(model, "model").model.config;
        require_version(out, SURGEON_MODEL_CONFIG_VERSION, "out");
        *out = {out->version, c.dim,       c.hidden_dim,
                c.n_layers,   c.n_heads,   c.n_kv_heads,
                c.vocab_size, c.seq_len,   sm::parameter_count(model->model),
                c.head_size()};
    });
}

surgeon_status surgeon_model_set_tokenizer(const surgeon_context* ctx, surgeon_model* model, const char* path) {
    SURGEON_GUARD({
        surgeon_model& h = deref(model, "model");
        require_text(path, "path");
        const ContextPtr c = context_of(ctx);
        h.tokenizer = sm::open_tokenizer(path, h.model.config.vocab_size);
        h.tokenizer_path = path;
        c->log(SURGEON_LOG_INFO, std::string("loaded tokenizer '") + path + "' (vocabulary " +
                                     std::to_string(h.model.config.vocab_size) + ")");
    });
}

surgeon_status surgeon_model_encode(const surgeon_model* model, const char* text, int bos, int32_t* ids,
                                    size_t cap, size_t* needed) {
    SURGEON_GUARD({
        const surgeon_model& h = deref(model, "model");
        require_text(text, "text");
        write_array(tokenizer_of(h).encode(text, bos != 0), ids, cap, needed);
    });
}

surgeon_status surgeon_model_perplexity(const surgeon_context* ctx, const surgeon_model* model,
                                        const char* text, surgeon_eval_mode mode, int64_t begin,
                                        int64_t end, int64_t seq_len, surgeon_perplexity* out) {
    SURGEON_GUARD({
        const surgeon_model& h = deref(model, "model");
        require_text(text, "text");
        text_perplexity(ctx, h, text, mode, begin, end, seq_len, out);
    });
}

surgeon_status surgeon_model_perplexity_file(const surgeon_context* ctx, const surgeon_model* model,
                                             const char* path, surgeon_eval_mode mode, int64_t begin,
                                             int64_t end, int64_t seq_len, surgeon_perplexity* out) {
    SURGEON_GUARD({
        const surgeon_model& h = deref(model, "model");
        require_text(path, "path");
        text_perplexity(ctx, h, sm::read_text_file(path), mode, begin, end, seq_len, out);
    });
}

surgeon_status surgeon_model_perplexity_tokens(const surgeon_context* ctx, const surgeon_model* model,
                                               const int32_t* tokens, int64_t count, int64_t seq_len,
                                               surgeon_perplexity* out) {
    SURGEON_GUARD({
        const surgeon_model& h = deref(model, "model");
        require_not_null(tokens, "tokens");
        require_version(out, SURGEON_PERPLEXITY_VERSION, "out");
        require_arg(count > 0, "count must be positive");
        std::vector<int> ids(tokens, tokens + count);
        for (int id : ids)
            require_arg(id >= 0 && id < h.model.config.vocab_size, "token id " + std::to_string(id) +
                                                                       " outside the vocabulary");
        const auto seqs = sm::window_sequences(ids, sm::Range{}, context_length(h.model, seq_len));
        to_c(sm::evaluate_sequences(backend_for(*context_of(ctx)), h.model, seqs), out);
    });
}

surgeon_status surgeon_model_compress(const surgeon_context* ctx, surgeon_model* model, const char* calib_text,
                                      int64_t begin, int64_t end, const char* recipe_json) {
    SURGEON_GUARD({
        surgeon_model& h = deref(model, "model");
        require_text(calib_text, "calib_text");
        require_text(recipe_json, "recipe_json");
        sm::Recipe recipe;
        try {
            recipe = sm::Recipe::from_json(nlohmann::json::parse(recipe_json));
        } catch (const nlohmann::json::exception& e) {
            fail(SURGEON_ERR_INVALID_ARGUMENT, std::string("recipe_json: ") + e.what());
        }
        const ContextPtr c = context_of(ctx);
        const auto calibration = sm::paragraph_sequences(tokenizer_of(h), calib_text, sm::Range{begin, end},
                                                         h.model.config.seq_len);
        sm::Model work = h.model;  // the handle changes only when everything succeeded
        sm::CompressionReport report;
        std::string text;
        if (recipe.uses(sm::Method::cbq)) {  // cross-block: the recipe's "cbq" options
            sm::CbqOptions options;
            options.apply(recipe.cbq());
            const sm::CbqReport r = sm::compress_cbq(
                work, calibration, recipe, options, c, [&](const sm::CbqWindowRecord& w, int64_t) {
                    c->progress("compress", static_cast<double>(w.last) / static_cast<double>(work.config.n_layers));
                });
            report = r.compression;
            text = r.to_json().dump();
        } else {
            report = sm::compress_model(work, calibration, recipe, c, [&](int64_t done, int64_t total) {
                c->progress("compress", static_cast<double>(done) / static_cast<double>(total));
            });
            text = report.to_json().dump();
        }
        std::map<std::string, QuantResult> quantized;
        for (const sm::CompressedLayer& l : report.layers)
            if (l.quant) quantized.emplace(l.name, *l.quant);
        h.model = std::move(work);
        h.quantized = std::move(quantized);
        h.plans = sm::export_plans(report);
        h.report = std::move(text);
    });
}

surgeon_status surgeon_model_report(const surgeon_model* model, char* buf, size_t cap, size_t* needed) {
    SURGEON_GUARD({ write_text(deref(model, "model").report, buf, cap, needed); });
}

surgeon_status surgeon_model_save(const surgeon_context* ctx, const surgeon_model* model, const char* path,
                                  const char* format, const char* dtype) {
    SURGEON_GUARD({
        const surgeon_model& h = deref(model, "model");
        require_text(path, "path");
        require_text(format, "format");
        const sm::Dtype d = dtype ? sm::parse_float_dtype(dtype) : sm::Dtype::F32;
        sm::save_model(h.model, path, {sm::parse_model_format(format), d, h.tokenizer_path});
        context_of(ctx)->log(SURGEON_LOG_INFO, std::string("saved '") + path + "' (" + format + ")");
    });
}

surgeon_status surgeon_model_save_gptq(const surgeon_context* ctx, const surgeon_model* model, const char* dir) {
    SURGEON_GUARD({
        const surgeon_model& h = deref(model, "model");
        require_text(dir, "dir");
        require_arg(!h.quantized.empty(), "no quantized layers: compress with gptq, rtn or bits first");
        // Metadata of the run (bits, group, sym, desc_act, static_groups, damp); the format
        // is the default one (gptq when every layer is symmetric, gptq_v2 otherwise).
        sm::save_gptq_model(h.model, h.quantized, dir, h.tokenizer_path,
                            sm::plan_gptq_export(h.plans, std::nullopt, sm::Dtype::F16));
        context_of(ctx)->log(SURGEON_LOG_INFO, std::string("saved '") + dir + "' (gptq)");
    });
}

surgeon_status surgeon_model_linear_shape(const surgeon_model* model, int64_t block, const char* name,
                                          int64_t* rows, int64_t* cols) {
    SURGEON_GUARD({
        const Matrix& w = linear_of(model, block, name);
        require_not_null(rows, "rows");
        require_not_null(cols, "cols");
        *rows = w.rows;
        *cols = w.cols;
    });
}

surgeon_status surgeon_model_get_linear(const surgeon_model* model, int64_t block, const char* name, float* out,
                                        int64_t rows, int64_t cols) {
    SURGEON_GUARD({
        const Matrix& w = linear_of(model, block, name);
        require_not_null(out, "out");
        require_shape(rows == w.rows && cols == w.cols,
                      "buffer is " + std::to_string(rows) + "x" + std::to_string(cols) + ", the layer is " +
                          std::to_string(w.rows) + "x" + std::to_string(w.cols));
        std::copy(w.data.begin(), w.data.end(), out);
    });
}

surgeon_status surgeon_model_set_linear(surgeon_model* model, int64_t block, const char* name, const float* w,
                                        int64_t rows, int64_t cols) {
    SURGEON_GUARD({
        Matrix& target = const_cast<Matrix&>(linear_of(model, block, name));
        require_not_null(w, "w");
        require_shape(rows == target.rows && cols == target.cols,
                      "buffer is " + std::to_string(rows) + "x" + std::to_string(cols) + ", the layer is " +
                          std::to_string(target.rows) + "x" + std::to_string(target.cols));
        for (int64_t i = 0; i < rows * cols; ++i)
            require(std::isfinite(w[i]), SURGEON_ERR_NUMERIC, "w has a non-finite value at " + std::to_string(i));
        std::copy(w, w + rows * cols, target.data.begin());
    });
}

SURGEON_DEFAULT_HANDLE(surgeon_generate_options)


surgeon_status surgeon_generate_options_set_steps(surgeon_generate_options* opts, int64_t steps) {
    SURGEON_GUARD({
        require_at_least(steps, 1, "steps");
        deref(opts, "opts").steps = steps;
    });
}

surgeon_status surgeon_generate_options_set_temperature(surgeon_generate_options* opts, double temperature) {
    SURGEON_GUARD({
        require_finite_at_least(temperature, 0.0, "temperature");
        deref(opts, "opts").temperature = temperature;
    });
}

surgeon_status surgeon_generate_options_set_seed(surgeon_generate_options* opts, uint64_t seed) {
    SURGEON_GUARD({ deref(opts, "opts").seed = seed; });
}

surgeon_status surgeon_generate_options_get_steps(const surgeon_generate_options* opts, int64_t* out) {
    SURGEON_GUARD({ get_into(opts, "opts", out, [](const surgeon_generate_options& o) { return o.steps; }); });
}

surgeon_status surgeon_generate_options_get_temperature(const surgeon_generate_options* opts, double* out) {
    SURGEON_GUARD({ get_into(opts, "opts", out, [](const surgeon_generate_options& o) { return o.temperature; }); });
}

surgeon_status surgeon_generate_options_get_seed(const surgeon_generate_options* opts, uint64_t* out) {
    SURGEON_GUARD({ get_into(opts, "opts", out, [](const surgeon_generate_options& o) { return o.seed; }); });
}

surgeon_status surgeon_model_generate(const surgeon_context* ctx, const surgeon_model* model, const char* prompt,
                                      const surgeon_generate_options* opts, char* buf, size_t cap, size_t* needed) {
    SURGEON_GUARD({
        const surgeon_model& h = deref(model, "model");
        require_text(prompt, "prompt");
        require_not_null(needed, "needed");
        require_arg(buf != nullptr || cap == 0, "buf is NULL with cap " + std::to_string(cap));
        const surgeon_generate_options o = opts ? *opts : surgeon_generate_options{};
        const ContextPtr c = context_of(ctx);
        const sm::TextTokenizer& tok = tokenizer_of(h);
        sm::SamplingOptions sampling;
        sampling.temperature = static_cast<float>(o.temperature);
        sampling.seed = o.seed;
        std::vector<int> start = tok.encode(prompt, true);
        if (start.empty() && tok.bos_id() >= 0) start.push_back(tok.bos_id());
        const std::vector<int> tokens = sm::generate(backend_for(*c), h.model, start, o.steps, sampling);
        write_text(tok.decode(tokens), buf, cap, needed);
    });
}
