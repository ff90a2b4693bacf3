// Bit-exact output checks for the GPU tests: a device array between poisoned guard elements
// (0xff bytes: NaN), compared with its expected bit patterns while the guards must stay poisoned,
// so a kernel that writes too little, too much or out of bounds fails. An offset of one element
// makes the array's pointer not 16-byte aligned, which runs a kernel's scalar path.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <vector>

#include "device_buffer.h"
#include "util/error.h"

namespace cab::gpu_test {

inline uint32_t bits_of(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    return u;
}

// n elements of T after `offset` guard elements, and 2 guard elements after them.
template <class T>
struct Guarded {
    Guarded(size_t n, size_t offset) : n(n), offset(offset), buf((n + offset + 2) * sizeof(T)) {}
    T *ptr() const { return buf.get<T>() + offset; }
    void poison() { buf.poison(); }
    // Poisons the guards and uploads the n elements.
    void upload(const std::vector<T> &host) {
        REQUIRE(host.size() == n);
        buf.poison();
        if (n > 0)
            cuda_check(cudaMemcpy(ptr(), host.data(), n * sizeof(T), cudaMemcpyHostToDevice),
                       "upload");
    }
    size_t n, offset;
    DeviceBuffer buf;
};

// The n elements must equal `expected` (bit patterns of T's size) and the guards be all ones.
template <class T, class Bits>
void check_bits(const Guarded<T> &got, const std::vector<Bits> &expected, const char *what) {
    static_assert(sizeof(T) == sizeof(Bits), "element and bit pattern sizes differ");
    INFO(what);
    REQUIRE(expected.size() == got.n);
    std::vector<Bits> all = got.buf.template download<Bits>();
    size_t bad = 0, first = 0, guards = 0;
    for (size_t i = 0; i < all.size(); ++i) {
        if (i < got.offset || i >= got.offset + got.n) {
            if (all[i] != static_cast<Bits>(~Bits{0})) ++guards;
        } else if (all[i] != expected[i - got.offset]) {
            if (bad++ == 0) first = i - got.offset;
        }
    }
    INFO(bad << " bad elements, first " << first << " of " << got.n << ": got 0x" << std::hex
             << (bad ? +all[first + got.offset] : 0) << " expected 0x"
             << (bad ? +expected[first] : 0));
    CHECK(bad == 0);
    CHECK(guards == 0);
}

// call() must throw cab::Error(INVALID_ARGUMENT) whose message contains `what`.
template <class F>
void check_invalid(F &&call, const char *what) {
    INFO("expecting INVALID_ARGUMENT naming '" << what << "'");
    try {
        call();
        FAIL("no error");
    } catch (const cab::Error &e) {
        CHECK(e.status() == CAB_ERR_INVALID_ARGUMENT);
        CHECK_THAT(e.what(), Catch::Contains(what));
    }
}

}  // namespace cab::gpu_test
