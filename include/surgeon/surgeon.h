/*
 * Surgeon — one-shot second-order compression of linear layers (SparseGPT, GPTQ).
 *
 * Stable C API. Conventions (they hold for every function below unless it says otherwise):
 *
 *  - Every function returns a surgeon_status; SURGEON_OK (0) is success. On failure,
 *    surgeon_last_error() returns a message naming the function and the bad value, valid
 *    until the next failing call on the same thread.
 *  - No C++ exception ever crosses this boundary.
 *  - On failure, out-parameters and caller buffers are left untouched (a weight buffer
 *    that is updated in place keeps its original values).
 *  - Handles are opaque. surgeon_X_new() allocates one; the caller owns it and releases
 *    it with surgeon_X_free(), which accepts NULL and never fails.
 *  - Parameter order: the out-handle (if any), the context or the handle worked on, input
 *    buffers with their dimensions (w, rows, cols, ld), an options object, outputs. No
 *    function takes more than 8 parameters.
 *  - Options are opaque objects with setters (surgeon_X_options_new, _set_*, _get_*,
 *    _free); a NULL options pointer means the defaults. A setter given an invalid value
 *    returns SURGEON_ERR_INVALID_ARGUMENT and leaves the object unchanged. Calls copy what
 *    they need from an options object: it may be changed or freed afterwards.
 *  - Public structs start with `unsigned int version`: initialise one with its
 *    SURGEON_X_INIT macro or surgeon_X_init(&s, SURGEON_X_VERSION) before passing it (in
 *    or out); an unknown version is SURGEON_ERR_INVALID_ARGUMENT.
 *  - Variable-length outputs (text, arrays) use (T* buf, size_t cap, size_t* needed):
 *    *needed (required) receives the full size (text: bytes including the terminating NUL;
 *    arrays: elements). buf NULL with cap 0 is a size query (SURGEON_OK). A non-NULL buf
 *    with cap < *needed returns SURGEON_ERR_BUFFER_TOO_SMALL and buf is not written.
 *  - A `const surgeon_context* ctx` argument appears where work is done and no handle
 *    argument already carries a context (a solver or Hessian uses the context it was
 *    created with). NULL means the default settings.
 *  - Buffers are caller-owned, row-major, float32 unless stated, with explicit dimensions.
 *    A leading dimension `ld` (elements between the starts of consecutive rows) may be
 *    passed where it is useful; 0 means "tightly packed" (ld = cols). The library never
 *    keeps a pointer to a caller buffer after a call returns.
 *  - Handles never keep pointers to other handles: a solver copies what it needs from its
 *    Hessian, and every handle that takes a context shares its settings (the context may
 *    be freed at any time; objects created from it keep the settings alive).
 *  - Thread safety: distinct handles may be used concurrently from any threads.
 *    surgeon_hessian_add_* may be called concurrently on ONE accumulator. Calls that only
 *    read a handle (declared with a const pointer) may run concurrently with each other;
 *    surgeon_solver_prune/quantize may run concurrently on ONE solver (the factorization
 *    is computed once, under a lock). Any other call that modifies a handle needs the
 *    caller to serialize it against every other call on that handle.
 */
#ifndef SURGEON_SURGEON_H
#define SURGEON_SURGEON_H

#include <stddef.h>
#include <stdint.h>

#define SURGEON_VERSION_MAJOR 0
#define SURGEON_VERSION_MINOR 2
#define SURGEON_VERSION_PATCH 0
#define SURGEON_VERSION_NUMBER \
    (SURGEON_VERSION_MAJOR * 10000 + SURGEON_VERSION_MINOR * 100 + SURGEON_VERSION_PATCH)

#if defined(_WIN32)
#  if defined(SURGEON_BUILDING)
#    define SURGEON_API __declspec(dllexport)
#  else
#    define SURGEON_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define SURGEON_API __attribute__((visibility("default")))
#else
#  define SURGEON_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------ */
/* Status, errors, version                                                               */
/* ------------------------------------------------------------------------------------ */

typedef enum surgeon_status {
    SURGEON_OK = 0,
    SURGEON_ERR_INVALID_ARGUMENT = 1, /* NULL pointer, option out of range, bad enum     */
    SURGEON_ERR_SHAPE = 2,            /* dimensions that do not agree                    */
    SURGEON_ERR_NUMERIC = 3,          /* NaN/Inf input, Hessian not positive definite    */
    SURGEON_ERR_OUT_OF_MEMORY = 4,
    SURGEON_ERR_IO = 5,               /* cannot open/read/write, truncated or corrupt    */
    SURGEON_ERR_UNSUPPORTED = 6,      /* valid request this build cannot do              */
    SURGEON_ERR_INTERNAL = 7,         /* a bug: please report                            */
    SURGEON_ERR_BUFFER_TOO_SMALL = 8  /* the caller's buffer is shorter than the output;
                                         *needed holds the size                           */
} surgeon_status;

/* Message of the last failing call on this thread ("" if none). Owned by the library;
 * valid until the next failing call on this thread. Never NULL. */
SURGEON_API const char* surgeon_last_error(void);

/* Static name of a status code ("SURGEON_ERR_SHAPE", ...). Never NULL. */
SURGEON_API const char* surgeon_status_string(surgeon_status status);

/* Runtime version string ("0.2.0"), static storage. Compare SURGEON_VERSION_NUMBER with
 * surgeon_version_number() to detect a header/library mismatch. */
SURGEON_API const char* surgeon_version(void);
SURGEON_API int surgeon_version_number(void);

/* ------------------------------------------------------------------------------------ */
/* Context: threads and callbacks                                                        */
/* ------------------------------------------------------------------------------------ */

typedef struct surgeon_context surgeon_context;

/* Progress: stage is a static string ("factorize", "prune", "quantize", ...), fraction in
 * [0, 1]. Called on the thread that made the call. `user` is passed back untouched. */
typedef void (*surgeon_progress_fn)(void* user, const char* stage, double fraction);

typedef enum surgeon_log_level {
    SURGEON_LOG_DEBUG = 0,
    SURGEON_LOG_INFO = 1,
    SURGEON_LOG_WARNING = 2
} surgeon_log_level;

/* Log: message is valid only during the callback. */
typedef void (*surgeon_log_fn)(void* user, surgeon_log_level level, const char* message);

/* Every `const surgeon_context* ctx` parameter below accepts NULL: default settings (all
 * hardware threads, no callbacks). */
SURGEON_API surgeon_status surgeon_context_new(surgeon_context** out);
SURGEON_API void surgeon_context_free(surgeon_context* ctx);
/* threads in [1, 1024]; 0 restores the default (all hardware threads); anything else is
 * SURGEON_ERR_INVALID_ARGUMENT. The count is applied to
 * the library's own parallel loops and to OpenBLAS for the duration of each call. */
SURGEON_API surgeon_status surgeon_context_set_threads(surgeon_context* ctx, int threads);
SURGEON_API surgeon_status surgeon_context_get_threads(const surgeon_context* ctx, int* out);
/* fn may be NULL to remove the callback. */
SURGEON_API surgeon_status surgeon_context_set_progress(surgeon_context* ctx,
                                                        surgeon_progress_fn fn, void* user);
SURGEON_API surgeon_status surgeon_context_set_log(surgeon_context* ctx, surgeon_log_fn fn,
                                                   void* user);

/* ------------------------------------------------------------------------------------ */
/* Hessian accumulator: H = 2/n · Σ xᵀx over n calibration rows (tokens)                 */
/* ------------------------------------------------------------------------------------ */

typedef struct surgeon_hessian surgeon_hessian;

/* cols in [1, 2^20]: the layer's input features (wider, whose cols × cols matrix would
 * exceed 4 TiB, is SURGEON_ERR_INVALID_ARGUMENT). */
SURGEON_API surgeon_status surgeon_hessian_new(surgeon_hessian** out,
                                               const surgeon_context* ctx, int64_t cols);
SURGEON_API void surgeon_hessian_free(surgeon_hessian* h);

/* Add `rows` calibration rows x (rows × cols, leading dimension ld, 0 = cols). rows may be
 * 0 (no-op). NaN/Inf anywhere in x is an error and the accumulator is unchanged. Safe to
 * call concurrently on one accumulator. The _f16 / _bf16 variants take IEEE half /
 * bfloat16 bit patterns. */
SURGEON_API surgeon_status surgeon_hessian_add_f32(surgeon_hessian* h, const float* x,
                                                   int64_t rows, int64_t cols, int64_t ld);
SURGEON_API surgeon_status surgeon_hessian_add_f16(surgeon_hessian* h, const uint16_t* x,
                                                   int64_t rows, int64_t cols, int64_t ld);
SURGEON_API surgeon_status surgeon_hessian_add_bf16(surgeon_hessian* h, const uint16_t* x,
                                                    int64_t rows, int64_t cols, int64_t ld);

/* dst += src (same cols): afterwards dst equals one accumulator fed both streams. src is
 * unchanged; dst == src is an error. */
SURGEON_API surgeon_status surgeon_hessian_merge(surgeon_hessian* dst,
                                                 const surgeon_hessian* src);

/* Build an accumulator from a finished Hessian (cols × cols, symmetric, ld 0 = cols) that
 * was computed from `samples` rows (>= 1). It carries no activation statistics beyond
 * what the diagonal gives (mean x² = H_jj / 2; mean |x| and mean x are unknown: 0). */
SURGEON_API surgeon_status surgeon_hessian_from_matrix(surgeon_hessian** out,
                                                       const surgeon_context* ctx,
                                                       const float* hessian, int64_t cols,
                                                       int64_t ld, int64_t samples);

SURGEON_API surgeon_status surgeon_hessian_cols(const surgeon_hessian* h, int64_t* out);
SURGEON_API surgeon_status surgeon_hessian_samples(const surgeon_hessian* h, int64_t* out);

/* Copy H (cols × cols, full symmetric, ld 0 = cols) into out. With zero samples H is 0. */
SURGEON_API surgeon_status surgeon_hessian_copy(const surgeon_hessian* h, float* out,
                                                int64_t ld);

/* Per-column activation statistics over all rows added: mean |x|, mean x, mean x² (each an
 * array of cols floats; any pointer may be NULL to skip it). */
SURGEON_API surgeon_status surgeon_hessian_stats(const surgeon_hessian* h, float* abs_mean,
                                                 float* mean, float* sq_mean);

/* The raw state of an accumulator, for hosts that reduce accumulators over their own
 * transport (MPI, NCCL, gRPC): what surgeon_hessian_merge adds, in caller buffers. For an
 * accumulator of c columns:
 *   sum_xx       c·(c+1)/2 floats: the upper triangle of S = Σ xᵀx (not scaled by 2/n),
 *                row by row: S_ij (j >= i) at index i·c − i·(i−1)/2 + (j − i)
 *   column_sums  3·c doubles: Σ|x_j| for every column j, then Σ x_j, then Σ x_j²
 *   samples      the row count n
 * Elementwise sums of the states of several accumulators (float + float in sum_xx,
 * double + double in column_sums, n + n), imported, give the accumulator that merging
 * them in the same order gives, bit for bit. The layout is that of the file written by
 * surgeon_hessian_save after its header. */
SURGEON_API surgeon_status surgeon_hessian_export_raw(const surgeon_hessian* h, float* sum_xx,
                                                      double* column_sums, int64_t* samples);
/* An accumulator holding a raw state. cols in [1, 2^20]; samples < 0, NULL buffers are
 * SURGEON_ERR_INVALID_ARGUMENT; NaN/Inf, a negative diagonal of S, a negative Σ|x| or Σx²,
 * an entry of H = 2/n · S or a column mean beyond float range are SURGEON_ERR_NUMERIC. */
SURGEON_API surgeon_status surgeon_hessian_import_raw(surgeon_hessian** out,
                                                      const surgeon_context* ctx, int64_t cols,
                                                      const float* sum_xx,
                                                      const double* column_sums,
                                                      int64_t samples);

/* Versioned binary file with a checksum; a truncated, corrupt or foreign file gives
 * SURGEON_ERR_IO, a well-formed one holding NaN/Inf, a negative diagonal or negative
 * column statistics SURGEON_ERR_NUMERIC. */
SURGEON_API surgeon_status surgeon_hessian_save(const surgeon_hessian* h, const char* path);
SURGEON_API surgeon_status surgeon_hessian_load(surgeon_hessian** out,
                                                const surgeon_context* ctx, const char* path);

/* ------------------------------------------------------------------------------------ */
/* Quantizer configuration                                                              */
/* ------------------------------------------------------------------------------------ */

typedef struct surgeon_quantizer surgeon_quantizer;

/* Defaults: symmetric, one grid per output row (per channel), min/max range (no MSE
 * search), natural column order. bits in [2, 8]. */
SURGEON_API surgeon_status surgeon_quantizer_new(surgeon_quantizer** out, int bits);
SURGEON_API void surgeon_quantizer_free(surgeon_quantizer* q);
SURGEON_API surgeon_status surgeon_quantizer_set_bits(surgeon_quantizer* q, int bits);
/* symmetric != 0: zero point at the middle of the grid; 0: asymmetric min/max grid. */
SURGEON_API surgeon_status surgeon_quantizer_set_symmetric(surgeon_quantizer* q,
                                                           int symmetric);
/* group_size 0: one grid per row; otherwise one grid per row and per group_size columns.
 * A group_size >= the weight's column count is one group per row (the grids of 0).
 * Negative values are SURGEON_ERR_INVALID_ARGUMENT. */
SURGEON_API surgeon_status surgeon_quantizer_set_group_size(surgeon_quantizer* q,
                                                            int64_t group_size);
/* MSE clipping search: shrink the range by 1 - i/grid for i < max_shrink·grid and keep
 * the grid with least Σ|w - q(w)|^norm. Defaults 2.4 / 100 / 0.8. */
SURGEON_API surgeon_status surgeon_quantizer_set_mse(surgeon_quantizer* q, int enable,
                                                     float norm, int grid, float max_shrink);
/* GPTQ only: process columns by descending Hessian diagonal. */
SURGEON_API surgeon_status surgeon_quantizer_set_act_order(surgeon_quantizer* q, int enable);
/* GPTQ with groups: fix every group's grid up front on the dense weight (natural column
 * groups), instead of when the group is reached. */
SURGEON_API surgeon_status surgeon_quantizer_set_static_groups(surgeon_quantizer* q,
                                                               int enable);
/* Per-row bit widths (mixed precision): rows int32 values in [1, 8], copied (bits is not
 * retained). Row r then keeps at most 2^bits[r] levels per grid (groups still apply),
 * replacing the uniform width; the weight given to a solver call must have `rows` rows.
 * rows 0 or bits NULL clears them (every row at the uniform width). */
SURGEON_API surgeon_status surgeon_quantizer_set_row_bits(surgeon_quantizer* q,
                                                          const int32_t* bits, int64_t rows);
/* The per-row widths (rows elements; 0 when none are set), buffer convention above. */
SURGEON_API surgeon_status surgeon_quantizer_get_row_bits(const surgeon_quantizer* q,
                                                          int32_t* buf, size_t cap,
                                                          size_t* needed);
SURGEON_API surgeon_status surgeon_quantizer_get_bits(const surgeon_quantizer* q, int* out);
SURGEON_API surgeon_status surgeon_quantizer_get_group_size(const surgeon_quantizer* q,
                                                            int64_t* out);

/* ------------------------------------------------------------------------------------ */
/* Quantized result: integer codes, grids, column order                                  */
/* ------------------------------------------------------------------------------------ */

/* A weight w[r][j] is represented as scale[r][g] * (code[r][j] - zero[r][g]) with
 * g = g_idx[j]. codes are rows × cols bytes in the original column order; scales and
 * zeros are rows × groups (groups = 1 per channel); g_idx and perm are cols int32 each
 * (perm[k] = original column processed k-th: identity without act-order). */
typedef struct surgeon_qresult surgeon_qresult;

SURGEON_API surgeon_status surgeon_qresult_new(surgeon_qresult** out);
SURGEON_API void surgeon_qresult_free(surgeon_qresult* r);
/* Any out pointer may be NULL. All zero while the result is empty. */
SURGEON_API surgeon_status surgeon_qresult_shape(const surgeon_qresult* r, int64_t* rows,
                                                 int64_t* cols, int64_t* groups, int* bits);
/* Copy into caller buffers of at least rows·cols / rows·groups / cols elements. */
SURGEON_API surgeon_status surgeon_qresult_codes(const surgeon_qresult* r, uint8_t* out);
SURGEON_API surgeon_status surgeon_qresult_scales(const surgeon_qresult* r, float* out);
SURGEON_API surgeon_status surgeon_qresult_zeros(const surgeon_qresult* r, float* out);
SURGEON_API surgeon_status surgeon_qresult_g_idx(const surgeon_qresult* r, int32_t* out);
SURGEON_API surgeon_status surgeon_qresult_perm(const surgeon_qresult* r, int32_t* out);
/* Reconstruct the float weight (rows × cols, ld 0 = cols). */
SURGEON_API surgeon_status surgeon_qresult_dequantize(const surgeon_qresult* r, float* out,
                                                      int64_t ld);

/* ------------------------------------------------------------------------------------ */
/* Mask: rows × cols keep (1) / prune (0) flags                                          */
/* ------------------------------------------------------------------------------------ */

typedef struct surgeon_mask surgeon_mask;

/* A new mask keeps everything. A mask passed as an output to a pruning call is resized
 * to the weight's shape. */
SURGEON_API surgeon_status surgeon_mask_new(surgeon_mask** out, int64_t rows, int64_t cols);
SURGEON_API void surgeon_mask_free(surgeon_mask* m);
/* keep: rows × cols bytes, non-zero = keep. */
SURGEON_API surgeon_status surgeon_mask_from_bytes(surgeon_mask** out, const uint8_t* keep,
                                                   int64_t rows, int64_t cols);
SURGEON_API surgeon_status surgeon_mask_shape(const surgeon_mask* m, int64_t* rows,
                                              int64_t* cols);
/* Fraction of pruned entries. */
SURGEON_API surgeon_status surgeon_mask_sparsity(const surgeon_mask* m, double* out);
/* *ok = 1 when every row has at least n pruned entries in each group of m columns (a
 * trailing group of len < m columns, when cols is not a multiple of m, needs min(n, len)),
 * else 0. */
SURGEON_API surgeon_status surgeon_mask_check_nm(const surgeon_mask* m, int n, int m_group,
                                                 int* ok);
/* rows·cols bytes (1 keep, 0 prune). */
SURGEON_API surgeon_status surgeon_mask_to_bytes(const surgeon_mask* m, uint8_t* out);
/* Packed bits: element k of the row-major order is bit (k % 8) of byte k / 8 (LSB
 * first), 1 = keep; out holds (rows·cols + 7) / 8 bytes. */
SURGEON_API surgeon_status surgeon_mask_to_bits(const surgeon_mask* m, uint8_t* out);
/* Zero the pruned entries of w (rows × cols, ld 0 = cols); shapes must match. */
SURGEON_API surgeon_status surgeon_mask_apply(const surgeon_mask* m, float* w, int64_t rows,
                                              int64_t cols, int64_t ld);

/* ------------------------------------------------------------------------------------ */
/* OBS solver: SparseGPT pruning and GPTQ quantization from one factorization            */
/* ------------------------------------------------------------------------------------ */

typedef struct surgeon_solver surgeon_solver;

typedef enum surgeon_mask_scope {
    /* One threshold over each block of columns (all rows): the reference behaviour. */
    SURGEON_MASK_SCOPE_BLOCK = 0,
    /* The same sparsity in every row of each block of columns. */
    SURGEON_MASK_SCOPE_ROW = 1
} surgeon_mask_scope;

/* Solver options. Defaults: percdamp 0.01, block_size 128.
 *  - percdamp >= 0 (finite): damping is percdamp · mean(diag H), raised ×10 up to three
 *    times if the Cholesky factorization fails;
 *  - block_size >= 1: columns processed per block (lazy batch updates); a block_size
 *    above the weight's column count runs as one block of all columns, so the scratch
 *    memory stays rows × cols. */
typedef struct surgeon_solver_options surgeon_solver_options;

SURGEON_API surgeon_status surgeon_solver_options_new(surgeon_solver_options** out);
SURGEON_API void surgeon_solver_options_free(surgeon_solver_options* opts);
SURGEON_API surgeon_status surgeon_solver_options_set_damping(surgeon_solver_options* opts,
                                                              double percdamp);
SURGEON_API surgeon_status surgeon_solver_options_set_block_size(surgeon_solver_options* opts,
                                                                 int64_t block_size);
SURGEON_API surgeon_status surgeon_solver_options_get_damping(const surgeon_solver_options* opts,
                                                              double* out);
SURGEON_API surgeon_status surgeon_solver_options_get_block_size(
    const surgeon_solver_options* opts, int64_t* out);

/* Copies the Hessian (h may be freed afterwards) and the options (opts NULL: defaults).
 * The factorization of H⁻¹ is computed on first use and shared by every later call (and
 * per column order with act-order). */
SURGEON_API surgeon_status surgeon_solver_new(surgeon_solver** out, const surgeon_context* ctx,
                                              const surgeon_hessian* h,
                                              const surgeon_solver_options* opts);
SURGEON_API void surgeon_solver_free(surgeon_solver* s);
/* Factorize now (optional: prune/quantize do it on demand). */
SURGEON_API surgeon_status surgeon_solver_factorize(surgeon_solver* s);
/* The damping actually added to the diagonal (after escalation); factorizes if needed. */
SURGEON_API surgeon_status surgeon_solver_damping(surgeon_solver* s, double* out);

/* Pruning options (SparseGPT and the baselines). Defaults: sparsity 0.5, unstructured
 * (n = m = 0), SURGEON_MASK_SCOPE_BLOCK, no quantizer.
 *  - sparsity in [0, 1): fraction of weights removed;
 *  - n:m with 0 < n < m <= 256: n pruned in every group of m columns of a row (sparsity
 *    is then ignored; the solver's block_size must be a multiple of m); n = m = 0
 *    selects unstructured sparsity;
 *  - mask scope (SparseGPT only);
 *  - quantizer (SparseGPT only): joint pruning + quantization, the grid found on the dense
 *    weight, per-row widths when the quantizer has them. Copied; NULL clears. */
typedef struct surgeon_prune_options surgeon_prune_options;

SURGEON_API surgeon_status surgeon_prune_options_new(surgeon_prune_options** out);
SURGEON_API void surgeon_prune_options_free(surgeon_prune_options* opts);
SURGEON_API surgeon_status surgeon_prune_options_set_sparsity(surgeon_prune_options* opts,
                                                              double sparsity);
SURGEON_API surgeon_status surgeon_prune_options_set_nm(surgeon_prune_options* opts, int n,
                                                        int m);
SURGEON_API surgeon_status surgeon_prune_options_set_mask_scope(surgeon_prune_options* opts,
                                                                surgeon_mask_scope scope);
SURGEON_API surgeon_status surgeon_prune_options_set_quantizer(surgeon_prune_options* opts,
                                                               const surgeon_quantizer* q);
SURGEON_API surgeon_status surgeon_prune_options_get_sparsity(const surgeon_prune_options* opts,
                                                              double* out);
SURGEON_API surgeon_status surgeon_prune_options_get_nm(const surgeon_prune_options* opts,
                                                        int* n, int* m);

/* What surgeon_solver_prune produced: the OBS loss, the mask and (with a quantizer in the
 * options) the quantized codes. Empty until filled: loss 0, a 0 x 0 mask, no codes. */
typedef struct surgeon_prune_result surgeon_prune_result;

SURGEON_API surgeon_status surgeon_prune_result_new(surgeon_prune_result** out);
SURGEON_API void surgeon_prune_result_free(surgeon_prune_result* r);
/* The OBS loss Σ (w - q)² / (2 [U]jj²) (U: upper Cholesky factor of H⁻¹). */
SURGEON_API surgeon_status surgeon_prune_result_loss(const surgeon_prune_result* r, double* out);
/* *out: a new mask (a copy) owned by the caller, release with surgeon_mask_free. */
SURGEON_API surgeon_status surgeon_prune_result_mask(const surgeon_prune_result* r,
                                                     surgeon_mask** out);
/* *out: a new qresult (a copy) owned by the caller (surgeon_qresult_free), or NULL when
 * the options had no quantizer. */
SURGEON_API surgeon_status surgeon_prune_result_qresult(const surgeon_prune_result* r,
                                                        surgeon_qresult** out);

/* SparseGPT on w (rows × cols = the Hessian's cols, ld 0 = cols), updated in place; the
 * weights removed are chosen per block of block_size columns by the score w² / [U]jj².
 * opts NULL: defaults. result (nullable) is overwritten with the loss, mask and codes. */
SURGEON_API surgeon_status surgeon_solver_prune(surgeon_solver* s, float* w, int64_t rows,
                                                int64_t cols, int64_t ld,
                                                const surgeon_prune_options* opts,
                                                surgeon_prune_result* result);

/* GPTQ on w (rows × cols, ld 0 = cols), updated in place with the dequantized values, with
 * the quantizer's grid (and its per-row widths when set). qresult_out and loss_out are
 * nullable. */
SURGEON_API surgeon_status surgeon_solver_quantize(surgeon_solver* s, float* w, int64_t rows,
                                                   int64_t cols, int64_t ld,
                                                   const surgeon_quantizer* q,
                                                   surgeon_qresult* qresult_out,
                                                   double* loss_out);

/* ------------------------------------------------------------------------------------ */
/* Baselines                                                                             */
/* ------------------------------------------------------------------------------------ */

/* The baselines read sparsity and n:m from opts (NULL: defaults); options with a
 * quantizer are refused (SURGEON_ERR_INVALID_ARGUMENT) and the mask scope does not apply.
 * mask_out (nullable) receives the mask.
 * Magnitude: |w| against one threshold over the whole matrix, or n:m per row groups.
 * Exactly round(sparsity · rows · cols) entries are removed. */
SURGEON_API surgeon_status surgeon_prune_magnitude(const surgeon_context* ctx, float* w,
                                                   int64_t rows, int64_t cols, int64_t ld,
                                                   const surgeon_prune_options* opts,
                                                   surgeon_mask* mask_out);
/* Wanda: |w_ij| · ‖x_j‖₂ compared within each output row (round(sparsity · cols) per row),
 * or n:m. ‖x_j‖₂ comes from the accumulator (h must have cols columns). */
SURGEON_API surgeon_status surgeon_prune_wanda(const surgeon_context* ctx, float* w,
                                               int64_t rows, int64_t cols, int64_t ld,
                                               const surgeon_hessian* h,
                                               const surgeon_prune_options* opts,
                                               surgeon_mask* mask_out);
/* Round to nearest with the quantizer's grid (act-order and static groups do not apply;
 * per-row widths do). qresult_out nullable. */
SURGEON_API surgeon_status surgeon_quantize_rtn(const surgeon_context* ctx, float* w,
                                                int64_t rows, int64_t cols, int64_t ld,
                                                const surgeon_quantizer* q,
                                                surgeon_qresult* qresult_out);

/* ------------------------------------------------------------------------------------ */
/* Metrics                                                                               */
/* ------------------------------------------------------------------------------------ */

/* Relative reconstruction error tr(ΔW H ΔWᵀ) / tr(W H Wᵀ) with ΔW = w - w_hat (both
 * rows × cols with leading dimension ld, 0 = cols). SURGEON_ERR_NUMERIC when tr(W H Wᵀ)
 * is zero, or when a trace is negative beyond rounding ("H is not positive semidefinite")
 * or not finite. */
SURGEON_API surgeon_status surgeon_reconstruction_error(const surgeon_hessian* h,
                                                        const float* w, const float* w_hat,
                                                        int64_t rows, int64_t cols,
                                                        int64_t ld, double* out);

#ifdef __cplusplus
} /* extern "C" */
#endif

/* The API of the larger subsystems lives in companion headers, always reached through
 * this one (they rely on the types and macros above). */
#include "surgeon/surgeon_model.h"      /* whole-model pipeline: load, compress, evaluate */
#include "surgeon/surgeon_mixed.h"      /* activation-aware mixed precision */
#include "surgeon/surgeon_structured.h" /* PruneNet structured pruning, spectral distance */
/* surgeon/surgeon_experimental.h (included on its own, after defining
 * SURGEON_EXPERIMENTAL_API) holds functions whose signatures may still change. */

#endif /* SURGEON_SURGEON_H */
