// A small seeded generator (SplitMix64) and string hashing (FNV-1a). The tasks must be the same
// on every platform and standard library, so nothing here uses <random>'s distributions, whose
// algorithms the standard leaves to each implementation.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace cab_eval {

// FNV-1a, 64-bit.
inline uint64_t hash_string(std::string_view text, uint64_t h = 0xcbf29ce484222325ull) {
    for (const char c : text) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ull;
    }
    return h;
}

class Rng {
public:
    explicit Rng(uint64_t seed) : state_(seed) {}

    uint64_t next() {
        uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }

    // Uniform in [0, n), n >= 1 (rejection sampling: no modulo bias).
    uint64_t below(uint64_t n) {
        const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
        uint64_t x = next();
        while (x >= limit) x = next();
        return x % n;
    }

    // Uniform in [lo, hi].
    int64_t range(int64_t lo, int64_t hi) {
        return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo) + 1));
    }

    template <typename T>
    const T &pick(const std::vector<T> &items) {
        return items[below(items.size())];
    }

    // Fisher-Yates.
    template <typename T>
    void shuffle(std::vector<T> &items) {
        for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[below(i)]);
    }

private:
    uint64_t state_;
};

}  // namespace cab_eval
