//! Keep (1) / prune (0) flags of a rows × cols weight.
use crate::error::{check, error, expect_ok, Result, Status};
use crate::handle::{binding, Handle};
use crate::shape::{dim, require_len};
use crate::sys;

/// A mask (surgeon_mask); only read through `&Mask`.
pub struct Mask {
    raw: Handle<sys::surgeon_mask>,
}

binding!(Mask => surgeon_mask);

impl Mask {
    /// A mask that keeps everything.
    pub fn new(rows: usize, cols: usize) -> Result<Mask> {
        const F: &str = "surgeon_mask_new";
        let (rows, cols) = (dim(F, "rows", rows)?, dim(F, "cols", cols)?);
        // SAFETY: out is a valid out pointer.
        Ok(Mask { raw: Handle::new(|out| unsafe { sys::surgeon_mask_new(out, rows, cols) })? })
    }

    /// From rows × cols bytes, non-zero = keep.
    pub fn from_bytes(keep: &[u8], rows: usize, cols: usize) -> Result<Mask> {
        const F: &str = "surgeon_mask_from_bytes";
        require_len(F, "keep", keep.len(), rows, cols)?;
        let (rows, cols) = (dim(F, "rows", rows)?, dim(F, "cols", cols)?);
        // SAFETY: keep holds rows × cols bytes (checked); out is a valid out pointer.
        Ok(Mask { raw: Handle::new(|out| unsafe { sys::surgeon_mask_from_bytes(out, keep.as_ptr(), rows, cols) })? })
    }

    pub(crate) fn empty() -> Result<Mask> {
        Mask::new(0, 0)
    }

    pub(crate) fn from_handle(raw: Handle<sys::surgeon_mask>) -> Mask {
        Mask { raw }
    }

    pub(crate) fn as_mut_raw(&mut self) -> *mut sys::surgeon_mask {
        self.raw.as_ptr()
    }

    /// (rows, cols).
    pub fn shape(&self) -> (usize, usize) {
        let (mut rows, mut cols) = (0i64, 0i64);
        // SAFETY: const call; out pointers valid.
        expect_ok(unsafe { sys::surgeon_mask_shape(self.raw.as_ptr(), &mut rows, &mut cols) });
        (rows as usize, cols as usize)
    }

    /// Fraction of pruned entries.
    pub fn sparsity(&self) -> f64 {
        let mut out = 0.0;
        // SAFETY: const call; out pointer valid.
        expect_ok(unsafe { sys::surgeon_mask_sparsity(self.raw.as_ptr(), &mut out) });
        out
    }

    /// Whether every row has at least n pruned entries in each group of m columns.
    pub fn check_nm(&self, n: u32, m: u32) -> Result<bool> {
        let mut ok = 0;
        let (n, m) = (i32::try_from(n).unwrap_or(-1), i32::try_from(m).unwrap_or(-1));
        // SAFETY: const call; ok is a valid out pointer.
        check(unsafe { sys::surgeon_mask_check_nm(self.raw.as_ptr(), n, m, &mut ok) })?;
        Ok(ok != 0)
    }

    /// rows × cols bytes, 1 = keep, 0 = prune.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let (rows, cols) = self.shape();
        let mut out = vec![0u8; rows * cols];
        // SAFETY: out holds rows × cols bytes.
        check(unsafe { sys::surgeon_mask_to_bytes(self.raw.as_ptr(), out.as_mut_ptr()) })?;
        Ok(out)
    }

    /// Packed bits, LSB first in row-major order, 1 = keep; (rows·cols + 7) / 8 bytes.
    pub fn to_bits(&self) -> Result<Vec<u8>> {
        let (rows, cols) = self.shape();
        let mut out = vec![0u8; (rows * cols + 7) / 8];
        // SAFETY: out holds (rows·cols + 7) / 8 bytes.
        check(unsafe { sys::surgeon_mask_to_bits(self.raw.as_ptr(), out.as_mut_ptr()) })?;
        Ok(out)
    }

    /// Zeroes the pruned entries of w (rows × cols, packed).
    pub fn apply(&self, w: &mut [f32]) -> Result<()> {
        const F: &str = "surgeon_mask_apply";
        let (rows, cols) = self.shape();
        if w.len() != rows * cols {
            return Err(error(Status::Shape, F, format!("w has {} elements, the mask is {} x {}", w.len(), rows, cols)));
        }
        // SAFETY: w holds rows × cols floats (checked); the mask is only read.
        check(unsafe { sys::surgeon_mask_apply(self.raw.as_ptr(), w.as_mut_ptr(), rows as i64, cols as i64, 0) })
    }
}
