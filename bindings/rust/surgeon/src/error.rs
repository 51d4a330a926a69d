//! Status codes and errors: every failing C call becomes an `Error` carrying the status and
//! the library's message, read on the same thread right after the call.
use std::ffi::CStr;
use std::fmt;

use crate::sys;

/// Declares `Status` from one table of (variant, C constant), so that the mapping both ways
/// and the list of names cannot disagree.
macro_rules! statuses {
    ($($(#[$doc:meta])* $variant:ident = $constant:ident,)*) => {
        /// Why a call failed: the C API's `surgeon_status` without `SURGEON_OK`, and
        /// `Unknown(code)` for a code this binding does not know (a newer library).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Status {
            $($(#[$doc])* $variant,)*
            Unknown(u32),
        }

        impl Status {
            /// Every known status, in the header's order.
            pub const KNOWN: &'static [Status] = &[$(Status::$variant,)*];

            /// The C enumerator this binding maps the status to ("SURGEON_ERR_SHAPE", ...);
            /// `None` for `Unknown`.
            pub fn c_name(self) -> Option<&'static str> {
                match self {
                    $(Status::$variant => Some(stringify!($constant).trim_start_matches("surgeon_status_")),)*
                    Status::Unknown(_) => None,
                }
            }

            /// Maps a C status; `None` for `SURGEON_OK`.
            pub fn from_raw(raw: sys::surgeon_status) -> Option<Status> {
                match raw {
                    sys::surgeon_status_SURGEON_OK => None,
                    $(sys::$constant => Some(Status::$variant),)*
                    other => Some(Status::Unknown(other)),
                }
            }

            /// The C status code.
            pub fn raw(self) -> sys::surgeon_status {
                match self {
                    $(Status::$variant => sys::$constant,)*
                    Status::Unknown(raw) => raw,
                }
            }
        }
    };
}

statuses! {
    /// NULL pointer, option out of range, bad enum value.
    InvalidArgument = surgeon_status_SURGEON_ERR_INVALID_ARGUMENT,
    /// Dimensions that do not agree.
    Shape = surgeon_status_SURGEON_ERR_SHAPE,
    /// NaN/Inf input, Hessian not positive definite.
    Numeric = surgeon_status_SURGEON_ERR_NUMERIC,
    OutOfMemory = surgeon_status_SURGEON_ERR_OUT_OF_MEMORY,
    /// Cannot open/read/write; truncated or corrupt file.
    Io = surgeon_status_SURGEON_ERR_IO,
    /// A valid request this build cannot do.
    Unsupported = surgeon_status_SURGEON_ERR_UNSUPPORTED,
    /// A bug in the library.
    Internal = surgeon_status_SURGEON_ERR_INTERNAL,
    /// The caller's buffer is shorter than the output (the safe API sizes its buffers).
    BufferTooSmall = surgeon_status_SURGEON_ERR_BUFFER_TOO_SMALL,
}

impl Status {
    /// The library's name for the code ("SURGEON_ERR_SHAPE", ...; "SURGEON_ERR_UNKNOWN"
    /// for an unknown one).
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
