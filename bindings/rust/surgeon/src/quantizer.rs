//! Quantization grid settings (bits, symmetry, groups, MSE clipping, act-order).
use std::ptr::{self, NonNull};

use crate::error::{check, expect_ok, Result};
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

/// A quantizer configuration; immutable once built, so it may be shared across threads.
pub struct Quantizer {
    raw: NonNull<sys::surgeon_quantizer>,
}

// SAFETY: only const calls are made through &Quantizer.
unsafe impl Send for Quantizer {}
unsafe impl Sync for Quantizer {}

impl Drop for Quantizer {
    fn drop(&mut self) {
        // SAFETY: we own raw.
        unsafe { sys::surgeon_quantizer_free(self.raw.as_ptr()) }
    }
}

impl Quantizer {
    /// Defaults: symmetric, per output channel, min/max range, natural column order.
    pub fn new(bits: u32) -> Result<Quantizer> {
        Quantizer::builder(bits).build()
    }

    pub fn builder(bits: u32) -> QuantizerBuilder {
        QuantizerBuilder {
            bits,
            symmetric: true,
            group_size: 0,
            mse: None,
            act_order: false,
            static_groups: false,
        }
    }

    pub fn bits(&self) -> u32 {
        let mut out = 0;
        // SAFETY: const call on a live handle.
        expect_ok(unsafe { sys::surgeon_quantizer_get_bits(self.raw.as_ptr(), &mut out) });
        out as u32
    }

    /// Columns per grid; 0 = one grid per row.
    pub fn group_size(&self) -> usize {
        let mut out = 0;
        // SAFETY: const call on a live handle.
        expect_ok(unsafe { sys::surgeon_quantizer_get_group_size(self.raw.as_ptr(), &mut out) });
        out as usize
    }

    pub fn as_raw(&self) -> *const sys::surgeon_quantizer {
        self.raw.as_ptr()
    }
}

impl std::fmt::Debug for Quantizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quantizer").field("bits", &self.bits()).field("group_size", &self.group_size()).finish()
    }
}

/// Options of a [`Quantizer`]; the library validates them in [`build`](Self::build).
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizerBuilder {
    bits: u32,
    symmetric: bool,
    group_size: usize,
    mse: Option<MseSearch>,
    act_order: bool,
    static_groups: bool,
}

fn c_int(v: u32) -> i32 {
    // Out-of-range values stay out of range, so the library reports them.
    i32::try_from(v).unwrap_or(i32::MAX)
}

impl QuantizerBuilder {
    /// true: zero point at the middle of the grid; false: asymmetric min/max grid.
    pub fn symmetric(mut self, symmetric: bool) -> Self {
        self.symmetric = symmetric;
        self
    }

    /// One grid per row and per `group_size` columns; 0 = one grid per row.
    pub fn group_size(mut self, group_size: usize) -> Self {
        self.group_size = group_size;
        self
    }

    pub fn mse(mut self, search: MseSearch) -> Self {
        self.mse = Some(search);
        self
    }

    /// GPTQ only: process columns by descending Hessian diagonal.
    pub fn act_order(mut self, enable: bool) -> Self {
        self.act_order = enable;
        self
    }

    /// GPTQ with groups: fix every group's grid up front on the dense weight.
    pub fn static_groups(mut self, enable: bool) -> Self {
        self.static_groups = enable;
        self
    }

    pub fn build(&self) -> Result<Quantizer> {
        let mut raw = ptr::null_mut();
        // SAFETY: raw is a valid out pointer.
        check(unsafe { sys::surgeon_quantizer_new(&mut raw, c_int(self.bits)) })?;
        let q = Quantizer { raw: NonNull::new(raw).expect("surgeon returned OK with a NULL handle") };
        let p = q.raw.as_ptr();
        let group_size = dim("surgeon_quantizer_set_group_size", "group_size", self.group_size)?;
        // SAFETY: q is live and not shared yet; Drop frees it if a setter fails.
        unsafe {
            check(sys::surgeon_quantizer_set_symmetric(p, self.symmetric as i32))?;
            check(sys::surgeon_quantizer_set_group_size(p, group_size))?;
            if let Some(m) = self.mse {
                check(sys::surgeon_quantizer_set_mse(p, 1, m.norm, c_int(m.grid), m.max_shrink))?;
            }
            check(sys::surgeon_quantizer_set_act_order(p, self.act_order as i32))?;
            check(sys::surgeon_quantizer_set_static_groups(p, self.static_groups as i32))?;
        }
        Ok(q)
    }
}
