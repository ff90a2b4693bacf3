// `cab generate`: tokenize a prompt, prefill it, then sample and decode, streaming the text.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_common.h"
#include "cli_error.h"
#include "commands.h"
#include "evict_options.h"
#include "generation.h"

namespace cab_cli {

namespace {

const char kUsage[] =
    "usage: cab generate -m MODEL (-p PROMPT | -f FILE) [options]\n"
    "\n"
    "Completes a prompt, streaming the text to stdout; timings and KV-cache figures go to stderr.\n"
    "\n"
    "options:\n"
    "  -m, --model PATH        GGUF model file (required)\n"
    "  -p, --prompt TEXT       the prompt\n"
    "  -f, --file PATH         read the prompt from a file\n"
    "  --chat                  format the prompt as one user message with the model's chat\n"
    "                          template (special tokens in the text are parsed)\n"
    "  -n, --n-predict N       tokens to generate at most (default 128)\n"
    "  --temp T                temperature; 0 = greedy (default 0)\n"
    "  --top-k K               keep the K most likely tokens; 0 = off (default 0)\n"
    "  --top-p P               nucleus sampling, P in (0, 1]; 1 = off (default 1)\n"
    "  --min-p P               drop tokens below P * p(best), P in [0, 1] (default 0)\n"
    "  --repeat-penalty R      penalty on recent tokens; 1 = off (default 1)\n"
    "  --repeat-last-n N       recent tokens the penalty looks at (default 64)\n"
    "  --seed S                RNG seed (default: random, printed at the end)\n"
    "  -t, --threads N         CPU threads; 0 = every core (default 0)\n"
    "  -c, --ctx TOKENS        KV-cache capacity in tokens (default: prompt + N, rounded up;\n"
    "                          with a token budget, budget + slack)\n"
    "  --device D              cpu, cuda or auto (default auto)\n"
    "  -h, --help              show this help\n"
    "\n"
    "automatic KV eviction (off unless --policy or --budget is given):\n"
    // CAB_CLI_EVICT_USAGE_*: the lines shared with `chat` (evict_options.h). Left unformatted:
    // clang-format would join each macro to the line before.
    // clang-format off
    CAB_CLI_EVICT_USAGE_POLICY
    "  --budget N|R%           tokens kept per (layer, kv head) stream, or a share of the\n"
    "                          sequence (default 256)\n"
    CAB_CLI_EVICT_USAGE_SINKS
    "  --window W              observation window: the last W prompt tokens score the others\n"
    "                          (snapkv, --policy's window score; default 32)\n"
    CAB_CLI_EVICT_USAGE_SLACK_Q8;
// clang-format on

// KV capacity rounds up to this many tokens: a few blocks of slack beyond prompt + N.
constexpr int64_t kCapacityGranule = 64;

std::string read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open prompt file '" + path + "'");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw std::runtime_error("cannot read prompt file '" + path + "'");
    return text.str();
}

}  // namespace

int run_generate(int argc, char **argv) {
    RunOptions run = default_run_options(128);
    std::string prompt;
    std::string prompt_file;
    bool have_prompt = false;
    bool chat = false;
    std::vector<Option> options;
    add_run_options(options, run, kUsage);
    options.push_back({{"-p", "--prompt"}, true, [&](const std::string &v) {
                           prompt = v;
                           have_prompt = true;
                       }});
    options.push_back({{"-f", "--file"}, true, [&](const std::string &v) { prompt_file = v; }});
    options.push_back({{"--chat"}, false, [&chat](const std::string &) { chat = true; }});
    if (!parse_args(argc, argv, options, nullptr, kUsage)) {
        std::fputs(kUsage, stdout);
        return kExitOk;
    }
    if (run.model.empty()) throw UsageError("missing -m MODEL", kUsage);
    if (have_prompt == !prompt_file.empty())
        throw UsageError("give the prompt with exactly one of -p or -f", kUsage);

    const SamplerPtr sampler = make_sampler(run, kUsage);
    if (!prompt_file.empty()) prompt = read_file(prompt_file);
    const ModelPtr model = load_model(run.model, run.device);

    std::vector<cab_token> tokens;
    if (chat) {
        tokens = tokenize(model.get(), format_chat(model.get(), {{"user", prompt}}),
                          CAB_TOKENIZE_PARSE_SPECIAL);
    } else {
        tokens = tokenize(model.get(), prompt, CAB_TOKENIZE_ADD_BOS);
    }
    if (tokens.empty()) throw std::runtime_error("the prompt gives no tokens");

    const int64_t needed = static_cast<int64_t>(tokens.size()) + run.n_predict;
    int64_t capacity = (needed + kCapacityGranule - 1) / kCapacityGranule * kCapacityGranule;
    if (evict_capacity(run.evict) > 0) capacity = evict_capacity(run.evict);
    if (run.ctx_tokens > 0) capacity = run.ctx_tokens;
    const CtxPtr ctx = make_context(model.get(), run, capacity, kUsage);

    const double prefill_seconds = prefill(ctx.get(), tokens);
    std::string text;
    const ReplyStats reply =
        stream_reply(model.get(), ctx.get(), sampler.get(), run.n_predict, false, &text);
    if (!text.empty() && text.back() != '\n') std::fputc('\n', stdout);
    std::fflush(stdout);

    if (reply.kv_full)
        std::fprintf(stderr, "cab: stopped early: the KV cache is full (raise %s)\n",
                     kv_full_option(ctx.get()));
    std::fputc('\n', stderr);
    print_stats(ctx.get(), tokens.size(), prefill_seconds, reply, q8_type_name(run.evict));
    print_evict_stats(ctx.get(), run.evict);
    if (run.sampling.temperature > 0.0f)
        std::fprintf(stderr, "seed:      %llu\n",
                     static_cast<unsigned long long>(run.sampling.seed));
    return kExitOk;
}

}  // namespace cab_cli
