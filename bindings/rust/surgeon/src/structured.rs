//! Calibration-free structured pruning of FFN blocks: spectra and their Kolmogorov–Smirnov
//! distance, neuron scores (L2, random, or a trained [`PruneNet`] policy), selection and
//! slicing.
//!
//! An FFN block is gate (hidden × dim), up (hidden × dim) and down (dim × hidden), all
//! row-major ([`Ffn`]); removing neuron i drops row i of gate and up and column i of down.
//!
//! ```no_run
//! # use surgeon::{ffn_select, Context, Ffn, PruneNet, PruneNetOptions};
//! # fn main() -> surgeon::Result<()> {
//! # let (dim, hidden) = (64, 172);
//! # let (gate, up, down) = (vec![0.1f32; hidden * dim], vec![0.1f32; hidden * dim], vec![0.1f32; dim * hidden]);
//! let ffn = Ffn::new(&gate, &up, &down, dim)?;
//! let policy = PruneNet::train_ffn(&Context::default(), &[ffn], &PruneNetOptions::default())?;
//! let keep = ffn_select(&policy.scores(&ffn)?, 0.3)?; // 70% of the neurons, ascending
//! let smaller = ffn.slice(&keep)?;
//! # let _ = smaller;
//! # Ok(())
//! # }
//! ```
use std::os::raw::c_int;
use std::path::Path;

use crate::context::Context;
use crate::error::{check, error, expect_ok, Result, Status};
use crate::handle::{binding, getters, options_type, read_buffer, setters, Binding, Handle};
use crate::hessian::c_path;
use crate::shape::{dim, require_len, rows_of};
use crate::sys;

/// Singular values of a (rows × cols, row-major), descending; min(rows, cols) of them.
pub fn singular_values(a: &[f32], cols: usize) -> Result<Vec<f32>> {
    const F: &str = "surgeon_singular_values";
    let rows = rows_of(F, "a", a.len(), cols)?;
    let mut out = vec![0f32; rows.min(cols)];
    // SAFETY: a holds rows × cols floats (checked); out holds min(rows, cols) floats.
    check(unsafe { sys::surgeon_singular_values(a.as_ptr(), dim(F, "rows", rows)?, cols as i64, 0, out.as_mut_ptr()) })?;
    Ok(out)
}

/// Kolmogorov–Smirnov distance sup |F_a − F_b| between the empirical distributions of two
/// non-empty samples, in [0, 1].
pub fn ks_distance(a: &[f32], b: &[f32]) -> Result<f64> {
    const F: &str = "surgeon_ks_distance";
    let mut out = 0.0;
    // SAFETY: each sample is passed with its own length; out is a valid double.
    check(unsafe { sys::surgeon_ks_distance(a.as_ptr(), dim(F, "na", a.len())?, b.as_ptr(), dim(F, "nb", b.len())?, &mut out) })?;
    Ok(out)
}

/// KS distance between the singular values of `original` (rows × cols) and of `pruned`
/// (pruned_rows × pruned_cols), both row-major.
pub fn spectral_distance(original: &[f32], cols: usize, pruned: &[f32], pruned_cols: usize) -> Result<f64> {
    const F: &str = "surgeon_spectral_distance";
    let rows = rows_of(F, "original", original.len(), cols)?;
    let pruned_rows = rows_of(F, "pruned", pruned.len(), pruned_cols)?;
    let mut out = 0.0;
    // SAFETY: both matrices hold the element counts of their dimensions (checked).
    check(unsafe {
        sys::surgeon_spectral_distance(original.as_ptr(), dim(F, "rows", rows)?, cols as i64, pruned.as_ptr(),
                                       dim(F, "pruned_rows", pruned_rows)?, pruned_cols as i64, &mut out)
    })?;
    Ok(out)
}

/// How FFN neurons are scored (surgeon_ffn_method; higher = keep).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FfnMethod {
    /// ‖[gate_i, up_i]‖₂.
    L2,
    /// Seeded uniform scores: the random-neurons baseline.
    Random,
    /// A PruneNet policy's keep-probabilities ([`PruneNet::scores`], or model-level
    /// pruning with [`StructuredOptions`]).
    PruneNet,
}

impl FfnMethod {
    fn raw(self) -> sys::surgeon_ffn_method {
        match self {
            FfnMethod::L2 => sys::surgeon_ffn_method_SURGEON_FFN_L2,
            FfnMethod::Random => sys::surgeon_ffn_method_SURGEON_FFN_RANDOM,
            FfnMethod::PruneNet => sys::surgeon_ffn_method_SURGEON_FFN_PRUNENET,
        }
    }
}

/// A borrowed FFN block with checked shapes: gate and up hidden × dim, down dim × hidden.
#[derive(Clone, Copy, Debug)]
pub struct Ffn<'a> {
    gate: &'a [f32],
    up: &'a [f32],
    down: &'a [f32],
    hidden: usize,
    dim: usize,
}

/// An FFN block owning its matrices, e.g. the result of [`Ffn::slice`].
#[derive(Clone, Debug, PartialEq)]
pub struct FfnWeights {
    /// hidden × dim.
    pub gate: Vec<f32>,
    /// hidden × dim.
    pub up: Vec<f32>,
    /// dim × hidden.
    pub down: Vec<f32>,
    pub hidden: usize,
    pub dim: usize,
}

impl FfnWeights {
    pub fn view(&self) -> Result<Ffn<'_>> {
        Ffn::new(&self.gate, &self.up, &self.down, self.dim)
    }
}

impl<'a> Ffn<'a> {
    /// hidden = gate.len() / dim; up must match gate and down must be dim × hidden.
    pub fn new(gate: &'a [f32], up: &'a [f32], down: &'a [f32], dim: usize) -> Result<Ffn<'a>> {
        const F: &str = "Ffn::new";
        let hidden = rows_of(F, "gate", gate.len(), dim)?;
        require_len(F, "up", up.len(), hidden, dim)?;
        require_len(F, "down", down.len(), dim, hidden)?;
        Ok(Ffn { gate, up, down, hidden, dim })
    }

    pub fn hidden(&self) -> usize {
        self.hidden
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn gate(&self) -> &'a [f32] {
        self.gate
    }

    pub fn up(&self) -> &'a [f32] {
        self.up
    }

    pub fn down(&self) -> &'a [f32] {
        self.down
    }

    /// (hidden, dim) as the C API takes them.
    fn dims(&self, function: &str) -> Result<(i64, i64)> {
        Ok((dim(function, "hidden", self.hidden)?, dim(function, "dim", self.dim)?))
    }

    /// Baseline scores of the hidden neurons (`FfnMethod::L2` or `FfnMethod::Random`, which
    /// uses the seed; a PruneNet policy scores with [`PruneNet::scores`]).
    pub fn scores(&self, method: FfnMethod, seed: u64) -> Result<Vec<f32>> {
        const F: &str = "surgeon_ffn_scores";
        let (hidden, d) = self.dims(F)?;
        let method = method.raw();
        let mut out = vec![0f32; self.hidden];
        // SAFETY: the matrices match hidden and dim (checked in new); out holds hidden floats.
        check(unsafe {
            sys::surgeon_ffn_scores(method, self.gate.as_ptr(), self.up.as_ptr(), self.down.as_ptr(), hidden, d, seed,
                                    out.as_mut_ptr())
        })?;
        Ok(out)
    }

    /// The block with only the neurons in `keep` (ascending, unique, each < hidden).
    pub fn slice(&self, keep: &[usize]) -> Result<FfnWeights> {
        const F: &str = "surgeon_ffn_slice";
        let (hidden, d) = self.dims(F)?;
        let keep_raw = indices(F, keep)?;
        let n = keep.len();
        let mut out = self.to_weights();
        // SAFETY: the copies match hidden and dim (checked in new); keep_raw holds n indices;
        // the call slices the copies in place.
        check(unsafe {
            sys::surgeon_ffn_slice(out.gate.as_mut_ptr(), out.up.as_mut_ptr(), out.down.as_mut_ptr(), hidden, d,
                                   keep_raw.as_ptr(), dim(F, "keep_count", n)?)
        })?;
        for m in [&mut out.gate, &mut out.up, &mut out.down] {
            m.truncate(n * self.dim);
        }
        out.hidden = n;
        Ok(out)
    }

    /// A copy as [`FfnWeights`].
    pub fn to_weights(&self) -> FfnWeights {
        FfnWeights { gate: self.gate.to_vec(), up: self.up.to_vec(), down: self.down.to_vec(), hidden: self.hidden, dim: self.dim }
    }
}

fn indices(function: &str, keep: &[usize]) -> Result<Vec<i64>> {
    keep.iter().map(|&k| dim(function, "keep index", k)).collect()
}

/// The neurons kept when removing round(ratio · hidden) of them (at least one kept): the
/// highest scores, ties to the lower index, ascending. 0 <= ratio < 1.
pub fn ffn_select(scores: &[f32], ratio: f64) -> Result<Vec<usize>> {
    let hidden = dim("surgeon_ffn_select", "hidden", scores.len())?;
    // SAFETY: scores holds hidden floats; keep holds cap int64.
    let keep = read_buffer(|keep, cap, needed| unsafe { sys::surgeon_ffn_select(scores.as_ptr(), hidden, ratio, keep, cap, needed) })?;
    Ok(keep.into_iter().map(|k: i64| k as usize).collect())
}

/// Training settings of a [`PruneNet`]; `PruneNetOptions::default()` is the library's
/// (ratio 0.3, 150 steps, 8 samples, learning rate 0.05, 8 features, seed 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PruneNetOptions {
    /// Fraction of neurons removed during training, in [0, 1).
    pub ratio: f64,
    /// Optimisation steps, cycling over the blocks (>= 1).
    pub steps: u32,
    /// Selections sampled per step; their mean reward is the baseline (>= 2).
    pub samples: u32,
    /// Adam step size (> 0).
    pub learning_rate: f64,
    /// Hidden units of the policy (>= 1).
    pub features: u32,
    /// Initialisation and sampling: same seed, same policy.
    pub seed: u64,
}

impl Default for PruneNetOptions {
    fn default() -> Self {
        let o = raw_prunenet_options();
        PruneNetOptions {
            ratio: o.ratio,
            steps: o.steps as u32,
            samples: o.samples as u32,
            learning_rate: o.learning_rate,
            features: o.features as u32,
            seed: o.seed,
        }
    }
}

/// The library's default `surgeon_prunenet_options` of the version this binding was
/// generated with.
fn raw_prunenet_options() -> sys::surgeon_prunenet_options {
    let mut o = sys::surgeon_prunenet_options {
        version: 0, steps: 0, ratio: 0.0, samples: 0, features: 0, learning_rate: 0.0, seed: 0,
    };
    // SAFETY: o is a valid struct; the version is the header's.
    expect_ok(unsafe { sys::surgeon_prunenet_options_init(&mut o, sys::SURGEON_PRUNENET_OPTIONS_VERSION) });
    o
}

impl PruneNetOptions {
    pub(crate) fn raw(&self, function: &str) -> Result<sys::surgeon_prunenet_options> {
        Ok(sys::surgeon_prunenet_options {
            ratio: self.ratio,
            steps: c_int_of(function, "steps", self.steps)?,
            samples: c_int_of(function, "samples", self.samples)?,
            learning_rate: self.learning_rate,
            features: c_int_of(function, "features", self.features)?,
            seed: self.seed,
            ..raw_prunenet_options()
        })
    }
}

/// A count as the C API's int: a saturated value would be a valid (huge) request, so a
/// value that does not fit is an error here.
fn c_int_of(function: &str, what: &str, value: u32) -> Result<c_int> {
    c_int::try_from(value)
        .map_err(|_| error(Status::InvalidArgument, function, format!("{} = {} does not fit in int", what, value)))
}

/// A PruneNet policy (arXiv 2501.15296): scores FFN neurons of hidden size
/// [`dim`](Self::dim) from their weights alone. Immutable once made, so it may be shared
/// across threads; it keeps no reference to the context or matrices it was trained on.
pub struct PruneNet {
    raw: Handle<sys::surgeon_prunenet>,
    dim: usize,
}

binding!(PruneNet => surgeon_prunenet);

impl std::fmt::Debug for PruneNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PruneNet").field("dim", &self.dim).finish()
    }
}

impl PruneNet {
    /// An untrained, randomly initialised policy for hidden size `dim`.
    pub fn new(dim: usize, features: u32, seed: u64) -> Result<PruneNet> {
        const F: &str = "surgeon_prunenet_new";
        let (dim, features) = (dim_of(F, dim)?, c_int_of(F, "features", features)?);
        // SAFETY: out is a valid out pointer.
        PruneNet::own(Handle::new(|out| unsafe { sys::surgeon_prunenet_new(out, dim, features, seed) }))
    }

    /// Trains with REINFORCE (reward: minus the mean KS distance of the gate, up and down
    /// spectra after removal) on every block of the model at `path` (llama2.c `.bin` or a
    /// Hugging Face directory).
    pub fn train_model<P: AsRef<Path>>(ctx: &Context, path: P, options: &PruneNetOptions) -> Result<PruneNet> {
        const F: &str = "surgeon_prunenet_train_model";
        let path = c_path(F, path.as_ref())?;
        let options = options.raw(F)?;
        // SAFETY: path is NUL-terminated; options and out are valid pointers.
        PruneNet::own(Handle::new(|out| unsafe { sys::surgeon_prunenet_train_model(out, ctx.as_raw(), path.as_ptr(), &options) }))
    }

    /// Trains on caller blocks, all of the same `dim` (their hidden sizes may differ).
    pub fn train_ffn(ctx: &Context, blocks: &[Ffn<'_>], options: &PruneNetOptions) -> Result<PruneNet> {
        const F: &str = "surgeon_prunenet_train_ffn";
        let first = blocks.first().ok_or_else(|| error(Status::InvalidArgument, F, "blocks must be >= 1".into()))?;
        if let Some((b, other)) = blocks.iter().enumerate().find(|(_, b)| b.dim != first.dim) {
            return Err(error(Status::Shape, F, format!("block {} has dim {}, block 0 has {}", b, other.dim, first.dim)));
        }
        let ffn: Vec<*const f32> = blocks.iter().flat_map(|b| [b.gate.as_ptr(), b.up.as_ptr(), b.down.as_ptr()]).collect();
        let hidden = blocks.iter().map(|b| dim(F, "hidden", b.hidden)).collect::<Result<Vec<i64>>>()?;
        let options = options.raw(F)?;
        let (d, n) = (dim_of(F, first.dim)?, dim(F, "blocks", blocks.len())?);
        // SAFETY: every block's matrices match its hidden size and the common dim (checked
        // in Ffn::new and above); ffn holds 3 · blocks pointers, hidden `blocks` entries.
        PruneNet::own(Handle::new(|out| unsafe {
            sys::surgeon_prunenet_train_ffn(out, ctx.as_raw(), d, n, ffn.as_ptr(), hidden.as_ptr(), &options)
        }))
    }

    /// Loads a policy file written by [`save`](Self::save); a bad file is a `Status::Io` error.
    pub fn load<P: AsRef<Path>>(ctx: &Context, path: P) -> Result<PruneNet> {
        let path = c_path("surgeon_prunenet_load", path.as_ref())?;
        // SAFETY: path is NUL-terminated; out is a valid out pointer.
        PruneNet::own(Handle::new(|out| unsafe { sys::surgeon_prunenet_load(out, ctx.as_raw(), path.as_ptr()) }))
    }

    fn own(raw: Result<Handle<sys::surgeon_prunenet>>) -> Result<PruneNet> {
        let raw = raw?;
        let mut d = 0i64;
        // SAFETY: raw is live; d is a valid out pointer.
        expect_ok(unsafe { sys::surgeon_prunenet_dim(raw.as_ptr(), &mut d) });
        Ok(PruneNet { raw, dim: d as usize })
    }

    /// Writes the policy (JSON); what was written goes to the context's log callback.
    pub fn save<P: AsRef<Path>>(&self, ctx: &Context, path: P) -> Result<()> {
        let path = c_path("surgeon_prunenet_save", path.as_ref())?;
        // SAFETY: const call; path is NUL-terminated.
        check(unsafe { sys::surgeon_prunenet_save(ctx.as_raw(), self.raw.as_ptr(), path.as_ptr()) })
    }

    /// The hidden size the policy applies to.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Keep-probabilities of the block's neurons (its dim must be the policy's).
    pub fn scores(&self, ffn: &Ffn<'_>) -> Result<Vec<f32>> {
        const F: &str = "surgeon_prunenet_scores";
        let (hidden, d) = ffn.dims(F)?;
        let mut out = vec![0f32; ffn.hidden];
        // SAFETY: const call; the matrices match hidden and dim (checked in Ffn::new); out
        // holds hidden floats.
        check(unsafe {
            sys::surgeon_prunenet_scores(self.raw.as_ptr(), ffn.gate.as_ptr(), ffn.up.as_ptr(), ffn.down.as_ptr(), hidden, d,
                                         out.as_mut_ptr())
        })?;
        Ok(out)
    }
}

fn dim_of(function: &str, value: usize) -> Result<i64> {
    dim(function, "dim", value)
}

options_type! {
    /// Model-level structured pruning settings (surgeon_structured_options, experimental C
    /// API) for [`Model::prune_structured`](crate::Model::prune_structured). Defaults: ratio
    /// 0.3, `FfnMethod::PruneNet` with a policy trained for the call (default training
    /// options), uniform per-block ratios, head ratio 0, seed 1.
    StructuredOptions => surgeon_structured_options, surgeon_structured_options_new
}

impl StructuredOptions {

    setters! {
        /// Fraction in [0, 1) of the FFN neurons removed over the whole model.
        fn set_ratio(ratio: f64) => surgeon_structured_options_set_ratio(ratio);
        /// How neurons are scored; `FfnMethod::Random` uses seed + block index per block.
        fn set_method(method: FfnMethod) => surgeon_structured_options_set_method(method.raw());
        /// A PruneNet policy (copied) that scores the neurons instead of one trained for the
        /// call; its hidden size must be the model's. `None` clears.
        fn set_policy(policy: Option<&PruneNet>) => surgeon_structured_options_set_policy(
            policy.map_or(std::ptr::null(), Binding::as_raw));
        /// Training of the policy when none is given (its ratio and seed are replaced by the
        /// options' ratio and seed).
        fn set_training(training: &PruneNetOptions) => surgeon_structured_options_set_training(
            &training.raw("surgeon_structured_options_set_training")?);
        /// true: blocks whose spectrum degrades least are pruned more, the same total removed.
        fn set_spectral_ratios(enable: bool) => surgeon_structured_options_set_spectral_ratios(enable as c_int);
        /// Fraction in [0, 1) of the kv-head groups (with their query heads) removed from
        /// every block, chosen by the o-projection spectrum.
        fn set_head_ratio(head_ratio: f64) => surgeon_structured_options_set_head_ratio(head_ratio);
        fn set_seed(seed: u64) => surgeon_structured_options_set_seed(seed);
    }

    getters! {
        fn ratio() -> f64 = surgeon_structured_options_get_ratio(f64);
        fn head_ratio() -> f64 = surgeon_structured_options_get_head_ratio(f64);
    }
}
