package cab

import (
	"errors"
	"sync"
)

// ErrClosed is returned by methods of a Model, Context or Sampler after Close.
var ErrClosed = errors.New("cab: use of a closed object")

// handle owns one native pointer. Its count holds one reference for the Go object until Close,
// one per call in flight, and one per dependent (each open Context on its Model's handle), so
// the pointer is freed exactly once, after the last user, whatever the order of Close calls and
// finalizers.
type handle struct {
	mu     sync.Mutex
	ptr    uintptr
	refs   int
	closed bool
	free   func(uintptr)
}

func newHandle(ptr uintptr, free func(uintptr)) *handle {
	return &handle{ptr: ptr, refs: 1, free: free}
}

// acquire takes a reference for a call or a dependent; release gives it back.
func (h *handle) acquire() (uintptr, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return 0, ErrClosed
	}
	h.refs++
	return h.ptr, nil
}

func (h *handle) release() {
	h.mu.Lock()
	h.refs--
	last := h.refs == 0
	ptr := h.ptr
	if last {
		h.ptr = 0
	}
	h.mu.Unlock()
	if last {
		h.free(ptr)
	}
}

// close drops the owner's reference; a second close does nothing.
func (h *handle) close() {
	h.mu.Lock()
	already := h.closed
	h.closed = true
	h.mu.Unlock()
	if !already {
		h.release()
	}
}

// with runs f with the pointer held for the duration of the call.
func (h *handle) with(f func(ptr uintptr) error) error {
	ptr, err := h.acquire()
	if err != nil {
		return err
	}
	defer h.release()
	return f(ptr)
}
