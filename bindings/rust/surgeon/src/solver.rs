//! The OBS solver: SparseGPT pruning and GPTQ quantization from one factorization of H⁻¹.
use std::ptr::{self, NonNull};

use crate::context::{Context, KeepAlive};
use crate::error::{check, error, Result, Status};
use crate::hessian::Hessian;
use crate::mask::Mask;
use crate::mixed::require_row_bits;
use crate::qresult::QuantResult;
use crate::quantizer::Quantizer;
use crate::shape::{dim, rows_of};
use crate::sys;

/// How many weights to remove.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sparsity {
    /// Unstructured: this fraction in [0, 1) of the weights.
    Fraction(f64),
    /// n pruned in every group of m columns of a row (0 < n < m <= 256), e.g. 2:4.
    NOfM { n: u32, m: u32 },
}

impl Sparsity {
    /// (sparsity, n, m) as the C API takes them.
    pub(crate) fn raw(self, function: &str) -> Result<(f64, i32, i32)> {
        match self {
            Sparsity::Fraction(s) => Ok((s, 0, 0)),
            Sparsity::NOfM { n, m } => {
                // n = m = 0 would select unstructured pruning in C: not what NOfM means.
                if n == 0 {
                    return Err(error(
                        Status::InvalidArgument,
                        function,
                        format!("n:m must satisfy 0 < n < m, got {}:{}", n, m),
                    ));
                }
                let n = i32::try_from(n).unwrap_or(i32::MAX);
                let m = i32::try_from(m).unwrap_or(i32::MAX);
                Ok((0.0, n, m))
            }
        }
    }
}

/// Where the SparseGPT mask is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MaskScope {
    /// One threshold over each block of columns (all rows): the reference behaviour.
    #[default]
    Block,
    /// The same sparsity in every row of each block of columns.
    Row,
}

/// Options of [`Solver::prune`]:
/// `PruneOptions::n_m(2, 4).scope(MaskScope::Row).quantizer(&q).row_bits(&bits)`.
#[derive(Clone, Copy, Debug)]
pub struct PruneOptions<'q> {
    sparsity: Sparsity,
    scope: MaskScope,
    quantizer: Option<&'q Quantizer>,
    row_bits: Option<&'q [u32]>,
}

impl<'q> PruneOptions<'q> {
    pub fn new(sparsity: Sparsity) -> Self {
        PruneOptions { sparsity, scope: MaskScope::Block, quantizer: None, row_bits: None }
    }

    /// Unstructured pruning of a fraction in [0, 1) of the weights.
    pub fn unstructured(fraction: f64) -> Self {
        PruneOptions::new(Sparsity::Fraction(fraction))
    }

    /// n:m semi-structured pruning (the solver's block size must be a multiple of m).
    pub fn n_m(n: u32, m: u32) -> Self {
        PruneOptions::new(Sparsity::NOfM { n, m })
    }

    pub fn scope(mut self, scope: MaskScope) -> Self {
        self.scope = scope;
        self
    }

    /// Joint pruning and quantization (the grid is found on the dense weight).
    pub fn quantizer(mut self, quantizer: &'q Quantizer) -> Self {
        self.quantizer = Some(quantizer);
        self
    }

    /// Mixed precision: row r quantized at row_bits[r] bits (in [1, 8], one per row of the
    /// weight) instead of the quantizer's width; needs a [`quantizer`](Self::quantizer).
    pub fn row_bits(mut self, row_bits: &'q [u32]) -> Self {
        self.row_bits = Some(row_bits);
        self
    }
}

/// Damping and block size of a [`Solver`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SolverOptions {
    /// Damping percdamp · mean(diag H), raised ×10 up to three times if Cholesky fails.
    pub percdamp: f64,
    /// Columns per lazy-update block.
    pub block_size: usize,
}

impl Default for SolverOptions {
    /// The reference settings: percdamp 0.01, block size 128.
    fn default() -> Self {
        SolverOptions { percdamp: 0.01, block_size: 128 }
    }
}

impl SolverOptions {
    pub fn percdamp(mut self, percdamp: f64) -> Self {
        self.percdamp = percdamp;
        self
    }

    pub fn block_size(mut self, block_size: usize) -> Self {
        self.block_size = block_size;
        self
    }
}

/// What [`Solver::prune`] produced besides the updated weight.
pub struct Pruned {
    pub mask: Mask,
    /// OBS loss Σ (w - q)² / (2 [U]jj²).
    pub loss: f64,
    /// Codes when a quantizer was given.
    pub quant: Option<QuantResult>,
}

/// What [`Solver::quantize`] produced besides the updated (dequantized) weight.
pub struct Quantized {
    pub result: QuantResult,
    pub loss: f64,
}

/// Holds a copy of the Hessian and, once computed, the factorization of H⁻¹.
///
/// `prune` and `quantize` take `&self` and may run concurrently on one solver (the
/// factorization is computed once, under a lock); `Solver` is `Send + Sync`.
pub struct Solver {
    raw: NonNull<sys::surgeon_solver>,
    cols: usize,
    _ctx: KeepAlive,
}

// SAFETY: the C API allows prune/quantize concurrently on one solver; every other call
// takes &mut self.
unsafe impl Send for Solver {}
unsafe impl Sync for Solver {}

impl Drop for Solver {
    fn drop(&mut self) {
        // SAFETY: we own raw.
        unsafe { sys::surgeon_solver_free(self.raw.as_ptr()) }
    }
}

impl Solver {
    /// Copies the Hessian: it may be dropped or fed further afterwards.
    pub fn new(ctx: &Context, hessian: &Hessian, options: SolverOptions) -> Result<Solver> {
        let block = dim("surgeon_solver_new", "block_size", options.block_size)?;
        let mut raw = ptr::null_mut();
        // SAFETY: raw is a valid out pointer; the Hessian is only read.
        check(unsafe { sys::surgeon_solver_new(&mut raw, ctx.as_raw(), hessian.as_raw(), options.percdamp, block) })?;
        Ok(Solver {
            raw: NonNull::new(raw).expect("surgeon returned OK with a NULL handle"),
            cols: hessian.cols(),
            _ctx: ctx.keep_alive(),
        })
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
    /// With [`PruneOptions::row_bits`] the codes use one width per row
    /// (surgeon_solver_prune_mixed).
    pub fn prune(&self, w: &mut [f32], options: &PruneOptions<'_>) -> Result<Pruned> {
        let f = if options.row_bits.is_some() { "surgeon_solver_prune_mixed" } else { "surgeon_solver_prune" };
        let rows = rows_of(f, "w", w.len(), self.cols)?;
        if let Some(bits) = options.row_bits {
            require_row_bits(f, bits, rows)?;
        }
        let rows = dim(f, "rows", rows)?;
        let (sparsity, n, m) = options.sparsity.raw(f)?;
        let scope = match options.scope {
            MaskScope::Block => sys::surgeon_mask_scope_SURGEON_MASK_SCOPE_BLOCK,
            MaskScope::Row => sys::surgeon_mask_scope_SURGEON_MASK_SCOPE_ROW,
        };
        let mut mask = Mask::empty()?;
        let mut quant = match options.quantizer {
            Some(_) => Some(QuantResult::new()?),
            None => None,
        };
        let quantizer = options.quantizer.map_or(ptr::null(), Quantizer::as_raw);
        let qresult = quant.as_mut().map_or(ptr::null_mut(), QuantResult::as_mut_raw);
        let mut loss = 0.0;
        // SAFETY: w holds rows × cols floats and row_bits (when given) rows int32 (checked);
        // the outputs are ours and unshared; prune may run concurrently on one solver.
        check(unsafe {
            match options.row_bits {
                None => sys::surgeon_solver_prune(
                    self.raw.as_ptr(),
                    w.as_mut_ptr(),
                    rows,
                    self.cols as i64,
                    0,
                    sparsity,
                    n,
                    m,
                    scope,
                    quantizer,
                    mask.as_mut_raw(),
                    qresult,
                    &mut loss,
                ),
                Some(bits) => sys::surgeon_solver_prune_mixed(
                    self.raw.as_ptr(),
                    w.as_mut_ptr(),
                    rows,
                    self.cols as i64,
                    0,
                    sparsity,
                    n,
                    m,
                    scope,
                    quantizer,
                    bits.as_ptr() as *const i32,
                    mask.as_mut_raw(),
                    qresult,
                    &mut loss,
                ),
            }
        })?;
        Ok(Pruned { mask, loss, quant })
    }

    /// GPTQ on w (rows × cols(), row-major), updated in place with the dequantized values.
    pub fn quantize(&self, w: &mut [f32], quantizer: &Quantizer) -> Result<Quantized> {
        const F: &str = "surgeon_solver_quantize";
        let rows = dim(F, "rows", rows_of(F, "w", w.len(), self.cols)?)?;
        let mut result = QuantResult::new()?;
        let mut loss = 0.0;
        // SAFETY: as prune.
        check(unsafe {
            sys::surgeon_solver_quantize(
                self.raw.as_ptr(),
                w.as_mut_ptr(),
                rows,
                self.cols as i64,
                0,
                quantizer.as_raw(),
                result.as_mut_raw(),
                &mut loss,
            )
        })?;
        Ok(Quantized { result, loss })
    }
}
