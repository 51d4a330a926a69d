//! The whole-model API on the bundled stories260K (numbers from the data's SOURCES.md).
use std::path::PathBuf;

mod common;

use common::expect_error;
use surgeon::{ffn_select, Context, EvalMode, Ffn, FfnMethod, GenerateOptions, Model, ModelConfig, PruneNet, PruneNetOptions, Status, StructuredOptions};

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../samples/data")
}

fn text() -> String {
    std::fs::read_to_string(data().join("tinystories-valid.txt")).expect("the bundled text")
}

#[test]
fn perplexity_encode_and_generate_match_the_sources() {
    let m = Model::load(&Context::default(), data().join("stories260K.bin")).unwrap();
    let c = m.config();
    assert_eq!((c.dim, c.layers, c.vocab_size, c.head_dim), (64, 5, 512, 8));
    let text = text();
    let ids = m.encode(&text[..text.find("\n\n").unwrap()], true).unwrap();
    assert_eq!(&ids[..5], &[1, 301, 427, 309, 426]);
    let p = m.perplexity_of_text(&Context::default(), &text, EvalMode::Paragraphs, 0, Some(50), 0).unwrap();
    assert_eq!(p.tokens, 5055);
    assert!((p.nll - 1.3847).abs() < 1e-3, "nll {}", p.nll);
    // The file entry point reads the file the text came from; the token stream entry point
    // scores the windows the text's tokens make.
    let file = data().join("tinystories-valid.txt");
    assert_eq!(m.perplexity_of_file(&Context::default(), &file, EvalMode::Paragraphs, 0, Some(50), 0).unwrap(), p);
    let head = &text[..4000];
    let windows = m.perplexity_of_text(&Context::default(), head, EvalMode::Windows, 0, None, 0).unwrap();
    let stream = m.perplexity_of_tokens(&Context::default(), &m.encode(head, false).unwrap(), 0).unwrap();
    assert!(windows == stream && windows.tokens > 0, "{:?} {:?}", windows, stream);
    // A path given as the text is one paragraph: the error counts paragraphs.
    let e = m
        .perplexity_of_text(&Context::default(), file.to_str().unwrap(), EvalMode::Paragraphs, 2000, Some(2128), 0)
        .unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    assert!(e.message.ends_with("paragraphs 2000:2128 requested, the text has 1"), "{}", e.message);
    let e = m.perplexity_of_file(&Context::default(), data(), EvalMode::Paragraphs, 0, None, 0).unwrap_err();
    assert_eq!(e.status, Status::Io);
    let ctx = Context::builder().threads(2).build().unwrap();
    let story = m.generate(&ctx, "", GenerateOptions::new().unwrap().set_steps(40).unwrap()).unwrap();
    assert!(story.starts_with("Once upon a time, there was a little girl named Lily."), "{}", story);
    // Sampling is a function of the options; the defaults are 256 greedy steps.
    let mut sampled = GenerateOptions::new().unwrap();
    sampled.set_steps(60).unwrap().set_temperature(1.0).unwrap().set_seed(7).unwrap();
    let a = m.generate(&ctx, "Once", &sampled).unwrap();
    assert_eq!(a, m.generate(&Context::default(), "Once", &sampled).unwrap());
    assert!(a.starts_with("Once"), "{}", a);
    let defaults = m.generate(&ctx, "", &GenerateOptions::new().unwrap()).unwrap();
    assert!(defaults.starts_with(&story) && defaults.len() > story.len(), "{}", defaults);
}

#[test]
fn generate_options_defaults_and_refused_values() {
    let mut o = GenerateOptions::new().unwrap();
    assert_eq!((o.steps(), o.temperature(), o.seed()), (256, 0.0, 42));
    o.set_steps(12).unwrap().set_temperature(0.5).unwrap().set_seed(u64::MAX).unwrap();
    expect_error(o.set_steps(0), Status::InvalidArgument, "surgeon_generate_options_set_steps");
    expect_error(o.set_temperature(-1.0), Status::InvalidArgument, "surgeon_generate_options_set_temperature");
    expect_error(o.set_temperature(f64::NAN), Status::InvalidArgument, "surgeon_generate_options_set_temperature");
    assert_eq!((o.steps(), o.temperature(), o.seed()), (12, 0.5, u64::MAX));
}

#[test]
fn set_tokenizer_replaces_or_refuses() {
    let mut m = Model::load(&Context::default(), data().join("stories260K.bin")).unwrap();
    m.set_tokenizer(&Context::default(), data().join("tok512.bin")).unwrap();
    assert_eq!(&m.encode("Once", true).unwrap()[..1], &[1]);
    expect_error(m.set_tokenizer(&Context::default(), "/nonexistent/tokenizer.bin"), Status::Io, "surgeon_model_set_tokenizer");
}

#[test]
fn compress_save_reload_and_errors() {
    let mut m = Model::load(&Context::default(), data().join("stories260K.bin")).unwrap();
    let ctx = Context::default();
    let (wq, rows, cols) = m.linear(0, "wq").unwrap();
    let bad = m.compress(&ctx, &text(), 0, 1, r#"{"default": {"method": "gptq", "bits": 12}}"#).unwrap_err();
    assert_eq!(bad.status, Status::InvalidArgument);
    let mut nan = wq.clone();
    nan[3] = f32::NAN;
    assert_eq!(m.set_linear(0, "wq", &nan, rows, cols).unwrap_err().status, Status::Numeric);
    assert_eq!(m.linear(0, "wq").unwrap().0, wq);

    let report = m.compress(&ctx, &text(), 2000, 2016, r#"{"default": {"method": "sparsegpt", "nm": "2:4"}}"#).unwrap();
    assert!(report.contains("\"linear_sparsity\":0.5"), "{}", report);
    let before = m.perplexity_of_text(&ctx, &text(), EvalMode::Paragraphs, 0, Some(30), 0).unwrap();
    let dir = std::env::temp_dir().join(format!("surgeon-rust-model-{}", std::process::id()));
    m.save(&ctx, &dir, "hf", "f32").unwrap();
    let back = Model::load(&ctx, &dir).unwrap();
    let after = back.perplexity_of_text(&ctx, &text(), EvalMode::Paragraphs, 0, Some(30), 0).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(after.ppl, before.ppl);
    assert_eq!(Model::load(&ctx, "/nonexistent.bin").err().unwrap().status, Status::Io);
}

/// The FFN of every block: (gate, up, down) as the model holds them.
fn ffns(m: &Model) -> Vec<(Vec<f32>, Vec<f32>, Vec<f32>)> {
    (0..m.config().layers)
        .map(|b| (m.linear(b, "w1").unwrap().0, m.linear(b, "w3").unwrap().0, m.linear(b, "w2").unwrap().0))
        .collect()
}

/// The neurons kept at `ratio` by descending score (ties to the lower index), ascending:
/// an independent top-k.
fn top_k(scores: &[f64], ratio: f64) -> Vec<usize> {
    let keep = (scores.len() - (ratio * scores.len() as f64).round() as usize).max(1);
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].partial_cmp(&scores[a]).unwrap().then(a.cmp(&b)));
    let mut kept = order[..keep].to_vec();
    kept.sort_unstable();
    kept
}

/// `after` (the pruned model's FFN) holds exactly the neurons `keep` of `before`.
fn assert_sliced(before: &(Vec<f32>, Vec<f32>, Vec<f32>), after: &(Vec<f32>, Vec<f32>, Vec<f32>), keep: &[usize], dim: usize) {
    let (hidden, kept) = (before.0.len() / dim, keep.len());
    assert_eq!((after.0.len(), after.1.len(), after.2.len()), (kept * dim, kept * dim, dim * kept));
    for (r, &k) in keep.iter().enumerate() {
        assert_eq!(&after.0[r * dim..(r + 1) * dim], &before.0[k * dim..(k + 1) * dim], "gate row {}", k);
        assert_eq!(&after.1[r * dim..(r + 1) * dim], &before.1[k * dim..(k + 1) * dim], "up row {}", k);
        for c in 0..dim {
            assert_eq!(after.2[c * kept + r], before.2[c * hidden + k], "down column {}", k);
        }
    }
}

/// The bundled model with a default context, its dimensions and its FFNs.
fn stories260k() -> (Context, Model, ModelConfig, Vec<(Vec<f32>, Vec<f32>, Vec<f32>)>) {
    let ctx = Context::default();
    let m = Model::load(&ctx, data().join("stories260K.bin")).unwrap();
    let (c, f) = (m.config(), ffns(&m));
    (ctx, m, c, f)
}

#[test]
fn structured_pruning_keeps_the_top_l2_neurons_of_every_block() {
    let (ctx, original, c, before) = stories260k();
    let mut m = original.try_clone().unwrap();

    let mut options = StructuredOptions::new().unwrap();
    options.set_method(FfnMethod::L2).unwrap().set_ratio(0.3).unwrap();
    assert_eq!((options.ratio(), options.head_ratio()), (0.3, 0.0));
    let report = m.prune_structured(&ctx, &options).unwrap();
    assert_eq!(m.report().unwrap(), report);

    let after = ffns(&m);
    let mut removed = 0;
    for (b, (block, pruned)) in before.iter().zip(&after).enumerate() {
        // ‖[gate_i, up_i]‖₂ in f64.
        let scores: Vec<f64> = (0..c.hidden_dim)
            .map(|i| {
                let row = i * c.dim..(i + 1) * c.dim;
                block.0[row.clone()].iter().chain(&block.1[row]).map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt()
            })
            .collect();
        let keep = top_k(&scores, 0.3);
        assert_sliced(block, pruned, &keep, c.dim);
        removed += c.hidden_dim - keep.len();
        println!("block {}: {} of {} neurons kept", b, keep.len(), c.hidden_dim);
    }
    let pruned = m.config();
    assert_eq!(pruned.hidden_dim, after[0].0.len() / c.dim);
    assert_eq!(c.parameters - pruned.parameters, (3 * c.dim * removed) as u64, "three matrices lose dim values per neuron");
    assert!(report.contains(&format!("\"params_before\":{}", c.parameters)), "{}", report);
    assert!(report.contains(&format!("\"params_after\":{}", pruned.parameters)), "{}", report);
    let p = m.perplexity_of_text(&ctx, &text(), EvalMode::Paragraphs, 0, Some(20), 0).unwrap();
    assert!(p.ppl.is_finite() && p.tokens > 0, "{:?}", p);
}

#[test]
fn structured_pruning_with_a_policy_and_kv_groups() {
    let (ctx, original, c, before) = stories260k();
    let training = PruneNetOptions { steps: 3, samples: 2, ..Default::default() };
    let policy = PruneNet::train_model(&ctx, data().join("stories260K.bin"), &training).unwrap();

    // A given policy scores the neurons: every block keeps the policy's top-k.
    let mut m = original.try_clone().unwrap();
    let mut options = StructuredOptions::new().unwrap();
    options.set_policy(Some(&policy)).unwrap().set_ratio(0.25).unwrap().set_head_ratio(0.5).unwrap();
    let report = m.prune_structured(&ctx, &options).unwrap();
    for (block, pruned) in before.iter().zip(&ffns(&m)) {
        let ffn = Ffn::new(&block.0, &block.1, &block.2, c.dim).unwrap();
        let scores: Vec<f64> = policy.scores(&ffn).unwrap().iter().map(|&s| s as f64).collect();
        assert_sliced(block, pruned, &top_k(&scores, 0.25), c.dim);
        assert_eq!(top_k(&scores, 0.25), ffn_select(&policy.scores(&ffn).unwrap(), 0.25).unwrap());
    }

    // Half of the kv groups, with their query heads, are gone from every block.
    let p = m.config();
    let groups = c.kv_heads / 2;
    let heads_per_group = c.heads / c.kv_heads;
    assert_eq!((p.kv_heads, p.heads, p.head_dim), (c.kv_heads - groups, c.heads - groups * heads_per_group, c.head_dim));
    let (wq_rows, wk_rows) = (m.linear(0, "wq").unwrap().1, m.linear(0, "wk").unwrap().1);
    assert_eq!((wq_rows, wk_rows), (p.heads * c.head_dim, p.kv_heads * c.head_dim));
    // Per group: wq rows and wo columns of its query heads, wk and wv rows of its kv head.
    let attention = (2 * heads_per_group + 2) * c.head_dim * c.dim * groups * c.layers;
    let ffn: usize = ffns(&m).iter().map(|f| 3 * (c.hidden_dim * c.dim - f.0.len())).sum();
    assert_eq!(c.parameters - p.parameters, (attention + ffn) as u64);
    assert!(report.contains("\"kv_groups_removed\":[["), "{}", report);

    // Invalid settings: refused by the setter, or by the call, which leaves the model as it was.
    expect_error(options.set_ratio(1.0), Status::InvalidArgument, "surgeon_structured_options_set_ratio");
    expect_error(options.set_head_ratio(-0.1), Status::InvalidArgument, "surgeon_structured_options_set_head_ratio");
    let mut other = original.try_clone().unwrap();
    let wrong = PruneNet::new(c.dim + 1, 2, 1).unwrap();
    options.set_policy(Some(&wrong)).unwrap();
    expect_error(other.prune_structured(&ctx, &options), Status::Shape, "surgeon_model_prune_structured");
    assert_eq!(other.config(), c);
    assert_eq!(ffns(&other), before);
}
