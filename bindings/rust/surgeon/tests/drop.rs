//! Ownership: every handle is freed exactly once, in any drop order; a context's callbacks
//! stay alive while handles made from it exist and are released after the last one. Run
//! under AddressSanitizer (the sanitized build) or valgrind by ctest.
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{fixture_streamed, load, mixed_options, nm, solver as solver_for, sparsity};
use surgeon::{
    ffn_select, Context, Ffn, Hessian, Importance, LogLevel, Mask, PruneNet, PruneNetOptions, Quantizer, SignalWeights,
    StructuredOptions,
};

#[test]
fn callbacks_outlive_the_context_and_are_freed_after_the_last_handle() {
    let f = load();
    let calls = Arc::new(AtomicUsize::new(0));
    let token = Arc::new(());
    let ctx = {
        let (calls, token) = (calls.clone(), token.clone());
        Context::builder()
            .threads(1)
            .on_progress(move |stage, fraction| {
                let _ = &token;
                assert!(!stage.is_empty() && (0.0..=1.0).contains(&fraction));
                calls.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap()
    };
    assert_eq!(ctx.threads(), 1);
    let mut h = Hessian::new(&ctx, f.cols).unwrap();
    h.add_f32(&f.x).unwrap();
    let solver = solver_for(&ctx, &h);
    drop(ctx);
    drop(h);
    assert_eq!(Arc::strong_count(&token), 2, "the solver keeps the callback alive");

    let mut w = f.w.clone();
    solver.prune(&mut w, &nm(2, 4)).unwrap();
    assert!(calls.load(Ordering::SeqCst) > 0, "progress reported after the context was dropped");
    drop(solver);
    assert_eq!(Arc::strong_count(&token), 1, "the callback is freed with the last handle");
}

#[test]
fn log_callback_reports_damping_escalation() {
    // Indefinite H (eigenvalues 3 and -2, mean diagonal 0.5): Cholesky fails with damping
    // 0.005, 0.05 and 0.5, and succeeds with 5.
    let messages = Arc::new(Mutex::new(Vec::new()));
    let ctx = {
        let messages = messages.clone();
        Context::builder()
            .on_log(move |level, message| messages.lock().unwrap().push((level, message.to_string())))
            .build()
            .unwrap()
    };
    let h = Hessian::from_matrix(&ctx, &[0.5, 2.5, 2.5, 0.5], 2, 10).unwrap();
    let mut solver = solver_for(&ctx, &h);
    let damping = solver.damping().unwrap();
    assert!((damping - 5.0).abs() < 1e-6, "damping {}", damping);
    let messages = messages.lock().unwrap();
    assert_eq!(messages.len(), 3, "{:?}", *messages);
    assert!(messages.iter().all(|(level, m)| *level == LogLevel::Warning && m.contains("Cholesky")));
}

#[test]
fn a_panicking_callback_does_not_unwind_into_c() {
    let f = load();
    let ctx = Context::builder().on_progress(|_, _| panic!("from a progress callback")).build().unwrap();
    let h = Hessian::from_matrix(&ctx, &f.h, f.cols, f.tokens as u64).unwrap();
    let mut w = f.w.clone();
    let pruned = solver_for(&ctx, &h).prune(&mut w, &nm(2, 4)).unwrap();
    assert!(pruned.mask().unwrap().check_nm(2, 4).unwrap());
}

#[test]
fn outputs_and_solvers_outlive_their_sources_in_any_order() {
    let f = load();
    let ctx = Context::default();
    let reference = {
        let h = Hessian::from_matrix(&ctx, &f.h, f.cols, 1).unwrap();
        let mut w = f.w.clone();
        solver_for(&ctx, &h).prune(&mut w, &sparsity(0.5)).unwrap();
        w
    };
    for order in 0..4 {
        let h = Hessian::from_matrix(&ctx, &f.h, f.cols, 1).unwrap();
        let q = Quantizer::new(4).unwrap();
        let solver = solver_for(&ctx, &h);
        if order % 2 == 0 {
            drop(h); // the solver holds its own copy of H
        }
        let mut w = f.w.clone();
        let pruned = solver.prune(&mut w, sparsity(0.5).set_quantizer(Some(&q)).unwrap()).unwrap();
        let mut w2 = f.w.clone();
        let plain = solver.prune(&mut w2, &sparsity(0.5)).unwrap();
        assert_eq!(w2, reference);
        if order < 2 {
            drop(solver);
            drop(q);
        }
        let quant = pruned.qresult().unwrap().unwrap();
        assert_eq!(quant.shape().rows, f.rows);
        assert_eq!(quant.dequantize().unwrap(), w);
        drop(pruned);
        assert!((plain.mask().unwrap().sparsity() - 0.5).abs() < 1e-3);
    }
}

#[test]
fn many_handles_created_and_dropped() {
    for i in 0..500usize {
        let ctx = if i % 2 == 0 { Context::default() } else { Context::builder().threads(1).build().unwrap() };
        let mut h = Hessian::new(&ctx, 4).unwrap();
        h.add_f32(&[1.0, 0.5, -0.25, 2.0, 0.0, 1.0, 3.0, -1.0]).unwrap();
        let mask = Mask::from_bytes(&[1, 0, 1, 0, 0, 1, 1, 1], 2, 4).unwrap();
        assert_eq!(mask.sparsity(), 3.0 / 8.0);
        // A failing setter leaves a quantizer that is freed exactly once.
        let mut q = Quantizer::new(4).unwrap();
        assert!(q.set_mse(Some(surgeon::MseSearch { grid: 0, ..Default::default() })).is_err());
        drop(q);
        let mut other = Hessian::new(&ctx, 4).unwrap();
        other.merge(&h).unwrap();
        assert_eq!(other.samples(), 2);
        if i % 3 == 0 {
            drop(h);
            drop(ctx);
        }
    }
}

#[test]
fn mixed_and_structured_handles_are_freed_once() {
    let (f, ctx, h) = fixture_streamed();
    let mut solver = solver_for(&ctx, &h);
    let mut q = Quantizer::new(4).unwrap();
    let (dim, hidden) = (8, 12);
    let weights: Vec<f32> = (0..hidden * dim).map(|i| ((i * 37) % 17) as f32 / 17.0 - 0.5).collect();
    let ffn = Ffn::new(&weights, &weights, &weights, dim).unwrap();
    for i in 0..20 {
        let options = mixed_options(&[2, 4, 8], 4.0);
        let imp = Importance::compute(&h, Some(&mut solver), &f.w, &SignalWeights::default()).unwrap();
        let bits = imp.allocate_budget(&options).unwrap();
        q.set_row_bits(&bits).unwrap();
        let mut w = f.w.clone();
        let (codes, _) = solver.quantize(&mut w, &q).unwrap();
        if i % 2 == 0 {
            drop(imp); // the result does not depend on the importance
            drop(options);
        }
        assert_eq!(codes.row_bits().unwrap(), bits);
        // A prune result hands out copies: each is freed on its own.
        let mut w = f.w.clone();
        let pruned = solver.prune(&mut w, nm(2, 4).set_quantizer(Some(&q)).unwrap()).unwrap();
        let (mask, quant) = (pruned.mask().unwrap(), pruned.qresult().unwrap().unwrap());
        drop(pruned);
        assert_eq!((mask.sparsity(), quant.row_bits().unwrap()), (0.5, bits));
        // Failing calls create nothing that leaks.
        assert!(Importance::compute(&h, None, &f.w[1..], &SignalWeights::default()).is_err());
        assert!(PruneNet::load(&ctx, "/nonexistent/policy.json").is_err());
        let policy = PruneNet::new(dim, 2, i).unwrap();
        assert_eq!(policy.scores(&ffn).unwrap().len(), hidden);
        let options = PruneNetOptions { steps: 1, samples: 2, features: 2, ..Default::default() };
        let trained = PruneNet::train_ffn(&ctx, &[ffn], &options).unwrap();
        drop(policy);
        assert_eq!(ffn_select(&trained.scores(&ffn).unwrap(), 0.5).unwrap().len(), hidden / 2);
        let mut structured = StructuredOptions::new().unwrap();
        structured.set_policy(Some(&trained)).unwrap().set_training(&options).unwrap();
        drop(trained); // the options hold a copy
        assert!(structured.set_ratio(1.0).is_err());
    }
}
