//! Mixed precision through the binding on the stories260K block-2 wq fixture: importance
//! signals against their closed forms, allocations against their exact targets (and a
//! brute-force optimum), row errors against an independent f64 Cholesky, per-row widths in
//! the solver's codes, and the statistics against the bits.
mod common;

use common::{expect_error, fixture_solver, fixture_streamed, mixed_options, nm, quantizer, solver};
use surgeon::{
    allocate_error_groups, attainable_average, quantize_rtn, reconstruction_error, BudgetLayer, Hessian, Importance,
    MixedOptions, MixedStats, Quantizer, RowErrors, Signal, SignalWeights, StatsOptions, Status, ZeroBits,
};

const OPTIONS: [u32; 5] = [2, 3, 4, 6, 8];

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * (1e-12 + a.abs().max(b.abs()))
}

/// Lower Cholesky factor of a symmetric positive definite n × n matrix, in f64.
fn cholesky(a: &[f64], n: usize) -> Vec<f64> {
    let mut l = vec![0.0; n * n];
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= l[j * n + k] * l[j * n + k];
        }
        assert!(d > 0.0, "not positive definite at {}", j);
        l[j * n + j] = d.sqrt();
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            l[i * n + j] = s / l[j * n + j];
        }
    }
    l
}

/// A⁻¹ of a symmetric positive definite matrix through its Cholesky factor.
fn inverse_spd(a: &[f64], n: usize) -> Vec<f64> {
    let l = cholesky(a, n);
    let mut inv = vec![0.0; n * n];
    for c in 0..n {
        // L y = e_c, then Lᵀ x = y.
        let mut y = vec![0.0; n];
        for i in 0..n {
            let mut s = if i == c { 1.0 } else { 0.0 };
            for k in 0..i {
                s -= l[i * n + k] * y[k];
            }
            y[i] = s / l[i * n + i];
        }
        for i in (0..n).rev() {
            let mut s = y[i];
            for k in i + 1..n {
                s -= l[k * n + i] * inv[k * n + c];
            }
            inv[i * n + c] = s / l[i * n + i];
        }
    }
    inv
}

/// H + damping·I in f64, with never-active inputs (H_ii = 0) set to H_ii = 1 as the solver does.
fn damped(h: &[f32], n: usize, damping: f64) -> Vec<f64> {
    let mut a: Vec<f64> = h.iter().map(|&v| v as f64).collect();
    for j in 0..n {
        if a[j * n + j] == 0.0 {
            a[j * n + j] = 1.0;
        }
        a[j * n + j] += damping;
    }
    a
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn normalised(v: Vec<f64>) -> Vec<f64> {
    let m = mean(&v);
    v.into_iter().map(|x| x / m).collect()
}

/// Allocation options with quantile cut points.
fn quantile_options(bits: &[u32], quantiles: &[f64]) -> MixedOptions {
    let mut o = mixed_options(bits, 3.0);
    o.set_quantiles(quantiles).unwrap();
    o
}

fn sum_bits(bits: &[u32]) -> u64 {
    bits.iter().map(|&b| b as u64).sum()
}

#[test]
fn default_weights_are_the_documented_ones() {
    let d = SignalWeights::default();
    assert_eq!(d.to_array(), [0.25, 0.25, 0.15, 0.25, 0.10]);
    assert_eq!(d.get(Signal::Weight), 0.15);
    let only = SignalWeights::only(Signal::Output);
    assert_eq!(only.to_array(), [0.0, 0.0, 0.0, 1.0, 0.0]);
    assert_eq!(only.with(Signal::Hessian, 2.0).get(Signal::Hessian), 2.0);
}

#[test]
fn importance_signals_match_their_closed_forms() {
    let (f, ctx, h) = fixture_streamed();
    let (rows, cols) = (f.rows, f.cols);

    // Per-column statistics of X in f64.
    let n = f.tokens as f64;
    let (mut abs, mut first, mut second) = (vec![0.0; cols], vec![0.0; cols], vec![0.0; cols]);
    for row in f.x.chunks(cols) {
        for j in 0..cols {
            let v = row[j] as f64;
            abs[j] += v.abs() / n;
            first[j] += v / n;
            second[j] += v * v / n;
        }
    }
    // diag(H⁻¹) of the damped Hessian the solver factorizes.
    let mut solver = solver(&ctx, &h);
    let damping = solver.damping().unwrap();
    let hm = h.matrix().unwrap();
    let mean_diag = (0..cols).map(|j| hm[j * cols + j] as f64).sum::<f64>() / cols as f64;
    assert!(close(damping, 0.01 * mean_diag, 1e-5), "damping {} vs {}", damping, 0.01 * mean_diag);
    let inv = inverse_spd(&damped(&hm, cols, damping), cols);

    let w = |i: usize, j: usize| f.w[i * cols + j] as f64;
    let per_row = |g: &dyn Fn(usize) -> f64| normalised((0..rows).map(g).collect());
    let expected = [
        per_row(&|i| (0..cols).map(|j| w(i, j).abs() * abs[j]).sum::<f64>() / cols as f64),
        per_row(&|i| (0..cols).map(|j| w(i, j) * w(i, j) / inv[j * cols + j]).sum::<f64>() / cols as f64),
        per_row(&|i| (0..cols).map(|j| w(i, j).abs()).sum::<f64>() / cols as f64),
        per_row(&|i| (0..cols).map(|j| w(i, j) * w(i, j) * second[j]).sum::<f64>().sqrt()),
        per_row(&|i| (0..cols).map(|j| w(i, j) * w(i, j) * (second[j] - first[j] * first[j]).max(0.0)).sum::<f64>().sqrt()),
    ];

    let weights = SignalWeights::default();
    let imp = Importance::compute(&h, None, &f.w, &weights).unwrap();
    assert_eq!(imp.rows(), rows);
    let mut signals = Vec::new();
    for (s, want) in Signal::ALL.iter().zip(&expected) {
        let got = imp.signal(*s).unwrap_or_else(|| panic!("{:?} has data", s));
        for i in 0..rows {
            assert!(close(got[i] as f64, want[i], 1e-4), "{:?} row {}: {} vs {}", s, i, got[i], want[i]);
        }
        signals.push(got);
    }
    // The score is the weighted mean of the normalised signals.
    let scores = imp.scores();
    let total: f64 = weights.to_array().iter().sum();
    for i in 0..rows {
        let combined: f64 = Signal::ALL.iter().enumerate().map(|(k, s)| weights.get(*s) * signals[k][i] as f64).sum::<f64>() / total;
        assert!(close(scores[i] as f64, combined, 1e-5), "row {}", i);
    }

    // The solver's factorization gives the same scores as the private one (both percdamp 0.01).
    let shared = Importance::compute(&h, Some(&mut solver), &f.w, &weights).unwrap();
    for (a, b) in shared.scores().iter().zip(&scores) {
        assert!(close(*a as f64, *b as f64, 1e-5), "{} vs {}", a, b);
    }
    // One signal alone is the score.
    let weight_only = Importance::compute(&h, None, &f.w, &SignalWeights::only(Signal::Weight)).unwrap();
    assert_eq!(weight_only.scores(), signals[2]);
    assert!(weight_only.signal(Signal::Hessian).is_none(), "no diag(H^-1) without a Hessian weight");

    // A Hessian from a finished matrix has no first moments.
    let from_matrix = Hessian::from_matrix(&ctx, &f.h, cols, f.tokens as u64).unwrap();
    let imp = Importance::compute(&from_matrix, None, &f.w, &weights).unwrap();
    assert!(imp.signal(Signal::Activation).is_none() && imp.signal(Signal::Variance).is_none());
    assert!(imp.signal(Signal::Output).is_some());
    expect_error(
        Importance::compute(&from_matrix, None, &f.w, &SignalWeights::only(Signal::Activation)),
        Status::InvalidArgument,
        "surgeon_importance_compute",
    );
    expect_error(Importance::compute(&h, None, &f.w[..100], &weights), Status::Shape, "surgeon_importance_compute");
    let negative = SignalWeights::default().with(Signal::Weight, -1.0);
    expect_error(Importance::compute(&h, None, &f.w, &negative), Status::InvalidArgument, "surgeon_importance_compute");
}

#[test]
fn budget_allocation_hits_the_exact_target() {
    let (f, _, h) = fixture_streamed();
    let imp = Importance::compute(&h, None, &f.w, &SignalWeights::default()).unwrap();
    let scores = imp.scores();
    let rows = f.rows;

    for &(avg, total) in &[(3.5, 3.5 * 64.0), (3.3, 211.0), (2.0, 128.0), (8.0, 512.0)] {
        assert_eq!(attainable_average(rows, &mixed_options(&OPTIONS, avg)).unwrap(), total / rows as f64);
        let bits = imp.allocate_budget(&mixed_options(&OPTIONS, avg)).unwrap();
        assert_eq!(bits.len(), rows);
        assert_eq!(sum_bits(&bits) as f64, total, "avg {}", avg);
        assert!(bits.iter().all(|b| OPTIONS.contains(b)));
        // Cost score²·4^-b: a more important row never gets fewer bits.
        for i in 0..rows {
            for j in 0..rows {
                if scores[i] < scores[j] {
                    assert!(bits[i] <= bits[j], "row {} ({}) has {} bits, row {} ({}) {}", i, scores[i], bits[i], j, scores[j], bits[j]);
                }
            }
        }
    }
    // With options {2, 8} totals move in steps of 6: 64·3 = 192 is not reachable, 188 is.
    assert_eq!(attainable_average(rows, &mixed_options(&[8, 2], 3.0)).unwrap(), 188.0 / 64.0);
    assert_eq!(sum_bits(&imp.allocate_budget(&mixed_options(&[8, 2], 3.0)).unwrap()), 188);

    expect_error(attainable_average(rows, &mixed_options(&OPTIONS, 1.5)), Status::InvalidArgument, "surgeon_attainable_average");
    // Bad bit options are refused by the setter, which leaves the options unchanged.
    let mut options = MixedOptions::new().unwrap();
    for bad in [&[2u32, 2, 4][..], &[2, 9], &[]] {
        expect_error(options.set_bits(bad), Status::InvalidArgument, "surgeon_mixed_options_set_bits");
    }
    expect_error(options.set_average(0.0), Status::InvalidArgument, "surgeon_mixed_options_set_average");
    assert_eq!((options.bits(), options.average()), (vec![2, 3, 4], 3.0), "the defaults");
}

#[test]
fn quantile_bins_have_the_stated_fractions() {
    let (f, _, h) = fixture_streamed();
    let imp = Importance::compute(&h, None, &f.w, &SignalWeights::default()).unwrap();
    let scores = imp.scores();
    let mut order: Vec<usize> = (0..f.rows).collect();
    order.sort_by(|&a, &b| scores[a].partial_cmp(&scores[b]).unwrap().then(a.cmp(&b)));

    // Options in any order; cut points apply to the sorted options.
    let bits = imp.allocate_quantile(&quantile_options(&[8, 2, 4], &[0.25, 0.75])).unwrap();
    let count = |b: u32| bits.iter().filter(|&&x| x == b).count();
    assert_eq!((count(2), count(4), count(8)), (16, 32, 16));
    for (rank, &row) in order.iter().enumerate() {
        let want = if rank < 16 { 2 } else if rank < 48 { 4 } else { 8 };
        assert_eq!(bits[row], want, "rank {}", rank);
    }
    // Rounded cuts (0.1 · 64 = 6.4 → 6) and an empty middle bin.
    let bits = imp.allocate_quantile(&quantile_options(&[2, 4, 8], &[0.1, 0.1])).unwrap();
    assert_eq!((bits.iter().filter(|&&b| b == 2).count(), bits.iter().filter(|&&b| b == 4).count()), (6, 0));

    // Cut points for a target average: exact up to half a row per cut.
    let bits = imp.allocate_quantile(&mixed_options(&[2, 4, 8], 4.0)).unwrap();
    let avg = sum_bits(&bits) as f64 / f.rows as f64;
    assert!((avg - 4.0).abs() <= 0.5 * (2.0 + 4.0) / f.rows as f64 + 1e-12, "average {}", avg);
    assert!(bits.contains(&2) && bits.contains(&8));

    expect_error(imp.allocate_quantile(&quantile_options(&[2, 4, 8], &[0.5])), Status::InvalidArgument, "surgeon_allocate_quantile");
    let mut options = mixed_options(&[2, 4, 8], 3.0);
    expect_error(options.set_quantiles(&[0.6, 0.5]), Status::InvalidArgument, "surgeon_mixed_options_set_quantiles");
}

#[test]
fn error_allocation_is_the_brute_force_optimum() {
    // 7 rows × options [2, 4, 8]: every choice with Σ b = 28 (avg 4) enumerated.
    let options = [2u32, 4, 8];
    let rows = 7;
    let values: Vec<f64> = (0..rows * 3)
        .map(|k| {
            let (row, opt) = (k / 3, k % 3);
            let scale = 1.0 + ((row * 37) % 11) as f64;
            scale * 4f64.powi(-(options[opt] as i32)) * (1.0 + 0.3 * ((k * 13) % 5) as f64)
        })
        .collect();
    let errors = RowErrors::new(values, &options).unwrap();
    assert_eq!(errors.rows(), rows);
    let bits = errors.allocate(&mixed_options(errors.options(), 4.0)).unwrap();
    assert_eq!(sum_bits(&bits), 28);

    let mut best = f64::INFINITY;
    for code in 0..3usize.pow(rows as u32) {
        let choice: Vec<u32> = (0..rows).map(|r| options[(code / 3usize.pow(r as u32)) % 3]).collect();
        if sum_bits(&choice) == 28 {
            best = best.min(errors.total(&choice).unwrap());
        }
    }
    let got = errors.total(&bits).unwrap();
    assert!(close(got, best, 1e-12), "allocation {} vs optimum {}", got, best);

    expect_error(RowErrors::new(vec![1.0; 8], &options), Status::Shape, "surgeon_allocate_error");
    assert!(errors.total(&[2; 3]).is_none());
}

#[test]
fn row_errors_match_an_independent_cholesky_and_grid() {
    let (f, ctx, _, mut solver) = fixture_solver();
    let q = Quantizer::new(4).unwrap();
    let errors = solver.row_errors(&f.w, &q, &mixed_options(&OPTIONS, 3.0)).unwrap();
    assert_eq!((errors.rows(), errors.options()), (f.rows, &OPTIONS[..]));

    // c_j = 1 / U_jj², U the upper Cholesky factor of the damped H⁻¹ (= Lᵀ of its lower one).
    let n = f.cols;
    let inv = inverse_spd(&damped(&f.h, n, solver.damping().unwrap()), n);
    let l = cholesky(&inv, n);
    let c: Vec<f64> = (0..n).map(|j| 1.0 / (l[j * n + j] * l[j * n + j])).collect();
    for (k, &b) in OPTIONS.iter().enumerate() {
        // The row's own symmetric grid at b bits: round-to-nearest with a b-bit quantizer.
        let mut rtn = f.w.clone();
        quantize_rtn(&ctx, &mut rtn, n, &Quantizer::new(b).unwrap()).unwrap();
        for i in 0..f.rows {
            let want: f64 = (0..n).map(|j| c[j] * ((f.w[i * n + j] - rtn[i * n + j]) as f64).powi(2)).sum();
            assert!(close(errors.row(i)[k], want, 1e-4), "row {} at {} bits: {} vs {}", i, b, errors.row(i)[k], want);
        }
    }
    // More bits, less error, row by row.
    for i in 0..f.rows {
        assert!(errors.row(i).windows(2).all(|p| p[1] <= p[0]), "row {}: {:?}", i, errors.row(i));
    }
    // The error allocation beats the importance heuristic at the same total.
    let by_error = errors.allocate(&mixed_options(errors.options(), 3.5)).unwrap();
    let imp = Importance::compute(&f.streamed_hessian(&ctx), None, &f.w, &SignalWeights::default()).unwrap();
    let by_budget = imp.allocate_budget(&mixed_options(&OPTIONS, 3.5)).unwrap();
    assert_eq!(sum_bits(&by_error), 224);
    assert_eq!(sum_bits(&by_budget), 224);
    assert!(errors.total(&by_error).unwrap() <= errors.total(&by_budget).unwrap());

    expect_error(solver.row_errors(&f.w[..10], &q, &mixed_options(&OPTIONS, 3.0)), Status::Shape, "surgeon_mixed_row_errors");
    // The errors are columns of the options they were computed for.
    expect_error(errors.allocate(&mixed_options(&[2, 3, 4], 3.0)), Status::InvalidArgument, "surgeon_allocate_error");
}

#[test]
fn row_widths_keep_every_row_within_its_width() {
    let (f, _, h, mut solver) = fixture_solver();
    let mut q = quantizer(4, 32);
    let options = mixed_options(&OPTIONS, 3.5);
    let bits = solver.row_errors(&f.w, &q, &options).unwrap().allocate(&options).unwrap();
    assert!(OPTIONS.iter().filter(|b| bits.contains(b)).count() >= 3, "a real mix: {:?}", bits);

    q.set_row_bits(&bits).unwrap();
    assert_eq!(q.row_bits().unwrap(), bits);
    let mut w = f.w.clone();
    let (r, loss) = solver.quantize(&mut w, &q).unwrap();
    let s = r.shape();
    assert_eq!((s.rows, s.cols, s.groups), (f.rows, f.cols, 2));
    assert_eq!(r.row_bits().unwrap(), bits);
    assert_eq!(r.dequantize().unwrap(), w);
    assert!(loss > 0.0);
    let codes = r.codes().unwrap();
    for (i, row) in codes.chunks(f.cols).enumerate() {
        let max = (1u32 << bits[i]) - 1;
        assert!(row.iter().all(|&c| c as u32 <= max), "row {} exceeds {} bits", i, bits[i]);
        if bits[i] <= 3 {
            // A real b-bit grid: at most 2^b levels per group.
            for group in row.chunks(32) {
                let mut levels = group.to_vec();
                levels.sort_unstable();
                levels.dedup();
                assert!(levels.len() <= 1 << bits[i]);
            }
        }
    }
    let mixed_error = reconstruction_error(&h, &f.w, &w).unwrap();
    let mut w3 = f.w.clone();
    solver.quantize(&mut w3, &quantizer(3, 32)).unwrap();
    let uniform3 = reconstruction_error(&h, &f.w, &w3).unwrap();
    println!("mixed 3.5 bits: {:.4e}, uniform 3 bits: {:.4e}", mixed_error, uniform3);
    assert!(mixed_error < uniform3);

    // Every row at the quantizer's own width is plain GPTQ.
    let mut all4 = f.w.clone();
    solver.quantize(&mut all4, q.set_row_bits(&vec![4; f.rows]).unwrap()).unwrap();
    let mut plain = f.w.clone();
    let (uniform, _) = solver.quantize(&mut plain, q.set_row_bits(&[]).unwrap()).unwrap();
    assert!(q.row_bits().unwrap().is_empty(), "an empty slice clears the widths");
    assert_eq!(all4, plain);
    assert_eq!(uniform.row_bits().unwrap(), vec![4; f.rows]);

    // Failures leave w (and the quantizer) untouched.
    let mut w = f.w.clone();
    q.set_row_bits(&bits[1..]).unwrap();
    expect_error(solver.quantize(&mut w, &q), Status::Shape, "surgeon_solver_quantize");
    let mut bad = bits.clone();
    bad[5] = 9;
    expect_error(q.set_row_bits(&bad), Status::InvalidArgument, "surgeon_quantizer_set_row_bits");
    assert_eq!(q.row_bits().unwrap(), &bits[1..]);
    assert_eq!(w, f.w);
}

#[test]
fn joint_2of4_with_row_widths() {
    let (f, _, _, solver) = fixture_solver();
    let mut q = Quantizer::new(4).unwrap();
    let bits: Vec<u32> = (0..f.rows).map(|i| [2, 4, 8][i % 3]).collect();
    q.set_row_bits(&bits).unwrap();
    let mut options = nm(2, 4);
    options.set_quantizer(Some(&q)).unwrap();
    q.set_row_bits(&bits[..3]).unwrap(); // the options hold a copy of the quantizer
    let mut w = f.w.clone();
    let pruned = solver.prune(&mut w, &options).unwrap();
    assert!(pruned.mask().unwrap().check_nm(2, 4).unwrap());
    let quant = pruned.qresult().unwrap().expect("codes with a quantizer");
    assert_eq!(quant.row_bits().unwrap(), bits);
    let keep = pruned.mask().unwrap().to_bytes().unwrap();
    for (k, &c) in quant.codes().unwrap().iter().enumerate() {
        assert!((c as u32) < 1 << bits[k / f.cols]);
        if keep[k] == 0 {
            assert_eq!(w[k], 0.0);
        }
    }

    // Widths for 3 rows do not fit the weight: w is untouched.
    let mut w = f.w.clone();
    expect_error(solver.prune(&mut w, options.set_quantizer(Some(&q)).unwrap()), Status::Shape, "surgeon_solver_prune");
    assert_eq!(w, f.w);
}

/// The number after `"key":` in compact JSON.
fn json_number(json: &str, key: &str) -> f64 {
    let pattern = format!("\"{}\":", key);
    let at = json.find(&pattern).unwrap_or_else(|| panic!("no {} in {}", key, json)) + pattern.len();
    let rest = &json[at..];
    let end = rest.find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c))).unwrap_or(rest.len());
    rest[..end].parse().unwrap()
}

#[test]
fn stats_and_json_match_the_bits() {
    let (f, _, h) = fixture_streamed();
    let imp = Importance::compute(&h, None, &f.w, &SignalWeights::default()).unwrap();
    let bits = imp.allocate_budget(&mixed_options(&OPTIONS, 3.5)).unwrap();
    let (rows, cols) = (f.rows as f64, f.cols as f64);
    let payload = sum_bits(&bits) as f64 * cols;

    let options = StatsOptions { group_size: 32, ..Default::default() };
    let s = MixedStats::compute(&bits, f.cols, &options, Some(&imp)).unwrap();
    let s_imp = s;
    assert_eq!((s.channels, s.weights, s.grids), (64, 64 * 64, 128));
    for b in 0..9u32 {
        assert_eq!(s.histogram[b as usize], bits.iter().filter(|&&x| x == b).count() as u64, "{} bits", b);
    }
    assert_eq!(s.avg_bits, 3.5);
    // Per grid: a 16-bit scale and a zero point at the row's width; two grids per row.
    let overhead = 2.0 * bits.iter().map(|&b| 16.0 + b as f64).sum::<f64>();
    assert!(close(s.avg_bits_with_overhead, (payload + overhead) / (rows * cols), 1e-12));
    let scores = imp.scores();
    let summary = s.importance.expect("importance given");
    assert_eq!(summary.min, scores.iter().cloned().fold(f32::INFINITY, f32::min) as f64);
    assert_eq!(summary.max, scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64);
    assert!(close(summary.mean, 1.0, 1e-5), "normalised signals average 1: {}", summary.mean);

    let implicit = StatsOptions { scale_bits: 8, zero_bits: ZeroBits::Implicit, ..Default::default() };
    let s = MixedStats::compute(&bits, f.cols, &implicit, None).unwrap();
    assert_eq!(s.grids, 64);
    assert!(close(s.avg_bits_with_overhead, (payload + rows * 8.0) / (rows * cols), 1e-12));
    assert!(s.importance.is_none());

    let json = s_imp.json().unwrap();
    assert_eq!(json_number(&json, "channels"), 64.0);
    assert_eq!(json_number(&json, "grids"), 128.0);
    assert_eq!(json_number(&json, "avg_bits"), 3.5);
    assert!(json.contains("\"importance\""));
    let histogram_at = json.find("\"histogram\":{").expect("histogram") + "\"histogram\":".len();
    let histogram = &json[histogram_at..histogram_at + json[histogram_at..].find('}').unwrap() + 1];
    let mut listed = 0;
    for b in 1..=8u32 {
        let n = bits.iter().filter(|&&x| x == b).count();
        if n > 0 {
            assert_eq!(json_number(histogram, &b.to_string()), n as f64, "{} bits in {}", b, histogram);
            listed += n;
        } else {
            assert!(!histogram.contains(&format!("\"{}\"", b)), "{} bits listed in {}", b, histogram);
        }
    }
    assert_eq!(listed, f.rows);
    assert!(!MixedStats::compute(&bits, f.cols, &options, None).unwrap().json().unwrap().contains("importance"));

    expect_error(MixedStats::compute(&[3, 9], 4, &options, None), Status::InvalidArgument, "surgeon_mixed_stats_compute");
    expect_error(MixedStats::compute(&bits[1..], f.cols, &options, Some(&imp)), Status::Shape, "surgeon_mixed_stats_compute");
    expect_error(MixedStats::compute(&[], 4, &options, None), Status::Shape, "surgeon_mixed_stats_compute");
    let bad = StatsOptions { zero_bits: ZeroBits::Bits(65), ..Default::default() };
    expect_error(MixedStats::compute(&bits, f.cols, &bad, None), Status::InvalidArgument, "surgeon_mixed_stats_compute");
}

#[test]
fn importance_is_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Importance>();
    send_sync::<RowErrors>();
}

/// One budget over two layers of different widths and option sets equals the brute-force
/// optimum, stays within the budget, and refuses a budget below the smallest options.
#[test]
fn grouped_budget_over_layers_is_optimal_on_a_small_case() {
    let a = RowErrors::new(vec![1.0, 0.2, 5.0, 0.5, 0.3, 0.25], &[2, 4]).unwrap(); // 3 rows × 4 columns
    let b = RowErrors::new(vec![2.0, 9.0, 0.1, 1.0, 1.5, 0.9], &[3, 1, 5]).unwrap(); // 2 rows × 8 columns
    let layers = [BudgetLayer { costs: &a, weight: 4 }, BudgetLayer { costs: &b, weight: 8 }];
    let budget = 3 * 4 * 2 + 2 * 8 * 3 + 8;
    let bits = allocate_error_groups(&layers, budget).unwrap();
    assert_eq!(bits.len(), 2);
    let used: u64 = bits[0].iter().map(|&x| u64::from(x) * 4).sum::<u64>() + bits[1].iter().map(|&x| u64::from(x) * 8).sum::<u64>();
    assert!(used <= budget);
    let cost = a.total(&bits[0]).unwrap() + b.total(&bits[1]).unwrap();
    let mut best = f64::INFINITY;
    for c in 0..(8 * 9) {
        let (mut code, mut x, mut y) = (c, Vec::new(), Vec::new());
        for _ in 0..3 {
            x.push([2u32, 4][code % 2]);
            code /= 2;
        }
        for _ in 0..2 {
            y.push([3u32, 1, 5][code % 3]);
            code /= 3;
        }
        let s: u64 = x.iter().map(|&v| u64::from(v) * 4).sum::<u64>() + y.iter().map(|&v| u64::from(v) * 8).sum::<u64>();
        if s <= budget {
            best = best.min(a.total(&x).unwrap() + b.total(&y).unwrap());
        }
    }
    assert_eq!(cost, best);
    expect_error(allocate_error_groups(&layers, 3 * 4 * 2 + 2 * 8 - 1), Status::InvalidArgument,
                 "surgeon_allocate_error_groups");
}
