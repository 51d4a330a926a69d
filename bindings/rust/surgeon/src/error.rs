//! Status codes and errors: every failing C call becomes an `Error` carrying the status and
//! the library's message, read on the same thread right after the call.
use std::ffi::CStr;
use std::fmt;

use crate::sys;

/// Why a call failed (the C API's `surgeon_status` without `SURGEON_OK`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// NULL pointer, option out of range, bad enum value.
    InvalidArgument,
    /// Dimensions that do not agree.
    Shape,
    /// NaN/Inf input, Hessian not positive definite.
    Numeric,
    OutOfMemory,
    /// Cannot open/read/write; truncated or corrupt file.
    Io,
    /// A valid request this build cannot do.
    Unsupported,
    /// A bug in the library.
    Internal,
    /// A code this binding does not know (a newer library).
    Unknown(u32),
}

impl Status {
    /// Maps a C status; `None` for `SURGEON_OK`.
    pub fn from_raw(raw: sys::surgeon_status) -> Option<Status> {
        Some(match raw {
            sys::surgeon_status_SURGEON_OK => return None,
            sys::surgeon_status_SURGEON_ERR_INVALID_ARGUMENT => Status::InvalidArgument,
            sys::surgeon_status_SURGEON_ERR_SHAPE => Status::Shape,
            sys::surgeon_status_SURGEON_ERR_NUMERIC => Status::Numeric,
            sys::surgeon_status_SURGEON_ERR_OUT_OF_MEMORY => Status::OutOfMemory,
            sys::surgeon_status_SURGEON_ERR_IO => Status::Io,
            sys::surgeon_status_SURGEON_ERR_UNSUPPORTED => Status::Unsupported,
            sys::surgeon_status_SURGEON_ERR_INTERNAL => Status::Internal,
            other => Status::Unknown(other),
        })
    }

    /// The C status code.
    pub fn raw(self) -> sys::surgeon_status {
        match self {
            Status::InvalidArgument => sys::surgeon_status_SURGEON_ERR_INVALID_ARGUMENT,
            Status::Shape => sys::surgeon_status_SURGEON_ERR_SHAPE,
            Status::Numeric => sys::surgeon_status_SURGEON_ERR_NUMERIC,
            Status::OutOfMemory => sys::surgeon_status_SURGEON_ERR_OUT_OF_MEMORY,
            Status::Io => sys::surgeon_status_SURGEON_ERR_IO,
            Status::Unsupported => sys::surgeon_status_SURGEON_ERR_UNSUPPORTED,
            Status::Internal => sys::surgeon_status_SURGEON_ERR_INTERNAL,
            Status::Unknown(raw) => raw,
        }
    }

    /// The library's name for the code ("SURGEON_ERR_SHAPE", ...).
    pub fn name(self) -> &'static str {
        // SAFETY: surgeon_status_string returns a static NUL-terminated string, never NULL.
        let name = unsafe { CStr::from_ptr(sys::surgeon_status_string(self.raw())) };
        name.to_str().unwrap_or("SURGEON_ERR_UNKNOWN")
    }
}

/// A failed call: its status and a message naming the C function and the bad value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub status: Status,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.status.name())
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Turns a C status into a Result. Must be called right after the C call, on its thread:
/// the message lives in thread-local storage until the next failing call.
pub(crate) fn check(raw: sys::surgeon_status) -> Result<()> {
    match Status::from_raw(raw) {
        None => Ok(()),
        Some(status) => {
            // SAFETY: never NULL, NUL-terminated, valid until the next failing call here.
            let message = unsafe { CStr::from_ptr(sys::surgeon_last_error()) };
            Err(Error { status, message: message.to_string_lossy().into_owned() })
        }
    }
}

/// For calls that can only fail on a library bug (getters on a valid handle).
pub(crate) fn expect_ok(raw: sys::surgeon_status) {
    if let Err(e) = check(raw) {
        panic!("surgeon: unexpected failure: {}", e);
    }
}

/// An error detected by the binding before calling C, worded like the library's own.
pub(crate) fn error(status: Status, function: &str, what: String) -> Error {
    Error { status, message: format!("{}: {}", function, what) }
}
