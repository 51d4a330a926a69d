//! Concurrency allowed by the C API: separate handles on several threads, prune/quantize
//! concurrently on one solver, concurrent adds on one Hessian (through its adder). Each
//! result must equal the sequential one.
mod common;

use std::thread;

use common::{load, nm, quantizer, rel_max_diff, solver, sparsity, Fixture};
use surgeon::{Context, Hessian, HessianAdder, Mask, PruneOptions, PruneResult, QuantResult, Quantizer, Solver, SolverOptions};

const THREADS: usize = 4;

#[test]
fn handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Context>();
    send_sync::<Hessian>();
    send_sync::<HessianAdder<'_>>();
    send_sync::<Solver>();
    send_sync::<Quantizer>();
    send_sync::<Mask>();
    send_sync::<QuantResult>();
    send_sync::<SolverOptions>();
    send_sync::<PruneOptions>();
    send_sync::<PruneResult>();
    send_sync::<surgeon::MixedOptions>();
    send_sync::<surgeon::StructuredOptions>();
}

/// Streams X, prunes 2:4 and quantizes 4-bit GPTQ with handles of its own.
fn pipeline(f: &Fixture) -> (Vec<f32>, Vec<f32>, Vec<u8>) {
    let ctx = Context::builder().threads(1).build().unwrap();
    let mut h = Hessian::new(&ctx, f.cols).unwrap();
    for batch in f.x.chunks(256 * f.cols) {
        h.add_f32(batch).unwrap();
    }
    let solver = solver(&ctx, &h);
    let mut pruned = f.w.clone();
    let mask = solver.prune(&mut pruned, &nm(2, 4)).unwrap().mask().unwrap().to_bytes().unwrap();
    let mut quantized = f.w.clone();
    solver.quantize(&mut quantized, &Quantizer::new(4).unwrap()).unwrap();
    (pruned, quantized, mask)
}

#[test]
fn separate_handles_on_several_threads() {
    let f = load();
    let sequential = pipeline(&f);
    let results: Vec<_> = thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS).map(|_| s.spawn(|| pipeline(&f))).collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for r in results {
        assert_eq!(r.2, sequential.2, "same mask");
        assert!(rel_max_diff(&r.0, &sequential.0) < 1e-6);
        assert!(rel_max_diff(&r.1, &sequential.1) < 1e-6);
    }
}

#[test]
fn concurrent_prune_and_quantize_on_one_solver() {
    let f = load();
    let ctx = Context::builder().threads(1).build().unwrap();
    let h = f.hessian(&ctx);
    let solver = solver(&ctx, &h);
    let q = quantizer(4, 32);
    // Job k: 0 = 2:4, 1 = 50% unstructured, 2 = GPTQ 4-bit g32.
    let run = |job: usize| {
        let mut w = f.w.clone();
        match job {
            0 => drop(solver.prune(&mut w, &nm(2, 4)).unwrap()),
            1 => drop(solver.prune(&mut w, &sparsity(0.5)).unwrap()),
            _ => drop(solver.quantize(&mut w, &q).unwrap()),
        }
        w
    };
    // Concurrent first, so the threads also race on the first factorization.
    let concurrent: Vec<_> = thread::scope(|s| {
        let workers: Vec<_> = (0..2 * THREADS).map(|k| s.spawn(move || (k % 3, run(k % 3)))).collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let sequential: Vec<_> = (0..3).map(run).collect();
    for (job, w) in concurrent {
        assert!(rel_max_diff(&w, &sequential[job]) < 1e-6, "job {}", job);
    }
}

#[test]
fn concurrent_adds_on_one_hessian() {
    let f = load();
    let ctx = Context::builder().threads(1).build().unwrap();
    let mut sequential = Hessian::new(&ctx, f.cols).unwrap();
    sequential.add_f32(&f.x).unwrap();

    let mut shared = Hessian::new(&ctx, f.cols).unwrap();
    let batches: Vec<&[f32]> = f.x.chunks(97 * f.cols).collect();
    let adder = shared.adder();
    thread::scope(|s| {
        for t in 0..THREADS {
            let batches = &batches;
            s.spawn(move || {
                for batch in batches.iter().skip(t).step_by(THREADS) {
                    adder.add_f32(batch).unwrap();
                }
            });
        }
    });
    assert_eq!(shared.samples(), f.tokens as u64);
    let expected = sequential.matrix().unwrap();
    let diff = rel_max_diff(&shared.matrix().unwrap(), &expected);
    assert!(diff < 1e-5, "concurrent adds differ by {}", diff);
    assert!(rel_max_diff(&expected, &f.h) < 1e-4);
}
