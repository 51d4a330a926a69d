//! Minimal `.npy` reading and writing for little-endian float32 C-order arrays (the
//! fixtures' format and what the samples write). Bad files are `Status::Io` errors.
use std::fs;
use std::path::Path;

use crate::error::{error, Error, Result, Status};

const MAGIC: &[u8] = b"\x93NUMPY";

/// A float32 array: data in row-major order and its shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub data: Vec<f32>,
    pub shape: Vec<usize>,
}

impl Array {
    /// (rows, cols) of a 2-D array.
    pub fn dims2(&self) -> Option<(usize, usize)> {
        match self.shape[..] {
            [rows, cols] => Some((rows, cols)),
            _ => None,
        }
    }
}

fn io_error(path: &Path, what: &str) -> Error {
    error(Status::Io, "npy", format!("{}: {}", path.display(), what))
}

/// The value text after `'key':` in a header dict.
fn field<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let start = header.find(&format!("'{}'", key))? + key.len() + 2;
    let rest = header[start..].trim_start().strip_prefix(':')?;
    Some(rest.trim_start())
}

fn parse_shape(header: &str) -> Option<Vec<usize>> {
    let value = field(header, "shape")?.strip_prefix('(')?;
    let inner = &value[..value.find(')')?];
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().ok())
        .collect()
}

/// Reads a little-endian float32, C-order array.
pub fn read_f32<P: AsRef<Path>>(path: P) -> Result<Array> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|e| io_error(path, &e.to_string()))?;
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(io_error(path, "not a .npy file"));
    }
    let (header_len, header_start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(io_error(path, &format!("unsupported .npy version {}", v))),
    };
    let data_start = header_start + header_len;
    let header = bytes
        .get(header_start..data_start)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| io_error(path, "truncated header"))?;
    let descr = field(header, "descr").unwrap_or("");
    if !descr.starts_with("'<f4'") {
        return Err(io_error(path, &format!("dtype must be '<f4', header is {}", header.trim())));
    }
    if !field(header, "fortran_order").map_or(false, |v| v.starts_with("False")) {
        return Err(io_error(path, "only C-order arrays are supported"));
    }
    let shape = parse_shape(header).ok_or_else(|| io_error(path, "bad shape in header"))?;
    let count = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    let payload = &bytes[data_start..];
    match count {
        Some(n) if n.checked_mul(4) == Some(payload.len()) => {}
        _ => return Err(io_error(path, &format!("payload of {} bytes does not match shape {:?}", payload.len(), shape))),
    }
    let data = payload.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok(Array { data, shape })
}

/// Writes `data` with `shape` as a version 1.0 little-endian float32 C-order array.
pub fn write_f32<P: AsRef<Path>>(path: P, data: &[f32], shape: &[usize]) -> Result<()> {
    let path = path.as_ref();
    if shape.iter().product::<usize>() != data.len() {
        return Err(error(
            Status::Shape,
            "npy",
            format!("{}: {} elements do not fill shape {:?}", path.display(), data.len(), shape),
        ));
    }
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let tuple = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {}, }}", tuple);
    // Pad with spaces so that the data starts at a multiple of 64 bytes; end with '\n'.
    while (MAGIC.len() + 4 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len() + 4 * data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    fs::write(path, out).map_err(|e| io_error(path, &e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_files() {
        let dir = std::env::temp_dir().join(format!("surgeon-npy-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.npy");
        let data: Vec<f32> = (0..6).map(|i| i as f32 * 0.5 - 1.0).collect();
        write_f32(&p, &data, &[2, 3]).unwrap();
        let a = read_f32(&p).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, data);
        assert_eq!((fs::metadata(&p).unwrap().len() as usize - 24) % 64, 0, "data aligned to 64 bytes");

        // Truncated payload and a foreign file are Io errors.
        let bytes = fs::read(&p).unwrap();
        fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
        assert_eq!(read_f32(&p).unwrap_err().status, Status::Io);
        fs::write(&p, b"hello world, not numpy").unwrap();
        assert_eq!(read_f32(&p).unwrap_err().status, Status::Io);
        assert_eq!(read_f32(dir.join("missing.npy")).unwrap_err().status, Status::Io);
        fs::remove_dir_all(&dir).unwrap();
    }
}
