//! Structured FFN pruning through the binding: spectra and KS distances against closed
//! forms, baseline scores, selection and slicing against direct computations (the sliced
//! block computes what the full one computes with the removed neurons silenced), and
//! PruneNet training, determinism and its save/load round trip.
use std::path::PathBuf;

mod common;

use common::expect_error;
use surgeon::{ffn_select, ks_distance, singular_values, spectral_distance, Context, Ffn, FfnMethod, Model, PruneNet, PruneNetOptions, Status};

/// Deterministic pseudo-random values in [-1, 1) (splitmix64).
fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

struct Block {
    gate: Vec<f32>,
    up: Vec<f32>,
    down: Vec<f32>,
    dim: usize,
}

impl Block {
    fn random(hidden: usize, dim: usize, seed: u64) -> Block {
        Block { gate: random(hidden * dim, seed), up: random(hidden * dim, seed + 1), down: random(dim * hidden, seed + 2), dim }
    }

    fn ffn(&self) -> Ffn<'_> {
        Ffn::new(&self.gate, &self.up, &self.down, self.dim).unwrap()
    }
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("surgeon-rust-{}-{}", std::process::id(), name))
}

#[test]
fn singular_values_match_closed_forms() {
    // [[3, 0, 0], [0, -4, 0]]: 4 and 3.
    let s = singular_values(&[3.0, 0.0, 0.0, 0.0, -4.0, 0.0], 3).unwrap();
    assert_eq!(s.len(), 2);
    assert!((s[0] - 4.0).abs() < 1e-5 && (s[1] - 3.0).abs() < 1e-5, "{:?}", s);

    // u vᵀ has one singular value ‖u‖·‖v‖.
    let (u, v) = ([1.0f32, -2.0, 2.0, 0.5, 1.5], [2.0f32, 1.0, -2.0]);
    let outer: Vec<f32> = u.iter().flat_map(|a| v.iter().map(move |b| a * b)).collect();
    let s = singular_values(&outer, 3).unwrap();
    let norm = |x: &[f32]| x.iter().map(|a| a * a).sum::<f32>().sqrt();
    assert!((s[0] - norm(&u) * norm(&v)).abs() < 1e-4, "{:?}", s);
    assert!(s[1].abs() < 1e-4 && s[2].abs() < 1e-4, "{:?}", s);

    // Σ σ² = ‖A‖_F², descending.
    let a = random(7 * 5, 11);
    let s = singular_values(&a, 5).unwrap();
    assert_eq!(s.len(), 5);
    assert!(s.windows(2).all(|p| p[0] >= p[1]));
    let frobenius: f64 = a.iter().map(|&x| (x as f64).powi(2)).sum();
    let spectral: f64 = s.iter().map(|&x| (x as f64).powi(2)).sum();
    assert!((frobenius - spectral).abs() < 1e-4 * frobenius);

    expect_error(singular_values(&[1.0; 7], 3), Status::Shape, "surgeon_singular_values");
}

#[test]
fn ks_distance_matches_closed_forms() {
    let a: Vec<f32> = (0..10).map(|i| i as f32).collect();
    assert_eq!(ks_distance(&a, &a).unwrap(), 0.0);
    let mut shuffled = a.clone();
    shuffled.reverse();
    assert_eq!(ks_distance(&a, &shuffled).unwrap(), 0.0);
    // Shifting n evenly spaced values by k steps: sup |F_a − F_b| = k/n.
    for k in 1..10 {
        let b: Vec<f32> = a.iter().map(|x| x + k as f32).collect();
        assert!((ks_distance(&a, &b).unwrap() - k as f64 / 10.0).abs() < 1e-12, "shift {}", k);
    }
    let far: Vec<f32> = a.iter().map(|x| x + 100.0).collect();
    assert_eq!(ks_distance(&a, &far).unwrap(), 1.0);
    // Different sizes: F_a(2) = 1, F_b(2) = 1/2.
    assert_eq!(ks_distance(&[1.0, 2.0], &[1.0, 2.0, 3.0, 4.0]).unwrap(), 0.5);
    expect_error(ks_distance(&[], &[1.0]), Status::InvalidArgument, "surgeon_ks_distance");
}

#[test]
fn spectral_distance_compares_singular_values() {
    // diag(1, 1.2, 1.5, 2) against itself and against 10× itself (disjoint spectra).
    let mut a = vec![0.0f32; 16];
    for (i, v) in [1.0, 1.2, 1.5, 2.0].iter().enumerate() {
        a[i * 5] = *v;
    }
    assert_eq!(spectral_distance(&a, 4, &a, 4).unwrap(), 0.0);
    let scaled: Vec<f32> = a.iter().map(|x| x * 10.0).collect();
    assert_eq!(spectral_distance(&a, 4, &scaled, 4).unwrap(), 1.0);

    // A matrix with rows removed: the KS distance of the two spectra.
    let m = random(12 * 6, 5);
    let pruned = &m[..9 * 6];
    let want = ks_distance(&singular_values(&m, 6).unwrap(), &singular_values(pruned, 6).unwrap()).unwrap();
    assert_eq!(spectral_distance(&m, 6, pruned, 6).unwrap(), want);
    expect_error(spectral_distance(&m, 6, &m[..5], 6), Status::Shape, "surgeon_spectral_distance");
}

fn silu(x: f64) -> f64 {
    x / (1.0 + (-x).exp())
}

/// down · (silu(gate x) ⊙ up x) with only the neurons for which `active` is true.
fn ffn_output(gate: &[f32], up: &[f32], down: &[f32], hidden: usize, dim: usize, x: &[f32], active: &dyn Fn(usize) -> bool) -> Vec<f64> {
    let dot = |row: &[f32]| row.iter().zip(x).map(|(a, b)| (*a as f64) * (*b as f64)).sum::<f64>();
    let h: Vec<f64> = (0..hidden)
        .map(|i| if active(i) { silu(dot(&gate[i * dim..(i + 1) * dim])) * dot(&up[i * dim..(i + 1) * dim]) } else { 0.0 })
        .collect();
    (0..dim).map(|r| (0..hidden).map(|i| down[r * hidden + i] as f64 * h[i]).sum()).collect()
}

#[test]
fn ffn_scores_select_and_slice() {
    let (hidden, dim) = (12, 8);
    let block = Block::random(hidden, dim, 21);
    let ffn = block.ffn();
    assert_eq!((ffn.hidden(), ffn.dim()), (hidden, dim));

    // L2: ‖[gate_i, up_i]‖₂.
    let l2 = ffn.scores(FfnMethod::L2, 0).unwrap();
    for (i, &score) in l2.iter().enumerate() {
        let row = i * dim..(i + 1) * dim;
        let want = block.gate[row.clone()].iter().chain(&block.up[row]).map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
        assert!((score as f64 - want).abs() < 1e-5 * want, "neuron {}", i);
    }
    let r1 = ffn.scores(FfnMethod::Random, 3).unwrap();
    assert_eq!(r1, ffn.scores(FfnMethod::Random, 3).unwrap());
    assert_ne!(r1, ffn.scores(FfnMethod::Random, 4).unwrap());

    // Top-k: remove round(0.25 · 12) = 3, keep the 9 highest, ascending.
    let keep = ffn_select(&l2, 0.25).unwrap();
    let mut ranked: Vec<usize> = (0..hidden).collect();
    ranked.sort_by(|&a, &b| l2[b].partial_cmp(&l2[a]).unwrap().then(a.cmp(&b)));
    let mut want: Vec<usize> = ranked[..9].to_vec();
    want.sort_unstable();
    assert_eq!(keep, want);
    // Ties go to the lower index; at least one neuron stays.
    assert_eq!(ffn_select(&[1.0, 3.0, 3.0, 2.0], 0.5).unwrap(), vec![1, 2]);
    assert_eq!(ffn_select(&[2.0; 4], 0.5).unwrap(), vec![0, 1]);
    assert_eq!(ffn_select(&[5.0, 1.0, 7.0], 0.99).unwrap(), vec![2]);
    assert_eq!(ffn_select(&l2, 0.0).unwrap(), (0..hidden).collect::<Vec<_>>());

    let small = ffn.slice(&keep).unwrap();
    assert_eq!((small.hidden, small.dim), (9, dim));
    assert_eq!((small.gate.len(), small.up.len(), small.down.len()), (9 * dim, 9 * dim, dim * 9));
    for (r, &k) in keep.iter().enumerate() {
        assert_eq!(&small.gate[r * dim..(r + 1) * dim], &block.gate[k * dim..(k + 1) * dim]);
        assert_eq!(&small.up[r * dim..(r + 1) * dim], &block.up[k * dim..(k + 1) * dim]);
        for c in 0..dim {
            assert_eq!(small.down[c * 9 + r], block.down[c * hidden + k]);
        }
    }
    // The sliced block computes what the full one computes with the other neurons silenced.
    let x = random(dim, 99);
    let full = ffn_output(&block.gate, &block.up, &block.down, hidden, dim, &x, &|i| keep.contains(&i));
    let sliced = ffn_output(&small.gate, &small.up, &small.down, 9, dim, &x, &|_| true);
    for (a, b) in full.iter().zip(&sliced) {
        assert!((a - b).abs() < 1e-9, "{} vs {}", a, b);
    }
    assert_eq!(small.view().unwrap().slice(&[0, 8]).unwrap().hidden, 2);

    expect_error(Ffn::new(&block.gate, &block.up, &block.down[1..], dim), Status::Shape, "Ffn::new");
    expect_error(Ffn::new(&block.gate, &block.up[..dim], &block.down, dim), Status::Shape, "Ffn::new");
    expect_error(ffn.slice(&[3, 1]), Status::InvalidArgument, "surgeon_ffn_slice");
    expect_error(ffn.slice(&[1, 12]), Status::InvalidArgument, "surgeon_ffn_slice");
    expect_error(ffn.slice(&[]), Status::InvalidArgument, "surgeon_ffn_slice");
    expect_error(ffn_select(&l2, 1.0), Status::InvalidArgument, "surgeon_ffn_select");
    expect_error(ffn_select(&[], 0.5), Status::Shape, "surgeon_ffn_select");
}

#[test]
fn prunenet_options_default_and_validation() {
    let d = PruneNetOptions::default();
    assert_eq!((d.ratio, d.steps, d.samples, d.learning_rate, d.features, d.seed), (0.3, 150, 8, 0.05, 8, 1));
    let block = Block::random(16, 8, 1);
    let ctx = Context::default();
    let train = |o: PruneNetOptions| PruneNet::train_ffn(&ctx, &[block.ffn()], &o);
    expect_error(train(PruneNetOptions { samples: 1, ..d }), Status::InvalidArgument, "surgeon_prunenet_train_ffn");
    expect_error(train(PruneNetOptions { ratio: 1.0, ..d }), Status::InvalidArgument, "surgeon_prunenet_train_ffn");
    expect_error(train(PruneNetOptions { steps: u32::MAX, ..d }), Status::InvalidArgument, "surgeon_prunenet_train_ffn");
    expect_error(PruneNet::train_ffn(&ctx, &[], &d), Status::InvalidArgument, "surgeon_prunenet_train_ffn");
    let other = Block::random(16, 4, 2);
    expect_error(PruneNet::train_ffn(&ctx, &[block.ffn(), other.ffn()], &d), Status::Shape, "surgeon_prunenet_train_ffn");
}

#[test]
fn prunenet_trains_and_round_trips_through_a_file() {
    let dim = 16;
    let blocks = [Block::random(32, dim, 100), Block::random(40, dim, 200)];
    let ffns: Vec<Ffn<'_>> = blocks.iter().map(Block::ffn).collect();
    let options = PruneNetOptions { steps: 6, samples: 4, features: 4, seed: 7, ..Default::default() };
    let ctx = Context::builder().threads(1).build().unwrap();
    let policy = PruneNet::train_ffn(&ctx, &ffns, &options).unwrap();
    assert_eq!(policy.dim(), dim);

    // Same seed, same policy.
    let again = PruneNet::train_ffn(&ctx, &ffns, &options).unwrap();
    for ffn in &ffns {
        let scores = policy.scores(ffn).unwrap();
        assert_eq!(scores.len(), ffn.hidden());
        assert!(scores.iter().all(|&p| p > 0.0 && p < 1.0), "keep-probabilities: {:?}", scores);
        assert_eq!(scores, again.scores(ffn).unwrap());
        // Selection at any ratio keeps hidden − round(ratio · hidden) neurons.
        for &ratio in &[0.25, 0.5] {
            let keep = ffn_select(&scores, ratio).unwrap();
            let removed = (ratio * ffn.hidden() as f64).round() as usize;
            assert_eq!(keep.len(), ffn.hidden() - removed);
        }
    }

    let path = temp_path("policy.json");
    policy.save(&ctx, &path).unwrap();
    let loaded = PruneNet::load(&ctx, &path).unwrap();
    assert_eq!(loaded.dim(), dim);
    for ffn in &ffns {
        assert_eq!(loaded.scores(ffn).unwrap(), policy.scores(ffn).unwrap());
    }
    // A truncated file is an Io error.
    let text = std::fs::read(&path).unwrap();
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    expect_error(PruneNet::load(&ctx, &path), Status::Io, "surgeon_prunenet_load");
    std::fs::remove_file(&path).unwrap();
    expect_error(PruneNet::load(&ctx, "/nonexistent/policy.json"), Status::Io, "surgeon_prunenet_load");
    expect_error(policy.save(&ctx, "/nonexistent/dir/policy.json"), Status::Io, "surgeon_prunenet_save");

    // A policy for another hidden size refuses the block.
    let untrained = PruneNet::new(8, 4, 1).unwrap();
    assert_eq!(untrained.dim(), 8);
    expect_error(untrained.scores(&ffns[0]), Status::Shape, "surgeon_prunenet_scores");
    expect_error(PruneNet::new(0, 4, 1), Status::InvalidArgument, "surgeon_prunenet_new");
}

#[test]
fn prunenet_trains_on_the_bundled_model() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../samples/data");
    let model = Model::load(&Context::default(), data.join("stories260K.bin")).unwrap();
    let c = model.config();
    let options = PruneNetOptions { steps: 3, samples: 2, ..Default::default() };
    let policy = PruneNet::train_model(&Context::default(), data.join("stories260K.bin"), &options).unwrap();
    assert_eq!(policy.dim(), c.dim);

    let (gate, hidden, dim) = model.linear(0, "w1").unwrap();
    let (up, _, _) = model.linear(0, "w3").unwrap();
    let (down, down_rows, down_cols) = model.linear(0, "w2").unwrap();
    assert_eq!((hidden, dim, down_rows, down_cols), (c.hidden_dim, c.dim, c.dim, c.hidden_dim));
    let ffn = Ffn::new(&gate, &up, &down, dim).unwrap();
    let keep = ffn_select(&policy.scores(&ffn).unwrap(), 0.3).unwrap();
    assert_eq!(keep.len(), hidden - (0.3 * hidden as f64).round() as usize);
    let small = ffn.slice(&keep).unwrap();
    // Removing neurons changes the spectra, but not all of them: a distance in (0, 1).
    let d = spectral_distance(&gate, dim, &small.gate, dim).unwrap();
    assert!(d > 0.0 && d < 1.0, "{}", d);
    expect_error(
        PruneNet::train_model(&Context::default(), "/nonexistent.bin", &options),
        Status::Io,
        "surgeon_prunenet_train_model",
    );
}

#[test]
fn prunenet_is_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<PruneNet>();
    send_sync::<Ffn<'_>>();
    // Concurrent reads of one policy give the sequential result.
    let block = Block::random(24, 8, 5);
    let policy = PruneNet::new(8, 4, 3).unwrap();
    let want = policy.scores(&block.ffn()).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| assert_eq!(policy.scores(&block.ffn()).unwrap(), want));
        }
    });
}
