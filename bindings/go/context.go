package surgeon

import (
	"runtime"
	"runtime/cgo"
	"sync"
	"sync/atomic"

	"surgeon.dev/surgeon/raw"
)

// LogLevel is the severity of a library log message.
type LogLevel int

const (
	LogDebug   LogLevel = 0
	LogInfo    LogLevel = 1
	LogWarning LogLevel = 2
)

// settings is a C context and the Go callbacks it calls, shared by the Context and every
// handle made from it: the C library keeps calling back through the handles after the
// Context is closed, so the C context and the callbacks are released only when the last
// of them is (reference count).
type settings struct {
	handle               // the surgeon_context, closed with the last reference
	callbacks cgo.Handle // *callbacks, 0 when none
	refs      atomic.Int32
}

var contextKind = kind{"Context", func(p raw.Handle) { raw.Surgeon_context_free(p) }}

func (s *settings) retain() *settings {
	if s != nil {
		s.refs.Add(1)
	}
	return s
}

func (s *settings) release() {
	if s == nil || s.refs.Add(-1) != 0 {
		return
	}
	s.Close()
	if s.callbacks != 0 {
		s.callbacks.Delete()
	}
}

// raw is the C context to pass (NULL, the defaults, for a nil settings).
func (s *settings) raw() raw.Handle {
	if s == nil {
		return 0
	}
	return raw.Handle(s.ptr)
}

// Context holds the settings of the calls made with it or with handles made from it:
// threads and callbacks. A nil *Context means the library defaults (all hardware threads,
// no callbacks). Settings are fixed at creation: the C library reads them from every
// handle made from the context, possibly concurrently. Closing a Context does not affect
// the handles made from it.
type Context struct {
	mu     sync.Mutex
	shared *settings
}

// ContextOption configures NewContext.
type ContextOption func(*contextConfig)

type contextConfig struct {
	threads int
	cb      callbacks
}

// WithThreads sets the threads of the library's parallel loops and of OpenBLAS during
// calls (0: all hardware threads).
func WithThreads(n int) ContextOption { return func(c *contextConfig) { c.threads = n } }

// WithProgress registers fn(stage, fraction): stage "factorize", "prune", "quantize", ...;
// fraction in [0, 1]. It runs on the goroutine that made the call, possibly on several at
// once when handles from this context are used concurrently. A panic in fn is recovered
// and ignored (it must not unwind through C).
func WithProgress(fn func(stage string, fraction float64)) ContextOption {
	return func(c *contextConfig) { c.cb.progress = fn }
}

// WithLog registers fn(level, message) for the library's log messages (same rules as
// WithProgress).
func WithLog(fn func(level LogLevel, message string)) ContextOption {
	return func(c *contextConfig) { c.cb.log = fn }
}

// NewContext creates a context with the given options.
func NewContext(opts ...ContextOption) (*Context, error) {
	var cfg contextConfig
	for _, opt := range opts {
		opt(&cfg)
	}
	if cfg.threads < 0 || cfg.threads > 1<<30 {
		return nil, fail(StatusInvalidArgument, "surgeon_context_set_threads",
			"threads must be >= 0, got %d", cfg.threads)
	}
	s, err := newEmpty[settings](&contextKind, "surgeon_context_new", raw.Surgeon_context_new)
	if err != nil {
		return nil, err
	}
	s.refs.Store(1)
	if err := s.configure(&cfg); err != nil {
		s.release()
		return nil, err
	}
	ctx := &Context{shared: s}
	runtime.SetFinalizer(ctx, func(c *Context) { _ = c.Close() })
	return ctx, nil
}

func (s *settings) configure(cfg *contextConfig) error {
	ptr := raw.Handle(s.ptr)
	if err := check(raw.Surgeon_context_set_threads(ptr, cfg.threads)); err != nil {
		return err
	}
	if cfg.cb.progress == nil && cfg.cb.log == nil {
		return nil
	}
	cb := cfg.cb
	s.callbacks = cgo.NewHandle(&cb)
	user := uintptr(s.callbacks)
	if cb.progress != nil {
		if err := check(raw.Surgeon_context_set_progress(ptr, progressTrampoline(), user)); err != nil {
			return err
		}
	}
	if cb.log != nil {
		if err := check(raw.Surgeon_context_set_log(ptr, logTrampoline(), user)); err != nil {
			return err
		}
	}
	return nil
}

// Threads is the number of threads calls with this context use. It panics when c is
// closed.
func (c *Context) Threads() int {
	s := alive(c.acquire("surgeon_context_get_threads"))
	defer s.release()
	var n int32
	err := check(raw.Surgeon_context_get_threads(s.raw(), &n))
	return int(alive(n, err))
}

// acquire returns the settings for a new handle, retained (release it when the handle is
// closed); nil for a nil Context.
func (c *Context) acquire(function string) (*settings, error) {
	if c == nil {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shared == nil {
		return nil, fail(StatusInvalidArgument, function, "the Context is closed")
	}
	return c.shared.retain(), nil
}

// Close releases the context; handles made from it keep its settings. Idempotent.
func (c *Context) Close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	s := c.shared
	c.shared = nil
	c.mu.Unlock()
	s.release()
	return nil
}

// with runs call with the C context of c (NULL for a nil Context, the defaults), kept
// alive for the call.
func (c *Context) with(function string, call func(raw.Handle) error) error {
	s, err := c.acquire(function)
	if err != nil {
		return err
	}
	defer s.release()
	return call(s.raw())
}

// using runs call with the C context of c and the C pointers of hs, read-locked (see
// the package function using).
func (c *Context) using(function string, call func(ctx raw.Handle, p []raw.Handle) error, hs ...*handle) error {
	return c.with(function, func(ctx raw.Handle) error {
		return using(function, false, func(p []raw.Handle) error { return call(ctx, p) }, hs...)
	})
}
