package surgeon

import (
	"errors"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"surgeon.dev/surgeon/raw"
)

// liveHandles counts the C handles the binding owns (tests check it returns to zero).
var liveHandles atomic.Int64

// kind is one C handle type: its name in messages and its surgeon_X_free.
type kind struct {
	name string
	free func(raw.Handle)
}

// handle owns one C handle; every handle type of the package embeds it, which gives the
// type its Close. Calls hold the read lock for their duration, Close takes the write
// lock: a Close racing with a call waits for it instead of freeing memory under it, and
// a call after Close is an error, not a use after free. Calls that the C API lets run
// concurrently on one handle take the read lock; calls that modify the handle take the
// write lock (exclusive), which is the serialization the C API asks for.
type handle struct {
	mu   sync.RWMutex
	ptr  uintptr
	kind *kind
	ctx  *settings // context settings kept alive by this handle (may be nil)
}

func (h *handle) base() *handle { return h }

// owner is a pointer to a handle type (*Hessian, *Solver, ...).
type owner[T any] interface {
	*T
	base() *handle
	Close() error
}

// adopt makes obj the owner of the C handle ptr (and of one reference to ctx) and sets
// the finalizer that frees a forgotten one.
func adopt[T any, P owner[T]](obj P, k *kind, ptr raw.Handle, ctx *settings) P {
	h := obj.base()
	h.kind, h.ptr, h.ctx = k, uintptr(ptr), ctx
	liveHandles.Add(1)
	runtime.SetFinalizer(obj, func(o P) { _ = o.Close() })
	return obj
}

// create runs a C constructor `make(ctx, inputs..., &out)` with ctx's settings and the
// inputs locked for reading, and returns a new T owning the result (it keeps ctx's
// settings alive); nil when the call succeeds without making one (an optional output).
func create[T any, P owner[T]](k *kind, fn string, ctx *Context, make func(c raw.Handle, in []raw.Handle, out *raw.Handle) error,
	inputs ...*handle) (P, error) {
	s, err := ctx.acquire(fn)
	if err != nil {
		return nil, err
	}
	var ptr raw.Handle
	err = using(fn, false, func(in []raw.Handle) error { return make(s.raw(), in, &ptr) }, inputs...)
	if err != nil || ptr == 0 {
		s.release()
		return nil, err
	}
	return adopt[T, P](new(T), k, ptr, s), nil
}

// ref is obj's handle, nil for a nil obj (the C call then receives NULL).
func ref[T any, P owner[T]](obj P) *handle {
	if obj == nil {
		return nil
	}
	return obj.base()
}

// using runs call with the C pointers of hs (0 for a nil one) while holding their locks:
// the read lock, or for hs[0] with write set, the write lock. The locks are taken in
// address order, so calls locking the same handles in another argument order (a.Merge(b)
// and b.Merge(a)) cannot deadlock. A closed handle is an error; the call's status is
// mapped to an *Error.
func using(fn string, write bool, call func(p []raw.Handle) error, hs ...*handle) error {
	p := make([]raw.Handle, len(hs))
	// Lock order: by address, a handle passed twice once (index 0, the one written, first).
	var orderBuf, lockedBuf [6]int
	order, locked := orderBuf[:0], lockedBuf[:0]
	for i, h := range hs {
		if h == nil {
			continue
		}
		k := len(order)
		order = append(order, i)
		for ; k > 0 && h.less(hs[order[k-1]]); k-- {
			order[k], order[k-1] = order[k-1], i
		}
	}
	defer func() {
		for _, i := range locked {
			hs[i].unlock(write && i == 0)
		}
	}()
	for k, i := range order {
		if k > 0 && hs[i] == hs[order[k-1]] {
			p[i] = p[order[k-1]] // the same handle twice: locked once (C rejects it if it must)
			continue
		}
		ptr, err := hs[i].lock(fn, write && i == 0)
		if err != nil {
			return err
		}
		locked = append(locked, i)
		p[i] = ptr
	}
	return check(call(p))
}

func (h *handle) less(o *handle) bool { return uintptr(unsafe.Pointer(h)) < uintptr(unsafe.Pointer(o)) }

// lock takes h's read lock, or with exclusive its write lock, and returns its C pointer;
// a closed handle is an error (and left unlocked).
func (h *handle) lock(fn string, exclusive bool) (raw.Handle, error) {
	if exclusive {
		h.mu.Lock()
	} else {
		h.mu.RLock()
	}
	if h.ptr == 0 {
		h.unlock(exclusive)
		return 0, fail(StatusInvalidArgument, fn, "the %s is closed", h.kind.name)
	}
	return raw.Handle(h.ptr), nil
}

func (h *handle) unlock(exclusive bool) {
	if exclusive {
		h.mu.Unlock()
	} else {
		h.mu.RUnlock()
	}
}

// read runs call with h's C pointer under its read lock (see using).
func (h *handle) read(fn string, call func(raw.Handle) error) error { return h.locked(fn, false, call) }

// write runs call with h's C pointer under its write lock (see using).
func (h *handle) write(fn string, call func(raw.Handle) error) error { return h.locked(fn, true, call) }

func (h *handle) locked(fn string, exclusive bool, call func(raw.Handle) error) error {
	p, err := h.lock(fn, exclusive)
	if err != nil {
		return err
	}
	defer h.unlock(exclusive)
	return check(call(p))
}

// Close frees the C handle once, waiting for calls in progress; later calls return an
// error. Idempotent.
func (h *handle) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ptr == 0 {
		return nil
	}
	h.kind.free(raw.Handle(h.ptr))
	h.ptr = 0
	liveHandles.Add(-1)
	h.ctx.release()
	h.ctx = nil
	return nil
}

// output makes an empty T with its C constructor, lets fill write into it (the C call
// that produces it) and returns it; nil and the error when either fails.
func output[T any, P owner[T]](k *kind, fn string, empty func(out *raw.Handle) error, fill func(*handle) error) (P, error) {
	obj, err := newEmpty[T, P](k, fn, empty)
	if err != nil {
		return nil, err
	}
	if err := fill(obj.base()); err != nil {
		obj.Close()
		return nil, err
	}
	return obj, nil
}

// closeAll closes the non-nil objects.
func closeAll(objs ...interface{ Close() error }) {
	for _, o := range objs {
		if o != nil && !isNilPointer(o) {
			o.Close()
		}
	}
}

// readInto returns n values that read(h, out) writes, read under h's read lock.
func readInto[H any, T any](h *handle, fn string, read func(H, []T) error, n int) ([]T, error) {
	out := make([]T, n)
	return fill(out, h.read(fn, func(p raw.Handle) error { return read(any(p).(H), out) }))
}

// fill returns out, or nil with the error.
func fill[T any](out []T, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scalar returns the one double a C call writes through a double* (a 1-element slice in
// package raw).
func scalar(call func(out []float64) error) (float64, error) {
	out := make([]float64, 1)
	err := call(out)
	return out[0], err
}

func isNilPointer(o interface{}) bool {
	v := reflect.ValueOf(o)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// sized runs a C call with a variable-length output (buffer convention of surgeon.h:
// buf, cap, *needed): a size query, then the call with a buffer of *needed elements. The
// caller holds the locks over both, so the inputs do not change in between; a
// SURGEON_ERR_BUFFER_TOO_SMALL all the same is retried with the size it reports.
func sized[T any](call func(buf []T, cap int64, needed *int64) error) ([]T, error) {
	var n int64
	if err := check(call(nil, 0, &n)); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if n == 0 {
			return []T{}, nil
		}
		buf := make([]T, n)
		err := check(call(buf, n, &n))
		if err == nil {
			return buf[:n], nil
		}
		if !errors.Is(err, ErrBufferTooSmall) || attempt == 2 {
			return nil, err
		}
	}
}

// sizedText is sized for NUL-terminated text.
func sizedText(call func(buf []byte, cap int64, needed *int64) error) (string, error) {
	buf, err := sized(call)
	return trimNUL(buf), err
}

func trimNUL(buf []byte) string {
	if len(buf) > 0 {
		buf = buf[:len(buf)-1]
	}
	return string(buf)
}

// readSized is sized on h under its read lock: call receives h's C pointer first.
func readSized[H, T any](h *handle, fn string, call func(p H, buf []T, cap int64, needed *int64) error) ([]T, error) {
	var out []T
	err := h.read(fn, func(p raw.Handle) (err error) {
		out, err = sized(func(buf []T, cap int64, needed *int64) error { return call(any(p).(H), buf, cap, needed) })
		return err
	})
	return out, err
}

// readText is readSized for NUL-terminated text.
func readText[H any](h *handle, fn string, call func(p H, buf []byte, cap int64, needed *int64) error) (string, error) {
	buf, err := readSized(h, fn, call)
	return trimNUL(buf), err
}

// newEmpty makes a T with a C constructor that takes only the out-handle (an options
// object, an empty result).
func newEmpty[T any, P owner[T]](k *kind, fn string, make func(out *raw.Handle) error) (P, error) {
	return create[T, P](k, fn, nil, func(_ raw.Handle, _ []raw.Handle, out *raw.Handle) error { return make(out) })
}

// setHandle runs a C setter of h that takes another handle (copied by C; nil clears),
// with h write-locked and x read-locked.
func setHandle[H, X any](h *handle, fn string, setter func(H, X) error, x *handle) error {
	return using(fn, true, func(p []raw.Handle) error { return setter(any(p[0]).(H), any(p[1]).(X)) }, h, x)
}

// set runs a C setter of h with v under h's write lock.
func set[H, V any](h *handle, fn string, setter func(H, V) error, v V) error {
	return h.write(fn, func(p raw.Handle) error { return setter(any(p).(H), v) })
}

// alive returns v. It serves the getters whose C call cannot fail on a live handle (the C
// getter checks only its pointers), so err can only say that the handle was closed: a
// use after Close is a programming error and panics, like a nil pointer dereference.
func alive[V any](v V, err error) V {
	if err != nil {
		panic(err)
	}
	return v
}

// get runs a C getter of h under its read lock (see alive: panics when h is closed).
func get[H, V any](h *handle, fn string, getter func(H, *V) error) V {
	var v V
	err := h.read(fn, func(p raw.Handle) error { return getter(any(p).(H), &v) })
	return alive(v, err)
}

// getFloat is get for a double (a 1-element slice in package raw).
func getFloat[H any](h *handle, fn string, getter func(H, []float64) error) float64 {
	return alive(scalar(func(out []float64) error {
		return h.read(fn, func(p raw.Handle) error { return getter(any(p).(H), out) })
	}))
}

// createSized is create (without inputs) followed by a query of the new handle's size
// (an accumulator's columns, a policy's dimension) into the field size points to; the
// handle is closed when the query fails.
func createSized[T any, P owner[T], H any](k *kind, fn string, ctx *Context, make func(c raw.Handle, out *raw.Handle) error,
	queryFn string, query func(H, *int64) error, size func(P) *int) (P, error) {
	obj, err := create[T, P](k, fn, ctx, func(c raw.Handle, _ []raw.Handle, out *raw.Handle) error { return make(c, out) })
	if err != nil {
		return nil, err
	}
	var n int64
	if err := obj.base().read(queryFn, func(p raw.Handle) error { return query(any(p).(H), &n) }); err != nil {
		obj.Close()
		return nil, err
	}
	*size(obj) = int(n)
	return obj, nil
}
