// Package capi is libcab's raw C ABI as SWIG generates it from bindings/swig/cab.i: one Go
// function per C function, status codes as return values. capi.go and capi_wrap.c are generated
// (bindings/go/generate.sh); this file only tells cgo where cab.h is and to link libcab.
package capi

// The include path is this checkout's; an installed cab.h (/usr/include) is found without it.
// A build tree's libcab.so is named with CGO_LDFLAGS="-L DIR" (see docs/BINDINGS.md).

// #cgo CFLAGS: -I${SRCDIR}/../../../../include
// #cgo LDFLAGS: -lcab
import "C"
