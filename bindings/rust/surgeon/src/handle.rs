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
    surgeon_solver_options => surgeon_solver_options_free,
    surgeon_prune_options => surgeon_prune_options_free,
    surgeon_prune_result => surgeon_prune_result_free,
    surgeon_mixed_options => surgeon_mixed_options_free,
    surgeon_structured_options => surgeon_structured_options_free,
    surgeon_generate_options => surgeon_generate_options_free,
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

    /// Takes ownership of `raw`; `None` when it is NULL.
    ///
    /// # Safety
    /// `raw` is NULL or a live handle that nothing else frees.
    pub(crate) unsafe fn from_raw(raw: *mut R) -> Option<Handle<R>> {
        NonNull::new(raw).map(|raw| Handle { raw })
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
    ($($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) => $c:ident($($value:expr),*);)*) => {
        $(
            $(#[$doc])*
            pub fn $name(&mut self, $($arg: $ty),*) -> crate::Result<&mut Self> {
                // SAFETY: exclusive access to a live handle; pointer arguments (handles,
                // structs) are live for the call, and the library copies what it keeps.
                crate::error::check(unsafe { crate::sys::$c(self.raw.as_ptr(), $($value),*) })?;
                Ok(self)
            }
        )*
    };
}
pub(crate) use setters;

/// A variable-length output by the C API's buffer convention `(buf, cap, needed)`: a size
/// query (NULL, 0), then the call with a buffer of the size it reported. The outputs are
/// functions of the call's inputs, so the second call fits; should it report a larger size
/// all the same, it is asked once more with that size.
pub(crate) fn read_buffer<T: Clone + Default>(
    mut call: impl FnMut(*mut T, usize, &mut usize) -> sys::surgeon_status,
) -> Result<Vec<T>> {
    let mut needed = 0usize;
    check(call(ptr::null_mut(), 0, &mut needed))?;
    for _ in 0..2 {
        let mut buf = vec![T::default(); needed];
        let status = call(buf.as_mut_ptr(), buf.len(), &mut needed);
        if status != sys::surgeon_status_SURGEON_ERR_BUFFER_TOO_SMALL {
            check(status)?;
            buf.truncate(needed);
            return Ok(buf);
        }
    }
    check(sys::surgeon_status_SURGEON_ERR_BUFFER_TOO_SMALL).map(|_| Vec::new())
}

/// NUL-terminated UTF-8 text by the buffer convention (`needed` counts the NUL).
pub(crate) fn read_text(
    function: &str,
    mut call: impl FnMut(*mut std::os::raw::c_char, usize, &mut usize) -> sys::surgeon_status,
) -> Result<String> {
    let mut bytes = read_buffer(|buf: *mut u8, cap, needed| call(buf as *mut _, cap, needed))?;
    if bytes.last() == Some(&0) {
        bytes.pop();
    }
    String::from_utf8(bytes).map_err(|e| crate::error::error(crate::Status::Internal, function, format!("not UTF-8: {}", e)))
}

/// Declares an options-like safe type (struct, [`Binding`], and `new()` = the library's
/// defaults) around a C handle made by `$new(&out)`.
macro_rules! options_type {
    ($(#[$doc:meta])* $name:ident => $raw:ident, $new:ident) => {
        $(#[$doc])*
        pub struct $name {
            raw: crate::handle::Handle<crate::sys::$raw>,
        }

        crate::handle::binding!($name => $raw);

        impl $name {
            /// The library's defaults.
            pub fn new() -> crate::Result<$name> {
                // SAFETY: out is a valid out pointer.
                Ok($name { raw: crate::handle::Handle::new(|out| unsafe { crate::sys::$new(out) })? })
            }
        }
    };
}
pub(crate) use options_type;

/// Getters of a handle (the struct's `raw` field) that read one value of C type `$c_ty`;
/// they cannot fail on a live handle.
macro_rules! getters {
    ($($(#[$doc:meta])* fn $name:ident() -> $ty:ty = $c:ident($c_ty:ty);)*) => {
        $(
            $(#[$doc])*
            pub fn $name(&self) -> $ty {
                let mut out = <$c_ty>::default();
                // SAFETY: const call on a live handle; out is a valid out pointer.
                crate::error::expect_ok(unsafe { crate::sys::$c(self.raw.as_ptr(), &mut out) });
                out as $ty
            }
        )*
    };
}
pub(crate) use getters;
