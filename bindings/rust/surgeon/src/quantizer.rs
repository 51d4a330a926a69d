//! Quantization grid settings (bits, symmetry, groups, MSE clipping, act-order).
use crate::error::{check, Result};
use crate::handle::{binding, getters, read_buffer, setters, Handle};
use crate::shape::dim;
use crate::sys;

/// MSE clipping search: shrink the range by 1 - i/grid for i < max_shrink·grid and keep
/// the grid with least Σ|w - q(w)|^norm.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MseSearch {
    pub norm: f32,
    pub grid: u32,
    pub max_shrink: f32,
}

impl Default for MseSearch {
    /// The reference settings: norm 2.4, grid 100, max shrink 0.8.
    fn default() -> Self {
        MseSearch { norm: 2.4, grid: 100, max_shrink: 0.8 }
    }
}

/// A quantizer configuration (surgeon_quantizer): `Quantizer::new(bits)`, then setters,
/// each checked by the library. Setters take `&mut self`, so a quantizer shared across
/// threads is only read.
pub struct Quantizer {
    raw: Handle<sys::surgeon_quantizer>,
}

binding!(Quantizer => surgeon_quantizer);

fn c_int(v: u32) -> i32 {
    // Out-of-range values stay out of range, so the library reports them.
    i32::try_from(v).unwrap_or(i32::MAX)
}

impl Quantizer {
    /// Defaults: symmetric, per output channel, min/max range, natural column order.
    pub fn new(bits: u32) -> Result<Quantizer> {
        // SAFETY: out is a valid out pointer.
        Ok(Quantizer { raw: Handle::new(|out| unsafe { sys::surgeon_quantizer_new(out, c_int(bits)) })? })
    }

    setters! {
        fn set_bits(bits: u32) => surgeon_quantizer_set_bits(c_int(bits));
        /// true (default): zero point at the middle of the grid; false: asymmetric min/max grid.
        fn set_symmetric(symmetric: bool) => surgeon_quantizer_set_symmetric(symmetric as i32);
        /// One grid per row and per `group_size` columns; 0 (default) = one grid per row.
        fn set_group_size(group_size: usize) => surgeon_quantizer_set_group_size(
            dim("surgeon_quantizer_set_group_size", "group_size", group_size)?);
        /// GPTQ only: process columns by descending Hessian diagonal.
        fn set_act_order(enable: bool) => surgeon_quantizer_set_act_order(enable as i32);
        /// GPTQ with groups: fix every group's grid up front on the dense weight.
        fn set_static_groups(enable: bool) => surgeon_quantizer_set_static_groups(enable as i32);
    }

    /// MSE clipping search; `None` (default): the min/max range.
    pub fn set_mse(&mut self, search: Option<MseSearch>) -> Result<&mut Self> {
        let (enable, m) = (search.is_some() as i32, search.unwrap_or_default());
        // SAFETY: exclusive access to a live handle.
        check(unsafe { sys::surgeon_quantizer_set_mse(self.raw.as_ptr(), enable, m.norm, c_int(m.grid), m.max_shrink) })?;
        Ok(self)
    }

    /// Mixed precision: row r of the weight quantized at `row_bits[r]` bits (in [1, 8]),
    /// replacing the uniform width; the weight given to a solver call must have
    /// row_bits.len() rows. Copied. An empty slice clears them.
    pub fn set_row_bits(&mut self, row_bits: &[u32]) -> Result<&mut Self> {
        let rows = dim("surgeon_quantizer_set_row_bits", "rows", row_bits.len())?;
        let bits = if row_bits.is_empty() { std::ptr::null() } else { row_bits.as_ptr() as *const i32 };
        // SAFETY: exclusive access; bits holds rows int32 (u32 of the same layout), copied.
        check(unsafe { sys::surgeon_quantizer_set_row_bits(self.raw.as_ptr(), bits, rows) })?;
        Ok(self)
    }

    /// The per-row widths (empty when none are set).
    pub fn row_bits(&self) -> Result<Vec<u32>> {
        // SAFETY: const call; buf holds cap int32 (u32 of the same layout).
        read_buffer(|buf: *mut u32, cap, needed| unsafe {
            sys::surgeon_quantizer_get_row_bits(self.raw.as_ptr(), buf as *mut i32, cap, needed)
        })
    }

    getters! {
        fn bits() -> u32 = surgeon_quantizer_get_bits(i32);
        /// Columns per grid; 0 = one grid per row.
        fn group_size() -> usize = surgeon_quantizer_get_group_size(i64);
    }
}

impl std::fmt::Debug for Quantizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quantizer").field("bits", &self.bits()).field("group_size", &self.group_size()).finish()
    }
}
