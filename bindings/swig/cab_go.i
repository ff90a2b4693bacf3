/*
 * Go typemaps of libcab's raw layer (included by cab.i). SWIG's output is the internal package
 * bindings/go/internal/capi; the package cab in bindings/go is the public API. Slices and
 * strings are passed to C without copying, as cgo allows for memory that holds no Go pointers.
 */

/* Fixed-width integers keep their width in Go. */
%typemap(gotype) int32_t, cab_token, cab_seq "int32"
%typemap(gotype) uint32_t "uint32"
%typemap(gotype) int64_t "int64"
%typemap(gotype) uint64_t "uint64"

/* Opaque handles as uintptr (C memory, never dereferenced in Go); the package cab owns them. */
%define CAB_GO_HANDLE(TYPE)
%typemap(gotype) TYPE *, const TYPE * "uintptr"
%typemap(in) TYPE *, const TYPE * %{ $1 = ($1_ltype)$input; %}
%typemap(gotype) TYPE ** "*uintptr"
%typemap(in) TYPE ** %{ $1 = ($1_ltype)$input; %}
%enddef
CAB_GO_HANDLE(cab_model)
CAB_GO_HANDLE(cab_ctx)
CAB_GO_HANDLE(cab_sampler)

/* A scalar written by the call: a Go pointer, through a temporary of the C type. */
%define CAB_GO_SCALAR_OUT(PATTERN, CTYPE, WIRE, GOTYPE)
%typemap(gotype) PATTERN "*GOTYPE"
%typemap(in) PATTERN (CTYPE temp = 0) %{ $1 = &temp; %}
%typemap(argout) PATTERN %{ *(WIRE *)$input = (WIRE)temp$argnum; %}
%enddef
CAB_GO_SCALAR_OUT(size_t *, size_t, int64_t, int64)
CAB_GO_SCALAR_OUT(int64_t *length_out, int64_t, int64_t, int64)
CAB_GO_SCALAR_OUT(cab_token *token_out, cab_token, int32_t, int32)

/* Arrays read or filled by the call: slices; the capacity argument travels next to them. */
%define CAB_GO_SLICE(PATTERN, GOTYPE)
%typemap(gotype) PATTERN "[]GOTYPE"
%typemap(in) PATTERN %{ $1 = ($1_ltype)$input.array; %}
%typemap(freearg) PATTERN ""
%typemap(argout) PATTERN ""
%enddef
CAB_GO_SLICE(const int32_t *, int32)
CAB_GO_SLICE(int32_t *, int32)
CAB_GO_SLICE(float *, float32)
CAB_GO_SLICE(char *buf, byte)

/* UTF-8 text with an explicit length: a Go string, not copied. */
%apply (char *STRING, size_t LENGTH) { (const char *text, size_t len) };

/* Logits stay in the context; the caller copies n_vocab floats from the pointer. */
%typemap(gotype) const float ** "*unsafe.Pointer"
%typemap(in) const float ** %{ $1 = ($1_ltype)$input; %}

/*
 * Chat messages as role, content, role, content... Go strings are neither NUL-terminated nor
 * allowed to be passed to C inside a slice, so Go joins them into one NUL-separated byte slice
 * and C points the messages into it.
 */
%insert(go_wrapper) %{
func swigJoinNUL(parts []string) []byte {
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
		out = append(out, 0)
	}
	return out
}
%}
%typemap(gotype) const cab_chat_message * "[]string"
%typemap(imtype) const cab_chat_message * "[]byte"
%typemap(goin) const cab_chat_message * %{ $result = swigJoinNUL($input) %}
%typemap(in) const cab_chat_message * (cab_chat_message *messages = NULL) %{
    {
        const char *text = (const char *)$input.array;
        size_t n = 0, i = 0, start = 0, field = 0;
        for (i = 0; i < (size_t)$input.len; ++i) n += text[i] == '\0';
        messages = (cab_chat_message *)calloc(n / 2 + 1, sizeof(cab_chat_message));
        for (i = 0; messages != NULL && i < (size_t)$input.len; ++i) {
            if (text[i] != '\0') continue;
            if (field % 2 == 0)
                messages[field / 2].role = text + start;
            else
                messages[field / 2].content = text + start;
            ++field;
            start = i + 1;
        }
    }
    $1 = messages;
%}
%typemap(freearg) const cab_chat_message * %{ free(messages$argnum); %}
