package cab

import "cab/internal/capi"

// fill follows the C ABI's buffer convention: call with a guessed capacity, and once more with
// the size the library asked for when it answers BUFFER_TOO_SMALL.
func fill[T any](guess int, f func(buf []T, n *int64) capi.Enum_SS_cab_status) ([]T, error) {
	buf := make([]T, guess)
	var n int64
	err := call(func() capi.Enum_SS_cab_status { return f(buf, &n) })
	if e, ok := err.(*Error); ok && e.Status == StatusBufferTooSmall {
		buf = make([]T, n)
		err = call(func() capi.Enum_SS_cab_status { return f(buf, &n) })
	}
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}
