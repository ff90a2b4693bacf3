// What cab_soak measures and how it writes it down: one sample every --every tokens, the run's
// parameters, and the JSON report (docs/RELIABILITY.md, "Soak").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace soak {

struct Options {
    std::string model;
    std::string device = "auto";  // auto | cpu | cuda
    int64_t tokens = 100000;
    int64_t every = 1000;
    std::string policy = "cab";
    int32_t budget = 64;  // tokens kept per (layer, kv head) stream
    int32_t slack = 64;   // tokens past the budget before eviction fires
    int64_t kv_capacity = 1024;
    int32_t threads = 0;
    float temperature = 0.8f;  // 0 = greedy
    uint64_t seed = 42;
    std::string prompt = "Once upon a time";
    int32_t warmup_pct = 10;
    // RSS growth allowed after the warm-up. Not zero, because a context keeps every token a
    // sequence has taken (4 bytes each: 0.4 MiB per 100,000 tokens, measured 0.49 MiB on
    // stories260K) and malloc's arenas move by a few pages. A leak of 48 bytes per token, or of
    // 3 KB per eviction (one every `slack` tokens), passes 4 MiB in the 90,000 tokens after the
    // default warm-up of a 100,000-token run.
    double rss_tolerance_mib = 4.0;
    std::string json;
};

// Figures of one sample, taken after the decode that made `generated` tokens.
struct Sample {
    int64_t generated = 0;
    int64_t seq_length = 0;
    int64_t tokens_cached = 0;
    int32_t stream_min = 0;
    int32_t stream_max = 0;
    int64_t tokens_evicted = 0;
    int64_t blocks_used = 0;
    uint64_t kv_bytes = 0;
    uint64_t kv_bytes_peak = 0;  // the most KV bytes held after any decode since the last sample
    uint64_t rss_bytes = 0;
    double elapsed_s = 0;
    double window_tokens_per_s = 0;
};

// What the run was on.
struct RunInfo {
    std::string library_version;
    std::string device;
    std::string model_name;
    std::string model_arch;
    int32_t n_ctx_train = 0;
    int32_t n_layer = 0;
    int32_t n_head_kv = 0;
    int32_t head_dim = 0;
    uint64_t n_params = 0;
    int64_t prompt_tokens = 0;
    int64_t warmup_tokens = 0;
    int64_t kv_tokens_bound = 0;  // n_streams * (budget + slack)
    uint64_t kv_bytes_bound = 0;  // the blocks those tokens can occupy, in bytes
    bool rss_checked = true;
};

struct Result {
    std::vector<Sample> samples;
    std::vector<std::string> failures;
    int64_t eog_tokens = 0;
    double duration_s = 0;
};

// Resident set size of this process, from /proc/self/statm; 0 when it cannot be read.
uint64_t rss_bytes();

// Writes the whole record as JSON to `path`; returns false with a message on stderr on failure.
bool write_json(const std::string &path, const Options &o, const RunInfo &info,
                const Result &result);

}  // namespace soak
