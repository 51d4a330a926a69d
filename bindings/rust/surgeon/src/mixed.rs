//! Mixed precision: one bit width per output channel (row). Rows are ranked by an
//! [`Importance`] or by their estimated quantization errors ([`RowErrors`]), widths are
//! allocated from the bit options of a [`MixedOptions`] within 1..=8, and the solver
//! quantizes each row at its own width once the quantizer holds them
//! ([`Quantizer::set_row_bits`](crate::Quantizer::set_row_bits); the same quantizer in
//! [`PruneOptions`](crate::PruneOptions) gives joint pruning with per-row widths).
//!
//! ```no_run
//! # use surgeon::{Context, Hessian, MixedOptions, Quantizer, Solver, SolverOptions};
//! # fn main() -> surgeon::Result<()> {
//! # let ctx = Context::default();
//! # let h = Hessian::new(&ctx, 64)?;
//! # let mut w = vec![0.5f32; 64 * 64];
//! let mut q = Quantizer::new(4)?;
//! q.set_group_size(32)?;
//! let mut solver = Solver::new(&ctx, &h, &SolverOptions::new()?)?;
//! let mut options = MixedOptions::new()?;
//! options.set_bits(&[2, 3, 4, 6, 8])?.set_average(3.5)?;
//! let errors = solver.row_errors(&w, &q, &options)?;
//! let bits = errors.allocate(&options)?; // exactly 3.5 bits per row on average
//! q.set_row_bits(&bits)?;
//! let (codes, loss) = solver.quantize(&mut w, &q)?;
//! # let _ = (codes, loss);
//! # Ok(())
//! # }
//! ```
//!
//! Bit widths are `u32` (the C API's int32; values above `i32::MAX` are rejected by the
//! library as out of range). Option lists are passed in any order without duplicates;
//! per-option values ([`RowErrors`]) follow the caller's order.
use std::os::raw::c_int;
use std::ptr;

use crate::error::{check, error, expect_ok, Result, Status};
use crate::handle::{binding, getters, options_type, read_buffer, read_text, setters, Binding, Handle};
use crate::hessian::Hessian;
use crate::qresult::QuantResult;
use crate::quantizer::Quantizer;
use crate::shape::{dim, rows_of};
use crate::solver::Solver;
use crate::sys;

/// One of the per-row signals an [`Importance`] combines. Each is divided by its mean over
/// the rows (mean 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    /// mean_j |W_ij|·E|x_j| (AWQ-style salience).
    Activation,
    /// mean_j W_ij² / [H⁻¹]_jj (OBS saliency).
    Hessian,
    /// mean_j |W_ij|.
    Weight,
    /// `sqrt(Σ_j W_ij²·E[x_j²])`, the RMS of the row's output.
    Output,
    /// `sqrt(Σ_j W_ij²·Var[x_j])`.
    Variance,
}

impl Signal {
    /// Every signal, in the C API's order.
    pub const ALL: [Signal; 5] = [Signal::Activation, Signal::Hessian, Signal::Weight, Signal::Output, Signal::Variance];

    fn index(self) -> usize {
        match self {
            Signal::Activation => 0,
            Signal::Hessian => 1,
            Signal::Weight => 2,
            Signal::Output => 3,
            Signal::Variance => 4,
        }
    }

    fn raw(self) -> sys::surgeon_importance_signal {
        match self {
            Signal::Activation => sys::surgeon_importance_signal_SURGEON_SIGNAL_ACTIVATION,
            Signal::Hessian => sys::surgeon_importance_signal_SURGEON_SIGNAL_HESSIAN,
            Signal::Weight => sys::surgeon_importance_signal_SURGEON_SIGNAL_WEIGHT,
            Signal::Output => sys::surgeon_importance_signal_SURGEON_SIGNAL_OUTPUT,
            Signal::Variance => sys::surgeon_importance_signal_SURGEON_SIGNAL_VARIANCE,
        }
    }
}

const SIGNALS: usize = sys::SURGEON_SIGNAL_COUNT as usize;

/// Weights of the signals in the combined score (>= 0, not all zero; 0 removes a signal).
/// `SignalWeights::default()` is the library's default mix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignalWeights([f64; SIGNALS]);

impl Default for SignalWeights {
    /// (0.25, 0.25, 0.15, 0.25, 0.10) for (activation, Hessian, weight, output, variance).
    fn default() -> Self {
        let mut w = [0.0; SIGNALS];
        // SAFETY: w holds SURGEON_SIGNAL_COUNT doubles.
        expect_ok(unsafe { sys::surgeon_importance_default_weights(w.as_mut_ptr()) });
        SignalWeights(w)
    }
}

impl SignalWeights {
    /// From weights indexed like [`Signal::ALL`].
    pub fn from_array(weights: [f64; SIGNALS]) -> Self {
        SignalWeights(weights)
    }

    /// Only `signal`, with weight 1.
    pub fn only(signal: Signal) -> Self {
        SignalWeights([0.0; SIGNALS]).with(signal, 1.0)
    }

    pub fn with(mut self, signal: Signal, weight: f64) -> Self {
        self.0[signal.index()] = weight;
        self
    }

    pub fn get(&self, signal: Signal) -> f64 {
        self.0[signal.index()]
    }

    /// Indexed like [`Signal::ALL`].
    pub fn to_array(self) -> [f64; SIGNALS] {
        self.0
    }
}

/// Per-row importance of a weight: the normalised signals and their weighted score.
/// Immutable once computed; it keeps no reference to the Hessian, solver or weight.
pub struct Importance {
    raw: Handle<sys::surgeon_importance>,
    rows: usize,
}

binding!(Importance => surgeon_importance);

impl Importance {
    /// Importance of the rows of w (rows × hessian.cols(), row-major) from the Hessian's
    /// activation statistics, with the Hessian's context. With a Hessian weight > 0,
    /// diag(H⁻¹) comes from the solver's factorization when one is given (computed there
    /// now if needed, then shared with its later calls; exclusive access, as the C API does
    /// not list this call among those that may run concurrently on a solver), else from a
    /// private one (percdamp 0.01). A Hessian made by [`Hessian::from_matrix`] has no first
    /// moments: the activation and variance signals are then left out.
    pub fn compute(hessian: &Hessian, solver: Option<&mut Solver>, w: &[f32], weights: &SignalWeights) -> Result<Importance> {
        const F: &str = "surgeon_importance_compute";
        let cols = hessian.cols();
        let rows = rows_of(F, "w", w.len(), cols)?;
        let (n, solver) = (dim(F, "rows", rows)?, solver.map_or(ptr::null_mut(), |s| s.as_mut_ptr()));
        // SAFETY: w holds rows × cols floats (checked), weights SURGEON_SIGNAL_COUNT doubles;
        // the Hessian is only read; solver is NULL or exclusively borrowed.
        let raw = Handle::new(|out| unsafe {
            sys::surgeon_importance_compute(out, hessian.as_raw(), solver, w.as_ptr(), n, cols as i64, 0, weights.0.as_ptr())
        })?;
        Ok(Importance { raw, rows })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The combined score of every row.
    pub fn scores(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.rows];
        // SAFETY: const call; out holds rows floats.
        expect_ok(unsafe { sys::surgeon_importance_scores(self.raw.as_ptr(), out.as_mut_ptr()) });
        out
    }

    /// One normalised signal per row, `None` when the signal had no data (or no weight
    /// and no diag(H⁻¹), for the Hessian signal).
    pub fn signal(&self, signal: Signal) -> Option<Vec<f32>> {
        let mut out = vec![0f32; self.rows];
        let mut available = 0;
        // SAFETY: const call; out holds rows floats; available is a valid int.
        expect_ok(unsafe {
            sys::surgeon_importance_signal_values(self.raw.as_ptr(), signal.raw(), out.as_mut_ptr(), &mut available)
        });
        if available != 0 {
            Some(out)
        } else {
            None
        }
    }

    /// Runs an allocation that writes one width per row of this importance.
    fn allocate(&self, call: impl FnOnce(*mut i32) -> sys::surgeon_status) -> Result<Vec<u32>> {
        let mut bits = vec![0u32; self.rows];
        check(call(bits.as_mut_ptr() as *mut i32))?;
        Ok(bits)
    }

    /// Rows ranked by ascending score; the ranks below round(q_0·rows) get the smallest
    /// bit option, and so on up the sorted options, with the options' quantile cut points
    /// ([`MixedOptions::set_quantiles`]) or, without them, the cut points whose average is
    /// the options' target (exact up to the rounding of the cuts).
    pub fn allocate_quantile(&self, options: &MixedOptions) -> Result<Vec<u32>> {
        // SAFETY: const calls; bits holds rows int32.
        self.allocate(|bits| unsafe { sys::surgeon_allocate_quantile(self.raw.as_ptr(), options.as_raw(), bits) })
    }

    /// Exactly [`attainable_average`] bits per row on average, placed by importance (row i
    /// at b bits costs score_i²·4^-b, minimised exactly).
    pub fn allocate_budget(&self, options: &MixedOptions) -> Result<Vec<u32>> {
        // SAFETY: const calls; bits holds rows int32.
        self.allocate(|bits| unsafe { sys::surgeon_allocate_budget(self.raw.as_ptr(), options.as_raw(), bits) })
    }
}

options_type! {
    /// Allocation settings (surgeon_mixed_options): the bit options (1 to 8 distinct widths
    /// in [1, 8], in the caller's order), the target average width and, for
    /// [`Importance::allocate_quantile`], optional quantile cut points. Defaults: options
    /// {2, 3, 4}, average 3.0, no cut points.
    MixedOptions => surgeon_mixed_options, surgeon_mixed_options_new
}

impl MixedOptions {

    setters! {
        /// The bit options (copied).
        fn set_bits(bits: &[u32]) => surgeon_mixed_options_set_bits(bits.as_ptr() as *const i32, option_count(bits));
        /// The target mean width (finite, > 0).
        fn set_average(avg_bits: f64) => surgeon_mixed_options_set_average(avg_bits);
        /// options − 1 non-decreasing cut points in [0, 1] (copied); empty clears them.
        fn set_quantiles(quantiles: &[f64]) => surgeon_mixed_options_set_quantiles(
            if quantiles.is_empty() { ptr::null() } else { quantiles.as_ptr() },
            c_int::try_from(quantiles.len()).unwrap_or(c_int::MAX));
    }

    /// The bit options, in the order given.
    pub fn bits(&self) -> Vec<u32> {
        // SAFETY: const call; buf holds cap int32 (u32 of the same layout).
        read_buffer(|buf: *mut u32, cap, needed| unsafe {
            sys::surgeon_mixed_options_get_bits(self.raw.as_ptr(), buf as *mut i32, cap, needed)
        })
        .expect("the options of a live handle")
    }

    getters! {
        fn average() -> f64 = surgeon_mixed_options_get_average(f64);
    }
}

/// A count as the C API's int. The library rejects more than 8 options (or that many
/// cut points) before reading any, so a saturated count never makes it read past the slice.
fn option_count(options: &[u32]) -> c_int {
    c_int::try_from(options.len()).unwrap_or(c_int::MAX)
}

/// The average the options' target yields with `rows` rows: the largest
/// Σ b_i <= average·rows reachable with the bit options, divided by rows (the exact
/// target whenever reachable).
pub fn attainable_average(rows: usize, options: &MixedOptions) -> Result<f64> {
    let rows = dim("surgeon_attainable_average", "rows", rows)?;
    let mut out = 0.0;
    // SAFETY: the options are only read; out is a valid double.
    check(unsafe { sys::surgeon_attainable_average(rows, options.as_raw(), &mut out) })?;
    Ok(out)
}

/// Estimated error of every row at every bit option, rows × options row-major, columns in
/// the order of [`options`](Self::options). From [`Solver::row_errors`] or any other model
/// of the errors ([`RowErrors::new`]).
#[derive(Clone, Debug, PartialEq)]
pub struct RowErrors {
    values: Vec<f64>,
    options: Vec<u32>,
}

impl RowErrors {
    /// values: rows × options.len() (row-major).
    pub fn new(values: Vec<f64>, options: &[u32]) -> Result<RowErrors> {
        rows_of("surgeon_allocate_error", "errors", values.len(), options.len())?;
        Ok(RowErrors { values, options: options.to_vec() })
    }

    pub fn rows(&self) -> usize {
        self.values.len() / self.options.len()
    }

    pub fn options(&self) -> &[u32] {
        &self.options
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The errors of one row, one per option.
    pub fn row(&self, row: usize) -> &[f64] {
        let k = self.options.len();
        &self.values[row * k..(row + 1) * k]
    }

    /// Σ_i error of row i at `bits[i]`; `None` when a width is not an option or the length
    /// is not rows().
    pub fn total(&self, bits: &[u32]) -> Option<f64> {
        if bits.len() != self.rows() {
            return None;
        }
        let mut sum = 0.0;
        for (i, b) in bits.iter().enumerate() {
            let k = self.options.iter().position(|o| o == b)?;
            sum += self.row(i)[k];
        }
        Some(sum)
    }

    /// Minimises the total error subject to exactly [`attainable_average`] bits per row on
    /// average (an exact knapsack over the rows). The options' bits must be this table's
    /// [`options`](Self::options), in the same order.
    pub fn allocate(&self, options: &MixedOptions) -> Result<Vec<u32>> {
        const F: &str = "surgeon_allocate_error";
        let given = options.bits();
        if given != self.options {
            return Err(error(Status::InvalidArgument, F,
                             format!("the options' bits {:?} are not the errors' columns {:?}", given, self.options)));
        }
        let rows = self.rows();
        let mut bits = vec![0u32; rows];
        // SAFETY: values holds rows × options doubles (checked in new and above); bits
        // holds rows int32.
        check(unsafe {
            sys::surgeon_allocate_error(self.values.as_ptr(), dim(F, "rows", rows)?, options.as_raw(), bits.as_mut_ptr() as *mut i32)
        })?;
        Ok(bits)
    }
}

/// One layer of a model-wide budget ([`allocate_error_groups`]): its row costs and how
/// many values each row stores per bit (its columns).
#[derive(Clone, Copy, Debug)]
pub struct BudgetLayer<'a> {
    pub costs: &'a RowErrors,
    pub weight: usize,
}

/// One budget over the rows of several layers: minimises the summed cost subject to
/// Σ bits × weight ≤ `budget_bits`, leaving less than one step's storage unspent. Costs
/// must be comparable across layers (e.g. row errors times the loss sensitivity of each
/// output channel). Returns each layer's widths, in the order given.
pub fn allocate_error_groups(layers: &[BudgetLayer<'_>], budget_bits: u64) -> Result<Vec<Vec<u32>>> {
    const F: &str = "surgeon_allocate_error_groups";
    let mut costs = Vec::new();
    let mut rows = Vec::with_capacity(layers.len());
    let mut weights = Vec::with_capacity(layers.len());
    let mut options = Vec::new();
    let mut n_options = Vec::with_capacity(layers.len());
    for layer in layers {
        costs.extend_from_slice(layer.costs.values());
        rows.push(dim(F, "rows", layer.costs.rows())?);
        weights.push(dim(F, "weight", layer.weight)?);
        options.extend(layer.costs.options().iter().map(|&o| o as i32));
        n_options.push(option_count(layer.costs.options()));
    }
    let budget = i64::try_from(budget_bits).map_err(|_| error(Status::InvalidArgument, F, "budget overflows".into()))?;
    let total: usize = layers.iter().map(|l| l.costs.rows()).sum();
    let mut bits = vec![0u32; total];
    // SAFETY: every array holds what the header asks for (built above from the layers);
    // bits holds Σ rows int32.
    check(unsafe {
        sys::surgeon_allocate_error_groups(costs.as_ptr(), rows.as_ptr(), weights.as_ptr(), options.as_ptr(),
                                           n_options.as_ptr(), dim(F, "layers", layers.len())?, budget,
                                           bits.as_mut_ptr() as *mut i32)
    })?;
    let mut out = Vec::with_capacity(layers.len());
    let mut at = 0;
    for layer in layers {
        out.push(bits[at..at + layer.costs.rows()].to_vec());
        at += layer.costs.rows();
    }
    Ok(out)
}

impl Solver {
    /// Σ_j (w_ij − q_b(w_ij))² / U_jj² for every row of w (rows × cols(), row-major) and
    /// every bit option b: the row's own grid at b bits with the quantizer's settings (its
    /// widths ignored), weighted as GPTQ's loss weighs each column. Factorizes if needed,
    /// with the solver's context; exclusive access, as [`damping`](Solver::damping).
    pub fn row_errors(&mut self, w: &[f32], quantizer: &Quantizer, options: &MixedOptions) -> Result<RowErrors> {
        const F: &str = "surgeon_mixed_row_errors";
        let bits = options.bits();
        let rows = rows_of(F, "w", w.len(), self.cols())?;
        let total = rows.checked_mul(bits.len()).ok_or_else(|| error(Status::Shape, F, "rows × options overflows".into()))?;
        let mut values = vec![0f64; total];
        // SAFETY: exclusive borrow; w holds rows × cols floats (checked); values holds
        // rows × options doubles.
        check(unsafe {
            sys::surgeon_mixed_row_errors(self.as_mut_ptr(), w.as_ptr(), dim(F, "rows", rows)?, self.cols() as i64, 0,
                                          quantizer.as_raw(), options.as_raw(), values.as_mut_ptr())
        })?;
        Ok(RowErrors { values, options: bits })
    }
}

impl QuantResult {
    /// The bit width of every row: the per-row widths of a mixed result, else the uniform
    /// width repeated.
    pub fn row_bits(&self) -> Result<Vec<u32>> {
        let mut out = vec![0u32; self.shape().rows];
        // SAFETY: const call; out holds rows int32.
        check(unsafe { sys::surgeon_qresult_row_bits(self.as_raw(), out.as_mut_ptr() as *mut i32) })?;
        Ok(out)
    }
}

/// Storage of a grid's zero point in [`StatsOptions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZeroBits {
    /// The row's own width, as GPTQ packs zeros.
    RowWidth,
    /// Not stored (e.g. a symmetric grid whose zero is fixed).
    Implicit,
    Bits(u32),
}

/// Layout assumed by [`MixedStats`]: columns per grid (0 = one grid per row) and the
/// storage of each grid's scale and zero point. Default: one grid per row, 16-bit scales,
/// zeros at the row's width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsOptions {
    pub group_size: usize,
    pub scale_bits: u32,
    pub zero_bits: ZeroBits,
}

impl Default for StatsOptions {
    fn default() -> Self {
        StatsOptions { group_size: 0, scale_bits: 16, zero_bits: ZeroBits::RowWidth }
    }
}

impl StatsOptions {
    /// (group_size, scale_bits, zero_bits) as the C API takes them; out-of-range widths
    /// stay out of range so that the library reports them.
    fn raw(&self, function: &str) -> Result<(i64, c_int, c_int)> {
        let int = |v: u32| c_int::try_from(v).unwrap_or(c_int::MAX);
        let zero = match self.zero_bits {
            ZeroBits::RowWidth => -1,
            ZeroBits::Implicit => 0,
            ZeroBits::Bits(b) => int(b),
        };
        Ok((dim(function, "group_size", self.group_size)?, int(self.scale_bits), zero))
    }
}

/// Range of the importance scores in [`MixedStats`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImportanceSummary {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
}

/// Where the bits of a mixed allocation went.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MixedStats {
    /// Rows.
    pub channels: u64,
    /// rows · cols.
    pub weights: u64,
    /// rows · groups.
    pub grids: u64,
    /// Rows at each width (index = bits; `[0]` = 0).
    pub histogram: [u64; 9],
    /// Per weight, scales and zeros excluded.
    pub avg_bits: f64,
    /// Per weight, scales and zeros included.
    pub avg_bits_with_overhead: f64,
    /// When an importance was given.
    pub importance: Option<ImportanceSummary>,
}

/// A zeroed `surgeon_mixed_stats` of the version this binding was generated with.
fn raw_stats() -> sys::surgeon_mixed_stats {
    let mut s = sys::surgeon_mixed_stats {
        version: 0, has_importance: 0, channels: 0, weights: 0, grids: 0, histogram: [0; 9], avg_bits: 0.0,
        avg_bits_with_overhead: 0.0, importance_min: 0.0, importance_max: 0.0, importance_mean: 0.0,
    };
    // SAFETY: s is a valid struct; the version is the header's.
    expect_ok(unsafe { sys::surgeon_mixed_stats_init(&mut s, sys::SURGEON_MIXED_STATS_VERSION) });
    s
}

impl MixedStats {
    /// Statistics of `bits` (one width in [1, 8] per row) for a weight with `cols`
    /// columns; `importance` (optional) must have as many rows.
    pub fn compute(bits: &[u32], cols: usize, options: &StatsOptions, importance: Option<&Importance>) -> Result<MixedStats> {
        const F: &str = "surgeon_mixed_stats_compute";
        let (group_size, scale_bits, zero_bits) = options.raw(F)?;
        let (rows, cols) = (dim(F, "rows", bits.len())?, dim(F, "cols", cols)?);
        let imp = importance.map_or(ptr::null(), Importance::as_raw);
        let mut s = raw_stats();
        // SAFETY: bits holds rows int32; the importance is only read; s is a valid out
        // pointer with its version set.
        check(unsafe {
            sys::surgeon_mixed_stats_compute(bits.as_ptr() as *const i32, rows, cols, group_size, scale_bits, zero_bits, imp, &mut s)
        })?;
        let mut histogram = [0u64; 9];
        for (h, &n) in histogram.iter_mut().zip(&s.histogram) {
            *h = n as u64;
        }
        let importance = if s.has_importance != 0 {
            Some(ImportanceSummary { min: s.importance_min, max: s.importance_max, mean: s.importance_mean })
        } else {
            None
        };
        Ok(MixedStats {
            channels: s.channels as u64,
            weights: s.weights as u64,
            grids: s.grids as u64,
            histogram,
            avg_bits: s.avg_bits,
            avg_bits_with_overhead: s.avg_bits_with_overhead,
            importance,
        })
    }

    /// The statistics as the library's JSON object: {"channels", "weights", "grids",
    /// "histogram": `{"<bits>": rows, ...}` (widths in use only), "avg_bits",
    /// "avg_bits_with_overhead", and "importance": {"min", "max", "mean"} when given}.
    pub fn json(&self) -> Result<String> {
        let mut s = raw_stats();
        s.channels = self.channels as i64;
        s.weights = self.weights as i64;
        s.grids = self.grids as i64;
        for (h, &n) in s.histogram.iter_mut().zip(&self.histogram) {
            *h = n as i64;
        }
        s.avg_bits = self.avg_bits;
        s.avg_bits_with_overhead = self.avg_bits_with_overhead;
        if let Some(i) = self.importance {
            s.has_importance = 1;
            s.importance_min = i.min;
            s.importance_max = i.max;
            s.importance_mean = i.mean;
        }
        // SAFETY: s is a valid, versioned struct; buf holds cap bytes.
        read_text("surgeon_mixed_stats_json", |buf, cap, needed| unsafe { sys::surgeon_mixed_stats_json(&s, buf, cap, needed) })
    }
}
