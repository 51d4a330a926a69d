//! Length checks done in Rust before a C call: the C API takes raw pointers plus
//! dimensions, so a slice shorter than its dimensions must never reach it.
use crate::error::{error, Result, Status};

/// A dimension as the C API's int64_t.
pub(crate) fn dim(function: &str, what: &str, value: usize) -> Result<i64> {
    i64::try_from(value).map_err(|_| {
        error(Status::InvalidArgument, function, format!("{} = {} does not fit in int64", what, value))
    })
}

/// rows of a tightly packed matrix of `len` elements with `cols` columns.
pub(crate) fn rows_of(function: &str, what: &str, len: usize, cols: usize) -> Result<usize> {
    if cols == 0 || len % cols != 0 {
        return Err(error(
            Status::Shape,
            function,
            format!("{} has {} elements, not a whole number of rows of {} columns", what, len, cols),
        ));
    }
    Ok(len / cols)
}

/// `len` must equal rows × cols exactly.
pub(crate) fn require_len(function: &str, what: &str, len: usize, rows: usize, cols: usize) -> Result<()> {
    match rows.checked_mul(cols) {
        Some(n) if n == len => Ok(()),
        _ => Err(error(
            Status::Shape,
            function,
            format!("{} has {} elements, expected {} x {}", what, len, rows, cols),
        )),
    }
}
