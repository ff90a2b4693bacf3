#include "evict_options.h"

#include <cstdio>
#include <string>

#include "cli_common.h"
#include "cli_error.h"

namespace cab_cli {

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
}

void finish_evict_settings(EvictSettings &evict, const char *usage) {
    check(cab_evict_default_params(&evict.params));
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
}

void apply_evict_settings(const EvictSettings &evict, cab_ctx_params &ctx) {
    if (evict.window > 0) ctx.score_window = evict.window;
    if (!evict.on) return;
    ctx.auto_evict = &evict.params;
    if (evict.slack > 0) ctx.auto_evict_slack = evict.slack;
}

int64_t evict_capacity(const EvictSettings &evict) {
    if (!evict.on || evict.params.budget_unit != CAB_BUDGET_TOKENS) return 0;
    cab_ctx_params defaults;
    check(cab_ctx_default_params(&defaults));
    const int64_t slack = evict.slack > 0 ? evict.slack : defaults.auto_evict_slack;
    return int64_t{evict.params.budget_tokens} + slack;
}

void print_evict_stats(cab_ctx *ctx, const EvictSettings &evict) {
    if (!evict.on) return;
    cab_kv_stats kv{};
    kv.struct_size = sizeof(kv);
    check(cab_kv_stats_get(ctx, 0, &kv));
    const int64_t streams = int64_t{kv.n_layer} * kv.n_head_kv;
    const double bytes_per_block =
        static_cast<double>(kv.bytes_total) / static_cast<double>(kv.blocks_total);
    const int64_t dense_blocks = (kv.seq_length + kv.block_size - 1) / kv.block_size * streams;
    const double dense = bytes_per_block * static_cast<double>(dense_blocks);
    char budget[64];
    if (evict.params.budget_unit == CAB_BUDGET_RATIO) {
        std::snprintf(budget, sizeof budget, "%g%%", evict.params.budget_ratio * 100.0);
    } else {
        std::snprintf(budget, sizeof budget, "%d tokens", evict.params.budget_tokens);
    }
    std::fprintf(stderr,
                 "eviction:  policy %s, budget %s per stream: %.1f of %lld tokens kept per stream "
                 "on average (%d to %d), %lld evicted in all; KV %.2f MiB held, %.2f MiB without "
                 "eviction\n",
                 evict.params.policy, budget,
                 static_cast<double>(kv.tokens_cached) / static_cast<double>(streams),
                 static_cast<long long>(kv.seq_length), kv.stream_min, kv.stream_max,
                 static_cast<long long>(kv.tokens_evicted),
                 static_cast<double>(kv.bytes_used) / (1024.0 * 1024.0), dense / (1024.0 * 1024.0));
}

}  // namespace cab_cli
