#include "evict_options.h"

#include <cstdio>
#include <string>

#include "cli_common.h"
#include "cli_error.h"

namespace cab_cli {

namespace {

// "quantize" or "quantize+<policy>": old tokens move to int8 blocks.
bool quantizes(const std::string &policy) {
    return policy == "quantize" || policy.rfind("quantize+", 0) == 0;
}

}  // namespace

void add_evict_options(std::vector<Option> &options, EvictSettings &evict, const char *usage) {
    options.push_back({{"--policy"}, true, [&evict](const std::string &v) {
                           evict.policy = v;
                           evict.on = true;
                       }});
    options.push_back({{"--budget"}, true, [&evict](const std::string &v) {
                           evict.budget = v;
                           evict.on = true;
                       }});
    options.push_back({{"--sinks"}, true, [&evict, usage](const std::string &v) {
                           evict.sinks =
                               static_cast<int32_t>(parse_int("--sinks", v, 0, INT32_MAX, usage));
                       }});
    options.push_back({{"--window"}, true, [&evict, usage](const std::string &v) {
                           evict.window =
                               static_cast<int32_t>(parse_int("--window", v, 1, 65536, usage));
                       }});
    options.push_back({{"--slack"}, true, [&evict, usage](const std::string &v) {
                           evict.slack =
                               static_cast<int32_t>(parse_int("--slack", v, 1, INT32_MAX, usage));
                       }});
    options.push_back({{"--kv-q8-capacity"}, true, [&evict, usage](const std::string &v) {
                           evict.q8_capacity =
                               parse_int("--kv-q8-capacity", v, 1, INT64_MAX, usage);
                       }});
    options.push_back({{"--kv-q8-type"}, true, [&evict, usage](const std::string &v) {
                           if (v != "int8" && v != "fp8")
                               throw UsageError(
                                   "option --kv-q8-type: '" + v + "' is not int8 or fp8", usage);
                           evict.q8_type = v;
                       }});
    options.push_back({{"--quantize-recent"}, true, [&evict, usage](const std::string &v) {
                           evict.quantize_recent = static_cast<int32_t>(
                               parse_int("--quantize-recent", v, 0, INT32_MAX, usage));
                       }});
}

void finish_evict_settings(EvictSettings &evict, const char *usage) {
    check(cab_evict_default_params(&evict.params));
    // The int8 blocks serve only the quantize policies: without one they would be memory that
    // nothing uses, and a quantize policy without them could never quantize.
    const bool quantize = evict.on && quantizes(evict.policy);
    if (evict.q8_capacity > 0 && !quantize)
        throw UsageError(
            "option --kv-q8-capacity: only the quantize policies use int8 KV blocks "
            "(--policy quantize or quantize+NAME)",
            usage);
    if (!evict.q8_type.empty() && !quantize)
        throw UsageError(
            "option --kv-q8-type: only the quantize policies use 8-bit KV blocks "
            "(--policy quantize or quantize+NAME)",
            usage);
    if (evict.quantize_recent >= 0 && !quantize)
        throw UsageError(
            "option --quantize-recent: only the quantize policies use it "
            "(--policy quantize or quantize+NAME)",
            usage);
    if (quantize && evict.q8_capacity == 0)
        throw UsageError("--policy " + evict.policy +
                             " moves old tokens to int8 KV blocks: give their capacity with "
                             "--kv-q8-capacity TOKENS",
                         usage);
    if (!evict.on) return;
    if (!evict.policy.empty()) {
        evict.policy_storage = evict.policy;
        evict.params.policy = evict.policy_storage.c_str();
    }
    const std::string &b = evict.budget;
    if (!b.empty() && b.back() == '%') {
        const float percent = parse_float("--budget", b.substr(0, b.size() - 1), usage);
        if (percent < 0.0f || percent > 100.0f)
            throw UsageError("option --budget: " + b + " is outside [0%, 100%]", usage);
        evict.params.budget_unit = CAB_BUDGET_RATIO;
        evict.params.budget_ratio = percent / 100.0;
    } else if (!b.empty()) {
        evict.params.budget_unit = CAB_BUDGET_TOKENS;
        evict.params.budget_tokens =
            static_cast<int32_t>(parse_int("--budget", b, 0, INT32_MAX, usage));
    }
    if (evict.sinks >= 0) evict.params.n_sinks = evict.sinks;
    if (evict.window > 0) evict.params.snapkv_window = evict.window;
    if (evict.quantize_recent >= 0) evict.params.quantize_recent = evict.quantize_recent;
}

void apply_evict_settings(const EvictSettings &evict, cab_ctx_params &ctx) {
    if (evict.window > 0) ctx.score_window = evict.window;
    if (!evict.on) return;
    ctx.auto_evict = &evict.params;
    if (evict.slack > 0) ctx.auto_evict_slack = evict.slack;
    ctx.kv_q8_capacity_tokens = evict.q8_capacity;
    if (evict.q8_type == "fp8") ctx.kv_q8_type = CAB_KV_Q8_FP8_E4M3;
}

int64_t evict_capacity(const EvictSettings &evict) {
    if (!evict.on) return 0;
    cab_ctx_params defaults;
    check(cab_ctx_default_params(&defaults));
    const int64_t slack = evict.slack > 0 ? evict.slack : defaults.auto_evict_slack;
    // Plain quantize evicts nothing, so its budget bounds nothing: it keeps at most
    // quantize_recent + slack tokens per stream in full precision, the rest in int8 blocks.
    if (evict.policy == "quantize" || evict.policy == "quantize+full")
        return int64_t{evict.params.quantize_recent} + slack;
    if (evict.params.budget_unit != CAB_BUDGET_TOKENS) return 0;
    return int64_t{evict.params.budget_tokens} + slack;
}

std::string q8_type_name(const EvictSettings &evict) {
    return evict.q8_type.empty() ? "int8" : evict.q8_type;
}

const char *kv_full_option(const cab_ctx *ctx) {
    cab_kv_stats kv{};
    kv.struct_size = sizeof kv;
    check(cab_kv_stats_get(ctx, CAB_SEQ_ALL, &kv));
    return kv.q8_blocks_total > 0 && kv.q8_blocks_free == 0 ? "--kv-q8-capacity" : "--ctx";
}

namespace {

// The bytes of one full-precision block. bytes_total mixes the two block types, so the blocks in
// use tell them apart when there are int8 ones.
double full_block_bytes(const cab_kv_stats &kv) {
    const auto d = [](auto v) { return static_cast<double>(v); };
    if (kv.blocks_used > 0) return d(kv.bytes_used - kv.q8_bytes_used) / d(kv.blocks_used);
    if (kv.q8_blocks_used > 0)
        return (d(kv.bytes_total) -
                d(kv.q8_blocks_total) * d(kv.q8_bytes_used) / d(kv.q8_blocks_used)) /
               d(kv.blocks_total);
    // Exact without an int8 pool; with one, only a sequence that holds nothing gets here.
    return d(kv.bytes_total) / d(kv.blocks_total);
}

}  // namespace

void print_evict_stats(cab_ctx *ctx, const EvictSettings &evict) {
    if (!evict.on) return;
    cab_kv_stats kv{};
    kv.struct_size = sizeof(kv);
    check(cab_kv_stats_get(ctx, 0, &kv));
    const int64_t streams = int64_t{kv.n_layer} * kv.n_head_kv;
    const int64_t dense_blocks = (kv.seq_length + kv.block_size - 1) / kv.block_size * streams;
    const double dense = full_block_bytes(kv) * static_cast<double>(dense_blocks);
    char budget[64];
    if (evict.policy == "quantize") {
        budget[0] = '\0';  // plain quantize evicts nothing
    } else if (evict.params.budget_unit == CAB_BUDGET_RATIO) {
        std::snprintf(budget, sizeof budget, ", budget %g%% per stream",
                      evict.params.budget_ratio * 100.0);
    } else {
        std::snprintf(budget, sizeof budget, ", budget %d tokens per stream",
                      evict.params.budget_tokens);
    }
    char q8[96] = "";
    if (kv.q8_blocks_total > 0)
        std::snprintf(q8, sizeof q8, " (%.2f MiB in %lld %s blocks)",
                      static_cast<double>(kv.q8_bytes_used) / (1024.0 * 1024.0),
                      static_cast<long long>(kv.q8_blocks_used), q8_type_name(evict).c_str());
    std::fprintf(stderr,
                 "eviction:  policy %s%s: %.1f of %lld tokens kept per stream on average (%d to "
                 "%d), %lld evicted in all; KV %.2f MiB held%s, %.2f MiB without eviction\n",
                 evict.params.policy, budget,
                 static_cast<double>(kv.tokens_cached) / static_cast<double>(streams),
                 static_cast<long long>(kv.seq_length), kv.stream_min, kv.stream_max,
                 static_cast<long long>(kv.tokens_evicted),
                 static_cast<double>(kv.bytes_used) / (1024.0 * 1024.0), q8,
                 dense / (1024.0 * 1024.0));
}

}  // namespace cab_cli
