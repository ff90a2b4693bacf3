// `cab eval`: answer quality under KV budgets, per task, policy and budget (docs/QUALITY.md).
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "cli_common.h"
#include "cli_error.h"
#include "commands.h"
#include "config.h"
#include "runner.h"

namespace cab_cli {

namespace {

const char kUsage[] =
    "usage: cab eval -m MODEL --out FILE.jsonl [options]\n"
    "\n"
    "Runs the quality tasks: for each sample, prefills the prompt once, copies its KV cache for\n"
    "every (policy, budget) cell, evicts each copy, and decodes the answers greedily, together\n"
    "with the dense reference (policy full). One JSON line per sample x policy x budget is\n"
    "appended to --out; a run resumes where an earlier one with the same settings stopped.\n"
    "Summarize with `python3 eval/report.py FILE.jsonl` (docs/QUALITY.md).\n"
    "\n"
    "options:\n"
    "  -m, --model PATH        GGUF model file (required)\n"
    "  --out FILE              results, JSON lines (required)\n"
    "  --data DIR              the shared data folder (default ../shared/data)\n"
    "  --tasks LIST            passkey, needle, multikey, qa, xsum\n"
    "                          (default passkey,needle,multikey,qa,xsum)\n"
    "  --lengths LIST          prompt lengths in tokens (default 1024,2048,4096); xsum takes\n"
    "                          articles up to the longest\n"
    "  --depths LIST           depths of the fact in the text, percent (default 0,25,50,75,100)\n"
    "  --samples N             samples per (task, length, depth); xsum takes as many articles\n"
    "                          as each other task (samples x lengths x depths; default 4)\n"
    "  --policies LIST         NAME[:MODIFIER]... each: full, random, window, h2o, tova,\n"
    "                          snapkv, cab, cab-frc, chunkkv. Modifiers: :window ranks\n"
    "                          h2o/cab/cab-frc by the window score; :norm ranks h2o by mean\n"
    "                          attention; :layer selects once per layer for all its heads;\n"
    "                          :c<N> chunkkv chunks of N tokens (default 16); :k<N> snapkv's\n"
    "                          odd pool width (default 7); :s<N> moves snapkv's pool window\n"
    "                          N slots back, so it reaches further after a hit (N <= width/2,\n"
    "                          default 0); :i<N> the first N% of the layers rank\n"
    "                          by the deeper layers' window score (snapkv, 1..99).\n"
    "                          quantize moves tokens older than the last 64 of each\n"
    "                          stream to int8 blocks (:r<N>: the last N; :fp8: fp8 E4M3\n"
    "                          blocks, run on a context of their own); it runs once\n"
    "                          per sample, as budget 'all'. quantize+NAME[:MODIFIER]...\n"
    "                          then evicts with NAME to a memory budget (below).\n"
    "                          The results keep the name as\n"
    "                          written, e.g. chunkkv:c8:layer\n"
    "                          (default full,window,h2o,tova,snapkv,cab,cab-frc)\n"
    "  --budgets LIST          kept per (layer, kv head) stream: a share of the prompt (10%) or\n"
    "                          tokens (128) (default 5%,10%,20%,50%,128). For quantize+NAME\n"
    "                          the KV memory the same budget holds by eviction alone: the\n"
    "                          recent tokens in full precision, as many 8-bit as fit\n"
    "  --max-new-tokens N      answer tokens at most (default per task: passkey 24, needle,\n"
    "                          multikey and qa 32, xsum 64)\n"
    "  --seed S                seed of the samples (default 0)\n"
    "  --sinks N               first tokens every policy but full/random keeps (default 4)\n"
    "  --window W              observation window: the last W prompt tokens make the window\n"
    "                          score, and snapkv keeps them (default 32)\n"
    "  --question-window       prefill the question (to the prompt's end) as its own chunk:\n"
    "                          its tokens are the window score; --window then sets only\n"
    "                          what snapkv/chunkkv keep\n"
    "  --delay N               delayed eviction: evict after the dense answer's first N\n"
    "                          tokens, which join the window score (default 0)\n"
    "  -t, --threads N         CPU threads; 0 = every core (default 0)\n"
    "  --device D              cpu, cuda or auto (default auto)\n"
    "  --quiet                 no progress on stderr\n"
    "  -h, --help              show this help\n";

std::vector<int32_t> parse_ints(const std::string &name, const std::string &text, int64_t min,
                                int64_t max) {
    std::vector<int32_t> values;
    for (const auto &item : cab_eval::split_list(text))
        values.push_back(static_cast<int32_t>(parse_int(name, item, min, max, kUsage)));
    if (values.empty()) throw UsageError("option " + name + " lists nothing", kUsage);
    if (std::set<int32_t>(values.begin(), values.end()).size() != values.size())
        throw UsageError("option " + name + " lists a value twice", kUsage);
    return values;
}

template <typename T, typename Parse>
std::vector<T> parse_specs(const std::string &name, const std::string &text, Parse parse) {
    std::vector<T> out;
    std::set<std::string> seen;
    for (const auto &item : cab_eval::split_list(text)) {
        if (!seen.insert(item).second)
            throw UsageError("option " + name + " lists '" + item + "' twice", kUsage);
        parse(item, &out);
    }
    return out;
}

}  // namespace

int run_eval(int argc, char **argv) {
    cab_eval::EvalConfig config;
    config.data_dir = "../shared/data";
    config.samples = 4;
    std::string model;
    std::string tasks = "passkey,needle,multikey,qa,xsum";
    std::string lengths = "1024,2048,4096";
    std::string depths = "0,25,50,75,100";
    std::string policies = "full,window,h2o,tova,snapkv,cab,cab-frc";
    std::string budgets = "5%,10%,20%,50%,128";
    const auto text_option = [](std::string *target) {
        return [target](const std::string &v) { *target = v; };
    };
    std::vector<Option> options = {
        {{"-m", "--model"}, true, text_option(&model)},
        {{"--out"}, true, text_option(&config.out_path)},
        {{"--data"}, true, text_option(&config.data_dir)},
        {{"--tasks"}, true, text_option(&tasks)},
        {{"--lengths"}, true, text_option(&lengths)},
        {{"--depths"}, true, text_option(&depths)},
        {{"--policies"}, true, text_option(&policies)},
        {{"--budgets"}, true, text_option(&budgets)},
        {{"--samples"},
         true,
         [&](const std::string &v) {
             config.samples = static_cast<int32_t>(parse_int("--samples", v, 1, 1000000, kUsage));
         }},
        {{"--max-new-tokens"},
         true,
         [&](const std::string &v) {
             config.max_new_tokens =
                 static_cast<int32_t>(parse_int("--max-new-tokens", v, 1, 65536, kUsage));
         }},
        {{"--seed"},
         true,
         [&](const std::string &v) { config.seed = parse_u64("--seed", v, kUsage); }},
        {{"--sinks"},
         true,
         [&](const std::string &v) {
             config.sinks = static_cast<int32_t>(parse_int("--sinks", v, 0, 65536, kUsage));
         }},
        {{"--window"},
         true,
         [&](const std::string &v) {
             config.window = static_cast<int32_t>(parse_int("--window", v, 1, 65536, kUsage));
         }},
        {{"-t", "--threads"},
         true,
         [&](const std::string &v) {
             config.threads = static_cast<int32_t>(parse_int("--threads", v, 0, 1024, kUsage));
         }},
        {{"--device"},
         true,
         [&](const std::string &v) { config.device = parse_device("--device", v, kUsage); }},
        {{"--quiet"}, false, [&](const std::string &) { config.quiet = true; }},
        {{"--delay"},
         true,
         [&](const std::string &v) {
             config.delay = static_cast<int32_t>(parse_int("--delay", v, 0, 4096, kUsage));
         }},
        {{"--question-window"}, false, [&](const std::string &) { config.question_window = true; }},
    };
    if (!parse_args(argc, argv, options, nullptr, kUsage)) {
        std::fputs(kUsage, stdout);
        return kExitOk;
    }
    if (model.empty()) throw UsageError("missing -m MODEL", kUsage);
    if (config.out_path.empty()) throw UsageError("missing --out FILE", kUsage);

    try {
        config.tasks = parse_specs<cab_eval::Task>(
            "--tasks", tasks, [](const std::string &item, std::vector<cab_eval::Task> *out) {
                cab_eval::Task t;
                if (!cab_eval::parse_task(item, &t))
                    throw UsageError("option --tasks: unknown task '" + item + "'", kUsage);
                out->push_back(t);
            });
        config.policies = parse_specs<cab_eval::PolicySpec>(
            "--policies", policies,
            [](const std::string &item, std::vector<cab_eval::PolicySpec> *out) {
                // The dense reference runs on every sample anyway.
                if (item != cab_eval::kDensePolicy) out->push_back(cab_eval::parse_policy(item));
            });
        config.budgets = parse_specs<cab_eval::BudgetSpec>(
            "--budgets", budgets,
            [](const std::string &item, std::vector<cab_eval::BudgetSpec> *out) {
                out->push_back(cab_eval::parse_budget(item));
            });
    } catch (const cab_eval::ConfigError &e) {
        throw UsageError(e.what(), kUsage);
    }
    if (config.tasks.empty()) throw UsageError("option --tasks lists nothing", kUsage);
    if (!config.policies.empty() && config.budgets.empty())
        throw UsageError("option --budgets lists nothing", kUsage);
    config.lengths = parse_ints("--lengths", lengths, 16, 1 << 24);
    config.depths = parse_ints("--depths", depths, 0, 100);

    const ModelPtr loaded = load_model(model, config.device);
    cab_eval::RunSummary summary;
    try {
        summary = cab_eval::run_eval(loaded.get(), config);
    } catch (const cab_eval::ConfigError &e) {
        throw UsageError(e.what(), kUsage);
    } catch (const cab_eval::ApiError &e) {
        throw ApiError(e.status(), e.what());
    }
    if (!config.quiet)
        std::fprintf(stderr,
                     "cab eval: %zu samples run, %zu already done; %zu records added to %s\n",
                     summary.samples_run, summary.samples_skipped, summary.records_written,
                     config.out_path.c_str());
    return kExitOk;
}

}  // namespace cab_cli
