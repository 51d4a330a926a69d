//! The Hessian accumulator H = 2/n · Σ xᵀx over n calibration rows.
use std::ffi::CString;
use std::path::Path;

use crate::context::{Context, KeepAlive};
use crate::error::{check, error, expect_ok, Result, Status};
use crate::handle::{binding, Binding, Handle};
use crate::shape::{dim, require_len, rows_of};
use crate::sys;

/// A Hessian accumulator for a layer with `cols` input features.
///
/// Adding rows needs `&mut self`; to add from several threads at once take an
/// [`adder`](Hessian::adder), a `Copy + Send + Sync` view whose adds may run concurrently
/// (the C API allows concurrent adds on one accumulator, but not adds concurrent with
/// reads, which the borrow of the adder rules out). `&Hessian` gives only reads.
pub struct Hessian {
    raw: Handle<sys::surgeon_hessian>,
    cols: usize,
    _ctx: KeepAlive,
}

binding!(Hessian => surgeon_hessian);

/// The raw state of an accumulator (surgeon_hessian_export_raw): what
/// [`merge`](Hessian::merge) adds, for hosts that reduce accumulators over their own
/// transport. For c = cols: `sum_xx` is the upper triangle of S = Σ xᵀx (not scaled by
/// 2/n) row by row, S_ij (j >= i) at index i·c − i·(i−1)/2 + (j − i), c·(c+1)/2 values;
/// `column_sums` holds Σ|x_j| for every column, then Σ x_j, then Σ x_j² (3·c values);
/// `samples` is the row count. Elementwise sums of states, rebuilt with
/// [`from_raw`](Hessian::from_raw), equal merging the accumulators in the same order, bit
/// for bit.
#[derive(Clone, Debug, PartialEq)]
pub struct RawState {
    pub sum_xx: Vec<f32>,
    pub column_sums: Vec<f64>,
    pub samples: u64,
}

/// Per-column activation statistics over all rows added.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivationStats {
    pub abs_mean: Vec<f32>,
    pub mean: Vec<f32>,
    pub sq_mean: Vec<f32>,
}

impl Hessian {
    /// An empty accumulator (cols >= 1).
    pub fn new(ctx: &Context, cols: usize) -> Result<Hessian> {
        const F: &str = "surgeon_hessian_new";
        let cols = dim(F, "cols", cols)?;
        // SAFETY: out is a valid out pointer; ctx.as_raw() is NULL or live.
        Hessian::own(Handle::new(|out| unsafe { sys::surgeon_hessian_new(out, ctx.as_raw(), cols) }), ctx)
    }

    /// An accumulator holding a finished Hessian (cols × cols, symmetric, packed) computed
    /// from `samples` rows.
    pub fn from_matrix(ctx: &Context, hessian: &[f32], cols: usize, samples: u64) -> Result<Hessian> {
        const F: &str = "surgeon_hessian_from_matrix";
        require_len(F, "hessian", hessian.len(), cols, cols)?;
        let samples = i64::try_from(samples)
            .map_err(|_| error(Status::InvalidArgument, F, format!("samples = {} does not fit in int64", samples)))?;
        let cols = dim(F, "cols", cols)?;
        // SAFETY: hessian holds cols × cols floats (checked); out is a valid out pointer.
        let raw = Handle::new(|out| unsafe { sys::surgeon_hessian_from_matrix(out, ctx.as_raw(), hessian.as_ptr(), cols, 0, samples) });
        Hessian::own(raw, ctx)
    }

    /// An accumulator of `cols` input features holding a raw state; NaN/Inf, a negative
    /// diagonal or negative Σ|x| / Σx² are `Status::Numeric` errors.
    pub fn from_raw(ctx: &Context, cols: usize, state: &RawState) -> Result<Hessian> {
        const F: &str = "surgeon_hessian_import_raw";
        if cols == 0 {
            return Err(error(Status::InvalidArgument, F, "cols must be >= 1, got 0".to_string()));
        }
        let triangle = cols.checked_mul(cols + 1).map(|n| n / 2).unwrap_or(usize::MAX);
        require_len(F, "sum_xx", state.sum_xx.len(), 1, triangle)?;
        require_len(F, "column_sums", state.column_sums.len(), 3, cols)?;
        let samples = i64::try_from(state.samples)
            .map_err(|_| error(Status::InvalidArgument, F, format!("samples = {} does not fit in int64", state.samples)))?;
        let c = dim(F, "cols", cols)?;
        // SAFETY: sum_xx holds cols·(cols+1)/2 floats, column_sums 3·cols doubles (checked);
        // out is a valid out pointer.
        let raw = Handle::new(|out| unsafe {
            sys::surgeon_hessian_import_raw(out, ctx.as_raw(), c, state.sum_xx.as_ptr(), state.column_sums.as_ptr(), samples)
        });
        Hessian::own(raw, ctx)
    }

    /// Loads a file written by [`save`](Hessian::save); a bad file is a `Status::Io` error.
    pub fn load<P: AsRef<Path>>(ctx: &Context, path: P) -> Result<Hessian> {
        let path = c_path("surgeon_hessian_load", path.as_ref())?;
        // SAFETY: path is NUL-terminated; out is a valid out pointer.
        Hessian::own(Handle::new(|out| unsafe { sys::surgeon_hessian_load(out, ctx.as_raw(), path.as_ptr()) }), ctx)
    }

    fn own(raw: Result<Handle<sys::surgeon_hessian>>, ctx: &Context) -> Result<Hessian> {
        let raw = raw?;
        let mut cols = 0;
        // SAFETY: raw is live; cols is a valid out pointer.
        expect_ok(unsafe { sys::surgeon_hessian_cols(raw.as_ptr(), &mut cols) });
        Ok(Hessian { raw, cols: cols as usize, _ctx: ctx.keep_alive() })
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Calibration rows added so far.
    pub fn samples(&self) -> u64 {
        let mut out = 0;
        // SAFETY: const call on a live handle.
        expect_ok(unsafe { sys::surgeon_hessian_samples(self.raw.as_ptr(), &mut out) });
        out as u64
    }

    /// Adds rows of x (row-major, `cols` floats per row, no copy). NaN/Inf is a
    /// `Status::Numeric` error and leaves the accumulator unchanged.
    pub fn add_f32(&mut self, x: &[f32]) -> Result<()> {
        self.adder().add_f32(x)
    }

    /// Adds rows given as IEEE half bit patterns.
    pub fn add_f16(&mut self, x: &[u16]) -> Result<()> {
        self.adder().add_f16(x)
    }

    /// Adds rows given as bfloat16 bit patterns.
    pub fn add_bf16(&mut self, x: &[u16]) -> Result<()> {
        self.adder().add_bf16(x)
    }

    /// A view for concurrent adds; the accumulator cannot be read while it lives.
    pub fn adder(&mut self) -> HessianAdder<'_> {
        HessianAdder { raw: &self.raw, cols: self.cols }
    }

    /// self += other: afterwards self equals one accumulator fed both streams.
    pub fn merge(&mut self, other: &Hessian) -> Result<()> {
        // SAFETY: self is exclusively borrowed, other only read; they are distinct handles.
        check(unsafe { sys::surgeon_hessian_merge(self.raw.as_ptr(), other.raw.as_ptr()) })
    }

    /// H as a packed cols × cols row-major matrix (zero while empty).
    pub fn matrix(&self) -> Result<Vec<f32>> {
        let mut out = vec![0.0f32; self.cols * self.cols];
        // SAFETY: out holds cols × cols floats.
        check(unsafe { sys::surgeon_hessian_copy(self.raw.as_ptr(), out.as_mut_ptr(), 0) })?;
        Ok(out)
    }

    pub fn stats(&self) -> Result<ActivationStats> {
        let mut s = ActivationStats {
            abs_mean: vec![0.0; self.cols],
            mean: vec![0.0; self.cols],
            sq_mean: vec![0.0; self.cols],
        };
        // SAFETY: each buffer holds cols floats.
        check(unsafe {
            sys::surgeon_hessian_stats(
                self.raw.as_ptr(),
                s.abs_mean.as_mut_ptr(),
                s.mean.as_mut_ptr(),
                s.sq_mean.as_mut_ptr(),
            )
        })?;
        Ok(s)
    }

    /// A copy of the raw state.
    pub fn export_raw(&self) -> Result<RawState> {
        let mut s = RawState {
            sum_xx: vec![0.0; self.cols * (self.cols + 1) / 2],
            column_sums: vec![0.0; 3 * self.cols],
            samples: 0,
        };
        let mut samples = 0i64;
        // SAFETY: const call; sum_xx holds cols·(cols+1)/2 floats, column_sums 3·cols doubles.
        check(unsafe {
            sys::surgeon_hessian_export_raw(
                self.raw.as_ptr(),
                s.sum_xx.as_mut_ptr(),
                s.column_sums.as_mut_ptr(),
                &mut samples,
            )
        })?;
        s.samples = samples as u64;
        Ok(s)
    }

    /// Writes a versioned, checksummed file.
    pub fn save<P: AsRef<Path>>(&self, path: P) -> Result<()> {
        let path = c_path("surgeon_hessian_save", path.as_ref())?;
        // SAFETY: const call; path is NUL-terminated.
        check(unsafe { sys::surgeon_hessian_save(self.raw.as_ptr(), path.as_ptr()) })
    }
}

/// Concurrent-add view of a [`Hessian`], from [`Hessian::adder`]. `Send + Sync`:
/// surgeon_hessian_add_* may run concurrently on one accumulator, and the exclusive borrow
/// behind the adder keeps every other call away while it lives.
#[derive(Clone, Copy)]
pub struct HessianAdder<'a> {
    raw: &'a Handle<sys::surgeon_hessian>,
    cols: usize,
}

/// The C signature shared by surgeon_hessian_add_f32/_f16/_bf16.
type AddFn<T> = unsafe extern "C" fn(*mut sys::surgeon_hessian, *const T, i64, i64, i64) -> sys::surgeon_status;

impl HessianAdder<'_> {
    pub fn cols(&self) -> usize {
        self.cols
    }

    fn add<T>(&self, function: &str, add: AddFn<T>, x: &[T]) -> Result<()> {
        let rows = dim(function, "rows", rows_of(function, "x", x.len(), self.cols)?)?;
        // SAFETY: x holds rows × cols values (checked); concurrent adds are allowed.
        check(unsafe { add(self.raw.as_ptr(), x.as_ptr(), rows, self.cols as i64, 0) })
    }

    /// As [`Hessian::add_f32`], callable from several threads at once.
    pub fn add_f32(&self, x: &[f32]) -> Result<()> {
        self.add("surgeon_hessian_add_f32", sys::surgeon_hessian_add_f32, x)
    }

    pub fn add_f16(&self, x: &[u16]) -> Result<()> {
        self.add("surgeon_hessian_add_f16", sys::surgeon_hessian_add_f16, x)
    }

    pub fn add_bf16(&self, x: &[u16]) -> Result<()> {
        self.add("surgeon_hessian_add_bf16", sys::surgeon_hessian_add_bf16, x)
    }
}

pub(crate) fn c_path(function: &str, path: &Path) -> Result<CString> {
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes = path.to_string_lossy().into_owned().into_bytes();
    CString::new(bytes)
        .map_err(|_| error(Status::InvalidArgument, function, format!("path {:?} contains a NUL byte", path)))
}
