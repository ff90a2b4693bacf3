#include "config.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "util/rng.h"

namespace cab_eval {

namespace {

// Bump when task generation, prompts or scoring change, so that old result files are not
// resumed into new ones.
constexpr const char *kHarnessVersion = "cab-eval-1";

// The N of a modifier "<letter>N" (a decimal), or -1 when `mod` is not one.
int32_t modifier_count(const std::string &mod, char letter) {
    if (mod.size() < 2 || mod[0] != letter ||
        mod.find_first_not_of("0123456789", 1) != std::string::npos)
        return -1;
    errno = 0;
    const long long n = std::strtoll(mod.c_str() + 1, nullptr, 10);
    return errno == ERANGE || n > INT32_MAX ? -1 : static_cast<int32_t>(n);
}

constexpr const char *kQuantizePrefix = "quantize+";

}  // namespace

std::vector<std::string> split_list(const std::string &text) {
    std::vector<std::string> items;
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find(',', start);
        if (end == std::string::npos) end = text.size();
        if (end > start) items.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return items;
}

PolicySpec parse_policy(const std::string &text) {
    PolicySpec p;
    p.label = text;
    size_t colon = text.find(':');
    p.policy = text.substr(0, colon);
    while (colon != std::string::npos) {
        const size_t next = text.find(':', colon + 1);
        const std::string mod = text.substr(
            colon + 1, next == std::string::npos ? std::string::npos : next - colon - 1);
        if (mod == "window") {
            p.window_source = true;
        } else if (mod == "norm") {
            p.normalize = true;
        } else if (mod == "layer") {
            p.shared_per_layer = true;
        } else if (mod == "ada") {
            p.allocation = CAB_ALLOCATION_ADAPTIVE;
        } else if (mod == "pyr") {
            p.allocation = CAB_ALLOCATION_PYRAMID;
        } else if (const int32_t chunk = modifier_count(mod, 'c'); chunk > 0) {
            p.chunk = chunk;
        } else if (const int32_t kernel = modifier_count(mod, 'k'); kernel % 2 == 1) {
            p.kernel = kernel;
        } else if (const int32_t shift = modifier_count(mod, 's'); shift > 0) {
            p.shift = shift;
        } else if (const int32_t inh = modifier_count(mod, 'i'); inh > 0 && inh < 100) {
            p.inherit = inh;
        } else if (const int32_t kept = modifier_count(mod, 'w'); kept > 0) {
            p.keep_window = kept;
        } else if (const int32_t recent = modifier_count(mod, 'r'); recent >= 0) {
            p.quantize_recent = recent;
        } else if (mod == "fp8") {
            p.fp8 = true;
        } else {
            throw ConfigError(
                "--policies: '" + text + "' has modifier '" + mod +
                "'; known: window, norm, layer, ada, pyr, c<N> (N >= 1), i<N> (1 <= N "
                "<= 99), k<N> (N odd), s<N> (1 <= N <= kernel / 2), w<N> (N >= 1), r<N> "
                "(quantize policies, N >= 0), fp8 (quantize policies)");
        }
        if (p.policy == kQuantizePolicy && mod[0] != 'r' && mod != "fp8")
            throw ConfigError("--policies: '" + text + "' has modifier '" + mod +
                              "', but quantize evicts nothing; it takes r<N> and fp8 only (an "
                              "eviction policy after it: quantize+<policy>)");
        colon = next;
    }
    if (p.policy.empty()) throw ConfigError("--policies: '" + text + "' names no policy");
    p.quantize = p.policy == kQuantizePolicy || p.policy.rfind(kQuantizePrefix, 0) == 0;
    if (p.policy == kQuantizePrefix)
        throw ConfigError("--policies: '" + text +
                          "' names no policy after quantize+ (e.g. quantize+snapkv)");
    if (p.quantize_recent >= 0 && !p.quantize)
        throw ConfigError("--policies: '" + text +
                          "': r<N> (the tokens kept in full precision) applies to quantize and "
                          "quantize+<policy> only");
    if (p.fp8 && !p.quantize)
        throw ConfigError("--policies: '" + text +
                          "': fp8 (the 8-bit blocks' type) applies to quantize and "
                          "quantize+<policy> only");
    cab_evict_params defaults;
    cab_evict_default_params(&defaults);
    const int32_t kernel = p.kernel > 0 ? p.kernel : defaults.snapkv_kernel;
    if (p.shift > kernel / 2)
        throw ConfigError("--policies: '" + text + "' shifts the pool by " +
                          std::to_string(p.shift) + ", more than half its width " +
                          std::to_string(kernel));
    return p;
}

BudgetSpec parse_budget(const std::string &text) {
    BudgetSpec b;
    b.label = text;
    const bool ratio = !text.empty() && text.back() == '%';
    const std::string number = ratio ? text.substr(0, text.size() - 1) : text;
    errno = 0;
    char *end = nullptr;
    if (ratio) {
        const double percent = std::strtod(number.c_str(), &end);
        if (number.empty() || *end != '\0' || errno == ERANGE || !(percent >= 0.0) ||
            percent > 100.0)
            throw ConfigError("--budgets: '" + text + "' is not a share in [0%, 100%]");
        b.is_ratio = true;
        b.ratio = percent / 100.0;
    } else {
        const long long tokens = std::strtoll(number.c_str(), &end, 10);
        if (number.empty() || *end != '\0' || errno == ERANGE || tokens < 0 || tokens > INT32_MAX)
            throw ConfigError("--budgets: '" + text +
                              "' is neither a token count nor a share (10%)");
        b.tokens = static_cast<int32_t>(tokens);
    }
    return b;
}

int64_t BudgetSpec::tokens_kept(int64_t length) const {
    if (!is_ratio) return std::min<int64_t>(tokens, length);
    // libcab reads the share to six decimals and floors n * share exactly.
    const auto micro = static_cast<int64_t>(std::llround(ratio * 1e6));
    return std::min<int64_t>(length, length * micro / 1000000);
}

int32_t max_new_tokens(Task task, const EvalConfig &config) {
    if (config.max_new_tokens > 0) return config.max_new_tokens;
    switch (task) {
        case Task::passkey:
            return 24;
        case Task::needle:
        case Task::multikey:
        case Task::qa:
            return 32;
        case Task::xsum:
            return 64;  // as in the H2O paper
    }
    return 32;
}

cab_evict_params evict_params(const PolicySpec &policy, const BudgetSpec &budget,
                              const EvalConfig &config) {
    cab_evict_params p;
    cab_evict_default_params(&p);
    p.policy = policy.policy.c_str();
    if (budget.is_ratio) {
        p.budget_unit = CAB_BUDGET_RATIO;
        p.budget_ratio = budget.ratio;
    } else {
        p.budget_unit = CAB_BUDGET_TOKENS;
        p.budget_tokens = budget.tokens;
    }
    if (config.sinks >= 0) p.n_sinks = config.sinks;
    if (config.window > 0) p.snapkv_window = config.window;
    if (policy.window_source) p.score_source = CAB_SCORE_WINDOW;
    if (policy.normalize) p.h2o_normalize = 1;
    if (policy.shared_per_layer) p.selection = CAB_SELECTION_SHARED_PER_LAYER;
    if (policy.chunk > 0) p.chunkkv_chunk = policy.chunk;
    if (policy.kernel > 0) p.snapkv_kernel = policy.kernel;
    if (policy.shift > 0) p.snapkv_shift = policy.shift;
    if (policy.keep_window > 0) p.snapkv_window = policy.keep_window;
    p.allocation = policy.allocation;
    if (policy.inherit > 0) p.snapkv_inherit = static_cast<float>(policy.inherit) / 100.0f;
    if (policy.quantize_recent >= 0) p.quantize_recent = policy.quantize_recent;
    return p;
}

std::string config_hash(const EvalConfig &config, const cab_model_info &model) {
    std::string text = kHarnessVersion;
    text += "|lib=" + std::string(cab_version_string());
    text += "|model=" + std::string(model.arch) + "/" + model.name + "/" +
            std::to_string(model.n_params) + "/" + std::to_string(model.file_bytes);
    text += "|device=" + std::to_string(static_cast<int>(model.device));
    text += "|seed=" + std::to_string(config.seed);
    text += "|max_new=" + std::to_string(config.max_new_tokens);
    text += "|sinks=" + std::to_string(config.sinks);
    text += "|window=" + std::to_string(config.window);
    if (config.question_window) text += "|question_window";
    if (config.delay > 0) text += "|delay=" + std::to_string(config.delay);
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash_string(text)));
    return hex;
}

}  // namespace cab_eval
