//! Execution settings (thread count, progress and log callbacks) shared by the handles made
//! from one context. The settings are fixed when the context is built: the C library reads
//! them from every handle made from the context, so changing them later would race.
use std::ffi::CStr;
use std::os::raw::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;

use crate::error::{check, expect_ok, Result};
use crate::handle::{Binding, Handle};
use crate::sys;

/// Severity of a log message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
}

type ProgressFn = dyn Fn(&str, f64) + Send + Sync;
type LogFn = dyn Fn(LogLevel, &str) + Send + Sync;

/// The closures the C library calls back. Every handle made from the context holds an
/// `Arc` of them: the C side keeps the settings alive as long as any such handle.
#[derive(Default)]
pub(crate) struct Callbacks {
    progress: Option<Box<ProgressFn>>,
    log: Option<Box<LogFn>>,
}

/// Keeps a context's callbacks alive for as long as a handle made from it.
#[derive(Clone, Default)]
pub(crate) struct KeepAlive(#[allow(dead_code)] Option<Arc<Callbacks>>);

/// Settings for the calls made with it: threads and callbacks.
///
/// `Context::default()` means the library defaults (all hardware threads, no callbacks)
/// and allocates nothing. A context may be dropped while handles made from it live.
pub struct Context {
    /// None for the defaults.
    raw: Option<Handle<sys::surgeon_context>>,
    callbacks: Option<Arc<Callbacks>>,
}

impl Default for Context {
    fn default() -> Self {
        Context { raw: None, callbacks: None }
    }
}

impl Binding for Context {
    type Raw = sys::surgeon_context;
    fn as_raw(&self) -> *const sys::surgeon_context {
        self.raw.as_ref().map_or(ptr::null(), |h| h.as_ptr())
    }
}

impl Context {
    pub fn builder() -> ContextBuilder {
        ContextBuilder::default()
    }

    /// Threads the library uses for calls with this context.
    pub fn threads(&self) -> usize {
        let mut out = 0;
        // SAFETY: raw is NULL (defaults) or a live context; out is a valid int.
        expect_ok(unsafe { sys::surgeon_context_get_threads(self.as_raw(), &mut out) });
        out as usize
    }

    pub(crate) fn keep_alive(&self) -> KeepAlive {
        KeepAlive(self.callbacks.clone())
    }
}

/// Builds a `Context`: `Context::builder().threads(2).on_progress(|stage, f| ...).build()`.
#[derive(Default)]
pub struct ContextBuilder {
    threads: usize,
    callbacks: Callbacks,
}

impl ContextBuilder {
    /// Threads for the library's parallel loops and OpenBLAS; 0 = all hardware threads.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Called with a stage name ("factorize", "prune", "quantize", ...) and a fraction in
    /// [0, 1], on the thread that made the call. It may run on several threads at once
    /// when handles made from this context are used concurrently. A panic inside it is
    /// caught and ignored: it must not unwind into C.
    pub fn on_progress<F: Fn(&str, f64) + Send + Sync + 'static>(mut self, f: F) -> Self {
        self.callbacks.progress = Some(Box::new(f));
        self
    }

    /// Called with the library's log messages (same threading rules as `on_progress`).
    pub fn on_log<F: Fn(LogLevel, &str) + Send + Sync + 'static>(mut self, f: F) -> Self {
        self.callbacks.log = Some(Box::new(f));
        self
    }

    pub fn build(self) -> Result<Context> {
        // SAFETY: out is a valid out pointer.
        let raw = Handle::new(|out| unsafe { sys::surgeon_context_new(out) })?;
        let p = raw.as_ptr();
        // From here on, Drop frees the handle if a setter fails.
        let ctx = Context { raw: Some(raw), callbacks: Some(Arc::new(self.callbacks)) };
        let threads = i32::try_from(self.threads).unwrap_or(i32::MAX);
        // SAFETY: ctx.raw is live and not yet shared.
        check(unsafe { sys::surgeon_context_set_threads(p, threads) })?;
        let callbacks = ctx.callbacks.as_ref().expect("set above");
        let user = Arc::as_ptr(callbacks) as *mut c_void;
        // SAFETY: `user` points into the Arc, which every handle made from this context
        // keeps alive (KeepAlive) for as long as the C side may call back.
        if callbacks.progress.is_some() {
            check(unsafe { sys::surgeon_context_set_progress(p, Some(progress_trampoline), user) })?;
        }
        if callbacks.log.is_some() {
            check(unsafe { sys::surgeon_context_set_log(p, Some(log_trampoline), user) })?;
        }
        Ok(ctx)
    }
}

unsafe extern "C" fn progress_trampoline(user: *mut c_void, stage: *const c_char, fraction: f64) {
    let callbacks = &*(user as *const Callbacks);
    if let Some(f) = &callbacks.progress {
        let stage = if stage.is_null() { "".into() } else { CStr::from_ptr(stage).to_string_lossy() };
        let _ = catch_unwind(AssertUnwindSafe(|| f(&stage, fraction)));
    }
}

unsafe extern "C" fn log_trampoline(user: *mut c_void, level: sys::surgeon_log_level, message: *const c_char) {
    let callbacks = &*(user as *const Callbacks);
    if let Some(f) = &callbacks.log {
        let level = match level {
            sys::surgeon_log_level_SURGEON_LOG_DEBUG => LogLevel::Debug,
            sys::surgeon_log_level_SURGEON_LOG_INFO => LogLevel::Info,
            _ => LogLevel::Warning,
        };
        let message = if message.is_null() { "".into() } else { CStr::from_ptr(message).to_string_lossy() };
        let _ = catch_unwind(AssertUnwindSafe(|| f(level, &message)));
    }
}
