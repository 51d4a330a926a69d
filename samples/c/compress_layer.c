/*
 * Surgeon from C: compress one linear layer.
 *
 *   compress_layer FIXTURE_DIR OUT_DIR [MODEL TEXT_FILE]
 *
 * Reads FIXTURE_DIR/W.npy (rows x cols weights) and FIXTURE_DIR/X.npy (tokens x cols
 * calibration inputs, float32, C order), streams the inputs into a Hessian in batches
 * of 256 tokens, then with ONE solver (factorized once, reused):
 *   - SparseGPT 2:4           -> OUT_DIR/w_2of4.npy  (+ mask bits)
 *   - GPTQ 4-bit per channel  -> OUT_DIR/w_gptq4.npy (+ codes, scales)
 * and prints the relative reconstruction error tr(dW H dW^T) / tr(W H W^T) of each.
 * OUT_DIR is created when missing. Given a model (llama2.c file or Hugging Face directory,
 * with its tokenizer beside it) and a text file too, it first prints the model's
 * perplexity on the text's first 20 paragraphs.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "surgeon/surgeon.h"

/* ---- minimal .npy I/O (float32, C order, 2-D) ------------------------------------ */

static float* read_npy_f32(const char* path, int64_t* rows, int64_t* cols) {
    FILE* f = fopen(path, "rb");
    unsigned char head[10];
    char* header = NULL;
    float* data = NULL;
    long long r = 0, c = 0;
    size_t header_len, count;
    if (!f) return NULL;
    if (fread(head, 1, 10, f) != 10 || memcmp(head, "\x93NUMPY", 6) != 0 || head[6] != 1) goto fail;
    header_len = (size_t)head[8] | ((size_t)head[9] << 8);
    header = calloc(header_len + 1, 1);
    if (!header || fread(header, 1, header_len, f) != header_len) goto fail;
    if (!strstr(header, "'<f4'") || strstr(header, "'fortran_order': True")) goto fail;
    if (sscanf(strstr(header, "'shape': (") + 10, "%lld, %lld", &r, &c) != 2 || r <= 0 || c <= 0) goto fail;
    count = (size_t)r * (size_t)c;
    data = malloc(count * sizeof(float));
    if (!data || fread(data, sizeof(float), count, f) != count) goto fail;
    fclose(f);
    free(header);
    *rows = r;
    *cols = c;
    return data;
fail:
    fclose(f);
    free(header);
    free(data);
    return NULL;
}

static int write_npy(const char* path, const char* descr, const void* data, size_t elem,
                     int64_t rows, int64_t cols) {
    char header[128];
    int n = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%lld, %lld), }",
                     descr, (long long)rows, (long long)cols);
    int total = 10 + n + 1, pad = (64 - total % 64) % 64, ok;
    unsigned short len = (unsigned short)(n + pad + 1);
    FILE* f = fopen(path, "wb");
    if (!f) return 0;
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(len & 0xff, f);
    fputc(len >> 8, f);
    fwrite(header, 1, (size_t)n, f);
    for (int i = 0; i < pad; ++i) fputc(' ', f);
    fputc('\n', f);
    ok = fwrite(data, elem, (size_t)(rows * cols), f) == (size_t)(rows * cols);
    return fclose(f) == 0 && ok;
}

/* ---- the sample ------------------------------------------------------------------- */

#define CHECK(call)                                                                       \
    do {                                                                                  \
        surgeon_status s_ = (call);                                                       \
        if (s_ != SURGEON_OK) {                                                           \
            fprintf(stderr, "%s failed: %s (%s)\n", #call, surgeon_last_error(),          \
                    surgeon_status_string(s_));                                           \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)

/* mkdir -p: creates dir and its missing parents; 1 on success. */
static int make_dirs(const char* dir) {
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path) return 0;
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; ++i) {
        if (path[i] == '/' || path[i] == '\0') {
            char c = path[i];
            path[i] = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST) return 0;
            path[i] = c;
        }
    }
    return 1;
}

/* Loads a model and prints its perplexity on paragraphs [0, 20) of a text file. */
static int perplexity(const char* model_path, const char* text_file) {
    surgeon_model* model = NULL;
    surgeon_model_config config = SURGEON_MODEL_CONFIG_INIT;
    surgeon_perplexity p = SURGEON_PERPLEXITY_INIT;
    const char* base = strrchr(model_path, '/');
    surgeon_status s = surgeon_model_load(&model, NULL, model_path);
    if (s == SURGEON_OK) s = surgeon_model_get_config(model, &config);
    if (s == SURGEON_OK)
        s = surgeon_model_perplexity_file(NULL, model, text_file, SURGEON_EVAL_PARAGRAPHS, 0, 20, 0, &p);
    if (s != SURGEON_OK) {
        fprintf(stderr, "perplexity: %s (%s)\n", surgeon_last_error(), surgeon_status_string(s));
        surgeon_model_free(model);
        return 1;
    }
    printf("model %s (%lld blocks, dim %lld): perplexity %.4f over %lld paragraphs, %lld tokens\n",
           base ? base + 1 : model_path, (long long)config.n_layers, (long long)config.dim, p.ppl,
           (long long)p.sequences, (long long)p.tokens);
    surgeon_model_free(model);
    return 0;
}

static int run(const char* fixture, const char* out_dir) {
    char path[4096];
    int64_t rows, cols, tokens, xcols;
    float *w, *x, *pruned, *quantized;
    surgeon_hessian* h = NULL;
    surgeon_solver* solver = NULL;
    surgeon_prune_options* opts = NULL;
    surgeon_prune_result* result = NULL;
    surgeon_mask* mask = NULL;
    surgeon_quantizer* q = NULL;
    surgeon_qresult* codes = NULL;
    double error = 0.0, loss = 0.0;
    const int64_t batch = 256;

    snprintf(path, sizeof path, "%s/W.npy", fixture);
    w = read_npy_f32(path, &rows, &cols);
    snprintf(path, sizeof path, "%s/X.npy", fixture);
    x = read_npy_f32(path, &tokens, &xcols);
    if (!w || !x || xcols != cols) {
        fprintf(stderr, "cannot read %s/W.npy and X.npy (float32, matching columns)\n", fixture);
        return 1;
    }
    if (!make_dirs(out_dir)) {
        fprintf(stderr, "cannot create %s\n", out_dir);
        return 1;
    }
    printf("surgeon %s: layer %lld x %lld, %lld calibration tokens\n", surgeon_version(),
           (long long)rows, (long long)cols, (long long)tokens);

    /* Stream the activations in batches, as a serving stack would. */
    CHECK(surgeon_hessian_new(&h, NULL, cols));
    for (int64_t t = 0; t < tokens; t += batch) {
        int64_t n = tokens - t < batch ? tokens - t : batch;
        CHECK(surgeon_hessian_add_f32(h, x + t * cols, n, cols, 0));
    }
    CHECK(surgeon_solver_new(&solver, NULL, h, NULL)); /* default damping 0.01, blocks of 128 */

    /* SparseGPT 2:4. The solver updates a copy of the weights in place. */
    pruned = malloc((size_t)(rows * cols) * sizeof(float));
    memcpy(pruned, w, (size_t)(rows * cols) * sizeof(float));
    CHECK(surgeon_prune_options_new(&opts));
    CHECK(surgeon_prune_options_set_nm(opts, 2, 4));
    CHECK(surgeon_prune_result_new(&result));
    CHECK(surgeon_solver_prune(solver, pruned, rows, cols, 0, opts, result));
    CHECK(surgeon_prune_result_mask(result, &mask)); /* a new mask, freed below */
    CHECK(surgeon_prune_result_loss(result, &loss));
    CHECK(surgeon_reconstruction_error(h, w, pruned, rows, cols, 0, &error));
    {
        int ok = 0;
        double sparsity = 0.0;
        CHECK(surgeon_mask_check_nm(mask, 2, 4, &ok));
        CHECK(surgeon_mask_sparsity(mask, &sparsity));
        printf("SparseGPT 2:4       relative error %.6f  (sparsity %.3f, 2:4 %s)\n", error, sparsity,
               ok ? "exact" : "BROKEN");
    }

    /* GPTQ 4-bit, symmetric, one grid per output channel. */
    quantized = malloc((size_t)(rows * cols) * sizeof(float));
    memcpy(quantized, w, (size_t)(rows * cols) * sizeof(float));
    CHECK(surgeon_quantizer_new(&q, 4));
    CHECK(surgeon_qresult_new(&codes));
    CHECK(surgeon_solver_quantize(solver, quantized, rows, cols, 0, q, codes, &loss));
    CHECK(surgeon_reconstruction_error(h, w, quantized, rows, cols, 0, &error));
    printf("GPTQ 4-bit          relative error %.6f\n", error);

    snprintf(path, sizeof path, "%s/w_2of4.npy", out_dir);
    if (!write_npy(path, "<f4", pruned, sizeof(float), rows, cols)) return fprintf(stderr, "cannot write %s\n", path), 1;
    snprintf(path, sizeof path, "%s/w_gptq4.npy", out_dir);
    if (!write_npy(path, "<f4", quantized, sizeof(float), rows, cols)) return fprintf(stderr, "cannot write %s\n", path), 1;
    {
        uint8_t* c = malloc((size_t)(rows * cols));
        CHECK(surgeon_qresult_codes(codes, c));
        snprintf(path, sizeof path, "%s/codes_gptq4.npy", out_dir);
        if (!write_npy(path, "|u1", c, 1, rows, cols)) return fprintf(stderr, "cannot write %s\n", path), 1;
        free(c);
    }
    printf("wrote %s/{w_2of4,w_gptq4,codes_gptq4}.npy\n", out_dir);

    surgeon_qresult_free(codes);
    surgeon_quantizer_free(q);
    surgeon_mask_free(mask);
    surgeon_prune_result_free(result);
    surgeon_prune_options_free(opts);
    surgeon_solver_free(solver);
    surgeon_hessian_free(h);
    free(quantized);
    free(pruned);
    free(x);
    free(w);
    return 0;
}

int main(int argc, char** argv) {
    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: %s FIXTURE_DIR OUT_DIR [MODEL TEXT_FILE]\n", argv[0]);
        return 2;
    }
    if (argc == 5 && perplexity(argv[3], argv[4]) != 0) return 1;
    return run(argv[1], argv[2]);
}
