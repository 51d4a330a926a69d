//! The OBS solver: SparseGPT pruning and GPTQ quantization from one factorization of H⁻¹.
use std::ptr;

use crate::context::{Context, KeepAlive};
use crate::error::{check, expect_ok, Result};
use crate::handle::{binding, getters, options_type, setters, Binding, Handle};
use crate::hessian::Hessian;
use crate::mask::Mask;
use crate::qresult::QuantResult;
use crate::quantizer::Quantizer;
use crate::shape::{dim, rows_of};
use crate::sys;

/// Where the SparseGPT mask is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MaskScope {
    /// One threshold over each block of columns (all rows): the reference behaviour.
    #[default]
    Block,
    /// The same sparsity in every row of each block of columns.
    Row,
}

fn c_int(v: u32) -> i32 {
    // Out-of-range values stay out of range, so the library reports them.
    i32::try_from(v).unwrap_or(i32::MAX)
}

options_type! {
    /// Damping and block size of a [`Solver`] (surgeon_solver_options). Defaults: damping
    /// 0.01, block size 128.
    SolverOptions => surgeon_solver_options, surgeon_solver_options_new
}

impl SolverOptions {

    setters! {
        /// percdamp >= 0: damping percdamp · mean(diag H), raised ×10 up to three times if
        /// Cholesky fails.
        fn set_damping(percdamp: f64) => surgeon_solver_options_set_damping(percdamp);
        /// Columns per lazy-update block (>= 1).
        fn set_block_size(block_size: usize) => surgeon_solver_options_set_block_size(
            dim("surgeon_solver_options_set_block_size", "block_size", block_size)?);
    }

    getters! {
        fn damping() -> f64 = surgeon_solver_options_get_damping(f64);
        fn block_size() -> usize = surgeon_solver_options_get_block_size(i64);
    }
}

options_type! {
    /// Options of [`Solver::prune`] and of the pruning baselines (surgeon_prune_options).
    /// Defaults: unstructured 50%, block scope, no quantizer.
    PruneOptions => surgeon_prune_options, surgeon_prune_options_new
}

impl PruneOptions {

    setters! {
        /// Unstructured pruning of a fraction in [0, 1) of the weights.
        fn set_sparsity(sparsity: f64) => surgeon_prune_options_set_sparsity(sparsity);
        /// n pruned in every group of m columns of a row (0 < n < m <= 256; the sparsity is
        /// then ignored; the solver's block size must be a multiple of m); (0, 0) selects
        /// unstructured pruning.
        fn set_nm(n: u32, m: u32) => surgeon_prune_options_set_nm(c_int(n), c_int(m));
        /// SparseGPT only.
        fn set_mask_scope(scope: MaskScope) => surgeon_prune_options_set_mask_scope(match scope {
            MaskScope::Block => sys::surgeon_mask_scope_SURGEON_MASK_SCOPE_BLOCK,
            MaskScope::Row => sys::surgeon_mask_scope_SURGEON_MASK_SCOPE_ROW,
        });
        /// SparseGPT only: joint pruning and quantization (the grid found on the dense
        /// weight, per-row widths when the quantizer has them). Copied; `None` clears.
        fn set_quantizer(quantizer: Option<&Quantizer>) => surgeon_prune_options_set_quantizer(
            quantizer.map_or(ptr::null(), Binding::as_raw));
    }

    getters! {
        fn sparsity() -> f64 = surgeon_prune_options_get_sparsity(f64);
    }

    /// (n, m); (0, 0) for unstructured pruning.
    pub fn nm(&self) -> (u32, u32) {
        let (mut n, mut m) = (0, 0);
        // SAFETY: const call on a live handle.
        expect_ok(unsafe { sys::surgeon_prune_options_get_nm(self.raw.as_ptr(), &mut n, &mut m) });
        (n as u32, m as u32)
    }
}

/// What [`Solver::prune`] produced besides the updated weight (surgeon_prune_result).
pub struct PruneResult {
    raw: Handle<sys::surgeon_prune_result>,
}

binding!(PruneResult => surgeon_prune_result);

impl PruneResult {
    getters! {
        /// OBS loss `Σ (w - q)² / (2 [U]jj²)`.
        fn loss() -> f64 = surgeon_prune_result_loss(f64);
    }

    /// The mask (a copy owned by the caller).
    pub fn mask(&self) -> Result<Mask> {
        // SAFETY: const call; out is a valid out pointer and receives a new mask.
        Ok(Mask::from_handle(Handle::new(|out| unsafe { sys::surgeon_prune_result_mask(self.raw.as_ptr(), out) })?))
    }

    /// The codes (a copy owned by the caller) when the options had a quantizer.
    pub fn qresult(&self) -> Result<Option<QuantResult>> {
        let mut out = ptr::null_mut();
        // SAFETY: const call; out receives a new qresult or NULL.
        check(unsafe { sys::surgeon_prune_result_qresult(self.raw.as_ptr(), &mut out) })?;
        // SAFETY: out is NULL or a new qresult that we own from here on.
        Ok(unsafe { Handle::from_raw(out) }.map(QuantResult::from_handle))
    }
}

/// Holds a copy of the Hessian and, once computed, the factorization of H⁻¹.
///
/// `prune` and `quantize` take `&self` and may run concurrently on one solver (the
/// factorization is computed once, under a lock); `Solver` is `Send + Sync`.
pub struct Solver {
    raw: Handle<sys::surgeon_solver>,
    cols: usize,
    _ctx: KeepAlive,
}

binding!(Solver => surgeon_solver);

impl Solver {
    /// Copies the Hessian and the options: both may be dropped or changed afterwards.
    pub fn new(ctx: &Context, hessian: &Hessian, options: &SolverOptions) -> Result<Solver> {
        // SAFETY: out is a valid out pointer; the Hessian and options are only read.
        let raw = Handle::new(|out| unsafe {
            sys::surgeon_solver_new(out, ctx.as_raw(), hessian.as_raw(), options.as_raw())
        })?;
        Ok(Solver { raw, cols: hessian.cols(), _ctx: ctx.keep_alive() })
    }

    /// The Hessian's (and every weight's) column count.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The handle for C calls. Mutable because the C API takes `surgeon_solver*` even for
    /// the calls it allows concurrently (prune, quantize); callers keep to its rules.
    pub(crate) fn as_mut_ptr(&self) -> *mut sys::surgeon_solver {
        self.raw.as_ptr()
    }

    /// Factorizes now (prune and quantize do it on demand).
    pub fn factorize(&mut self) -> Result<()> {
        // SAFETY: exclusive access.
        check(unsafe { sys::surgeon_solver_factorize(self.raw.as_ptr()) })
    }

    /// The damping added to the diagonal (after escalation); factorizes if needed.
    pub fn damping(&mut self) -> Result<f64> {
        let mut out = 0.0;
        // SAFETY: exclusive access; out is valid.
        check(unsafe { sys::surgeon_solver_damping(self.raw.as_ptr(), &mut out) })?;
        Ok(out)
    }

    /// SparseGPT on w (rows × cols(), row-major), updated in place; on error w is unchanged.
    pub fn prune(&self, w: &mut [f32], options: &PruneOptions) -> Result<PruneResult> {
        const F: &str = "surgeon_solver_prune";
        let rows = dim(F, "rows", rows_of(F, "w", w.len(), self.cols)?)?;
        // SAFETY: out is a valid out pointer.
        let result = PruneResult { raw: Handle::new(|out| unsafe { sys::surgeon_prune_result_new(out) })? };
        // SAFETY: w holds rows × cols floats (checked); the result is ours and unshared;
        // prune may run concurrently on one solver.
        check(unsafe {
            sys::surgeon_solver_prune(self.raw.as_ptr(), w.as_mut_ptr(), rows, self.cols as i64, 0, options.as_raw(),
                                      result.raw.as_ptr())
        })?;
        Ok(result)
    }

    /// GPTQ on w (rows × cols(), row-major), updated in place with the dequantized values,
    /// with the quantizer's grid and its per-row widths when set
    /// ([`Quantizer::set_row_bits`]); returns the codes and the OBS loss. On error w is
    /// unchanged.
    pub fn quantize(&self, w: &mut [f32], quantizer: &Quantizer) -> Result<(QuantResult, f64)> {
        const F: &str = "surgeon_solver_quantize";
        let rows = dim(F, "rows", rows_of(F, "w", w.len(), self.cols)?)?;
        let mut result = QuantResult::new()?;
        let mut loss = 0.0;
        // SAFETY: w holds rows × cols floats (checked); the outputs are ours; quantize may
        // run concurrently on one solver.
        check(unsafe {
            sys::surgeon_solver_quantize(self.raw.as_ptr(), w.as_mut_ptr(), rows, self.cols as i64, 0, quantizer.as_raw(),
                                         result.as_mut_raw(), &mut loss)
        })?;
        Ok((result, loss))
    }
}
