// How fuzz_api reads its input: one byte per argument, front to back, so that make_seeds.py can
// write meaningful seeds by hand. A byte below 0xF0 gives a value in a normal range (value 0 maps
// to the range's low end); 0xF0 and above pick from a list of odd values (out of range, extremes,
// NaN), which the generated params remember as not known to be valid.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <vector>

#include "cab/cab.h"

namespace fuzz_api {

constexpr uint8_t kOdd = 0xF0;

class Input {
public:
    Input(const uint8_t *data, size_t size) : p_(data), end_(data + size) {}
    bool done() const { return p_ == end_; }
    // 0 once the input is used up, so a short input still ends in well-defined calls.
    uint8_t byte() { return done() ? 0 : *p_++; }

    // A value in [lo, hi] from a normal byte, else one of `odd`; *normal says which.
    template <typename T>
    T pick(T lo, T hi, std::initializer_list<T> odd, bool *normal = nullptr) {
        const uint8_t b = byte();
        const bool in_range = b < kOdd || odd.size() == 0;
        if (normal != nullptr) *normal = *normal && in_range;
        if (in_range) return static_cast<T>(lo + static_cast<T>(b % (hi - lo + 1)));
        return odd.begin()[(b - kOdd) % odd.size()];
    }
    // A share in [0, scale * 239], or one of the odd floats.
    double share(double scale, std::initializer_list<double> odd, bool *normal) {
        const uint8_t b = byte();
        if (b < kOdd) return b * scale;
        *normal = false;
        return odd.begin()[(b - kOdd) % odd.size()];
    }

private:
    const uint8_t *p_;
    const uint8_t *end_;
};

// Enum fields hold any int a C caller may store; C++ must not form or load an enum value outside
// the enumeration's range, so they are written and read as ints.
template <typename E>
void set_enum(E &field, int value) {
    std::memcpy(&field, &value, sizeof value);
}
template <typename E>
int enum_value(const E &field) {
    int value;
    std::memcpy(&value, &field, sizeof value);
    return value;
}

constexpr int32_t kI32Min = std::numeric_limits<int32_t>::min();
constexpr int32_t kI32Max = std::numeric_limits<int32_t>::max();
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

// A struct_size choice: the current size, the first release's, or a wrong one; or no struct.
enum class Shape { Current, FirstRelease, Zero, TooBig, Null };

inline Shape read_shape(Input &in) {
    switch (in.byte() % 16) {
        case 12:
            return Shape::FirstRelease;
        case 13:
            return Shape::Zero;
        case 14:
            return Shape::TooBig;
        case 15:
            return Shape::Null;
        default:
            return Shape::Current;
    }
}

inline uint32_t struct_size(Shape shape, size_t current, size_t first_release) {
    switch (shape) {
        case Shape::FirstRelease:
            return static_cast<uint32_t>(first_release);
        case Shape::Zero:
            return 0;
        case Shape::TooBig:
            return static_cast<uint32_t>(current + 8);
        default:
            return static_cast<uint32_t>(current);
    }
}

// Whether the library must accept, must refuse, or may do either (odd values, combinations
// whose rules this target does not repeat).
enum class Validity { Good, Bad, Unknown };

inline Validity worst(Validity a, Validity b) {
    if (a == Validity::Bad || b == Validity::Bad) return Validity::Bad;
    if (a == Validity::Unknown || b == Validity::Unknown) return Validity::Unknown;
    return Validity::Good;
}

inline const char *const kPolicies[] = {"full",   "random", "window",  "h2o",     "tova",
                                        "snapkv", "cab",    "cab-frc", "chunkkv", "",
                                        "CAB",    "h2o ",   "nope",    nullptr};
constexpr int kKnownPolicies = 9;

struct EvictArgs {
    cab_evict_params params{};
    bool null = false;
    Validity validity = Validity::Good;
    bool known_policy = true;
};

inline EvictArgs read_evict(Input &in) {
    EvictArgs a;
    cab_evict_default_params(&a.params);
    cab_evict_params &p = a.params;
    const Shape shape = read_shape(in);
    a.null = shape == Shape::Null;
    p.struct_size = struct_size(shape, sizeof p, offsetof(cab_evict_params, snapkv_shift));
    const int policy = in.byte() % 14;
    p.policy = kPolicies[policy];
    a.known_policy = policy < kKnownPolicies;
    bool n = true;  // every field in its normal range
    set_enum(p.budget_unit, in.pick(0, 1, {2, -1}, &n));
    p.budget_tokens = in.pick(0, 64, {-1, kI32Max, kI32Min}, &n);
    p.budget_ratio = in.share(1.0 / 239, {kNaN, -0.25, kInf, 1.5, 1e-7}, &n);
    p.n_sinks = in.pick(0, 8, {-1, kI32Max}, &n);
    p.n_recent = in.pick(0, 8, {-1, kI32Max}, &n);
    set_enum(p.selection, in.pick(0, 1, {2, -1}, &n));
    set_enum(p.allocation, in.pick(0, 2, {3, -1}, &n));
    p.min_budget = in.pick(0, 8, {-1, kI32Max}, &n);
    p.pyramid_beta = static_cast<float>(1.0 + in.share(0.25, {-0.5, kNaN, kInf}, &n));
    p.seed = in.byte();
    p.h2o_normalize = in.byte() & 1;
    p.h2o_recent_ratio = static_cast<float>(in.share(1.0 / 239, {kNaN, -1.0}, &n));
    p.snapkv_window = in.pick(1, 40, {0, -1, kI32Max}, &n);
    p.snapkv_kernel = 1 + 2 * in.pick(0, 7, {-1, kI32Max / 2, kI32Min / 2}, &n);
    p.snapkv_shift = in.pick(0, 4, {-1, kI32Max}, &n);
    p.cab_r_local = static_cast<float>(in.share(1.0 / 478, {kNaN, -1.0, 2.0}, &n));
    p.cab_r_bridge = static_cast<float>(in.share(1.0 / 478, {kNaN, -1.0, 2.0}, &n));
    set_enum(p.score_source, in.pick(0, 1, {2, -1}, &n));
    p.frc_block = in.pick(1, 20, {0, -1, kI32Max}, &n);
    p.frc_max_blocks = in.pick(1, 20, {0, kI32Max}, &n);
    p.chunkkv_chunk = in.pick(1, 20, {0, -1, kI32Max}, &n);
    // In range, a shift can still exceed kernel / 2, and a normalized h2o cannot rank by the
    // window: both are refused, as documented.
    const bool shift_ok = p.snapkv_shift <= p.snapkv_kernel / 2;
    const bool h2o_ok =
        !(p.h2o_normalize && enum_value(p.score_source) == CAB_SCORE_WINDOW && policy == 3);
    if (a.null) {
        a.validity = Validity::Good;
    } else if (shape == Shape::Zero || shape == Shape::TooBig || !a.known_policy) {
        a.validity = Validity::Bad;
    } else {
        a.validity = n && shift_ok && h2o_ok ? Validity::Good : Validity::Unknown;
    }
    return a;
}

struct CtxArgs {
    cab_ctx_params params{};
    EvictArgs evict;
    bool null = false;
    bool auto_evict = false;  // params.auto_evict points at evict.params
    Validity validity = Validity::Good;
};

inline CtxArgs read_ctx(Input &in) {
    CtxArgs a;
    cab_ctx_default_params(&a.params);
    cab_ctx_params &p = a.params;
    const Shape shape = read_shape(in);
    a.null = shape == Shape::Null;
    p.struct_size = struct_size(shape, sizeof p, offsetof(cab_ctx_params, auto_evict));
    bool n = true;
    set_enum(p.device, in.pick(0, 1, {2, 3, -1}, &n));
    p.n_seq_max = in.pick(1, 4, {0, -1, 65537, kI32Min}, &n);
    // One compute thread: a thread pool per context would dominate the run.
    p.n_threads = in.pick(1, 1, {0, 2, -1, 1025}, &n);
    p.kv_capacity_tokens = in.pick<int64_t>(
        1, 200,
        {0, -1, (int64_t{1} << 32) + 1, std::numeric_limits<int64_t>::min(), int64_t{1} << 40}, &n);
    p.kv_block_size = in.pick(1, 32, {0, -1, 1025, 4097}, &n);
    set_enum(p.kv_type, in.pick(0, 1, {2, 3, 4, -1}, &n));
    p.prefill_chunk = in.pick(1, 64, {0, -1, 65537}, &n);
    p.auto_evict_slack = in.pick(1, 64, {0, -1, kI32Max}, &n);
    p.score_window = in.pick(1, 40, {0, -1, 65537}, &n);
    a.auto_evict = (in.byte() & 1) != 0;
    Validity evict = Validity::Good;
    if (a.auto_evict) {
        a.evict = read_evict(in);
        if (a.evict.null) {
            a.auto_evict = false;
        } else {
            p.auto_evict = &a.evict.params;
            evict = a.evict.validity;
            const cab_evict_params &e = a.evict.params;
            // A token budget plus the slack must fit the pool (documented with auto_evict).
            if (evict == Validity::Good && enum_value(e.budget_unit) == CAB_BUDGET_TOKENS &&
                int64_t{e.budget_tokens} + p.auto_evict_slack > p.kv_capacity_tokens)
                evict = Validity::Bad;
        }
    }
    if (a.null) {
        a.auto_evict = false;
        a.validity = Validity::Good;
    } else if (shape == Shape::Zero || shape == Shape::TooBig) {
        a.validity = Validity::Bad;
    } else if (shape == Shape::FirstRelease) {
        a.auto_evict = false;  // the fields past prefill_chunk are not read
        a.validity = n ? Validity::Good : Validity::Unknown;
    } else {
        a.validity = worst(n ? Validity::Good : Validity::Unknown, evict);
    }
    return a;
}

struct SamplerArgs {
    cab_sampler_params params{};
    bool null = false;
    bool normal = true;
};

inline SamplerArgs read_sampler(Input &in) {
    SamplerArgs a;
    cab_sampler_default_params(&a.params);
    cab_sampler_params &p = a.params;
    const Shape shape = read_shape(in);
    a.null = shape == Shape::Null;
    p.struct_size = struct_size(shape, sizeof p, sizeof p);
    a.normal = shape != Shape::Zero && shape != Shape::TooBig;
    p.temperature = static_cast<float>(in.share(1.0 / 60, {kNaN, -1.0, kInf}, &a.normal));
    p.top_k = in.pick(0, 12, {-1, kI32Max}, &a.normal);
    p.top_p = static_cast<float>(1.0 - in.share(1.0 / 240, {0.0, kNaN, 2.0}, &a.normal));
    p.min_p = static_cast<float>(in.share(1.0 / 239, {kNaN, -0.5}, &a.normal));
    p.repeat_penalty = static_cast<float>(1.0 + in.share(1.0 / 60, {-1.0, kNaN, -2.0}, &a.normal));
    p.repeat_last_n = in.pick(0, 64, {-1, kI32Max}, &a.normal);
    p.seed = in.byte();
    return a;
}

}  // namespace fuzz_api
