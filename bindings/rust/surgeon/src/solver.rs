//! The OBS solver: SparseGPT pruning and GPTQ quantization from one factorization of H⁻¹.
use std::ptr;

use crate::context::{Context, KeepAlive};
use crate::error::{check, Result};
use crate::handle::{binding, Binding, Handle};
use crate::hessian::Hessian;
use crate::mask::Mask;
use crate::mixed::require_row_bits;
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

/// Damping and block size of a [`Solver`]: `SolverOptions::new()` holds the reference
/// settings (damping 0.01, block size 128); the library checks the values in
/// [`Solver::new`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SolverOptions {
    damping: f64,
    block_size: usize,
}

impl SolverOptions {
    pub fn new() -> SolverOptions {
        SolverOptions { damping: 0.01, block_size: 128 }
    }

    /// Damping percdamp · mean(diag H), raised ×10 up to three times if Cholesky fails.
    pub fn set_damping(&mut self, percdamp: f64) -> &mut Self {
        self.damping = percdamp;
        self
    }

    /// Columns per lazy-update block.
    pub fn set_block_size(&mut self, block_size: usize) -> &mut Self {
        self.block_size = block_size;
        self
    }

    pub fn damping(&self) -> f64 {
        self.damping
    }

    pub fn block_size(&self) -> usize {
        self.block_size
    }
}

impl Default for SolverOptions {
    fn default() -> Self {
        SolverOptions::new()
    }
}

/// Options of [`Solver::prune`] and of the pruning baselines: `PruneOptions::new()` is
/// unstructured 50%, then `set_sparsity`, `set_nm`, `set_mask_scope`, `set_quantizer`
/// (joint pruning and quantization) and `set_row_bits` (one width per row). The library
/// checks the values in the call that uses them.
#[derive(Clone, Copy, Debug)]
pub struct PruneOptions<'q> {
    sparsity: f64,
    nm: (u32, u32),
    scope: MaskScope,
    quantizer: Option<&'q Quantizer>,
    row_bits: Option<&'q [u32]>,
}

impl<'q> PruneOptions<'q> {
    pub fn new() -> Self {
        PruneOptions { sparsity: 0.5, nm: (0, 0), scope: MaskScope::Block, quantizer: None, row_bits: None }
    }

    /// Unstructured pruning of a fraction in [0, 1) of the weights (clears n:m).
    pub fn set_sparsity(&mut self, sparsity: f64) -> &mut Self {
        self.sparsity = sparsity;
        self.nm = (0, 0);
        self
    }

    /// n pruned in every group of m columns of a row (0 < n < m), e.g. 2:4; the solver's
    /// block size must be a multiple of m. (0, 0) selects unstructured pruning.
    pub fn set_nm(&mut self, n: u32, m: u32) -> &mut Self {
        self.nm = (n, m);
        self
    }

    pub fn set_mask_scope(&mut self, scope: MaskScope) -> &mut Self {
        self.scope = scope;
        self
    }

    /// Joint pruning and quantization (the grid is found on the dense weight).
    pub fn set_quantizer(&mut self, quantizer: &'q Quantizer) -> &mut Self {
        self.quantizer = Some(quantizer);
        self
    }

    /// Mixed precision: row r quantized at row_bits[r] bits (in [1, 8], one per row of the
    /// weight) instead of the quantizer's width; needs a quantizer.
    pub fn set_row_bits(&mut self, row_bits: &'q [u32]) -> &mut Self {
        self.row_bits = Some(row_bits);
        self
    }

    /// (sparsity, n, m) as the C API takes them; out-of-range values stay out of range.
    pub(crate) fn sparsity_nm(&self) -> (f64, i32, i32) {
        let int = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        match self.nm {
            (0, 0) => (self.sparsity, 0, 0),
            // n = 0 with m > 0 is not unstructured pruning: -1 keeps it invalid in C.
            (0, m) => (0.0, -1, int(m)),
            (n, m) => (0.0, int(n), int(m)),
        }
    }
}

impl Default for PruneOptions<'_> {
    fn default() -> Self {
        PruneOptions::new()
    }
}

/// What [`Solver::prune`] produced besides the updated weight.
pub struct PruneResult {
    mask: Mask,
    loss: f64,
    qresult: Option<QuantResult>,
}

impl PruneResult {
    pub fn mask(&self) -> &Mask {
        &self.mask
    }

    /// OBS loss Σ (w - q)² / (2 [U]jj²).
    pub fn loss(&self) -> f64 {
        self.loss
    }

    /// The codes when the options had a quantizer.
    pub fn qresult(&self) -> Option<&QuantResult> {
        self.qresult.as_ref()
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
    /// Copies the Hessian: it may be dropped or fed further afterwards.
    pub fn new(ctx: &Context, hessian: &Hessian, options: &SolverOptions) -> Result<Solver> {
        let block = dim("surgeon_solver_new", "block_size", options.block_size)?;
        // SAFETY: out is a valid out pointer; the Hessian is only read.
        let raw = Handle::new(|out| unsafe {
            sys::surgeon_solver_new(out, ctx.as_raw(), hessian.as_raw(), options.damping, block)
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
    /// With [`PruneOptions::set_row_bits`] the codes use one width per row
    /// (surgeon_solver_prune_mixed).
    pub fn prune(&self, w: &mut [f32], options: &PruneOptions<'_>) -> Result<PruneResult> {
        let f = if options.row_bits.is_some() { "surgeon_solver_prune_mixed" } else { "surgeon_solver_prune" };
        let rows = rows_of(f, "w", w.len(), self.cols)?;
        if let Some(bits) = options.row_bits {
            require_row_bits(f, bits, rows)?;
        }
        let (rows, cols) = (dim(f, "rows", rows)?, self.cols as i64);
        let (sparsity, n, m) = options.sparsity_nm();
        let scope = match options.scope {
            MaskScope::Block => sys::surgeon_mask_scope_SURGEON_MASK_SCOPE_BLOCK,
            MaskScope::Row => sys::surgeon_mask_scope_SURGEON_MASK_SCOPE_ROW,
        };
        let mut mask = Mask::empty()?;
        let mut qresult = options.quantizer.map(|_| QuantResult::new()).transpose()?;
        let quantizer = options.quantizer.map_or(ptr::null(), Binding::as_raw);
        let (m_out, q_out) = (mask.as_mut_raw(), qresult.as_mut().map_or(ptr::null_mut(), QuantResult::as_mut_raw));
        let (s, w, mut loss) = (self.raw.as_ptr(), w.as_mut_ptr(), 0.0);
        // SAFETY: w holds rows × cols floats and row_bits (when given) rows int32 (checked);
        // the outputs are ours and unshared; prune may run concurrently on one solver.
        check(unsafe {
            match options.row_bits {
                None => sys::surgeon_solver_prune(s, w, rows, cols, 0, sparsity, n, m, scope, quantizer, m_out, q_out, &mut loss),
                Some(bits) => sys::surgeon_solver_prune_mixed(s, w, rows, cols, 0, sparsity, n, m, scope, quantizer,
                                                             bits.as_ptr() as *const i32, m_out, q_out, &mut loss),
            }
        })?;
        Ok(PruneResult { mask, loss, qresult })
    }

    /// GPTQ on w (rows × cols(), row-major), updated in place with the dequantized values;
    /// returns the codes and the OBS loss. On error w is unchanged.
    pub fn quantize(&self, w: &mut [f32], quantizer: &Quantizer) -> Result<(QuantResult, f64)> {
        self.quantize_rows(w, quantizer, None)
    }

    /// GPTQ with row r quantized at row_bits[r] bits (in [1, 8]; the quantizer's width is
    /// replaced, its other settings kept), as [`quantize`](Self::quantize). May run
    /// concurrently with other prune/quantize calls on this solver.
    pub fn quantize_mixed(&self, w: &mut [f32], quantizer: &Quantizer, row_bits: &[u32]) -> Result<(QuantResult, f64)> {
        self.quantize_rows(w, quantizer, Some(row_bits))
    }

    fn quantize_rows(&self, w: &mut [f32], quantizer: &Quantizer, row_bits: Option<&[u32]>) -> Result<(QuantResult, f64)> {
        let f = if row_bits.is_some() { "surgeon_solver_quantize_mixed" } else { "surgeon_solver_quantize" };
        let rows = rows_of(f, "w", w.len(), self.cols)?;
        if let Some(bits) = row_bits {
            require_row_bits(f, bits, rows)?;
        }
        let (rows, cols) = (dim(f, "rows", rows)?, self.cols as i64);
        let mut result = QuantResult::new()?;
        let (s, w, q, out, mut loss) = (self.raw.as_ptr(), w.as_mut_ptr(), quantizer.as_raw(), result.as_mut_raw(), 0.0);
        // SAFETY: w holds rows × cols floats and row_bits (when given) rows int32 (checked);
        // the outputs are ours; quantize may run concurrently on one solver.
        check(unsafe {
            match row_bits {
                None => sys::surgeon_solver_quantize(s, w, rows, cols, 0, q, out, &mut loss),
                Some(bits) => sys::surgeon_solver_quantize_mixed(s, w, rows, cols, 0, q, bits.as_ptr() as *const i32, out, &mut loss),
            }
        })?;
        Ok((result, loss))
    }
}
