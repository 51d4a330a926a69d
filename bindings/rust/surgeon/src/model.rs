//! A whole Llama-family model (llama2.c file or Hugging Face directory): perplexity,
//! true-sequential compression by a JSON recipe, saving, and weights in and out.
use std::ffi::{CStr, CString};
use std::path::Path;
use std::ptr;

use crate::context::Context;
use crate::error::{check, error, expect_ok, Result, Status};
use crate::handle::{binding, Binding, Handle};
use crate::hessian::c_path;
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
    /// Each "\n\n" paragraph scored as [BOS] + tokens, truncated to the context.
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

binding!(Model => surgeon_model);

impl Model {
    /// Loads a llama2.c `.bin` file or a Hugging Face directory (`Status::Io` when unreadable).
    pub fn load<P: AsRef<Path>>(path: P) -> Result<Model> {
        let path = c_path("surgeon_model_load", path.as_ref())?;
        // SAFETY: path is NUL-terminated; out is a valid out pointer.
        Ok(Model { raw: Handle::new(|out| unsafe { sys::surgeon_model_load(out, path.as_ptr()) })? })
    }

    /// A deep copy (weights and tokenizer).
    pub fn try_clone(&self) -> Result<Model> {
        // SAFETY: const call on a live handle; out is a valid out pointer.
        Ok(Model { raw: Handle::new(|out| unsafe { sys::surgeon_model_clone(out, self.raw.as_ptr()) })? })
    }

    pub fn config(&self) -> ModelConfig {
        let mut c = sys::surgeon_model_config {
            dim: 0, hidden_dim: 0, n_layers: 0, n_heads: 0, n_kv_heads: 0, vocab_size: 0, seq_len: 0,
            parameters: 0, head_dim: 0,
        };
        // SAFETY: const call on a live handle; c is a valid out pointer.
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
        let mut count = 0i64;
        // SAFETY: capacity 0 with a NULL buffer asks for the count only.
        check(unsafe { sys::surgeon_model_encode(self.raw.as_ptr(), text.as_ptr(), bos as i32, ptr::null_mut(), 0, &mut count) })?;
        let mut ids = vec![0i32; count as usize];
        // SAFETY: ids holds count entries.
        check(unsafe {
            sys::surgeon_model_encode(self.raw.as_ptr(), text.as_ptr(), bos as i32, ids.as_mut_ptr(), count, &mut count)
        })?;
        Ok(ids)
    }

    /// Perplexity on text: paragraphs or windows `range` (`None` end: to the last one);
    /// `seq_len` 0 = the model's context.
    pub fn perplexity(&self, ctx: &Context, text: &str, mode: EvalMode, begin: usize, end: Option<usize>,
                      seq_len: usize) -> Result<Perplexity> {
        const F: &str = "surgeon_model_perplexity";
        let text = c_text(F, "text", text)?;
        let mode = match mode {
            EvalMode::Paragraphs => sys::surgeon_eval_mode_SURGEON_EVAL_PARAGRAPHS,
            EvalMode::Windows => sys::surgeon_eval_mode_SURGEON_EVAL_WINDOWS,
        };
        let end = match end {
            Some(e) => i64_of(F, "end", e)?,
            None => -1,
        };
        let mut out = sys::surgeon_perplexity { sequences: 0, tokens: 0, nll: 0.0, ppl: 0.0 };
        // SAFETY: const call on a live handle; text NUL-terminated; out a valid out pointer.
        check(unsafe {
            sys::surgeon_model_perplexity(ctx.as_raw(), self.raw.as_ptr(), text.as_ptr(), mode, i64_of(F, "begin", begin)?,
                                          end, i64_of(F, "seq_len", seq_len)?, &mut out)
        })?;
        Ok(Perplexity { sequences: out.sequences as u64, tokens: out.tokens as u64, nll: out.nll, ppl: out.ppl })
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
        Ok(self.report())
    }

    /// The JSON report of the last compress ("{}" before any).
    pub fn report(&self) -> String {
        let mut json = ptr::null();
        // SAFETY: the string is owned by the handle and copied before the borrow ends.
        expect_ok(unsafe { sys::surgeon_model_report(self.raw.as_ptr(), &mut json) });
        unsafe { CStr::from_ptr(json) }.to_string_lossy().into_owned()
    }

    /// Saves as "hf" (a directory; dtype "f32", "f16" or "bf16") or "llama2c" (a file, f32).
    pub fn save<P: AsRef<Path>>(&self, path: P, format: &str, dtype: &str) -> Result<()> {
        const F: &str = "surgeon_model_save";
        let path = c_path(F, path.as_ref())?;
        let (format, dtype) = (c_text(F, "format", format)?, c_text(F, "dtype", dtype)?);
        // SAFETY: const call; all strings NUL-terminated.
        check(unsafe { sys::surgeon_model_save(self.raw.as_ptr(), path.as_ptr(), format.as_ptr(), dtype.as_ptr()) })
    }

    /// Writes the packed GPTQ checkpoint of the last compress.
    pub fn save_gptq<P: AsRef<Path>>(&self, dir: P) -> Result<()> {
        let dir = c_path("surgeon_model_save_gptq", dir.as_ref())?;
        // SAFETY: const call; dir NUL-terminated.
        check(unsafe { sys::surgeon_model_save_gptq(self.raw.as_ptr(), dir.as_ptr()) })
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

    /// Continues `prompt` for up to `steps` positions, greedily when `temperature` is 0.
    pub fn generate(&self, prompt: &str, steps: usize, temperature: f64, seed: u64) -> Result<String> {
        const F: &str = "surgeon_model_generate";
        let prompt_c = c_text(F, "prompt", prompt)?;
        let steps = i64_of(F, "steps", steps)?;
        // Room for typical pieces first; generation is deterministic, so a second run with
        // the exact size gives the same text when it was longer.
        let mut buf = vec![0u8; steps as usize * 32 + prompt.len() + 64];
        let mut length = 0usize;
        for _ in 0..2 {
            // SAFETY: buf holds buf.len() bytes; length a valid out pointer.
            check(unsafe {
                sys::surgeon_model_generate(self.raw.as_ptr(), prompt_c.as_ptr(), steps, temperature, seed,
                                            buf.as_mut_ptr() as *mut _, buf.len(), &mut length)
            })?;
            if length < buf.len() {
                buf.truncate(length);
                return String::from_utf8(buf).map_err(|e| error(Status::Internal, F, format!("not UTF-8: {}", e)));
            }
            buf = vec![0u8; length + 1];
        }
        Err(error(Status::Internal, F, "the generated text changed length between two runs".to_string()))
    }
}
