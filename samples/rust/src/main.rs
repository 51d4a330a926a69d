//! Compresses one real linear layer (stories260K, block 2, attention wq) with the Rust
//! binding: streams the calibration inputs X into a Hessian in batches, then runs
//! SparseGPT 2:4, GPTQ 4-bit and both jointly from one solver, prints each result's
//! relative reconstruction error and writes the compressed weights as .npy files. Given a
//! model and a text file too, it first prints the model's perplexity on the text's first
//! 20 paragraphs.
//!
//!   surgeon-sample [fixture_dir] [out_dir] [model text_file]
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use surgeon::{
    npy, reconstruction_error, Context, EvalMode, Hessian, LogLevel, Model, PruneOptions, Quantizer, Solver,
    SolverOptions,
};

const BATCH_ROWS: usize = 512;

/// Loads a model (llama2.c file or Hugging Face directory, with its tokenizer beside it)
/// and scores paragraphs 0..20 of a text file.
fn perplexity(model_path: &Path, text_file: &Path) -> surgeon::Result<()> {
    let ctx = Context::default();
    let model = Model::load(&ctx, model_path)?;
    let c = model.config();
    let p = model.perplexity_of_file(&ctx, text_file, EvalMode::Paragraphs, 0, Some(20), 0)?;
    println!(
        "model {} ({} blocks, dim {}): perplexity {:.4} over {} paragraphs, {} tokens",
        model_path.file_name().unwrap_or_default().to_string_lossy(),
        c.layers,
        c.dim,
        p.ppl,
        p.sequences,
        p.tokens
    );
    Ok(())
}

fn run(fixture: PathBuf, out_dir: PathBuf) -> surgeon::Result<()> {
    let w = npy::read_f32(fixture.join("W.npy"))?;
    let x = npy::read_f32(fixture.join("X.npy"))?;
    let (rows, cols) = w.dims2().expect("W is a matrix");
    let (tokens, _) = x.dims2().expect("X is a matrix");
    println!("layer {} x {}, {} calibration tokens, Surgeon {}", rows, cols, tokens, surgeon::version());

    let ctx = Context::builder()
        .on_log(|level, message| {
            if level >= LogLevel::Warning {
                eprintln!("surgeon: {}", message)
            }
        })
        .build()?;
    // Streaming: each batch is passed without a copy; the accumulator keeps only H.
    let mut hessian = Hessian::new(&ctx, cols)?;
    for batch in x.data.chunks(BATCH_ROWS * cols) {
        hessian.add_f32(batch)?;
    }
    println!("hessian: {} rows in batches of {}", hessian.samples(), BATCH_ROWS);

    let solver = Solver::new(&ctx, &hessian, &SolverOptions::new()?)?;
    let gptq4 = Quantizer::new(4)?;
    std::fs::create_dir_all(&out_dir).map_err(|e| surgeon::Error {
        status: surgeon::Status::Io,
        message: format!("{}: {}", out_dir.display(), e),
    })?;

    // Options objects mirror the C API's: made with new(), changed with checked setters.
    let mut two_of_four = PruneOptions::new()?;
    two_of_four.set_nm(2, 4)?;
    let mut pruned = w.data.clone();
    let result = solver.prune(&mut pruned, &two_of_four)?;
    assert!(result.mask()?.check_nm(2, 4)?);
    report(&hessian, &w.data, &pruned, "SparseGPT 2:4")?;
    npy::write_f32(out_dir.join("W_sparsegpt_2of4.npy"), &pruned, &[rows, cols])?;

    let mut quantized = w.data.clone();
    let (codes, _loss) = solver.quantize(&mut quantized, &gptq4)?;
    let shape = codes.shape();
    report(&hessian, &w.data, &quantized, "GPTQ 4-bit")?;
    println!("  codes {} x {} ({} bits), scales {}", shape.rows, shape.cols, shape.bits, codes.scales()?.len());
    npy::write_f32(out_dir.join("W_gptq_w4.npy"), &quantized, &[rows, cols])?;

    let mut joint = w.data.clone();
    solver.prune(&mut joint, two_of_four.set_quantizer(Some(&gptq4))?)?;
    report(&hessian, &w.data, &joint, "SparseGPT 2:4 + 4-bit")?;
    npy::write_f32(out_dir.join("W_sparsegpt_2of4_w4.npy"), &joint, &[rows, cols])?;

    println!("wrote W_sparsegpt_2of4.npy W_gptq_w4.npy W_sparsegpt_2of4_w4.npy to {}", out_dir.display());
    Ok(())
}

fn report(h: &Hessian, w: &[f32], w_hat: &[f32], name: &str) -> surgeon::Result<()> {
    let error = reconstruction_error(h, w, w_hat)?;
    let zeros = w_hat.iter().filter(|&&v| v == 0.0).count() as f64 / w_hat.len() as f64;
    println!("{:<24} relative reconstruction error {:.6}  zeros {:.1}%", name, error, 100.0 * zeros);
    Ok(())
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let default_fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/stories260K_block2_wq");
    let fixture = args.next().map_or_else(|| PathBuf::from(default_fixture), PathBuf::from);
    let out_dir = args.next().map_or_else(|| PathBuf::from("."), PathBuf::from);
    let model = args.next().map(PathBuf::from);
    let text = args.next().map(PathBuf::from);
    let result = match (model, text) {
        (Some(model), Some(text)) => perplexity(&model, &text),
        _ => Ok(()),
    };
    match result.and_then(|()| run(fixture, out_dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e);
            ExitCode::FAILURE
        }
    }
}
