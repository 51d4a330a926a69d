//! Safe Rust binding of Surgeon, one-shot second-order compression of linear layers
//! (SparseGPT pruning, GPTQ quantization) over its C API.
//!
//! ```no_run
//! use surgeon::{Context, Hessian, PruneOptions, Quantizer, Solver, SolverOptions};
//! # fn main() -> surgeon::Result<()> {
//! let (w_rows, cols) = (64, 64);
//! let mut w = vec![0.5f32; w_rows * cols];
//! let ctx = Context::default();
//! let mut h = Hessian::new(&ctx, cols)?;
//! h.add_f32(&vec![1.0f32; 128 * cols])?; // calibration inputs, 128 rows
//! let solver = Solver::new(&ctx, &h, &SolverOptions::new()?)?;
//! let pruned = solver.prune(&mut w, PruneOptions::new()?.set_nm(2, 4)?)?;
//! let mut q = Quantizer::new(4)?;
//! q.set_group_size(32)?;
//! let (codes, loss) = solver.quantize(&mut w, &q)?;
//! # let _ = (pruned, codes, loss);
//! # Ok(())
//! # }
//! ```
//!
//! Mixed precision (per-row bit widths: [`Importance`], [`RowErrors`], [`MixedOptions`],
//! [`Quantizer::set_row_bits`], [`MixedStats`]) and calibration-free structured pruning of
//! FFN blocks ([`Ffn`], [`PruneNet`], [`spectral_distance`]) wrap the companion headers
//! surgeon_mixed.h and surgeon_structured.h; model-level structured pruning
//! ([`Model::prune_structured`], [`StructuredOptions`]) wraps the experimental header
//! surgeon_experimental.h (generated with `SURGEON_EXPERIMENTAL_API` defined).
//!
//! Names, argument order and constructor shapes mirror the C API (`surgeon_solver_new(&out,
//! ctx, h, opts)` is `Solver::new(&ctx, &h, &opts)`; options objects are made with `new()`
//! and changed with `set_*` setters, each checked by the library), so the C documentation
//! applies unchanged. Variable-length outputs (text, token ids, selections) come back
//! whole: the binding sizes its buffers by the C API's size query.
//!
//! Errors carry the library's status and message ([`Error`]). Handles free themselves on
//! drop ([`Binding::as_raw`] gives the raw handle for `surgeon::sys` calls). Buffers are passed as slices without copies; outputs come back as owned `Vec`s.

pub use surgeon_sys as sys;

mod baselines;
mod context;
mod error;
mod handle;
mod hessian;
mod mask;
mod mixed;
mod model;
pub mod npy;
mod qresult;
mod quantizer;
mod shape;
mod solver;
mod structured;

pub use baselines::{prune_magnitude, prune_wanda, quantize_rtn, reconstruction_error};
pub use context::{Context, ContextBuilder, LogLevel};
pub use error::{Error, Result, Status};
pub use handle::Binding;
pub use model::{EvalMode, GenerateOptions, Model, ModelConfig, Perplexity};
pub use hessian::{ActivationStats, Hessian, HessianAdder, RawState};
pub use mask::Mask;
pub use mixed::{
    allocate_error_groups, attainable_average, BudgetLayer, Importance, ImportanceSummary, MixedOptions, MixedStats, RowErrors,
    Signal, SignalWeights, StatsOptions, ZeroBits,
};
pub use qresult::{QuantResult, QuantShape};
pub use quantizer::{MseSearch, Quantizer};
pub use solver::{MaskScope, PruneOptions, PruneResult, Solver, SolverOptions};
pub use structured::{
    ffn_select, ks_distance, singular_values, spectral_distance, Ffn, FfnMethod, FfnWeights, PruneNet, PruneNetOptions,
    StructuredOptions,
};

/// The library's version string ("0.2.0").
pub fn version() -> &'static str {
    // SAFETY: static NUL-terminated storage.
    let v = unsafe { std::ffi::CStr::from_ptr(sys::surgeon_version()) };
    v.to_str().unwrap_or("")
}

/// The library's version number (major·10000 + minor·100 + patch); compare with
/// `sys::SURGEON_VERSION_NUMBER` (the header these bindings were generated from).
pub fn version_number() -> u32 {
    // SAFETY: no arguments.
    unsafe { sys::surgeon_version_number() as u32 }
}
