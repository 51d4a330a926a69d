//! The one ownership mechanism of every C handle: [`Handle`] holds a non-NULL pointer,
//! frees it exactly once on drop with the type's `surgeon_X_free` ([`Free`]), and is
//! `Send + Sync`. Each safe type (Mask, Solver, Model, ...) is a struct around a `Handle`
//! and implements [`Binding`] to expose the raw pointer to callers of `surgeon::sys`.
use std::ptr::{self, NonNull};

use crate::error::{check, Result};
use crate::sys;

/// A C handle type with its free function (which accepts NULL and never fails).
///
/// # Safety
/// `free` must release a pointer made by the matching `surgeon_X_new`-style constructor.
pub unsafe trait Free {
    /// Releases `raw`, which must not be used afterwards.
    ///
    /// # Safety
    /// `raw` is NULL or a live handle of this type owned by the caller.
    unsafe fn free(raw: *mut Self);
}

macro_rules! free_with {
    ($($raw:ident => $free:ident),* $(,)?) => {
        $(
            // SAFETY: the header pairs each handle type with its free function.
            unsafe impl Free for sys::$raw {
                unsafe fn free(raw: *mut Self) {
                    sys::$free(raw)
                }
            }
        )*
    };
}

free_with! {
    surgeon_context => surgeon_context_free,
    surgeon_hessian => surgeon_hessian_free,
    surgeon_quantizer => surgeon_quantizer_free,
    surgeon_mask => surgeon_mask_free,
    surgeon_qresult => surgeon_qresult_free,
    surgeon_solver => surgeon_solver_free,
    surgeon_importance => surgeon_importance_free,
    surgeon_prunenet => surgeon_prunenet_free,
    surgeon_model => surgeon_model_free,
}

/// An owned, non-NULL C handle, freed once on drop.
pub(crate) struct Handle<R: Free> {
    raw: NonNull<R>,
}

// SAFETY: the C API lets a handle be used from any thread and allows concurrent const calls
// on one handle; the safe types make every other call through `&mut self` (or, for the
// solver calls the header lists as concurrent, through `&self`).
unsafe impl<R: Free> Send for Handle<R> {}
unsafe impl<R: Free> Sync for Handle<R> {}

impl<R: Free> Drop for Handle<R> {
    fn drop(&mut self) {
        // SAFETY: we own raw and free it once.
        unsafe { R::free(self.raw.as_ptr()) }
    }
}

impl<R: Free> Handle<R> {
    /// Runs a C constructor with an out pointer and takes ownership of what it made.
    pub(crate) fn new(make: impl FnOnce(*mut *mut R) -> sys::surgeon_status) -> Result<Handle<R>> {
        let mut raw = ptr::null_mut();
        check(make(&mut raw))?;
        Ok(Handle { raw: NonNull::new(raw).expect("surgeon returned OK with a NULL handle") })
    }

    /// The pointer for C calls. Mutable because the C API takes `T*` for calls that change
    /// the handle; callers keep to its rules (exclusive access through `&mut self`).
    pub(crate) fn as_ptr(&self) -> *mut R {
        self.raw.as_ptr()
    }
}

/// A safe type's C handle, for calling `surgeon::sys` functions the safe API does not cover.
pub trait Binding {
    type Raw;
    /// The handle; owned by `self`, valid while `self` lives. NULL only for
    /// `Context::default()`, which the C API reads as "the defaults".
    fn as_raw(&self) -> *const Self::Raw;
}

/// Implements [`Binding`] for a struct whose `raw` field is a [`Handle`].
macro_rules! binding {
    ($($wrapper:ident => $raw:ident),* $(,)?) => {
        $(
            impl crate::handle::Binding for $wrapper {
                type Raw = crate::sys::$raw;
                fn as_raw(&self) -> *const crate::sys::$raw {
                    self.raw.as_ptr()
                }
            }
        )*
    };
}
pub(crate) use binding;

/// Setters of an options-like handle (the struct's `raw` field): each takes `&mut self`,
/// calls its C setter, which checks the value, and returns `&mut Self` for chaining.
macro_rules! setters {
    ($($(#[$doc:meta])* fn $name:ident($arg:ident: $ty:ty) => $c:ident($($value:expr),*);)*) => {
        $(
            $(#[$doc])*
            pub fn $name(&mut self, $arg: $ty) -> crate::Result<&mut Self> {
                // SAFETY: exclusive access to a live handle; the values are plain data.
                crate::error::check(unsafe { crate::sys::$c(self.raw.as_ptr(), $($value),*) })?;
                Ok(self)
            }
        )*
    };
}
pub(crate) use setters;
