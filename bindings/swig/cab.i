/*
 * SWIG interface over include/cab/cab.h, for the C# and Go bindings.
 *
 * SWIG turns the C ABI into a raw, internal layer that mirrors it one to one (same names, status
 * codes as return values, out-parameters); bindings/csharp and bindings/go put the idiomatic API
 * (classes, exceptions, error values) on top. The language-specific typemaps are in
 * cab_csharp.i and cab_go.i; they are chosen by parameter type, so a new function that follows
 * the header's conventions needs no change here:
 *   handles              cab_model *, cab_ctx *, cab_sampler *   IntPtr / uintptr
 *   new handles          cab_model ** ...                        out IntPtr / *uintptr
 *   count outputs        size_t *                                out ulong / *int64
 *   input arrays         const int32_t * (tokens, seqs)          int[] / []int32
 *   output arrays        int32_t *, float *, char *buf           int[], float[], byte[] /
 *                        (buffers with a capacity)               []int32, []float32, []byte
 *   borrowed logits      const float **                          out IntPtr / *unsafe.Pointer
 *   options structs      cab_*_params, cab_model_info, cab_kv_stats, cab_evict_report: SWIG
 *                        proxies whose constructor fills the defaults (params) or struct_size
 *                        (outputs); a new struct adds one CAB_*_STRUCT line below
 *   policy name          cab_evict_params::policy: borrowed address, see below
 * Where one C type is used both ways, the parameter name decides: a scalar output of an integer
 * type (int64_t *length_out, cab_token *token_out) and a text buffer (char *buf) are matched by
 * name, so a new out-parameter of such a type adds its name to the language files.
 */
%module cab

%{
#include <stdlib.h>
#include <string.h>

#include "cab/cab.h"
%}

%include <stdint.i>

/* CAB_API expands to a GCC attribute that SWIG's parser does not know. */
#define __attribute__(x)

/* Not bound: the load-progress callback (no managed callback through the raw layer yet). */
%ignore cab_model_params::progress;
%ignore cab_model_params::progress_user_data;
/* Messages travel as parallel strings (see the language typemaps), never as a struct proxy. */
%ignore cab_chat_message;

/* Options structs are born with the library's defaults, so struct_size is always right. */
%define CAB_PARAMS_STRUCT(TYPE, DEFAULTS)
%extend TYPE {
    TYPE() {
        TYPE *p = (TYPE *)calloc(1, sizeof(TYPE));
        if (p) DEFAULTS(p);
        return p;
    }
    ~TYPE() { free($self); }
}
%enddef

/* Output structs carry the size the library may fill. */
%define CAB_OUTPUT_STRUCT(TYPE)
%extend TYPE {
    TYPE() {
        TYPE *p = (TYPE *)calloc(1, sizeof(TYPE));
        if (p) p->struct_size = (uint32_t)sizeof(TYPE);
        return p;
    }
    ~TYPE() { free($self); }
}
%enddef

CAB_PARAMS_STRUCT(cab_model_params, cab_model_default_params)
CAB_PARAMS_STRUCT(cab_ctx_params, cab_ctx_default_params)
CAB_PARAMS_STRUCT(cab_sampler_params, cab_sampler_default_params)
CAB_PARAMS_STRUCT(cab_evict_params, cab_evict_default_params)
/*
 * The eviction policy name. A plain `const char *policy` member would get a setter that
 * strdup()s the string and never frees it (SWIG warning 451). Instead the proxy exposes the name
 * read-only (policy_name) and takes a borrowed address (set_policy_address): the idiomatic layer
 * owns a UTF-8 copy (C#: unmanaged memory, Go: C.CString), sets its address right before the call
 * that reads the struct, and frees it right after. libcab borrows the name for cab_evict and
 * copies it in cab_ctx_create (auto_evict), so nothing outlives the call.
 */
%ignore cab_evict_params::policy;
%extend cab_evict_params {
    const char *policy_name() { return $self->policy; }
    void set_policy_address(uint64_t address) { $self->policy = (const char *)(uintptr_t)address; }
}
CAB_OUTPUT_STRUCT(cab_model_info)
CAB_OUTPUT_STRUCT(cab_kv_stats)
CAB_OUTPUT_STRUCT(cab_evict_report)

#if defined(SWIGCSHARP)
%include "cab_csharp.i"
#elif defined(SWIGGO)
%include "cab_go.i"
#else
#error "libcab's SWIG interface has typemaps for C# and Go only"
#endif

%include "cab/cab.h"
