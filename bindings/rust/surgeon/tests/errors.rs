//! C statuses and messages surface as `Error { status, message }`; failing calls leave the
//! caller's buffers unchanged; checks done in Rust read like the library's own.
mod common;

use common::{expect_error, nm, solver, sparsity};
use surgeon::{
    prune_magnitude, reconstruction_error, Context, Hessian, Mask, PruneOptions, Quantizer, Solver, SolverOptions, Status,
};

fn fed_hessian(cols: usize) -> Hessian {
    let mut h = Hessian::new(&Context::default(), cols).unwrap();
    let x: Vec<f32> = (0..4 * cols * cols).map(|i| ((i * 7919) % 23) as f32 - 11.0).collect();
    h.add_f32(&x).unwrap();
    h
}

#[test]
fn nan_input_is_numeric_and_leaves_the_accumulator_unchanged() {
    let mut h = fed_hessian(8);
    let before = h.matrix().unwrap();
    let mut x = vec![1.0f32; 3 * 8];
    x[13] = f32::NAN;
    let err = expect_error(h.add_f32(&x), Status::Numeric, "surgeon_hessian_add_f32");
    assert_eq!(err.status.name(), "SURGEON_ERR_NUMERIC");
    assert!(err.to_string().ends_with("(SURGEON_ERR_NUMERIC)"), "{}", err);
    assert_eq!(h.matrix().unwrap(), before);
    assert_eq!(h.samples(), 4 * 8);

    x[13] = f32::INFINITY;
    expect_error(h.add_f32(&x), Status::Numeric, "surgeon_hessian_add_f32");
    // bf16 NaN bit pattern.
    let mut b = vec![0x3f80u16; 8];
    b[2] = 0x7fc0;
    expect_error(h.add_bf16(&b), Status::Numeric, "surgeon_hessian_add_bf16");
}

#[test]
fn nan_weight_fails_and_keeps_the_weight() {
    let h = fed_hessian(16);
    let solver = solver(&Context::default(), &h);
    let mut w: Vec<f32> = (0..4 * 16).map(|i| i as f32 * 0.25 - 3.0).collect();
    w[5] = f32::NAN;
    let original = w.clone();
    expect_error(solver.prune(&mut w, &sparsity(0.5)), Status::Numeric, "surgeon_solver_prune");
    let q = Quantizer::new(4).unwrap();
    expect_error(solver.quantize(&mut w, &q), Status::Numeric, "surgeon_solver_quantize");
    expect_error(prune_magnitude(&Context::default(), &mut w, 16, &sparsity(0.5)), Status::Numeric, "surgeon_prune_magnitude");
    assert_eq!(format!("{:?}", w), format!("{:?}", original), "buffers are untouched on failure");
}

#[test]
fn shape_mismatches() {
    let mut h = fed_hessian(8);
    // Checked in Rust before the call: x is not a whole number of 8-column rows.
    let err = expect_error(h.add_f32(&[1.0; 12]), Status::Shape, "surgeon_hessian_add_f32");
    assert!(err.message.contains("12 elements"), "{}", err.message);
    expect_error(h.add_f16(&[0; 9]), Status::Shape, "surgeon_hessian_add_f16");
    expect_error(Hessian::from_matrix(&Context::default(), &[1.0; 15], 4, 1), Status::Shape, "surgeon_hessian_from_matrix");
    expect_error(Mask::from_bytes(&[1; 5], 2, 3), Status::Shape, "surgeon_mask_from_bytes");
    let mask = Mask::new(2, 3).unwrap();
    expect_error(mask.apply(&mut [0.0; 7]), Status::Shape, "surgeon_mask_apply");
    expect_error(reconstruction_error(&h, &[0.0; 16], &[0.0; 8]), Status::Shape, "surgeon_reconstruction_error");
    let solver = solver(&Context::default(), &h);
    expect_error(solver.prune(&mut [0.5; 20], &sparsity(0.5)), Status::Shape, "surgeon_solver_prune");

    // Detected by the library: accumulators of different widths.
    let other = fed_hessian(4);
    let err = expect_error(h.merge(&other), Status::Shape, "surgeon_hessian_merge");
    println!("{}", err);
}

#[test]
fn invalid_arguments() {
    let err = expect_error(Quantizer::new(9), Status::InvalidArgument, "surgeon_quantizer_new");
    assert!(err.message.contains('9'), "{}", err.message);
    let mut q = Quantizer::new(4).unwrap();
    expect_error(q.set_group_size(usize::MAX), Status::InvalidArgument, "surgeon_quantizer_set_group_size");
    let bad_grid = surgeon::MseSearch { grid: 0, ..Default::default() };
    expect_error(q.set_mse(Some(bad_grid)), Status::InvalidArgument, "surgeon_quantizer_set_mse");
    expect_error(q.set_bits(1), Status::InvalidArgument, "surgeon_quantizer_set_bits");
    assert_eq!((q.bits(), q.group_size()), (4, 0), "a failed setter leaves the quantizer unchanged");
    expect_error(Hessian::new(&Context::default(), 0), Status::InvalidArgument, "surgeon_hessian_new");

    let h = fed_hessian(8);
    expect_error(SolverOptions::new().unwrap().set_damping(-1.0), Status::InvalidArgument, "surgeon_solver_options_set_damping");
    let empty = Hessian::new(&Context::default(), 8).unwrap();
    expect_error(Solver::new(&Context::default(), &empty, &SolverOptions::new().unwrap()), Status::InvalidArgument, "surgeon_solver_new");

    // n:m groups must not straddle blocks: block 6 is not a multiple of 4.
    let solver = Solver::new(&Context::default(), &h, SolverOptions::new().unwrap().set_block_size(6).unwrap()).unwrap();
    let mut w = vec![0.5f32; 16];
    expect_error(solver.prune(&mut w, &nm(2, 4)), Status::InvalidArgument, "surgeon_solver_prune");
    // Option values are checked by their setters, which leave the options unchanged.
    let mut options = PruneOptions::new().unwrap();
    expect_error(options.set_sparsity(1.5), Status::InvalidArgument, "surgeon_prune_options_set_sparsity");
    expect_error(options.set_nm(0, 4), Status::InvalidArgument, "surgeon_prune_options_set_nm");
    expect_error(options.set_nm(4, 4), Status::InvalidArgument, "surgeon_prune_options_set_nm");
    assert_eq!((options.sparsity(), options.nm()), (0.5, (0, 0)), "the defaults");
    let mut solver_options = SolverOptions::new().unwrap();
    expect_error(solver_options.set_block_size(0), Status::InvalidArgument, "surgeon_solver_options_set_block_size");
    assert_eq!((solver_options.damping(), solver_options.block_size()), (0.01, 128), "the defaults");
    assert_eq!(w, vec![0.5f32; 16]);
    expect_error(Mask::new(2, 2).unwrap().check_nm(3, 2), Status::InvalidArgument, "surgeon_mask_check_nm");
}

#[test]
fn io_errors() {
    let err = expect_error(
        Hessian::load(&Context::default(), "/nonexistent/dir/h.bin"),
        Status::Io,
        "surgeon_hessian_load",
    );
    assert!(err.message.contains("/nonexistent/dir/h.bin"), "{}", err.message);
    expect_error(fed_hessian(4).save("/nonexistent/dir/h.bin"), Status::Io, "surgeon_hessian_save");
    expect_error(Hessian::load(&Context::default(), "a\0b"), Status::InvalidArgument, "surgeon_hessian_load");
}

#[test]
fn messages_are_per_thread() {
    // Another thread failing at the same time does not change this thread's message.
    let mut h = fed_hessian(8);
    let other = std::thread::spawn(|| {
        for _ in 0..200 {
            let _ = Quantizer::new(1);
        }
    });
    for _ in 0..200 {
        let err = h.add_f32(&[f32::NAN; 8]).unwrap_err();
        assert!(err.message.starts_with("surgeon_hessian_add_f32"), "{}", err.message);
    }
    other.join().unwrap();
}

#[test]
fn version_matches_header() {
    assert_eq!(surgeon::version_number(), surgeon::sys::SURGEON_VERSION_NUMBER);
    assert_eq!(
        surgeon::version(),
        format!(
            "{}.{}.{}",
            surgeon::sys::SURGEON_VERSION_MAJOR,
            surgeon::sys::SURGEON_VERSION_MINOR,
            surgeon::sys::SURGEON_VERSION_PATCH
        )
    );
}

/// (name, value) of every enumerator of `typedef enum surgeon_status { ... }` in the header
/// the binding was built against.
fn header_statuses() -> Vec<(String, u32)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../include/surgeon/surgeon.h");
    let header = std::fs::read_to_string(path).expect("include/surgeon/surgeon.h");
    let start = header.find("typedef enum surgeon_status {").expect("the surgeon_status enum");
    let body = &header[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find('}').expect("the enum's end")];
    let mut code = String::new();
    let mut rest = body;
    while let Some(open) = rest.find("/*") {
        code.push_str(&rest[..open]);
        rest = &rest[open + rest[open..].find("*/").expect("a closed comment") + 2..];
    }
    code.push_str(rest);
    code.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (name, value) = e.split_once('=').unwrap_or_else(|| panic!("enumerator without a value: {}", e));
            (name.trim().to_string(), value.trim().parse().unwrap_or_else(|_| panic!("value of {}", e)))
        })
        .collect()
}

#[test]
fn status_mapping_covers_the_header_enum_exactly() {
    let header = header_statuses();
    assert!(header.len() >= 8, "{:?}", header);
    assert_eq!(header[0], ("SURGEON_OK".to_string(), 0));
    assert_eq!(Status::from_raw(0), None);
    // Every error code of the header maps to the variant of that name and back.
    let errors: Vec<&(String, u32)> = header.iter().skip(1).collect();
    for (name, value) in &errors {
        let status = Status::from_raw(*value).unwrap_or_else(|| panic!("{} maps to OK", name));
        assert_eq!(status.c_name(), Some(name.as_str()), "code {}", value);
        assert_eq!(status.raw(), *value);
        assert_eq!(status.name(), name, "the library's name of {}", value);
    }
    // The binding knows exactly those codes, in the header's order.
    let known: Vec<(String, u32)> = Status::KNOWN.iter().map(|s| (s.c_name().unwrap().to_string(), s.raw())).collect();
    assert_eq!(known, errors.into_iter().cloned().collect::<Vec<_>>());
    // A code past the header's is kept, not folded into another one.
    let unknown = header.iter().map(|(_, v)| *v).max().unwrap() + 1;
    assert_eq!(Status::from_raw(unknown), Some(Status::Unknown(unknown)));
    assert_eq!(Status::Unknown(unknown).raw(), unknown);
    assert_eq!(Status::Unknown(unknown).c_name(), None);
}
