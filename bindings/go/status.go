package cab

import (
	"runtime"

	"cab/internal/capi"
)

// Status is a libcab result code (cab_status). The values are pinned forever.
type Status int32

// The status codes of the C ABI.
const (
	StatusOK              Status = 0
	StatusInvalidArgument Status = -1
	StatusIO              Status = -2
	StatusFormat          Status = -3
	StatusUnsupported     Status = -4
	StatusOutOfMemory     Status = -5
	StatusKVFull          Status = -6
	StatusDevice          Status = -7
	StatusState           Status = -8
	StatusBufferTooSmall  Status = -9
	StatusInternal        Status = -10
)

// String gives the C name of the status, e.g. "CAB_ERR_KV_FULL".
func (s Status) String() string {
	return capi.Cab_status_string(capi.Enum_SS_cab_status(s))
}

// Error is a failed libcab call: its status and the message of cab_last_error(), which names
// the function and the bad argument, file or offset.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "cab: " + e.Status.String()
	}
	return "cab: " + e.Message
}

// Is makes errors.Is(err, ErrKVFull) true for every error of that status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Status == e.Status
}

// Sentinels for errors.Is, one per status.
var (
	ErrInvalidArgument = &Error{Status: StatusInvalidArgument}
	ErrIO              = &Error{Status: StatusIO}
	ErrFormat          = &Error{Status: StatusFormat}
	ErrUnsupported     = &Error{Status: StatusUnsupported}
	ErrOutOfMemory     = &Error{Status: StatusOutOfMemory}
	ErrKVFull          = &Error{Status: StatusKVFull}
	ErrDevice          = &Error{Status: StatusDevice}
	ErrState           = &Error{Status: StatusState}
	ErrBufferTooSmall  = &Error{Status: StatusBufferTooSmall}
	ErrInternal        = &Error{Status: StatusInternal}
)

// call runs one C call and turns its status into an error. The goroutine stays on its OS
// thread until the message is read, because cab_last_error() is per thread.
func call(f func() capi.Enum_SS_cab_status) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	status := f()
	if status == capi.CAB_OK {
		return nil
	}
	return &Error{Status: Status(status), Message: capi.Cab_last_error()}
}
