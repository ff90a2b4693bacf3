// `cab chat`: an interactive conversation. Each turn formats the whole conversation with the
// model's template and prefills only the text that the cache does not hold yet.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "cli_common.h"
#include "cli_error.h"
#include "commands.h"
#include "evict_options.h"
#include "generation.h"

namespace cab_cli {

namespace {

const char kUsage[] =
    "usage: cab chat -m MODEL [options]\n"
    "\n"
    "Talks with a chat model: reads one user message per line from stdin and streams each reply\n"
    "to stdout. \"/reset\" starts a new conversation; \"/exit\" or end of input quits.\n"
    "\n"
    "options:\n"
    "  -m, --model PATH        GGUF model file (required)\n"
    "  --system TEXT           a system message that opens the conversation\n"
    "  -n, --n-predict N       tokens per reply at most (default 512)\n"
    "  --temp T                temperature; 0 = greedy (default 0)\n"
    "  --top-k K               keep the K most likely tokens; 0 = off (default 0)\n"
    "  --top-p P               nucleus sampling, P in (0, 1]; 1 = off (default 1)\n"
    "  --min-p P               drop tokens below P * p(best), P in [0, 1] (default 0)\n"
    "  --repeat-penalty R      penalty on recent tokens; 1 = off (default 1)\n"
    "  --repeat-last-n N       recent tokens the penalty looks at (default 64)\n"
    "  --seed S                RNG seed (default: random)\n"
    "  -t, --threads N         CPU threads; 0 = every core (default 0)\n"
    "  -c, --ctx TOKENS        KV-cache capacity in tokens (default: the library's, 4096;\n"
    "                          with a token budget, budget + slack)\n"
    "  --device D              cpu, cuda or auto (default auto)\n"
    "  -h, --help              show this help\n"
    "\n"
    "automatic KV eviction (off unless --policy or --budget is given); KV figures are printed\n"
    "when the conversation ends:\n"
    // CAB_CLI_EVICT_USAGE_*: the lines shared with `generate` (evict_options.h). Left unformatted:
    // clang-format would join each macro to the line before.
    // clang-format off
    CAB_CLI_EVICT_USAGE_POLICY
    "  --budget N|R%           tokens kept per (layer, kv head) stream, or a share of the\n"
    "                          conversation (default 256)\n"
    CAB_CLI_EVICT_USAGE_SINKS
    "  --window W              observation window: the last W tokens of each message score the\n"
    "                          others (snapkv, --policy's window score; default 32)\n"
    CAB_CLI_EVICT_USAGE_SLACK_Q8;
// clang-format on

class Conversation {
public:
    Conversation(const cab_model *model, cab_ctx *ctx, std::string system)
        : model_(model), ctx_(ctx), system_(std::move(system)) {
        reset();
    }

    void reset() {
        check(cab_seq_reset(ctx_, 0));
        turns_.clear();
        cached_.clear();
        if (!system_.empty()) turns_.push_back({"system", system_});
    }

    // Runs one turn; returns false when the KV cache filled up (the caller resets).
    bool turn(const std::string &user, cab_sampler *sampler, int64_t max_tokens) {
        turns_.push_back({"user", user});
        const std::string formatted = format_chat(model_, turns_);
        std::vector<cab_token> tokens;
        if (!cached_.empty() && formatted.compare(0, cached_.size(), cached_) == 0) {
            tokens = tokenize(model_, formatted.substr(cached_.size()), CAB_TOKENIZE_PARSE_SPECIAL);
        } else {
            // The template rewrote earlier text: start the cache over from the full text.
            check(cab_seq_reset(ctx_, 0));
            tokens = tokenize(model_, formatted, CAB_TOKENIZE_PARSE_SPECIAL);
        }
        double prefill_seconds = 0.0;
        try {
            prefill_seconds = prefill(ctx_, tokens);
        } catch (const ApiError &e) {
            if (e.status() != CAB_ERR_KV_FULL) throw;
            return false;
        }
        std::string reply;
        const ReplyStats stats = stream_reply(model_, ctx_, sampler, max_tokens, true, &reply);
        std::fputc('\n', stdout);
        std::fflush(stdout);
        if (stats.kv_full) return false;
        cached_ = formatted + reply;
        turns_.push_back({"assistant", reply});
        std::fprintf(stderr,
                     "[prefill %zu tokens, %.1f tokens/s; reply %lld tokens, %.1f tokens/s]\n",
                     tokens.size(), prefill_seconds > 0 ? tokens.size() / prefill_seconds : 0.0,
                     static_cast<long long>(stats.generated),
                     stats.decode_seconds > 0 ? stats.decoded / stats.decode_seconds : 0.0);
        return true;
    }

private:
    const cab_model *model_;
    cab_ctx *ctx_;
    std::string system_;
    std::vector<ChatTurn> turns_;
    std::string cached_;  // the formatted text whose tokens seq 0 holds
};

}  // namespace

int run_chat(int argc, char **argv) {
    RunOptions run = default_run_options(512);
    std::string system;
    std::vector<Option> options;
    add_run_options(options, run, kUsage);
    options.push_back({{"--system"}, true, [&system](const std::string &v) { system = v; }});
    if (!parse_args(argc, argv, options, nullptr, kUsage)) {
        std::fputs(kUsage, stdout);
        return kExitOk;
    }
    if (run.model.empty()) throw UsageError("missing -m MODEL", kUsage);

    const SamplerPtr sampler = make_sampler(run, kUsage);
    const ModelPtr model = load_model(run.model, run.device);
    const int64_t capacity = run.ctx_tokens > 0 ? run.ctx_tokens : evict_capacity(run.evict);
    const CtxPtr ctx = make_context(model.get(), run, capacity, kUsage);
    Conversation conversation(model.get(), ctx.get(), system);

    const bool interactive = isatty(STDIN_FILENO) == 1;
    if (interactive)
        std::fprintf(stderr, "type a message; /reset starts over, /exit or Ctrl-D quits\n");
    std::string line;
    while (true) {
        if (interactive) {
            std::fputs("> ", stdout);
            std::fflush(stdout);
        }
        if (!std::getline(std::cin, line)) break;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line == "/exit") break;
        if (line == "/reset") {
            conversation.reset();
            std::fprintf(stderr, "(conversation reset)\n");
            continue;
        }
        if (line.empty()) continue;
        if (!conversation.turn(line, sampler.get(), run.n_predict)) {
            std::fprintf(stderr,
                         "cab: the KV cache is full; the conversation starts over (raise %s)\n",
                         kv_full_option(ctx.get()));
            conversation.reset();
        }
    }
    if (interactive) std::fputc('\n', stdout);
    print_evict_stats(ctx.get(), run.evict);
    return kExitOk;
}

}  // namespace cab_cli
