/*
 * Surgeon C API: Whole-model pipeline (llama2.c / Hugging Face checkpoints, sequential
 * calibration, compression, perplexity).
 * Included by surgeon/surgeon.h; include that header, not this one.
 */
#ifndef SURGEON_SURGEON_MODEL_H
#define SURGEON_SURGEON_MODEL_H

#ifndef SURGEON_SURGEON_H
#  error "include surgeon/surgeon.h instead of this header"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* A Llama-family model in memory (fp32), with its tokenizer when one was found. Calls that
 * only read the model (config, encode, perplexity, get_linear, generate, save) may run
 * concurrently on one handle; compress, set_linear, set_tokenizer and (surgeon_experimental.h)
 * prune_structured need exclusive use. */
typedef struct surgeon_model surgeon_model;

typedef struct surgeon_model_config {
    unsigned int version; /* SURGEON_MODEL_CONFIG_VERSION */
    int64_t dim;        /* hidden size */
    int64_t hidden_dim; /* FFN size of block 0 (structured pruning may vary it per block) */
    int64_t n_layers;
    int64_t n_heads;
    int64_t n_kv_heads;
    int64_t vocab_size;
    int64_t seq_len;    /* context length */
    int64_t parameters; /* total number of weights */
    int64_t head_dim;   /* per attention head (dim / n_heads unless heads were removed) */
} surgeon_model_config;

#define SURGEON_MODEL_CONFIG_VERSION 1
#define SURGEON_MODEL_CONFIG_INIT {SURGEON_MODEL_CONFIG_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0}
/* Initialises *config as SURGEON_MODEL_CONFIG_INIT does (version set, the rest zero). */
SURGEON_API surgeon_status surgeon_model_config_init(surgeon_model_config* config,
                                                     unsigned int version);

typedef enum surgeon_eval_mode {
    SURGEON_EVAL_PARAGRAPHS = 0, /* each "\n\n" paragraph scored as [BOS] + tokens, truncated */
    SURGEON_EVAL_WINDOWS = 1     /* whole text, non-overlapping seq_len windows, no BOS       */
} surgeon_eval_mode;

typedef struct surgeon_perplexity {
    unsigned int version; /* SURGEON_PERPLEXITY_VERSION */
    int64_t sequences;
    int64_t tokens; /* predicted tokens */
    double nll;     /* mean negative log-likelihood, nats */
    double ppl;     /* exp(nll) */
} surgeon_perplexity;

#define SURGEON_PERPLEXITY_VERSION 1
#define SURGEON_PERPLEXITY_INIT {SURGEON_PERPLEXITY_VERSION, 0, 0, 0.0, 0.0}
/* Initialises *result as SURGEON_PERPLEXITY_INIT does (version set, the rest zero). */
SURGEON_API surgeon_status surgeon_perplexity_init(surgeon_perplexity* result,
                                                   unsigned int version);

/* Loads a llama2.c checkpoint file or a Hugging Face directory (config.json + safetensors,
 * sharded or not, f32/f16/bf16; GPTQ-packed linears are dequantized). Its tokenizer is
 * loaded too when present: the directory's Hugging Face tokenizer.json (with
 * tokenizer_config.json), else a llama2.c tokenizer beside it (tok<vocab>.bin or
 * tokenizer.bin). path: borrowed.
 * What was loaded is logged to the context's log callback. *out: new handle owned by the
 * caller, release with surgeon_model_free. A NaN/Inf weight, or an rms_norm_eps/rope_theta
 * that is not a positive finite float, is SURGEON_ERR_NUMERIC naming the file; a missing,
 * malformed or inconsistent checkpoint SURGEON_ERR_IO. */
SURGEON_API surgeon_status surgeon_model_load(surgeon_model** out, const surgeon_context* ctx,
                                              const char* path);
SURGEON_API void surgeon_model_free(surgeon_model* model);
/* Deep copy (weights, tokenizer; not the last report). */
SURGEON_API surgeon_status surgeon_model_clone(surgeon_model** out, const surgeon_model* model);
/* out->version must be set (SURGEON_MODEL_CONFIG_INIT). */
SURGEON_API surgeon_status surgeon_model_get_config(const surgeon_model* model,
                                                    surgeon_model_config* out);
/* Loads (or replaces) the tokenizer: a Hugging Face tokenizer.json (a path ending in .json;
 * the tokenizer_config.json beside it is read) whose ids fit the model's vocabulary, or a
 * llama2.c tokenizer whose vocabulary matches the model's. A tokenizer.json component this
 * library does not implement is SURGEON_ERR_UNSUPPORTED naming it. path: borrowed. What was loaded is logged to the context's log callback. */
SURGEON_API surgeon_status surgeon_model_set_tokenizer(const surgeon_context* ctx,
                                                       surgeon_model* model, const char* path);

/* Token ids of text (UTF-8, NUL-terminated), with the tokenizer's special tokens (BOS;
 * EOS where its tokenizer_config.json asks) when bos != 0, into ids
 * (buffer convention of surgeon.h: *needed = the number of ids). */
SURGEON_API surgeon_status surgeon_model_encode(const surgeon_model* model, const char* text,
                                                int bos, int32_t* ids, size_t cap,
                                                size_t* needed);

/* Perplexity on text with the tokenizer: `text` is the text itself (UTF-8, NUL-terminated),
 * not a file name (surgeon_model_perplexity_file reads a file). Paragraphs or windows
 * [begin, end) (end < 0: to the last one); seq_len 0 = the model's context. out->version
 * must be set (SURGEON_PERPLEXITY_INIT). A begin past the last paragraph or window, or text
 * that leaves no sequence of two tokens or more in the range (nothing to predict), is
 * SURGEON_ERR_INVALID_ARGUMENT ("paragraphs 2000:2128 requested, the text has 1"). */
SURGEON_API surgeon_status surgeon_model_perplexity(const surgeon_context* ctx,
                                                    const surgeon_model* model,
                                                    const char* text, surgeon_eval_mode mode,
                                                    int64_t begin, int64_t end, int64_t seq_len,
                                                    surgeon_perplexity* out);
/* surgeon_model_perplexity on the contents of the text file at `path` (borrowed); an
 * unreadable file or a directory is SURGEON_ERR_IO naming the path. */
SURGEON_API surgeon_status surgeon_model_perplexity_file(const surgeon_context* ctx,
                                                         const surgeon_model* model,
                                                         const char* path, surgeon_eval_mode mode,
                                                         int64_t begin, int64_t end,
                                                         int64_t seq_len, surgeon_perplexity* out);
/* Perplexity on a token stream (windows protocol): tokens[count], caller-owned; fewer
 * than two tokens is SURGEON_ERR_INVALID_ARGUMENT. */
SURGEON_API surgeon_status surgeon_model_perplexity_tokens(const surgeon_context* ctx,
                                                           const surgeon_model* model,
                                                           const int32_t* tokens, int64_t count,
                                                           int64_t seq_len,
                                                           surgeon_perplexity* out);

/* True-sequential compression of every linear layer (SparseGPT/GPTQ protocol): block by
 * block, each group [q,k,v] -> o -> [gate,up] -> down calibrated on inputs produced by the
 * already-compressed layers. Calibration: non-empty paragraphs [begin, end) of calib_text,
 * each [BOS] + tokens truncated to the context. recipe_json: a recipe (JSON text, see
 * docs/recipes.md), e.g. {"default": {"method": "sparsegpt", "nm": "2:4"}} — borrowed.
 * A recipe whose layers use "method": "cbq" runs cross-block quantization instead, with
 * the options of its "cbq" object (window, overlap, rank, epochs, act_bits, ...;
 * docs/cbq.md); the model then quantizes its activations as act_bits says.
 * Progress goes to the context's callback as stage "compress". On failure the model is
 * left unchanged. The JSON report is kept in the handle (surgeon_model_report). */
SURGEON_API surgeon_status surgeon_model_compress(const surgeon_context* ctx,
                                                  surgeon_model* model, const char* calib_text,
                                                  int64_t begin, int64_t end,
                                                  const char* recipe_json);
/* Report of the last successful compress (per-layer method, sparsity, bits, OBS loss,
 * relative error, seconds) or structured pruning, as JSON copied into buf (buffer
 * convention of surgeon.h). "{}" before either. */
SURGEON_API surgeon_status surgeon_model_report(const surgeon_model* model, char* buf, size_t cap,
                                                size_t* needed);

/* Saves as a Hugging Face directory ("hf": config.json + model.safetensors, dtype "f32",
 * "f16" or "bf16"; the tokenizer file is copied beside) or a llama2.c file ("llama2c",
 * dtype must be "f32" or NULL). dtype NULL = f32. What was written is logged to the
 * context's log callback. */
SURGEON_API surgeon_status surgeon_model_save(const surgeon_context* ctx,
                                              const surgeon_model* model, const char* path,
                                              const char* format, const char* dtype);
/* Writes the packed GPTQ checkpoint (qweight/qzeros/scales/g_idx, quantize_config.json) of
 * the last compress; every quantized layer must share bits and group size (dividing its
 * input width, sizes multiples of 32). The config holds the run's settings (bits, group,
 * sym, desc_act, static_groups, damp_percent) and declares the linears left dense;
 * checkpoint_format is "gptq" when every layer is symmetric, "gptq_v2" otherwise
 * (docs/formats.md). Logged as surgeon_model_save. */
SURGEON_API surgeon_status surgeon_model_save_gptq(const surgeon_context* ctx,
                                                   const surgeon_model* model, const char* dir);

/* Weights of one linear: block in [0, n_layers), name one of "wq","wk","wv","wo","w1",
 * "w2","w3" (llama2.c names; HF q/k/v/o_proj, gate/down/up_proj also accepted). */
SURGEON_API surgeon_status surgeon_model_linear_shape(const surgeon_model* model,
                                                      int64_t block, const char* name,
                                                      int64_t* rows, int64_t* cols);
/* Copies the weights out (rows × cols, row-major, caller-owned out). */
SURGEON_API surgeon_status surgeon_model_get_linear(const surgeon_model* model, int64_t block,
                                                    const char* name, float* out,
                                                    int64_t rows, int64_t cols);
/* Replaces the weights (rows × cols must match; finite values only). */
SURGEON_API surgeon_status surgeon_model_set_linear(surgeon_model* model, int64_t block,
                                                    const char* name, const float* w,
                                                    int64_t rows, int64_t cols);

/* Generation options. Defaults (those of `surgeon generate`): steps 256, temperature 0
 * (greedy), seed 42. Setters refuse invalid values (SURGEON_ERR_INVALID_ARGUMENT) and leave
 * the object unchanged.
 *  - steps >= 1: positions to run, prompt included (at most the model's context);
 *  - temperature >= 0 (finite): 0 = greedy (argmax); > 0 samples with nucleus top-p 0.9;
 *  - seed: random state of the sampler (unused when greedy). */
typedef struct surgeon_generate_options surgeon_generate_options;

SURGEON_API surgeon_status surgeon_generate_options_new(surgeon_generate_options** out);
SURGEON_API void surgeon_generate_options_free(surgeon_generate_options* opts);
SURGEON_API surgeon_status surgeon_generate_options_set_steps(surgeon_generate_options* opts,
                                                              int64_t steps);
SURGEON_API surgeon_status surgeon_generate_options_set_temperature(
    surgeon_generate_options* opts, double temperature);
SURGEON_API surgeon_status surgeon_generate_options_set_seed(surgeon_generate_options* opts,
                                                             uint64_t seed);
SURGEON_API surgeon_status surgeon_generate_options_get_steps(
    const surgeon_generate_options* opts, int64_t* out);
SURGEON_API surgeon_status surgeon_generate_options_get_temperature(
    const surgeon_generate_options* opts, double* out);
SURGEON_API surgeon_status surgeon_generate_options_get_seed(
    const surgeon_generate_options* opts, uint64_t* out);

/* Continues prompt (may be "") with the options (opts NULL: defaults; borrowed) into buf
 * (buffer convention of surgeon.h: bytes including the NUL), computing on the context's
 * backend. The text is a function of (model, prompt, options): after a size query or
 * SURGEON_ERR_BUFFER_TOO_SMALL, a second call with a buffer of *needed bytes gets it. */
SURGEON_API surgeon_status surgeon_model_generate(const surgeon_context* ctx,
                                                  const surgeon_model* model,
                                                  const char* prompt,
                                                  const surgeon_generate_options* opts,
                                                  char* buf, size_t cap, size_t* needed);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SURGEON_SURGEON_MODEL_H */
