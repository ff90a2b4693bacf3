// Tensor element types of GGUF files (ggml's numbering) and their dequantization to f32.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cab::ggml {

// Values are ggml's type ids as stored in GGUF files; never renumber.
enum class Type : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    BF16 = 30,
};

struct TypeTraits {
    const char *name;    // "Q4_1"
    int64_t block_size;  // elements per block (1 for plain float types)
    size_t block_bytes;  // bytes per block
    bool dequantizable;  // dequantize_row supports it
};

// Traits of a type id read from a file; nullptr for ids libcab does not know.
const TypeTraits *traits_of(uint32_t type_id);
const TypeTraits &traits(Type type);

// Name of any type id ggml defines, including the ones libcab cannot read ("IQ2_XXS"), so that
// a file using them is reported as unsupported rather than corrupt; nullptr for other ids.
const char *ggml_type_name(uint32_t type_id);

// Bytes of a row of n elements. Throws cab::Error(FORMAT) if n is not a multiple of the block
// size or the byte count overflows.
size_t row_bytes(Type type, int64_t n);

// Dequantizes n elements (a multiple of the block size) from src into dst, computing exactly
// what ggml's dequantize_row_* computes (same operations in the same order, so results are
// bit-identical to ggml and to the gguf Python package).
// Throws cab::Error(UNSUPPORTED) for types without a dequantizer and
// cab::Error(INVALID_ARGUMENT) when n is negative or not a multiple of the block size.
void dequantize_row(Type type, const void *src, float *dst, int64_t n);

// IEEE half and bfloat16 conversions used by the dequantizers and the backends.
float fp16_to_f32(uint16_t h);  // exact for every non-NaN value; NaN stays NaN
uint16_t f32_to_fp16(float f);  // round to nearest even; overflow to inf; NaN -> quiet NaN
float bf16_to_f32(uint16_t b);
uint16_t f32_to_bf16(float f);  // round to nearest even; NaN -> quiet NaN (as ggml)

}  // namespace cab::ggml
