//! Baselines (magnitude, Wanda, round-to-nearest) and the reconstruction-error metric.
use crate::context::Context;
use crate::error::{check, error, Result, Status};
use crate::handle::Binding;
use crate::hessian::Hessian;
use crate::mask::Mask;
use crate::qresult::QuantResult;
use crate::quantizer::Quantizer;
use crate::shape::{dim, rows_of};
use crate::solver::PruneOptions;
use crate::sys;

/// Magnitude pruning of w (rows × cols, row-major) in place: |w| against one threshold
/// over the whole matrix, or n:m within each row (the options' sparsity or n:m; options
/// with a quantizer are refused and the mask scope does not apply).
pub fn prune_magnitude(ctx: &Context, w: &mut [f32], cols: usize, options: &PruneOptions) -> Result<Mask> {
    const F: &str = "surgeon_prune_magnitude";
    let (rows, cols) = (dim(F, "rows", rows_of(F, "w", w.len(), cols)?)?, dim(F, "cols", cols)?);
    let mut mask = Mask::empty()?;
    // SAFETY: w holds rows × cols floats (checked); mask is ours; the options are read.
    check(unsafe { sys::surgeon_prune_magnitude(ctx.as_raw(), w.as_mut_ptr(), rows, cols, 0, options.as_raw(), mask.as_mut_raw()) })?;
    Ok(mask)
}

/// Wanda pruning of w (rows × h.cols()) in place: |w_ij| · ‖x_j‖₂ compared within each row
/// (the options as in [`prune_magnitude`]).
pub fn prune_wanda(ctx: &Context, w: &mut [f32], hessian: &Hessian, options: &PruneOptions) -> Result<Mask> {
    const F: &str = "surgeon_prune_wanda";
    let cols = hessian.cols();
    let rows = dim(F, "rows", rows_of(F, "w", w.len(), cols)?)?;
    let mut mask = Mask::empty()?;
    // SAFETY: w holds rows × cols floats (checked); the Hessian and options are only read.
    check(unsafe {
        sys::surgeon_prune_wanda(ctx.as_raw(), w.as_mut_ptr(), rows, cols as i64, 0, hessian.as_raw(), options.as_raw(),
                                 mask.as_mut_raw())
    })?;
    Ok(mask)
}

/// Round-to-nearest quantization of w (rows × cols) in place with the quantizer's grid.
pub fn quantize_rtn(ctx: &Context, w: &mut [f32], cols: usize, quantizer: &Quantizer) -> Result<QuantResult> {
    const F: &str = "surgeon_quantize_rtn";
    let (rows, cols) = (dim(F, "rows", rows_of(F, "w", w.len(), cols)?)?, dim(F, "cols", cols)?);
    let mut result = QuantResult::new()?;
    // SAFETY: w holds rows × cols floats (checked); result is ours.
    check(unsafe { sys::surgeon_quantize_rtn(ctx.as_raw(), w.as_mut_ptr(), rows, cols, 0, quantizer.as_raw(), result.as_mut_raw()) })?;
    Ok(result)
}

/// Relative reconstruction error tr(ΔW H ΔWᵀ) / tr(W H Wᵀ), ΔW = w - w_hat, both
/// rows × h.cols().
pub fn reconstruction_error(hessian: &Hessian, w: &[f32], w_hat: &[f32]) -> Result<f64> {
    const F: &str = "surgeon_reconstruction_error";
    if w.len() != w_hat.len() {
        return Err(error(Status::Shape, F, format!("w has {} elements, w_hat {}", w.len(), w_hat.len())));
    }
    let cols = hessian.cols();
    let rows = dim(F, "rows", rows_of(F, "w", w.len(), cols)?)?;
    let mut out = 0.0;
    // SAFETY: both hold rows × cols floats (checked); everything is only read.
    check(unsafe {
        sys::surgeon_reconstruction_error(hessian.as_raw(), w.as_ptr(), w_hat.as_ptr(), rows, cols as i64, 0, &mut out)
    })?;
    Ok(out)
}
