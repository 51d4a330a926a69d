//! Overhead of the safe binding on the hot path: feeds the same rows × cols float buffer
//! into a Hessian accumulator through `Hessian::add_f32` and through the raw C call
//! `surgeon_hessian_add_f32`, alternating, and prints both timings. The binding passes the
//! slice's pointer (no copy), so the two should agree within noise.
//!
//!   cargo run --release --example add_overhead -- [rows] [cols] [repetitions]
//!   (default 16384 4096 3: 64 Mi floats per call)
use std::ptr;
use std::time::Instant;

use surgeon::{sys, Context, Hessian};

fn arg(i: usize, default: usize) -> usize {
    std::env::args().nth(i).map_or(default, |a| a.parse().expect("a positive integer"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() -> surgeon::Result<()> {
    let (rows, cols, reps) = (arg(1, 16384), arg(2, 4096), arg(3, 3));
    // Deterministic pseudo-random inputs in [-1, 1).
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let x: Vec<f32> = (0..rows * cols)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect();

    let ctx = Context::default();
    let mut wrapped = Hessian::new(&ctx, cols)?;
    let mut raw = ptr::null_mut();
    // SAFETY: raw is a valid out pointer; the handle is freed below.
    assert_eq!(unsafe { sys::surgeon_hessian_new(&mut raw, ptr::null(), cols as i64) }, 0);

    let time_wrapped = |h: &mut Hessian| {
        let t = Instant::now();
        h.add_f32(&x).expect("add_f32");
        t.elapsed().as_secs_f64()
    };
    let time_raw = || {
        let t = Instant::now();
        // SAFETY: x holds rows × cols floats; raw is live.
        let status = unsafe { sys::surgeon_hessian_add_f32(raw, x.as_ptr(), rows as i64, cols as i64, 0) };
        assert_eq!(status, 0);
        t.elapsed().as_secs_f64()
    };

    // Warm up OpenBLAS's threads and the page tables of both accumulators.
    wrapped.add_f32(&x[..cols * 64])?;
    // SAFETY: as above, 64 rows.
    assert_eq!(unsafe { sys::surgeon_hessian_add_f32(raw, x.as_ptr(), 64, cols as i64, 0) }, 0);

    let (mut c_times, mut rust_times) = (Vec::new(), Vec::new());
    for rep in 0..reps {
        // Alternate which goes first so neither always runs on a warmer machine.
        if rep % 2 == 0 {
            c_times.push(time_raw());
            rust_times.push(time_wrapped(&mut wrapped));
        } else {
            rust_times.push(time_wrapped(&mut wrapped));
            c_times.push(time_raw());
        }
        println!("rep {}: C {:.3} s  Rust {:.3} s", rep, c_times[rep], rust_times[rep]);
    }
    // SAFETY: raw is live and no longer used.
    unsafe { sys::surgeon_hessian_free(raw) };

    let gib = (rows * cols * 4) as f64 / (1u64 << 30) as f64;
    let (c, r) = (median(c_times.clone()), median(rust_times.clone()));
    println!("{} x {} floats ({:.2} GiB) per call, {} threads, {} repetitions", rows, cols, gib, ctx.threads(), reps);
    println!("direct C call    median {:.3} s  min {:.3} s", c, c_times.iter().cloned().fold(f64::MAX, f64::min));
    println!("Rust binding     median {:.3} s  min {:.3} s", r, rust_times.iter().cloned().fold(f64::MAX, f64::min));
    println!("binding / direct (medians): {:.4}", r / c);
    Ok(())
}
