package surgeon

import (
	"runtime"
	"sync"
	"sync/atomic"

	"surgeon.dev/surgeon/raw"
)

// liveHandles counts the C handles the binding owns (tests check it returns to zero).
var liveHandles atomic.Int64

// handle owns one C handle. Calls hold the read lock for their duration, Close takes the
// write lock: a Close racing with a call waits for it instead of freeing memory under
// it, and a call after Close is an error, not a use after free. Calls that the C API
// lets run concurrently on one handle take the read lock; calls that modify the handle
// take the write lock (exclusive), which is the serialization the C API asks for.
type handle struct {
	mu   sync.RWMutex
	ptr  uintptr
	kind string           // "Hessian", for messages
	free func(raw.Handle) // surgeon_X_free
	ctx  *settings        // context settings kept alive by this handle (may be nil)
}

func (h *handle) init(kind string, ptr raw.Handle, free func(raw.Handle), ctx *settings) {
	h.kind, h.ptr, h.free, h.ctx = kind, uintptr(ptr), free, ctx
	liveHandles.Add(1)
}

// shared locks the handle for a call that may run concurrently with others; release
// with h.mu.RUnlock().
func (h *handle) shared(function string) (raw.Handle, error) {
	h.mu.RLock()
	if h.ptr == 0 {
		h.mu.RUnlock()
		return 0, fail(StatusInvalidArgument, function, "the %s is closed", h.kind)
	}
	return raw.Handle(h.ptr), nil
}

// callShared runs a C call under the shared lock (released even if it panics) and maps
// its status: for the calls the C API lets run concurrently on one handle.
func (h *handle) callShared(function string, call func(raw.Handle) error) error {
	p, err := h.shared(function)
	if err != nil {
		return err
	}
	defer h.mu.RUnlock()
	return check(call(p))
}

// exclusive locks the handle for a call that modifies it; release with h.mu.Unlock().
func (h *handle) exclusive(function string) (raw.Handle, error) {
	h.mu.Lock()
	if h.ptr == 0 {
		h.mu.Unlock()
		return 0, fail(StatusInvalidArgument, function, "the %s is closed", h.kind)
	}
	return raw.Handle(h.ptr), nil
}

// close frees the C handle once; later calls do nothing.
func (h *handle) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ptr == 0 {
		return
	}
	h.free(raw.Handle(h.ptr))
	h.ptr = 0
	liveHandles.Add(-1)
	h.ctx.release()
	h.ctx = nil
}

// closer is what every handle type implements; the finalizer is only a safety net for a
// forgotten Close.
type closer interface{ Close() error }

func setFinalizer[T closer](obj T) {
	runtime.SetFinalizer(obj, func(o T) { _ = o.Close() })
}
