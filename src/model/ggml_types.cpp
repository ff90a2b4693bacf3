#include "model/ggml_types.h"

#include <cstring>
#include <string>

#include "util/error.h"

namespace cab::ggml {

namespace {

constexpr int64_t QK = 32;    // elements per block of the Q4/Q5/Q8 families
constexpr int64_t QKK = 256;  // elements per K-quant super-block

struct Entry {
    uint32_t id;
    TypeTraits traits;
};

// Block sizes and bytes as ggml defines them (ggml-common.h block_* structs).
constexpr Entry kTypes[] = {
    {0, {"F32", 1, 4, true}},
    {1, {"F16", 1, 2, true}},
    {2, {"Q4_0", QK, 2 + QK / 2, true}},
    {3, {"Q4_1", QK, 2 + 2 + QK / 2, true}},
    {6, {"Q5_0", QK, 2 + 4 + QK / 2, true}},
    {7, {"Q5_1", QK, 2 + 2 + 4 + QK / 2, true}},
    {8, {"Q8_0", QK, 2 + QK, true}},
    {9, {"Q8_1", QK, 2 + 2 + QK, false}},  // an activation format: ggml has no dequantizer
    {10, {"Q2_K", QKK, QKK / 16 + QKK / 4 + 2 + 2, true}},
    {11, {"Q3_K", QKK, QKK / 8 + QKK / 4 + 12 + 2, true}},
    {12, {"Q4_K", QKK, 2 + 2 + 12 + QKK / 2, true}},
    {13, {"Q5_K", QKK, 2 + 2 + 12 + QKK / 8 + QKK / 2, true}},
    {14, {"Q6_K", QKK, QKK / 2 + QKK / 4 + QKK / 16 + 2, true}},
    {15, {"Q8_K", QKK, 4 + QKK + QKK / 16 * 2, true}},
    {30, {"BF16", 1, 2, true}},
};

// ggml's types that libcab does not read (gaps are ids ggml retired).
constexpr Entry kForeign[] = {
    {4, {"Q4_2", 0, 0, false}},    {5, {"Q4_3", 0, 0, false}},     {16, {"IQ2_XXS", 0, 0, false}},
    {17, {"IQ2_XS", 0, 0, false}}, {18, {"IQ3_XXS", 0, 0, false}}, {19, {"IQ1_S", 0, 0, false}},
    {20, {"IQ4_NL", 0, 0, false}}, {21, {"IQ3_S", 0, 0, false}},   {22, {"IQ2_S", 0, 0, false}},
    {23, {"IQ4_XS", 0, 0, false}}, {24, {"I8", 0, 0, false}},      {25, {"I16", 0, 0, false}},
    {26, {"I32", 0, 0, false}},    {27, {"I64", 0, 0, false}},     {28, {"F64", 0, 0, false}},
    {29, {"IQ1_M", 0, 0, false}},  {34, {"TQ1_0", 0, 0, false}},   {35, {"TQ2_0", 0, 0, false}},
    {39, {"MXFP4", 0, 0, false}},  {40, {"NVFP4", 0, 0, false}},   {41, {"Q1_0", 0, 0, false}},
};

inline uint32_t float_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

inline float bits_float(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

inline uint16_t load_u16(const uint8_t *p) {
    return static_cast<uint16_t>(p[0] | (p[1] << 8));
}

inline uint32_t load_u32(const uint8_t *p) {
    return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
           (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

// Branch-free so that row loops vectorize: normal halves are moved into float position and
// rescaled by 2^-112 (the exponent bias difference); subnormals are built as 0.5 + m * 2^-24
// and 0.5 subtracted, both exact.
inline float half_to_float(uint16_t h) {
    const uint32_t w = static_cast<uint32_t>(h) << 16;
    const uint32_t sign = w & 0x80000000u;
    const uint32_t two_w = w + w;
    const float normal = bits_float((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
    const float subnormal = bits_float((two_w >> 17) | (126u << 23)) - 0.5f;
    const uint32_t is_sub = 0u - static_cast<uint32_t>(two_w < (1u << 27));  // all ones or 0
    const uint32_t mag = (float_bits(subnormal) & is_sub) | (float_bits(normal) & ~is_sub);
    return bits_float(sign | mag);
}

inline float load_f16(const uint8_t *p) {
    return half_to_float(load_u16(p));
}

void dequant_f32(const uint8_t *x, float *y, int64_t n) {
    std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float));
}

void dequant_f16(const uint8_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = load_f16(x + 2 * i);
}

void dequant_bf16(const uint8_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(load_u16(x + 2 * i));
}

// Q4_0: {f16 d; u8 qs[16]}; element j is the low nibble of qs[j], element j+16 the high one.
void dequant_q4_0(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; ++b, x += 18, y += QK) {
        const float d = load_f16(x);
        const uint8_t *qs = x + 2;
        for (int j = 0; j < 16; ++j) y[j] = static_cast<float>((qs[j] & 0x0F) - 8) * d;
        for (int j = 0; j < 16; ++j) y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
    }
}

// Q4_1: {f16 d; f16 m; u8 qs[16]}; y = q * d + m.
void dequant_q4_1(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; ++b, x += 20, y += QK) {
        const float d = load_f16(x);
        const float m = load_f16(x + 2);
        const uint8_t *qs = x + 4;
        for (int j = 0; j < 16; ++j) y[j] = static_cast<float>(qs[j] & 0x0F) * d + m;
        for (int j = 0; j < 16; ++j) y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
    }
}

// Q5_0: {f16 d; u32 qh; u8 qs[16]}; bit j of qh is the 5th bit of element j.
void dequant_q5_0(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; ++b, x += 22, y += QK) {
        const float d = load_f16(x);
        const uint32_t qh = load_u32(x + 2);
        const uint8_t *qs = x + 6;
        for (int j = 0; j < 16; ++j) {
            const int h = static_cast<int>(((qh >> j) << 4) & 0x10);
            y[j] = static_cast<float>(((qs[j] & 0x0F) | h) - 16) * d;
        }
        for (int j = 0; j < 16; ++j) {
            const int h = static_cast<int>((qh >> (j + 12)) & 0x10);
            y[j + 16] = static_cast<float>(((qs[j] >> 4) | h) - 16) * d;
        }
    }
}

// Q5_1: {f16 d; f16 m; u32 qh; u8 qs[16]}; y = q * d + m.
void dequant_q5_1(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; ++b, x += 24, y += QK) {
        const float d = load_f16(x);
        const float m = load_f16(x + 2);
        const uint32_t qh = load_u32(x + 4);
        const uint8_t *qs = x + 8;
        for (int j = 0; j < 16; ++j) {
            const int h = static_cast<int>(((qh >> j) << 4) & 0x10);
            y[j] = static_cast<float>((qs[j] & 0x0F) | h) * d + m;
        }
        for (int j = 0; j < 16; ++j) {
            const int h = static_cast<int>((qh >> (j + 12)) & 0x10);
            y[j + 16] = static_cast<float>((qs[j] >> 4) | h) * d + m;
        }
    }
}

// Q8_0: {f16 d; i8 qs[32]}.
void dequant_q8_0(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; ++b, x += 34, y += QK) {
        const float d = load_f16(x);
        const int8_t *qs = reinterpret_cast<const int8_t *>(x + 2);
        for (int j = 0; j < QK; ++j) y[j] = static_cast<float>(qs[j]) * d;
    }
}

// Q2_K: {u8 scales[16]; u8 qs[64]; f16 d; f16 dmin}. Each 16 elements have a 4-bit scale and a
// 4-bit min; 2-bit quants are packed four to a byte across 32-byte groups.
void dequant_q2_k(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; ++b, x += 84) {
        const uint8_t *scales = x;
        const uint8_t *q = x + 16;
        const float d = load_f16(x + 80);
        const float dmin = load_f16(x + 82);
        int is = 0;
        for (int half = 0; half < 2; ++half, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int part = 0; part < 2; ++part, ++is) {
                    const float dl = d * static_cast<float>(scales[is] & 0x0F);
                    const float ml = dmin * static_cast<float>(scales[is] >> 4);
                    const uint8_t *qp = q + 16 * part;
                    for (int l = 0; l < 16; ++l) {
                        *y++ = dl * static_cast<float>((qp[l] >> shift) & 3) - ml;
                    }
                }
            }
        }
    }
}

// Q3_K: {u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d}. Sixteen 6-bit signed scales (offset
// 32); a quant is its 2 low bits minus 4 when its hmask bit is clear.
void dequant_q3_k(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; ++b, x += 110) {
        const uint8_t *hm = x;
        const uint8_t *q = x + 32;
        const uint8_t *sc = x + 96;
        const float d_all = load_f16(x + 108);
        int8_t scales[16];
        for (int i = 0; i < 16; ++i) {
            const int low = (i < 8 ? sc[i] : sc[i - 8] >> 4) & 0x0F;
            const int high = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
            scales[i] = static_cast<int8_t>((low | (high << 4)) - 32);
        }
        int is = 0;
        uint8_t m = 1;
        for (int half = 0; half < 2; ++half, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m = static_cast<uint8_t>(m << 1)) {
                for (int part = 0; part < 2; ++part, ++is) {
                    const float dl = d_all * static_cast<float>(scales[is]);
                    const uint8_t *qp = q + 16 * part;
                    const uint8_t *hp = hm + 16 * part;
                    for (int l = 0; l < 16; ++l) {
                        const int v = ((qp[l] >> shift) & 3) - ((hp[l] & m) ? 0 : 4);
                        *y++ = dl * static_cast<float>(v);
                    }
                }
            }
        }
    }
}

// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (12 packed bytes).
inline void scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = static_cast<uint8_t>((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4));
        *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// Q4_K: {f16 d; f16 dmin; u8 scales[12]; u8 qs[128]}; 8 sub-blocks of 32 elements.
void dequant_q4_k(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; ++b, x += 144) {
        const float d = load_f16(x);
        const float dmin = load_f16(x + 2);
        const uint8_t *scales = x + 4;
        const uint8_t *q = x + 16;
        for (int is = 0; is < 8; is += 2, q += 32) {
            uint8_t sc, m;
            scale_min_k4(is, scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            scale_min_k4(is + 1, scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0x0F) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
        }
    }
}

// Q5_K: {f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}.
void dequant_q5_k(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; ++b, x += 176) {
        const float d = load_f16(x);
        const float dmin = load_f16(x + 2);
        const uint8_t *scales = x + 4;
        const uint8_t *qh = x + 16;
        const uint8_t *ql = x + 48;
        uint8_t u1 = 1, u2 = 2;
        for (int is = 0; is < 8; is += 2, ql += 32) {
            uint8_t sc, m;
            scale_min_k4(is, scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            scale_min_k4(is + 1, scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; ++l) {
                *y++ = d1 * static_cast<float>((ql[l] & 0x0F) + ((qh[l] & u1) ? 16 : 0)) - m1;
            }
            for (int l = 0; l < 32; ++l) {
                *y++ = d2 * static_cast<float>((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
            }
            u1 = static_cast<uint8_t>(u1 << 2);
            u2 = static_cast<uint8_t>(u2 << 2);
        }
    }
}

// Q6_K: {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}; 6-bit quants offset by 32.
void dequant_q6_k(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; ++b, x += 210) {
        const uint8_t *ql = x;
        const uint8_t *qh = x + 128;
        const int8_t *sc = reinterpret_cast<const int8_t *>(x + 192);
        const float d = load_f16(x + 208);
        // Each half: 4 runs of 32 outputs; run g takes the low (g < 2) or high nibbles of
        // ql[32 * (g % 2) ...], bits 2g..2g+1 of qh, and scales sc[2g], sc[2g + 1].
        for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8) {
            for (int g = 0; g < 4; ++g) {
                const uint8_t *qlg = ql + 32 * (g & 1);
                const int lshift = 4 * (g >> 1), hshift = 2 * g;
                for (int s = 0; s < 2; ++s, y += 16) {
                    const float dl = d * static_cast<float>(sc[2 * g + s]);
                    for (int l = 16 * s; l < 16 * s + 16; ++l) {
                        const int q =
                            (((qlg[l] >> lshift) & 0x0F) | (((qh[l] >> hshift) & 3) << 4));
                        y[l - 16 * s] = dl * static_cast<float>(q - 32);
                    }
                }
            }
        }
    }
}

// Q8_K: {f32 d; i8 qs[256]; i16 bsums[16]} (the sums only serve dot products).
void dequant_q8_k(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; ++b, x += 292, y += QKK) {
        const float d = bits_float(load_u32(x));
        const int8_t *qs = reinterpret_cast<const int8_t *>(x + 4);
        for (int j = 0; j < QKK; ++j) y[j] = d * static_cast<float>(qs[j]);
    }
}

}  // namespace

const TypeTraits *traits_of(uint32_t type_id) {
    for (const Entry &e : kTypes) {
        if (e.id == type_id) return &e.traits;
    }
    return nullptr;
}

const TypeTraits &traits(Type type) {
    const TypeTraits *t = traits_of(static_cast<uint32_t>(type));
    if (t == nullptr) {
        fail(CAB_ERR_INVALID_ARGUMENT,
             "ggml: unknown type id " + std::to_string(static_cast<uint32_t>(type)));
    }
    return *t;
}

const char *ggml_type_name(uint32_t type_id) {
    if (const TypeTraits *t = traits_of(type_id)) return t->name;
    for (const Entry &e : kForeign) {
        if (e.id == type_id) return e.traits.name;
    }
    return nullptr;
}

size_t row_bytes(Type type, int64_t n) {
    const TypeTraits &t = traits(type);
    if (n < 0 || n % t.block_size != 0) {
        fail(CAB_ERR_FORMAT, std::string("ggml: row of ") + std::to_string(n) + " " + t.name +
                                 " elements is not a multiple of the block size " +
                                 std::to_string(t.block_size));
    }
    const uint64_t blocks = static_cast<uint64_t>(n / t.block_size);
    if (blocks > SIZE_MAX / t.block_bytes) {
        fail(CAB_ERR_FORMAT, std::string("ggml: row of ") + std::to_string(n) + " " + t.name +
                                 " elements overflows the byte count");
    }
    return static_cast<size_t>(blocks) * t.block_bytes;
}

void dequantize_row(Type type, const void *src, float *dst, int64_t n) {
    const TypeTraits &t = traits(type);
    if (n < 0 || n % t.block_size != 0) {
        fail(CAB_ERR_INVALID_ARGUMENT, std::string("dequantize_row: n = ") + std::to_string(n) +
                                           " is not a multiple of the " + t.name + " block size " +
                                           std::to_string(t.block_size));
    }
    const auto *x = static_cast<const uint8_t *>(src);
    const int64_t nb = n / t.block_size;
    switch (type) {
        case Type::F32:
            return dequant_f32(x, dst, n);
        case Type::F16:
            return dequant_f16(x, dst, n);
        case Type::BF16:
            return dequant_bf16(x, dst, n);
        case Type::Q4_0:
            return dequant_q4_0(x, dst, nb);
        case Type::Q4_1:
            return dequant_q4_1(x, dst, nb);
        case Type::Q5_0:
            return dequant_q5_0(x, dst, nb);
        case Type::Q5_1:
            return dequant_q5_1(x, dst, nb);
        case Type::Q8_0:
            return dequant_q8_0(x, dst, nb);
        case Type::Q2_K:
            return dequant_q2_k(x, dst, nb);
        case Type::Q3_K:
            return dequant_q3_k(x, dst, nb);
        case Type::Q4_K:
            return dequant_q4_k(x, dst, nb);
        case Type::Q5_K:
            return dequant_q5_k(x, dst, nb);
        case Type::Q6_K:
            return dequant_q6_k(x, dst, nb);
        case Type::Q8_K:
            return dequant_q8_k(x, dst, nb);
        case Type::Q8_1:
            break;
    }
    fail(CAB_ERR_UNSUPPORTED, std::string("dequantize_row: no dequantizer for type ") + t.name);
}

float fp16_to_f32(uint16_t h) {
    return half_to_float(h);
}

uint16_t f32_to_fp16(float f) {
    const uint32_t x = float_bits(f);
    const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
    const uint32_t a = x & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return sign | 0x7E00;  // NaN
    if (a >= 0x38800000u) {                     // fp16 normal range (>= 2^-14) and above
        // Rebias the exponent (127 -> 15), round the 13 dropped mantissa bits to nearest even;
        // a carry moves into the exponent by itself.
        const uint32_t r = (a - 0x38000000u + 0x0FFFu + ((a >> 13) & 1)) >> 13;
        return sign | static_cast<uint16_t>(r >= 0x7C00 ? 0x7C00 : r);
    }
    if (a <= 0x33000000u) return sign;  // <= 2^-25: rounds to zero (ties to even)
    // Subnormal: value / 2^-24 = mant * 2^(e - 126) with the implicit bit made explicit.
    const uint32_t mant = (a & 0x007FFFFFu) | 0x00800000u;
    const int shift = 126 - static_cast<int>(a >> 23);
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) ++h;
    return sign | static_cast<uint16_t>(h);
}

float bf16_to_f32(uint16_t b) {
    return bits_float(static_cast<uint32_t>(b) << 16);
}

uint16_t f32_to_bf16(float f) {
    const uint32_t x = float_bits(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 64);
    return static_cast<uint16_t>((x + 0x7FFFu + ((x >> 16) & 1)) >> 16);
}

}  // namespace cab::ggml
