//! Integer codes, grids and column order of a quantized weight.
use crate::error::{check, expect_ok, Result};
use crate::handle::{binding, Handle};
use crate::sys;

/// `w[r][j] = scales[r][g] · (codes[r][j] - zeros[r][g])` with `g = g_idx[j]`; codes are
/// rows × cols in the original column order, scales and zeros rows × groups, g_idx and
/// perm one entry per column (`perm[k]` = original column processed k-th).
pub struct QuantResult {
    raw: Handle<sys::surgeon_qresult>,
}

binding!(QuantResult => surgeon_qresult);

/// Dimensions of a [`QuantResult`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantShape {
    pub rows: usize,
    pub cols: usize,
    pub groups: usize,
    pub bits: u32,
}

impl QuantResult {
    pub(crate) fn new() -> Result<QuantResult> {
        // SAFETY: out is a valid out pointer.
        Ok(QuantResult { raw: Handle::new(|out| unsafe { sys::surgeon_qresult_new(out) })? })
    }

    pub(crate) fn from_handle(raw: Handle<sys::surgeon_qresult>) -> QuantResult {
        QuantResult { raw }
    }

    pub(crate) fn as_mut_raw(&mut self) -> *mut sys::surgeon_qresult {
        self.raw.as_ptr()
    }

    pub fn shape(&self) -> QuantShape {
        let (mut rows, mut cols, mut groups, mut bits) = (0i64, 0i64, 0i64, 0i32);
        // SAFETY: const call; all out pointers valid.
        expect_ok(unsafe { sys::surgeon_qresult_shape(self.raw.as_ptr(), &mut rows, &mut cols, &mut groups, &mut bits) });
        QuantShape { rows: rows as usize, cols: cols as usize, groups: groups as usize, bits: bits as u32 }
    }

    /// `len` values written by a C accessor that fills a caller buffer of that length.
    fn fill<T: Clone + Default>(&self, len: usize, get: unsafe extern "C" fn(*const sys::surgeon_qresult, *mut T) -> sys::surgeon_status) -> Result<Vec<T>> {
        let mut out = vec![T::default(); len];
        // SAFETY: const call; out holds the `len` values the accessor writes (from shape()).
        check(unsafe { get(self.raw.as_ptr(), out.as_mut_ptr()) })?;
        Ok(out)
    }

    /// rows × cols codes in the original column order.
    pub fn codes(&self) -> Result<Vec<u8>> {
        let s = self.shape();
        self.fill(s.rows * s.cols, sys::surgeon_qresult_codes)
    }

    /// rows × groups scales.
    pub fn scales(&self) -> Result<Vec<f32>> {
        let s = self.shape();
        self.fill(s.rows * s.groups, sys::surgeon_qresult_scales)
    }

    /// rows × groups zero points.
    pub fn zeros(&self) -> Result<Vec<f32>> {
        let s = self.shape();
        self.fill(s.rows * s.groups, sys::surgeon_qresult_zeros)
    }

    /// Group of each column.
    pub fn g_idx(&self) -> Result<Vec<i32>> {
        self.fill(self.shape().cols, sys::surgeon_qresult_g_idx)
    }

    /// Column processing order (identity without act-order).
    pub fn perm(&self) -> Result<Vec<i32>> {
        self.fill(self.shape().cols, sys::surgeon_qresult_perm)
    }

    /// The float weight the codes represent (rows × cols).
    pub fn dequantize(&self) -> Result<Vec<f32>> {
        let s = self.shape();
        let mut out = vec![0f32; s.rows * s.cols];
        // SAFETY: out holds rows × cols floats, packed (ld 0).
        check(unsafe { sys::surgeon_qresult_dequantize(self.raw.as_ptr(), out.as_mut_ptr(), 0) })?;
        Ok(out)
    }
}
