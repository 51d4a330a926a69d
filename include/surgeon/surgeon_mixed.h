/*
 * Surgeon C API: Activation-aware mixed-precision quantization (per-row importance, bit
 * allocation, statistics).
 * Included by surgeon/surgeon.h; include that header, not this one.
 *
 * The unit of allocation is the output channel (row): each row gets its own bit width
 * (and its own grid) from a set of options within 1..8. A typical layer:
 *
 *   surgeon_solver_new(&s, ctx, h, NULL);
 *   surgeon_mixed_options_new(&mo);
 *   surgeon_mixed_options_set_bits(mo, options, 5);              // e.g. {2, 3, 4, 6, 8}
 *   surgeon_mixed_options_set_average(mo, 3.5);
 *   surgeon_mixed_row_errors(s, w, rows, cols, 0, q, mo, errors);  // rows × 5
 *   surgeon_allocate_error(errors, rows, mo, bits);                 // avg 3.5
 *   surgeon_quantizer_set_row_bits(q, bits, rows);
 *   surgeon_solver_quantize(s, w, rows, cols, 0, q, res, NULL);
 *
 * Bit options are distinct int32 values in [1, 8], in any order; per-option arrays
 * (errors) follow the caller's order. All conventions of surgeon.h hold: on failure no
 * out-parameter or caller buffer is written.
 */
#ifndef SURGEON_SURGEON_MIXED_H
#define SURGEON_SURGEON_MIXED_H

#ifndef SURGEON_SURGEON_H
#  error "include surgeon/surgeon.h instead of this header"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------ */
/* Importance: five per-row signals and their weighted combination                       */
/* ------------------------------------------------------------------------------------ */

/* Each signal is reduced to one score per row and divided by its mean over the rows:
 *   ACTIVATION  mean_j |W_ij|·E|x_j|      HESSIAN   mean_j W_ij² / [H⁻¹]_jj
 *   WEIGHT      mean_j |W_ij|             OUTPUT    sqrt(Σ_j W_ij²·E[x_j²])
 *   VARIANCE    sqrt(Σ_j W_ij²·Var[x_j])
 * The score is Σ w_s·signal_s / Σ w_s over the signals with w_s > 0 that have data. */
typedef enum surgeon_importance_signal {
    SURGEON_SIGNAL_ACTIVATION = 0,
    SURGEON_SIGNAL_HESSIAN = 1,
    SURGEON_SIGNAL_WEIGHT = 2,
    SURGEON_SIGNAL_OUTPUT = 3,
    SURGEON_SIGNAL_VARIANCE = 4
} surgeon_importance_signal;

#define SURGEON_SIGNAL_COUNT 5

typedef struct surgeon_importance surgeon_importance;

/* Default signal weights (0.25, 0.25, 0.15, 0.25, 0.10), written to out[0..4] (indexed by
 * surgeon_importance_signal). */
SURGEON_API surgeon_status surgeon_importance_default_weights(double* out);

/* Importance of the rows of w (rows × cols, ld 0 = cols) from the activation statistics of
 * h (cols columns), with h's context. weights: SURGEON_SIGNAL_COUNT doubles >= 0, not all zero, or NULL for
 * the defaults; a zero weight removes its signal. solver (nullable) lends its
 * factorization for diag(H⁻¹) (computed there on first use, then shared with its later
 * calls); with NULL and a Hessian weight > 0, a private factorization with percdamp 0.01
 * is made. A Hessian built with surgeon_hessian_from_matrix has no first moments: the
 * activation and variance signals are then left out (an error if no weighted signal
 * remains). *out is a new handle owned by the caller (surgeon_importance_free). Neither h
 * nor solver is retained. */
SURGEON_API surgeon_status surgeon_importance_compute(surgeon_importance** out,
                                                      const surgeon_hessian* h,
                                                      surgeon_solver* solver, const float* w,
                                                      int64_t rows, int64_t cols, int64_t ld,
                                                      const double* weights);
SURGEON_API void surgeon_importance_free(surgeon_importance* imp);
SURGEON_API surgeon_status surgeon_importance_rows(const surgeon_importance* imp, int64_t* out);
/* Combined score per row into out (rows floats, caller-owned). */
SURGEON_API surgeon_status surgeon_importance_scores(const surgeon_importance* imp, float* out);
/* One normalised signal per row into out (rows floats); *available (nullable) = 1 when the
 * signal had data, else 0 (the values are then 0). */
SURGEON_API surgeon_status surgeon_importance_signal_values(const surgeon_importance* imp,
                                                            surgeon_importance_signal signal,
                                                            float* out, int* available);

/* ------------------------------------------------------------------------------------ */
/* Allocation: one bit width per row into a caller buffer of rows int32                  */
/* ------------------------------------------------------------------------------------ */

/* Allocation options. Defaults: bit options {2, 3, 4}, average 3.0, no quantile cuts.
 *  - bits: 1 to 8 distinct widths in [1, 8] (copied), in the caller's order;
 *  - average: the target mean width, finite and > 0;
 *  - quantiles (surgeon_allocate_quantile only): n_options − 1 non-decreasing cut points in
 *    [0, 1] (copied; NULL or count 0 clears): rows ranked by ascending importance, rank
 *    r < round(q_0·rows) gets the smallest option, and so on up the sorted options. Without
 *    them the cut points are those whose average is the target (maximum-entropy spread). */
typedef struct surgeon_mixed_options surgeon_mixed_options;

SURGEON_API surgeon_status surgeon_mixed_options_new(surgeon_mixed_options** out);
SURGEON_API void surgeon_mixed_options_free(surgeon_mixed_options* opts);
SURGEON_API surgeon_status surgeon_mixed_options_set_bits(surgeon_mixed_options* opts,
                                                          const int32_t* options, int n_options);
SURGEON_API surgeon_status surgeon_mixed_options_set_average(surgeon_mixed_options* opts,
                                                             double avg_bits);
SURGEON_API surgeon_status surgeon_mixed_options_set_quantiles(surgeon_mixed_options* opts,
                                                               const double* quantiles, int count);
/* The bit options (buffer convention of surgeon.h: elements). */
SURGEON_API surgeon_status surgeon_mixed_options_get_bits(const surgeon_mixed_options* opts,
                                                          int32_t* buf, size_t cap,
                                                          size_t* needed);
SURGEON_API surgeon_status surgeon_mixed_options_get_average(const surgeon_mixed_options* opts,
                                                             double* out);

/* The average that the target yields for `rows` rows: the largest Σ b_i <= avg_bits·rows
 * reachable with the options, divided by rows (the exact target whenever it is
 * reachable). */
SURGEON_API surgeon_status surgeon_attainable_average(int64_t rows,
                                                     const surgeon_mixed_options* opts,
                                                     double* out);

/* By importance quantiles (the options' cut points, or those of the target average: exact
 * up to rounding of the cuts). bits_out: rows int32 (imp's rows). */
SURGEON_API surgeon_status surgeon_allocate_quantile(const surgeon_importance* imp,
                                                     const surgeon_mixed_options* opts,
                                                     int32_t* bits_out);

/* Exactly surgeon_attainable_average bits on average; bits placed by importance (row i at
 * b bits costs score_i²·4^-b, solved exactly). */
SURGEON_API surgeon_status surgeon_allocate_budget(const surgeon_importance* imp,
                                                   const surgeon_mixed_options* opts,
                                                   int32_t* bits_out);

/* Estimated error of every row at every bit option into errors_out (rows × n_options
 * doubles, row-major, caller-owned): Σ_j (w_ij − q_b(w_ij))² / U_jj², the row's own grid
 * at b bits with the quantizer's settings (group size, symmetric, MSE search; its per-row
 * widths are ignored) weighted as GPTQ's loss weighs each column (U from the solver's
 * factorization, computed on first use, with the solver's context). w is rows × cols
 * (ld 0 = cols) with cols = the solver's columns. */
SURGEON_API surgeon_status surgeon_mixed_row_errors(surgeon_solver* solver, const float* w,
                                                    int64_t rows, int64_t cols, int64_t ld,
                                                    const surgeon_quantizer* q,
                                                    const surgeon_mixed_options* opts,
                                                    double* errors_out);

/* Minimises Σ errors[i][choice_i] subject to exactly surgeon_attainable_average bits on
 * average (a knapsack over rows: exact DP for small layers, Lagrangian over convex hulls
 * plus an exact repair of the last bits for large ones). errors: rows × n_options, in the
 * order of the options' bits. */
SURGEON_API surgeon_status surgeon_allocate_error(const double* errors, int64_t rows,
                                                  const surgeon_mixed_options* opts,
                                                  int32_t* bits_out);

/* One budget over the rows of several layers (a model-wide allocation). Group g is a layer:
 * rows[g] rows, each storing weights[g] values (its columns) per bit, choosing from
 * n_options[g] options. options holds the groups' options one group after another
 * (Σ n_options values); costs holds, group after group, rows[g] × n_options[g] values in
 * the order of that group's options. Costs must be comparable across groups, e.g. each
 * row's error from surgeon_mixed_row_errors times the loss sensitivity of its output
 * channel (the whole-model pipeline uses ¼ × the output Fisher: docs/mixed-precision.md).
 * Minimises Σ cost subject to Σ bits × weights ≤ budget_bits: every row starts at its
 * smallest option and the steps along the rows' lower convex hulls are taken by most cost
 * removed per stored bit while they fit, so at most one step's storage is left unspent.
 * bits_out receives Σ rows[g] widths, group after group. SURGEON_ERR_INVALID_ARGUMENT
 * when even the smallest options exceed the budget, SURGEON_ERR_NUMERIC when a cost is
 * not finite. */
SURGEON_API surgeon_status surgeon_allocate_error_groups(const double* costs, const int64_t* rows,
                                                         const int64_t* weights,
                                                         const int32_t* options,
                                                         const int32_t* n_options, int64_t n_groups,
                                                         int64_t budget_bits, int32_t* bits_out);

/* ------------------------------------------------------------------------------------ */
/* Results with per-row bit widths (surgeon_quantizer_set_row_bits)                      */
/* ------------------------------------------------------------------------------------ */

/* Bit width of every row of a result into out (rows int32): the per-row widths of a
 * mixed result, else the uniform width repeated. */
SURGEON_API surgeon_status surgeon_qresult_row_bits(const surgeon_qresult* r, int32_t* out);

/* ------------------------------------------------------------------------------------ */
/* Statistics                                                                            */
/* ------------------------------------------------------------------------------------ */

/* Storage per grid (one per row and group): scale_bits for the scale and zero_bits for the
 * zero point (-1: the row's own width, as GPTQ packs zeros; 0: implicit). */
typedef struct surgeon_mixed_stats {
    unsigned int version;          /* SURGEON_MIXED_STATS_VERSION              */
    int has_importance;            /* 1 when imp was given                     */
    int64_t channels;              /* rows                                     */
    int64_t weights;               /* rows · cols                              */
    int64_t grids;                 /* rows · groups                            */
    int64_t histogram[9];          /* rows at 1..8 bits (index = bits; [0] = 0) */
    double avg_bits;               /* per weight, scales and zeros excluded    */
    double avg_bits_with_overhead; /* per weight, scales and zeros included    */
    double importance_min, importance_max, importance_mean;
} surgeon_mixed_stats;

#define SURGEON_MIXED_STATS_VERSION 1
#define SURGEON_MIXED_STATS_INIT \
    {SURGEON_MIXED_STATS_VERSION, 0, 0, 0, 0, {0, 0, 0, 0, 0, 0, 0, 0, 0}, 0.0, 0.0, 0.0, 0.0, 0.0}
/* Initialises *stats as SURGEON_MIXED_STATS_INIT does (version set, the rest zero). */
SURGEON_API surgeon_status surgeon_mixed_stats_init(surgeon_mixed_stats* stats,
                                                    unsigned int version);

/* bits: rows int32 in [1, 8]; group_size 0 = one grid per row; imp nullable (must have
 * rows rows). Fills *out, whose version must be set (SURGEON_MIXED_STATS_INIT). */
SURGEON_API surgeon_status surgeon_mixed_stats_compute(const int32_t* bits, int64_t rows,
                                                       int64_t cols, int64_t group_size,
                                                       int scale_bits, int zero_bits,
                                                       const surgeon_importance* imp,
                                                       surgeon_mixed_stats* out);

/* *stats as a JSON object (UTF-8) in buf, buffer convention of surgeon.h (bytes including
 * the NUL). */
SURGEON_API surgeon_status surgeon_mixed_stats_json(const surgeon_mixed_stats* stats, char* buf,
                                                    size_t cap, size_t* needed);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SURGEON_SURGEON_MIXED_H */
