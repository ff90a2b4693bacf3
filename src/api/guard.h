// The boundary between the C ABI and the C++ core: argument checks, the thread-local last error,
// and the translation of exceptions into cab_status codes. No exception crosses this line.
#pragma once

#include <cstring>
#include <new>
#include <string>
#include <type_traits>

#include "cab/cab.h"
#include "util/error.h"

namespace cab::api {

void set_last_error(const std::string &message);
const std::string &last_error();

// Runs `body` (which returns void) and maps what it throws to a status with a message.
template <typename F>
cab_status guard(const char *function, F &&body) noexcept {
    try {
        body();
        return CAB_OK;
    } catch (const Error &e) {
        set_last_error(std::string(function) + ": " + e.what());
        return e.status();
    } catch (const std::bad_alloc &) {
        set_last_error(std::string(function) + ": out of host memory");
        return CAB_ERR_OUT_OF_MEMORY;
    } catch (const std::exception &e) {
        set_last_error(std::string(function) + ": internal error: " + e.what());
        return CAB_ERR_INTERNAL;
    } catch (...) {
        set_last_error(std::string(function) + ": internal error: unknown exception");
        return CAB_ERR_INTERNAL;
    }
}

inline void require_arg(bool ok, const char *what) {
    if (!ok) fail(CAB_ERR_INVALID_ARGUMENT, what);
}

template <typename T>
void require_not_null(const T *p, const char *name) {
    if (p == nullptr) fail(CAB_ERR_INVALID_ARGUMENT, std::string(name) + " is NULL");
}

// Reads a caller's versioned options struct over `defaults`: fields the caller's (older) struct
// lacks keep their defaults. A struct newer than this library is refused rather than misread.
// `min_size` is the size of the struct's first released version; once a struct grows, its call
// site passes that older size here.
template <typename Params>
Params read_params(const Params *given, const Params &defaults, const char *name,
                   size_t min_size = sizeof(Params)) {
    Params out = defaults;
    if (given == nullptr) return out;
    uint32_t size = given->struct_size;
    if (size < min_size || size > sizeof(Params))
        fail(CAB_ERR_INVALID_ARGUMENT,
             std::string(name) + "->struct_size is " + std::to_string(size) + ", expected " +
                 std::to_string(sizeof(Params)) + " (set it with the matching *_default_params)");
    std::memcpy(static_cast<void *>(&out), given, size);
    out.struct_size = sizeof(Params);
    return out;
}

// The integer a caller stored in an enum field. C lets any int in; C++ must not load a value
// outside the enumeration's range through the enum type (undefined behaviour), so enum fields
// are checked through this before they are used.
template <typename E>
int enum_int(const E &field) {
    static_assert(std::is_enum_v<E> && sizeof(E) == sizeof(int), "a C enum field");
    int value;
    std::memcpy(&value, &field, sizeof value);
    return value;
}

// Writes the prefix of an output struct that the caller's struct_size covers.
template <typename Out>
void write_out(Out *dst, const Out &src, const char *name) {
    require_not_null(dst, name);
    uint32_t size = dst->struct_size;
    if (size < sizeof(uint32_t) || size > sizeof(Out))
        fail(CAB_ERR_INVALID_ARGUMENT, std::string(name) + "->struct_size is " +
                                           std::to_string(size) + ", expected " +
                                           std::to_string(sizeof(Out)));
    Out copy = src;
    copy.struct_size = size;
    std::memcpy(static_cast<void *>(dst), &copy, size);
}

// Copies bytes to a caller buffer with capacity; BUFFER_TOO_SMALL reports the size needed.
// Text outputs are NUL-terminated when room remains.
void write_text(const std::string &text, char *buf, size_t cap, size_t *n_out, bool nul);

}  // namespace cab::api
