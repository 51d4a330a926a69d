//! Shared test helpers: the stories260K block-2 wq fixture (W, H, X and the reference
//! implementation's errors from reference.json).
#![allow(dead_code)]

use std::path::PathBuf;

use surgeon::npy;

pub const FIXTURE: &str = "stories260K_block2_wq";

pub fn fixtures_dir() -> PathBuf {
    match std::env::var_os("SURGEON_FIXTURES_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../tests/fixtures"),
    }
}

pub struct Fixture {
    pub w: Vec<f32>,
    pub rows: usize,
    pub cols: usize,
    pub h: Vec<f32>,
    pub x: Vec<f32>,
    pub tokens: usize,
    pub reference_json: String,
}

pub fn load() -> Fixture {
    let dir = fixtures_dir().join(FIXTURE);
    let w = npy::read_f32(dir.join("W.npy")).expect("W.npy");
    let h = npy::read_f32(dir.join("H.npy")).expect("H.npy");
    let x = npy::read_f32(dir.join("X.npy")).expect("X.npy");
    let (rows, cols) = w.dims2().expect("W is 2-D");
    assert_eq!(h.dims2(), Some((cols, cols)));
    let (tokens, x_cols) = x.dims2().expect("X is 2-D");
    assert_eq!(x_cols, cols);
    let reference_json = std::fs::read_to_string(dir.join("reference.json")).expect("reference.json");
    Fixture { w: w.data, rows, cols, h: h.data, x: x.data, tokens, reference_json }
}

impl Fixture {
    /// `configs.<config>.rel_recon_error` from reference.json, found by a plain scan: the
    /// first "rel_recon_error" after the config's key (no JSON parser without crates).
    pub fn reference_error(&self, config: &str) -> f64 {
        let json = &self.reference_json;
        let at = json.find(&format!("\"{}\"", config)).unwrap_or_else(|| panic!("no config {}", config));
        let key = "\"rel_recon_error\"";
        let value = at + json[at..].find(key).expect("rel_recon_error") + key.len();
        let value = json[value..].trim_start().strip_prefix(':').expect("colon").trim_start();
        let end = value
            .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
            .unwrap_or(value.len());
        value[..end].parse().expect("a number")
    }
}

/// Max |a - b| / max |b|.
pub fn rel_max_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs() as f64));
    let diff = a.iter().zip(b).fold(0f64, |m, (x, y)| m.max((x - y).abs() as f64));
    diff / scale
}

/// The error of a call that must fail: its status, and a message naming `function`.
pub fn expect_error<T>(result: surgeon::Result<T>, status: surgeon::Status, function: &str) -> surgeon::Error {
    let err = result.err().unwrap_or_else(|| panic!("{} should fail", function));
    assert_eq!(err.status, status, "{}", err);
    assert!(err.message.starts_with(&format!("{}: ", function)), "message {:?}", err.message);
    err
}

/// A `bits`-bit quantizer with one grid per `group_size` columns (0: per row).
pub fn quantizer(bits: u32, group_size: usize) -> surgeon::Quantizer {
    let mut q = surgeon::Quantizer::new(bits).unwrap();
    q.set_group_size(group_size).unwrap();
    q
}

impl Fixture {
    /// The fixture's Hessian (H.npy) in an accumulator.
    pub fn hessian(&self, ctx: &surgeon::Context) -> surgeon::Hessian {
        surgeon::Hessian::from_matrix(ctx, &self.h, self.cols, self.tokens as u64).unwrap()
    }

    /// An accumulator fed the fixture's inputs (X.npy).
    pub fn streamed_hessian(&self, ctx: &surgeon::Context) -> surgeon::Hessian {
        let mut h = surgeon::Hessian::new(ctx, self.cols).unwrap();
        h.add_f32(&self.x).unwrap();
        h
    }
}

/// A solver with the reference settings.
pub fn solver(ctx: &surgeon::Context, h: &surgeon::Hessian) -> surgeon::Solver {
    surgeon::Solver::new(ctx, h, &surgeon::SolverOptions::new().unwrap()).unwrap()
}

/// The fixture with a default context, its Hessian (H.npy) and a solver on it.
pub fn fixture_solver() -> (Fixture, surgeon::Context, surgeon::Hessian, surgeon::Solver) {
    let f = load();
    let ctx = surgeon::Context::default();
    let h = f.hessian(&ctx);
    let s = solver(&ctx, &h);
    (f, ctx, h, s)
}

/// The fixture with a default context and an accumulator fed its inputs (X.npy).
pub fn fixture_streamed() -> (Fixture, surgeon::Context, surgeon::Hessian) {
    let f = load();
    let ctx = surgeon::Context::default();
    let h = f.streamed_hessian(&ctx);
    (f, ctx, h)
}

/// Pruning options for n:m sparsity.
pub fn nm(n: u32, m: u32) -> surgeon::PruneOptions {
    let mut o = surgeon::PruneOptions::new().unwrap();
    o.set_nm(n, m).unwrap();
    o
}

/// Pruning options for unstructured sparsity.
pub fn sparsity(fraction: f64) -> surgeon::PruneOptions {
    let mut o = surgeon::PruneOptions::new().unwrap();
    o.set_sparsity(fraction).unwrap();
    o
}

/// Allocation options with these bit options and target average.
pub fn mixed_options(bits: &[u32], average: f64) -> surgeon::MixedOptions {
    let mut o = surgeon::MixedOptions::new().unwrap();
    o.set_bits(bits).unwrap().set_average(average).unwrap();
    o
}
