//! Integer codes, grids and column order of a quantized weight.
use std::ptr::{self, NonNull};

use crate::error::{check, expect_ok, Result};
use crate::sys;

/// w[r][j] = scales[r][g] · (codes[r][j] - zeros[r][g]) with g = g_idx[j]; codes are
/// rows × cols in the original column order, scales and zeros rows × groups, g_idx and
/// perm one entry per column (perm[k] = original column processed k-th).
pub struct QuantResult {
    raw: NonNull<sys::surgeon_qresult>,
}

// SAFETY: produced by one call, then only read (const calls).
unsafe impl Send for QuantResult {}
unsafe impl Sync for QuantResult {}

impl Drop for QuantResult {
    fn drop(&mut self) {
        // SAFETY: we own raw.
        unsafe { sys::surgeon_qresult_free(self.raw.as_ptr()) }
    }
}

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
        let mut raw = ptr::null_mut();
        // SAFETY: raw is a valid out pointer.
        check(unsafe { sys::surgeon_qresult_new(&mut raw) })?;
        Ok(QuantResult { raw: NonNull::new(raw).expect("surgeon returned OK with a NULL handle") })
    }

    pub(crate) fn as_mut_raw(&mut self) -> *mut sys::surgeon_qresult {
        self.raw.as_ptr()
    }

    pub fn as_raw(&self) -> *const sys::surgeon_qresult {
        self.raw.as_ptr()
    }

    pub fn shape(&self) -> QuantShape {
        let (mut rows, mut cols, mut groups, mut bits) = (0i64, 0i64, 0i64, 0i32);
        // SAFETY: const call; all out pointers valid.
        expect_ok(unsafe { sys::surgeon_qresult_shape(self.raw.as_ptr(), &mut rows, &mut cols, &mut groups, &mut bits) });
        QuantShape { rows: rows as usize, cols: cols as usize, groups: groups as usize, bits: bits as u32 }
    }

    /// rows × cols codes in the original column order.
    pub fn codes(&self) -> Result<Vec<u8>> {
        let s = self.shape();
        let mut out = vec![0u8; s.rows * s.cols];
        // SAFETY: out holds rows × cols bytes.
        check(unsafe { sys::surgeon_qresult_codes(self.raw.as_ptr(), out.as_mut_ptr()) })?;
        Ok(out)
    }

    /// rows × groups scales.
    pub fn scales(&self) -> Result<Vec<f32>> {
        let s = self.shape();
        let mut out = vec![0f32; s.rows * s.groups];
        // SAFETY: out holds rows × groups floats.
        check(unsafe { sys::surgeon_qresult_scales(self.raw.as_ptr(), out.as_mut_ptr()) })?;
        Ok(out)
    }

    /// rows × groups zero points.
    pub fn zeros(&self) -> Result<Vec<f32>> {
        let s = self.shape();
        let mut out = vec![0f32; s.rows * s.groups];
        // SAFETY: out holds rows × groups floats.
        check(unsafe { sys::surgeon_qresult_zeros(self.raw.as_ptr(), out.as_mut_ptr()) })?;
        Ok(out)
    }

    /// Group of each column.
    pub fn g_idx(&self) -> Result<Vec<i32>> {
        let mut out = vec![0i32; self.shape().cols];
        // SAFETY: out holds cols ints.
        check(unsafe { sys::surgeon_qresult_g_idx(self.raw.as_ptr(), out.as_mut_ptr()) })?;
        Ok(out)
    }

    /// Column processing order (identity without act-order).
    pub fn perm(&self) -> Result<Vec<i32>> {
        let mut out = vec![0i32; self.shape().cols];
        // SAFETY: out holds cols ints.
        check(unsafe { sys::surgeon_qresult_perm(self.raw.as_ptr(), out.as_mut_ptr()) })?;
        Ok(out)
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
