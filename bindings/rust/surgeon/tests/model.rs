//! The whole-model API on the bundled stories260K (numbers from the data's SOURCES.md).
use std::path::PathBuf;

use surgeon::{Context, EvalMode, Model, Status};

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../samples/data")
}

fn text() -> String {
    std::fs::read_to_string(data().join("tinystories-valid.txt")).expect("the bundled text")
}

#[test]
fn perplexity_encode_and_generate_match_the_sources() {
    let m = Model::load(data().join("stories260K.bin")).unwrap();
    let c = m.config();
    assert_eq!((c.dim, c.layers, c.vocab_size, c.head_dim), (64, 5, 512, 8));
    let text = text();
    let ids = m.encode(&text[..text.find("\n\n").unwrap()], true).unwrap();
    assert_eq!(&ids[..5], &[1, 301, 427, 309, 426]);
    let p = m.perplexity(&Context::default(), &text, EvalMode::Paragraphs, 0, Some(50), 0).unwrap();
    assert_eq!(p.tokens, 5055);
    assert!((p.nll - 1.3847).abs() < 1e-3, "nll {}", p.nll);
    let story = m.generate("", 40, 0.0, 0).unwrap();
    assert!(story.starts_with("Once upon a time, there was a little girl named Lily."), "{}", story);
}

#[test]
fn compress_save_reload_and_errors() {
    let mut m = Model::load(data().join("stories260K.bin")).unwrap();
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
    let before = m.perplexity(&ctx, &text(), EvalMode::Paragraphs, 0, Some(30), 0).unwrap();
    let dir = std::env::temp_dir().join(format!("surgeon-rust-model-{}", std::process::id()));
    m.save(&dir, "hf", "f32").unwrap();
    let back = Model::load(&dir).unwrap();
    let after = back.perplexity(&ctx, &text(), EvalMode::Paragraphs, 0, Some(30), 0).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(after.ppl, before.ppl);
    assert_eq!(Model::load("/nonexistent.bin").err().unwrap().status, Status::Io);
}
