// The automatic-eviction options of `generate` and `chat` (--policy, --budget, --sinks,
// --window, --slack, and for the quantize policies --kv-q8-capacity, --kv-q8-type and
// --quantize-recent),
// turned into cab_ctx_params fields, and the KV figures printed at the end.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "args.h"
#include "cab/cab.h"

// The usage lines of these options that `generate` and `chat` share word for word, kept in one
// place so that the two cannot drift apart; macros of string literals, so that each command's
// usage stays one constant. Each command describes --budget and --window itself (a conversation's
// tokens, a prompt's).
#define CAB_CLI_EVICT_USAGE_POLICY                                                             \
    "  --policy NAME           full, random, window, h2o, tova, snapkv, cab, cab-frc or\n"     \
    "                          chunkkv (default cab); quantize or quantize+NAME: old tokens\n" \
    "                          move to 8-bit blocks (--kv-q8-capacity), then NAME evicts\n"
#define CAB_CLI_EVICT_USAGE_SINKS "  --sinks N               first tokens always kept (default 4)\n"
// --slack, then the quantize policies' options.
#define CAB_CLI_EVICT_USAGE_SLACK_Q8                                                             \
    "  --slack N               tokens past the budget before eviction fires (default 64)\n"      \
    "  --kv-q8-capacity N      quantize policies: 8-bit KV capacity in tokens, on top of\n"      \
    "                          --ctx (required with them)\n"                                     \
    "  --kv-q8-type T          quantize policies: 8-bit element type, int8 (uniform steps) or\n" \
    "                          fp8 (E4M3: 3 significant bits; default int8)\n"                   \
    "  --quantize-recent N     quantize policies: the newest tokens of each stream stay in\n"    \
    "                          full precision (default 64)\n"

namespace cab_cli {

struct EvictSettings {
    bool on = false;               // --policy or --budget was given
    cab_evict_params params{};     // filled by finish_evict_settings
    std::string policy;            // "" = the library's default
    std::string budget;            // "N" or "P%"; "" = the library's default
    int32_t sinks = -1;            // -1 = the library's default
    int32_t window = 0;            // 0 = the library's default
    int32_t slack = 0;             // 0 = the library's default
    int64_t q8_capacity = 0;       // 8-bit KV capacity in tokens; 0 = none
    std::string q8_type;           // "int8" or "fp8"; "" = the library's default (int8)
    int32_t quantize_recent = -1;  // -1 = the library's default
    std::string policy_storage;    // params.policy points here
};

void add_evict_options(std::vector<Option> &options, EvictSettings &evict, const char *usage);

// Parses the budget and fills `params` (UsageError for a malformed budget, and for the 8-bit
// options without a quantize policy or a quantize policy without 8-bit blocks). Policy names and
// ranges are checked by the library when the context is created.
void finish_evict_settings(EvictSettings &evict, const char *usage);

// Sets the auto_evict fields of `ctx`; `evict` must outlive the cab_ctx_create call.
void apply_evict_settings(const EvictSettings &evict, cab_ctx_params &ctx);

// With a token budget the cache never holds more than budget + slack tokens per stream, and
// with plain quantize no more than quantize_recent + slack in full precision, so the pool needs
// no more; 0 when the capacity should come from the prompt length instead.
int64_t evict_capacity(const EvictSettings &evict);

// What to raise when the KV cache is full: --kv-q8-capacity when a quantize policy has filled the
// int8 blocks, else --ctx.
const char *kv_full_option(const cab_ctx *ctx);

// "int8" or "fp8": the element type of the 8-bit KV blocks.
std::string q8_type_name(const EvictSettings &evict);

// One stderr line: tokens kept of those seen, evicted, and KV bytes (those in int8 blocks too)
// against what the same sequence would hold in full precision without eviction.
void print_evict_stats(cab_ctx *ctx, const EvictSettings &evict);

}  // namespace cab_cli
