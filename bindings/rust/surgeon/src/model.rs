//! A whole Llama-family model (llama2.c file or Hugging Face directory): perplexity,
//! true-sequential compression by a JSON recipe, saving, and weights in and out.
use std::ffi::CString;
use std::path::Path;

use crate::context::Context;
use crate::error::{check, error, expect_ok, Result, Status};
use crate::handle::{binding, getters, options_type, read_buffer, read_text, setters, Binding, Handle};
use crate::hessian::c_path;
use crate::structured::StructuredOptions;
use crate::sys;

/// A model in memory with its tokenizer when one lies beside it. Reads take `&self` (the
/// C API allows them concurrently); compress and set_linear take `&mut self`.
pub struct Model {
    raw: Handle<sys::surgeon_model>,
}

/// The model's dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelConfig {
    pub dim: usize,
    pub hidden_dim: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub vocab_size: usize,
    pub seq_len: usize,
    pub parameters: u64,
    pub head_dim: usize,
}

/// Perplexity over `sequences` sequences and `tokens` predicted tokens.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Perplexity {
    pub sequences: u64,
    pub tokens: u64,
    pub nll: f64,
    pub ppl: f64,
}

/// The evaluation protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalMode {
    /// Each "\n\n" paragraph scored as `[BOS]` + tokens, truncated to the context.
    Paragraphs,
    /// The whole text in non-overlapping context-sized windows, no BOS.
    Windows,
}

fn c_text(function: &str, what: &str, text: &str) -> Result<CString> {
    CString::new(text).map_err(|_| error(Status::InvalidArgument, function, format!("{} contains a NUL byte", what)))
}

fn i64_of(function: &str, what: &str, v: usize) -> Result<i64> {
    i64::try_from(v).map_err(|_| error(Status::InvalidArgument, function, format!("{} = {} is too large", what, v)))
}

/// The C `end` of a range: -1 for "to the last one".
fn end_of(function: &str, end: Option<usize>) -> Result<i64> {
    end.map_or(Ok(-1), |e| i64_of(function, "end", e))
}

/// Runs a perplexity call into a `surgeon_perplexity` initialised for this header's version.
fn perplexity(call: impl FnOnce(*mut sys::surgeon_perplexity) -> sys::surgeon_status) -> Result<Perplexity> {
    let mut out = sys::surgeon_perplexity { version: 0, sequences: 0, tokens: 0, nll: 0.0, ppl: 0.0 };
    // SAFETY: out is a valid struct.
    expect_ok(unsafe { sys::surgeon_perplexity_init(&mut out, sys::SURGEON_PERPLEXITY_VERSION) });
    check(call(&mut out))?;
    Ok(Perplexity { sequences: out.sequences as u64, tokens: out.tokens as u64, nll: out.nll, ppl: out.ppl })
}

impl EvalMode {
    fn raw(self) -> sys::surgeon_eval_mode {
        match self {
            EvalMode::Paragraphs => sys::surgeon_eval_mode_SURGEON_EVAL_PARAGRAPHS,
            EvalMode::Windows => sys::surgeon_eval_mode_SURGEON_EVAL_WINDOWS,
        }
    }
}

binding!(Model => surgeon_model);

impl Model {
    /// Loads a llama2.c `.bin` file or a Hugging Face directory (`Status::Io` when
    /// unreadable); what was loaded goes to the context's log callback.
    pub fn load<P: AsRef<Path>>(ctx: &Context, path: P) -> Result<Model> {
        let path = c_path("surgeon_model_load", path.as_ref())?;
        // SAFETY: path is NUL-terminated; out is a valid out pointer.
        Ok(Model { raw: Handle::new(|out| unsafe { sys::surgeon_model_load(out, ctx.as_raw(), path.as_ptr()) })? })
    }

    /// Loads (or replaces) the tokenizer: a Hugging Face `tokenizer.json` (a path ending in
    /// `.json`) or a llama2.c tokenizer; its ids must fit the model's vocabulary. What was
    /// loaded goes to the context's log callback.
    pub fn set_tokenizer<P: AsRef<Path>>(&mut self, ctx: &Context, path: P) -> Result<()> {
        let path = c_path("surgeon_model_set_tokenizer", path.as_ref())?;
        // SAFETY: exclusive borrow; path NUL-terminated.
        check(unsafe { sys::surgeon_model_set_tokenizer(ctx.as_raw(), self.raw.as_ptr(), path.as_ptr()) })
    }

    /// A deep copy (weights and tokenizer).
    pub fn try_clone(&self) -> Result<Model> {
        // SAFETY: const call on a live handle; out is a valid out pointer.
        Ok(Model { raw: Handle::new(|out| unsafe { sys::surgeon_model_clone(out, self.raw.as_ptr()) })? })
    }

    /// The model's dimensions.
    pub fn config(&self) -> ModelConfig {
        let mut c = sys::surgeon_model_config {
            version: 0, dim: 0, hidden_dim: 0, n_layers: 0, n_heads: 0, n_kv_heads: 0, vocab_size: 0, seq_len: 0,
            parameters: 0, head_dim: 0,
        };
        // SAFETY: c is a valid struct, then a versioned out pointer of a const call.
        expect_ok(unsafe { sys::surgeon_model_config_init(&mut c, sys::SURGEON_MODEL_CONFIG_VERSION) });
        expect_ok(unsafe { sys::surgeon_model_get_config(self.raw.as_ptr(), &mut c) });
        ModelConfig {
            dim: c.dim as usize,
            hidden_dim: c.hidden_dim as usize,
            layers: c.n_layers as usize,
            heads: c.n_heads as usize,
            kv_heads: c.n_kv_heads as usize,
            vocab_size: c.vocab_size as usize,
            seq_len: c.seq_len as usize,
            parameters: c.parameters as u64,
            head_dim: c.head_dim as usize,
        }
    }

    /// Token ids of `text`, with BOS first when `bos`.
    pub fn encode(&self, text: &str, bos: bool) -> Result<Vec<i32>> {
        const F: &str = "surgeon_model_encode";
        let text = c_text(F, "text", text)?;
        // SAFETY: const call; text is NUL-terminated; ids holds cap int32.
        read_buffer(|ids, cap, needed| unsafe { sys::surgeon_model_encode(self.raw.as_ptr(), text.as_ptr(), bos as i32, ids, cap, needed) })
    }

    /// Perplexity on `text`, the text itself ([`Model::perplexity_of_file`] reads a file).
    ///
    /// - `mode`: [`EvalMode::Paragraphs`] scores each "\n\n" paragraph on its own as `[BOS]` +
    ///   tokens; [`EvalMode::Windows`] the whole text in non-overlapping windows, no BOS.
    /// - `begin`, `end`: the paragraphs or windows `begin..end` (`None`: to the last one).
    /// - `seq_len`: tokens per sequence (longer paragraphs are cut); 0 = the model's context.
    ///
    /// A `begin` past the last paragraph or window is `Status::InvalidArgument` naming both
    /// ("paragraphs 2000:2128 requested, the text has 1"), and so is a range with nothing
    /// to predict or a model without a tokenizer.
    pub fn perplexity_of_text(&self, ctx: &Context, text: &str, mode: EvalMode, begin: usize, end: Option<usize>,
                              seq_len: usize) -> Result<Perplexity> {
        const F: &str = "surgeon_model_perplexity";
        let text = c_text(F, "text", text)?;
        let (begin, end, seq_len) = (i64_of(F, "begin", begin)?, end_of(F, end)?, i64_of(F, "seq_len", seq_len)?);
        // SAFETY: const call on a live handle; text NUL-terminated; out versioned.
        perplexity(|out| unsafe {
            sys::surgeon_model_perplexity(ctx.as_raw(), self.raw.as_ptr(), text.as_ptr(), mode.raw(), begin, end, seq_len, out)
        })
    }

    /// [`Model::perplexity_of_text`] on the contents of the text file at `path`
    /// (`Status::Io` naming it when it cannot be read or is a directory).
    pub fn perplexity_of_file<P: AsRef<Path>>(&self, ctx: &Context, path: P, mode: EvalMode, begin: usize,
                                              end: Option<usize>, seq_len: usize) -> Result<Perplexity> {
        const F: &str = "surgeon_model_perplexity_file";
        let path = c_path(F, path.as_ref())?;
        let (begin, end, seq_len) = (i64_of(F, "begin", begin)?, end_of(F, end)?, i64_of(F, "seq_len", seq_len)?);
        // SAFETY: const call on a live handle; path NUL-terminated; out versioned.
        perplexity(|out| unsafe {
            sys::surgeon_model_perplexity_file(ctx.as_raw(), self.raw.as_ptr(), path.as_ptr(), mode.raw(), begin, end,
                                               seq_len, out)
        })
    }

    /// Perplexity on a token stream (windows protocol): non-overlapping windows of
    /// `seq_len` tokens (0 = the model's context), a last partial window dropped. Fewer
    /// than two tokens, or an id outside the vocabulary, is `Status::InvalidArgument`.
    pub fn perplexity_of_tokens(&self, ctx: &Context, tokens: &[i32], seq_len: usize) -> Result<Perplexity> {
        const F: &str = "surgeon_model_perplexity_tokens";
        let (count, seq_len) = (i64_of(F, "tokens.len()", tokens.len())?, i64_of(F, "seq_len", seq_len)?);
        // SAFETY: const call on a live handle; tokens holds count ids; out versioned.
        perplexity(|out| unsafe {
            sys::surgeon_model_perplexity_tokens(ctx.as_raw(), self.raw.as_ptr(), tokens.as_ptr(), count, seq_len, out)
        })
    }

    /// Compresses every linear layer block by block on the non-empty paragraphs
    /// `begin..end` of `calib`, as the JSON recipe says (e.g.
    /// `{"default": {"method": "sparsegpt", "nm": "2:4"}}`); unchanged on failure.
    /// Returns the JSON report.
    pub fn compress(&mut self, ctx: &Context, calib: &str, begin: usize, end: usize, recipe_json: &str) -> Result<String> {
        const F: &str = "surgeon_model_compress";
        let calib = c_text(F, "calib", calib)?;
        let recipe = c_text(F, "recipe_json", recipe_json)?;
        // SAFETY: exclusive borrow; the strings are NUL-terminated.
        check(unsafe {
            sys::surgeon_model_compress(ctx.as_raw(), self.raw.as_ptr(), calib.as_ptr(), i64_of(F, "begin", begin)?,
                                        i64_of(F, "end", end)?, recipe.as_ptr())
        })?;
        self.report()
    }

    /// The JSON report of the last compress or structured pruning ("{}" before either).
    pub fn report(&self) -> Result<String> {
        // SAFETY: const call; buf holds cap bytes.
        read_text("surgeon_model_report", |buf, cap, needed| unsafe { sys::surgeon_model_report(self.raw.as_ptr(), buf, cap, needed) })
    }

    /// Saves as "hf" (a directory; dtype "f32", "f16" or "bf16") or "llama2c" (a file, f32);
    /// what was written goes to the context's log callback.
    pub fn save<P: AsRef<Path>>(&self, ctx: &Context, path: P, format: &str, dtype: &str) -> Result<()> {
        const F: &str = "surgeon_model_save";
        let path = c_path(F, path.as_ref())?;
        let (format, dtype) = (c_text(F, "format", format)?, c_text(F, "dtype", dtype)?);
        // SAFETY: const call; all strings NUL-terminated.
        check(unsafe { sys::surgeon_model_save(ctx.as_raw(), self.raw.as_ptr(), path.as_ptr(), format.as_ptr(), dtype.as_ptr()) })
    }

    /// Writes the packed GPTQ checkpoint of the last compress.
    pub fn save_gptq<P: AsRef<Path>>(&self, ctx: &Context, dir: P) -> Result<()> {
        let dir = c_path("surgeon_model_save_gptq", dir.as_ref())?;
        // SAFETY: const call; dir NUL-terminated.
        check(unsafe { sys::surgeon_model_save_gptq(ctx.as_raw(), self.raw.as_ptr(), dir.as_ptr()) })
    }

    /// A copy of a linear's weights (row-major) with (rows, cols). `name`: "wq".."w3" or the
    /// Hugging Face projection names.
    pub fn linear(&self, block: usize, name: &str) -> Result<(Vec<f32>, usize, usize)> {
        const F: &str = "surgeon_model_get_linear";
        let name = c_text(F, "name", name)?;
        let block = i64_of(F, "block", block)?;
        let (mut rows, mut cols) = (0i64, 0i64);
        // SAFETY: const calls; out pointers valid; w holds rows × cols floats.
        check(unsafe { sys::surgeon_model_linear_shape(self.raw.as_ptr(), block, name.as_ptr(), &mut rows, &mut cols) })?;
        let mut w = vec![0f32; (rows * cols) as usize];
        check(unsafe { sys::surgeon_model_get_linear(self.raw.as_ptr(), block, name.as_ptr(), w.as_mut_ptr(), rows, cols) })?;
        Ok((w, rows as usize, cols as usize))
    }

    /// Replaces a linear's weights (rows × cols must match; finite values only).
    pub fn set_linear(&mut self, block: usize, name: &str, w: &[f32], rows: usize, cols: usize) -> Result<()> {
        const F: &str = "surgeon_model_set_linear";
        crate::shape::require_len(F, "w", w.len(), rows, cols)?;
        let name = c_text(F, "name", name)?;
        // SAFETY: exclusive borrow; w holds rows × cols floats (checked).
        check(unsafe {
            sys::surgeon_model_set_linear(self.raw.as_ptr(), i64_of(F, "block", block)?, name.as_ptr(), w.as_ptr(),
                                          i64_of(F, "rows", rows)?, i64_of(F, "cols", cols)?)
        })
    }

    /// Continues `prompt` with the options on the context's backend. The text is a
    /// function of the model, prompt and options.
    pub fn generate(&self, ctx: &Context, prompt: &str, options: &GenerateOptions) -> Result<String> {
        const F: &str = "surgeon_model_generate";
        let prompt = c_text(F, "prompt", prompt)?;
        // SAFETY: const call; prompt NUL-terminated; buf holds cap bytes; the options are
        // only read. The text is a function of the inputs, so the sized second call gets it.
        read_text(F, |buf, cap, needed| unsafe {
            sys::surgeon_model_generate(ctx.as_raw(), self.raw.as_ptr(), prompt.as_ptr(), options.as_raw(), buf, cap,
                                        needed)
        })
    }

    /// Model-level structured pruning (experimental C API): removes FFN neurons, and
    /// kv-head groups with their query heads when the options' head ratio is > 0, from
    /// every block, in place; unchanged on failure. [`config`](Self::config) then gives the
    /// new sizes. Returns the JSON report (parameters before and after, per-block ratios,
    /// FFN sizes, kv groups removed), which becomes the model's [`report`](Self::report).
    /// The quantization results of an earlier compress are dropped.
    pub fn prune_structured(&mut self, ctx: &Context, options: &StructuredOptions) -> Result<String> {
        // SAFETY: exclusive borrow; the options are only read.
        check(unsafe { sys::surgeon_model_prune_structured(ctx.as_raw(), self.raw.as_ptr(), options.as_raw()) })?;
        self.report()
    }
}

options_type! {
    /// Options of [`Model::generate`] (surgeon_generate_options). Defaults (those of
    /// `surgeon generate`): 256 steps, temperature 0 (greedy), seed 42.
    GenerateOptions => surgeon_generate_options, surgeon_generate_options_new
}

impl GenerateOptions {

    setters! {
        /// Positions to run, prompt included (>= 1).
        fn set_steps(steps: usize) => surgeon_generate_options_set_steps(
            i64_of("surgeon_generate_options_set_steps", "steps", steps)?);
        /// 0: greedy; > 0 samples (finite).
        fn set_temperature(temperature: f64) => surgeon_generate_options_set_temperature(temperature);
        /// The sampler's seed (unused when greedy).
        fn set_seed(seed: u64) => surgeon_generate_options_set_seed(seed);
    }

    getters! {
        fn steps() -> usize = surgeon_generate_options_get_steps(i64);
        fn temperature() -> f64 = surgeon_generate_options_get_temperature(f64);
        fn seed() -> u64 = surgeon_generate_options_get_seed(u64);
    }
}
