/*
 * C# typemaps of libcab's raw layer (included by cab.i). The raw layer is internal to the Cab
 * assembly: bindings/csharp/src is its public API. Arrays of blittable types are pinned and passed
 * without copying; strings travel as UTF-8.
 */

/* Everything SWIG generates stays internal to the assembly. */
%typemap(csclassmodifiers) SWIGTYPE "internal class"
%typemap(csclassmodifiers) enum SWIGTYPE "internal enum"
%pragma(csharp) moduleclassmodifiers = "internal class"
%pragma(csharp) imclassclassmodifiers = "internal class"

/* size_t as ulong on every platform (SWIG's default, uint, would truncate). */
%apply unsigned long long { size_t };

%define CAB_CS_IN_ATTR
"[global::System.Runtime.InteropServices.In, global::System.Runtime.InteropServices.MarshalAs(global::System.Runtime.InteropServices.UnmanagedType.LPArray)]"
%enddef
%define CAB_CS_OUT_ATTR
"[global::System.Runtime.InteropServices.Out, global::System.Runtime.InteropServices.MarshalAs(global::System.Runtime.InteropServices.UnmanagedType.LPArray)]"
%enddef

/* Opaque handles as IntPtr; the classes of bindings/csharp own them. */
%define CAB_CS_HANDLE(TYPE)
%typemap(ctype) TYPE *, const TYPE * "void *"
%typemap(imtype) TYPE *, const TYPE * "global::System.IntPtr"
%typemap(cstype) TYPE *, const TYPE * "global::System.IntPtr"
%typemap(csin) TYPE *, const TYPE * "$csinput"
%typemap(in) TYPE *, const TYPE * %{ $1 = ($1_ltype)$input; %}
%typemap(ctype) TYPE ** "void **"
%typemap(imtype) TYPE ** "out global::System.IntPtr"
%typemap(cstype) TYPE ** "out global::System.IntPtr"
%typemap(csin) TYPE ** "out $csinput"
%typemap(in) TYPE ** %{ $1 = ($1_ltype)$input; %}
%enddef
CAB_CS_HANDLE(cab_model)
CAB_CS_HANDLE(cab_ctx)
CAB_CS_HANDLE(cab_sampler)

/* A scalar written by the call: `out CSTYPE`, through a temporary of the C type. */
%define CAB_CS_SCALAR_OUT(PATTERN, CTYPE, WIRE, CSTYPE)
%typemap(ctype) PATTERN "WIRE *"
%typemap(imtype) PATTERN "out CSTYPE"
%typemap(cstype) PATTERN "out CSTYPE"
%typemap(csin) PATTERN "out $csinput"
%typemap(in) PATTERN (CTYPE temp = 0) %{ $1 = &temp; %}
%typemap(argout) PATTERN %{ *$input = (WIRE)temp$argnum; %}
%enddef
CAB_CS_SCALAR_OUT(size_t *, size_t, uint64_t, ulong)
CAB_CS_SCALAR_OUT(int64_t *length_out, int64_t, int64_t, long)
CAB_CS_SCALAR_OUT(cab_token *token_out, cab_token, int32_t, int)

/* Arrays the call reads (pinned, not copied). */
%define CAB_CS_ARRAY_IN(PATTERN, WIRE, CSTYPE)
%typemap(ctype) PATTERN "WIRE *"
%typemap(imtype, inattributes=CAB_CS_IN_ATTR) PATTERN "CSTYPE[]"
%typemap(cstype) PATTERN "CSTYPE[]"
%typemap(csin) PATTERN "$csinput"
%typemap(in) PATTERN %{ $1 = ($1_ltype)$input; %}
%enddef
CAB_CS_ARRAY_IN(const int32_t *, int32_t, int)
/* UTF-8 text with an explicit length (it may hold NUL bytes). */
CAB_CS_ARRAY_IN(const char *text, char, byte)

/* Buffers the call fills, up to the capacity passed next to them. */
%define CAB_CS_ARRAY_OUT(PATTERN, WIRE, CSTYPE)
%typemap(ctype) PATTERN "WIRE *"
%typemap(imtype, inattributes=CAB_CS_OUT_ATTR) PATTERN "CSTYPE[]"
%typemap(cstype) PATTERN "CSTYPE[]"
%typemap(csin) PATTERN "$csinput"
%typemap(in) PATTERN %{ $1 = ($1_ltype)$input; %}
%enddef
CAB_CS_ARRAY_OUT(int32_t *, int32_t, int)
CAB_CS_ARRAY_OUT(float *, float, float)
CAB_CS_ARRAY_OUT(char *buf, char, byte)

/* Logits stay in the context; the caller copies n_vocab floats from the pointer. */
%typemap(ctype) const float ** "void **"
%typemap(imtype) const float ** "out global::System.IntPtr"
%typemap(cstype) const float ** "out global::System.IntPtr"
%typemap(csin) const float ** "out $csinput"
%typemap(in) const float ** %{ $1 = ($1_ltype)$input; %}

/*
 * Chat messages as one string array: role, content, role, content... The marshaller turns it
 * into an array of UTF-8 char pointers, which has the layout of cab_chat_message[n].
 */
%{
typedef char cab_chat_message_is_two_pointers[
    sizeof(cab_chat_message) == 2 * sizeof(const char *) ? 1 : -1];
%}
%typemap(ctype) const cab_chat_message * "char **"
%typemap(imtype, inattributes="[global::System.Runtime.InteropServices.In, global::System.Runtime.InteropServices.MarshalAs(global::System.Runtime.InteropServices.UnmanagedType.LPArray, ArraySubType = global::System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)]") const cab_chat_message * "string[]"
%typemap(cstype) const cab_chat_message * "string[]"
%typemap(csin) const cab_chat_message * "$csinput"
%typemap(in) const cab_chat_message * %{ $1 = ($1_ltype)(void *)$input; %}
