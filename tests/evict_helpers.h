// Shared by the eviction tests: the tiny models through the C API, contexts, and what a
// context's streams hold (positions per (layer, kv head)) read back through cab_kv_positions.
#pragma once

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "api_handles.h"
#include "cab/cab.h"
#include "test_paths.h"

namespace cab::test {

inline std::string tiny_path(const std::string &name) {
    const std::string path = golden_path(name + ".gguf");
    INFO("model " << path << " is missing (regenerate with tools/golden/make_tiny_models.py)");
    REQUIRE(file_exists(path));
    return path;
}

// Small blocks and chunks, so streams span many blocks and prompts many chunks.
inline cab_ctx_params small_ctx_params(int64_t capacity) {
    cab_ctx_params p;
    REQUIRE(cab_ctx_default_params(&p) == CAB_OK);
    p.device = CAB_DEVICE_CPU;
    p.n_threads = 2;
    p.kv_capacity_tokens = capacity;
    p.kv_block_size = 4;
    p.prefill_chunk = 8;
    p.score_window = 6;
    return p;
}

inline cab_evict_params evict_params(const char *policy, int32_t budget) {
    cab_evict_params e;
    REQUIRE(cab_evict_default_params(&e) == CAB_OK);
    e.policy = policy;
    e.budget_tokens = budget;
    return e;
}

inline cab_kv_stats kv_stats(const cab_ctx *ctx, cab_seq seq) {
    cab_kv_stats st{};
    st.struct_size = sizeof st;
    REQUIRE(cab_kv_stats_get(ctx, seq, &st) == CAB_OK);
    return st;
}

inline std::vector<int32_t> kv_positions(const cab_ctx *ctx, cab_seq seq, int32_t layer,
                                         int32_t head) {
    size_t n = 0;
    cab_status st = cab_kv_positions(ctx, seq, layer, head, nullptr, 0, &n);
    REQUIRE((st == CAB_OK || st == CAB_ERR_BUFFER_TOO_SMALL));
    std::vector<int32_t> out(n);
    REQUIRE(cab_kv_positions(ctx, seq, layer, head, out.data(), out.size(), &n) == CAB_OK);
    return out;
}

// Positions cached in every stream, index layer * n_head_kv + head.
inline std::vector<std::vector<int32_t>> all_positions(const cab_ctx *ctx, cab_seq seq) {
    const cab_kv_stats st = kv_stats(ctx, seq);
    std::vector<std::vector<int32_t>> out;
    for (int32_t l = 0; l < st.n_layer; ++l)
        for (int32_t h = 0; h < st.n_head_kv; ++h) out.push_back(kv_positions(ctx, seq, l, h));
    return out;
}

inline std::vector<int32_t> random_tokens(std::mt19937 &rng, size_t n, int32_t n_vocab) {
    std::uniform_int_distribution<int32_t> dist(0, n_vocab - 1);
    std::vector<int32_t> out(n);
    for (auto &t : out) t = dist(rng);
    return out;
}

// Stores a raw int in a C enum field, as a C caller may (a C++ cast to a value outside the
// enumeration is undefined behaviour).
template <typename E>
void set_raw(E &field, int value) {
    static_assert(sizeof(E) == sizeof(int), "a C enum field");
    std::memcpy(&field, &value, sizeof value);
}

inline bool error_mentions(const std::string &needle) {
    return std::string(cab_last_error()).find(needle) != std::string::npos;
}

}  // namespace cab::test
