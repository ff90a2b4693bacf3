// Package cab is the Go binding of libcab, an embeddable LLM inference library that keeps long
// contexts under a fixed KV-cache memory budget.
//
// A Model is a loaded GGUF file, immutable and safe to share between goroutines. A Context holds
// a KV block pool and up to MaxSequences sequences; it is used by one goroutine at a time.
// Prefill appends prompt tokens to a sequence, Decode appends one token to each of several
// sequences in one batched step, and Logits or Sample read the result. Tokens are []int32.
//
// Every failure is an *Error carrying the C status and libcab's message; compare with
// errors.Is(err, cab.ErrKVFull) and friends. Close releases native memory and may be called more
// than once; a finalizer releases what a program forgets to close. A Model closed while
// contexts are open stays alive until the last of them is closed.
//
// The package is cgo over SWIG's raw layer (internal/capi). It links -lcab: an installed
// libcab-dev is found as is; for a build tree set
//
//	CGO_LDFLAGS="-L/path/to/build/lib -Wl,-rpath,/path/to/build/lib"
//
// See docs/BINDINGS.md.
package cab
