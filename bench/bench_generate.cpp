// End-to-end generation benchmark through the public C API alone (cab/cab.h, linked against
// libcab.so): model load time, prefill tokens/s of an N-token prompt, and greedy decode tokens/s
// of B sequences stepped together by cab_decode, medians over repetitions; optionally with
// automatic eviction. Prompts are random token ids from a 64-bit LCG that
// bench/gpu/e2e/hf_generate.py draws too, so the HF transformers baseline sees the same tokens.
// Prints a table and, with --json, writes every figure with the device, commit and command.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_report.h"
#include "cab/cab.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
    std::string model;
    cab_device device = CAB_DEVICE_AUTO;
    int32_t prompt = 4096;
    int32_t chunk = 0;  // 0: 4096 on the GPU, the library's default on the CPU
    std::vector<int32_t> batches = {1, 16};
    int32_t decode_prompt = 32;
    int32_t steps = 64;
    int32_t warmup = 8;
    int32_t reps = 3;
    std::string policy;    // automatic eviction when set
    bool kv_int8 = false;  // decode over int8 KV: each prompt quantized after its prefill
    int32_t budget = 256;
    int32_t threads = 0;
    uint64_t seed = 1;
    std::string json;
    std::string commit;
    std::string label;
};

const char kUsage[] =
    "usage: bench_generate --model GGUF [--device auto|cpu|cuda] [--prompt N] [--chunk N]\n"
    "                      [--batch 1,16] [--decode-prompt N] [--steps N] [--warmup N]\n"
    "                      [--reps N] [--policy NAME --budget N] [--kv-int8] [--threads N]\n"
    "                      [--seed N]\n"
    "                      [--json PATH] [--commit SHA] [--label NAME]\n";

int32_t positive(const std::string &opt, const std::string &value) {
    const int32_t v = std::stoi(value);
    if (v < 1) throw std::runtime_error(opt + " must be at least 1, not " + value);
    return v;
}

Args parse(int argc, char **argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string opt = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::runtime_error(opt + " needs a value");
            return argv[++i];
        };
        if (opt == "--model") {
            a.model = value();
        } else if (opt == "--device") {
            const std::string d = value();
            if (d == "auto") {
                a.device = CAB_DEVICE_AUTO;
            } else if (d == "cpu") {
                a.device = CAB_DEVICE_CPU;
            } else if (d == "cuda") {
                a.device = CAB_DEVICE_CUDA;
            } else {
                throw std::runtime_error("--device must be auto, cpu or cuda, not " + d);
            }
        } else if (opt == "--prompt") {
            a.prompt = positive(opt, value());
        } else if (opt == "--chunk") {
            a.chunk = positive(opt, value());
        } else if (opt == "--batch") {
            a.batches.clear();
            const std::string list = value();
            for (size_t p = 0; p <= list.size();) {
                const size_t comma = std::min(list.find(',', p), list.size());
                a.batches.push_back(positive(opt, list.substr(p, comma - p)));
                p = comma + 1;
            }
        } else if (opt == "--decode-prompt") {
            a.decode_prompt = positive(opt, value());
        } else if (opt == "--steps") {
            a.steps = positive(opt, value());
        } else if (opt == "--warmup") {
            a.warmup = std::max(0, std::stoi(value()));
        } else if (opt == "--reps") {
            a.reps = positive(opt, value());
        } else if (opt == "--policy") {
            a.policy = value();
        } else if (opt == "--kv-int8") {
            a.kv_int8 = true;
        } else if (opt == "--budget") {
            a.budget = positive(opt, value());
        } else if (opt == "--threads") {
            a.threads = std::max(0, std::stoi(value()));
        } else if (opt == "--seed") {
            a.seed = std::stoull(value());
        } else if (opt == "--json") {
            a.json = value();
        } else if (opt == "--commit") {
            a.commit = value();
        } else if (opt == "--label") {
            a.label = value();
        } else {
            throw std::runtime_error("unknown option " + opt + "\n" + kUsage);
        }
    }
    if (a.model.empty()) throw std::runtime_error(std::string("--model is required\n") + kUsage);
    return a;
}

void check(cab_status status, const char *what) {
    if (status != CAB_OK)
        throw std::runtime_error(std::string(what) + ": " + cab_status_string(status) + ": " +
                                 cab_last_error());
}

struct ModelFree {
    void operator()(cab_model *m) const { cab_model_free(m); }
};
struct CtxDestroy {
    void operator()(cab_ctx *c) const { cab_ctx_destroy(c); }
};
using ModelPtr = std::unique_ptr<cab_model, ModelFree>;
using CtxPtr = std::unique_ptr<cab_ctx, CtxDestroy>;

// Token ids from a 64-bit LCG (Knuth's MMIX constants); hf_generate.py has the same function.
std::vector<cab_token> random_tokens(uint64_t seed, int32_t n, int32_t n_vocab) {
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    std::vector<cab_token> out(static_cast<size_t>(n));
    for (cab_token &t : out) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        t = static_cast<cab_token>((x >> 33) % static_cast<uint64_t>(n_vocab));
    }
    return out;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int64_t round_up(int64_t x, int64_t m) {
    return (x + m - 1) / m * m;
}

class Bench {
public:
    Bench(const Args &a, const cab_model *model, const cab_model_info &info)
        : a_(a), model_(model), info_(info) {
        check(cab_evict_default_params(&evict_), "cab_evict_default_params");
        evict_.policy = a_.policy.c_str();
        evict_.budget_tokens = a_.budget;
        check(cab_evict_default_params(&quantize_), "cab_evict_default_params");
        quantize_.policy = "quantize";  // all but the last quantize_recent tokens to int8
    }

    int32_t chunk() const {
        if (a_.chunk > 0) return a_.chunk;
        cab_ctx_params p;
        check(cab_ctx_default_params(&p), "cab_ctx_default_params");
        return info_.device == CAB_DEVICE_CUDA ? 4096 : p.prefill_chunk;
    }

    // A context for n_seq sequences of up to `tokens` tokens each.
    CtxPtr context(int32_t n_seq, int64_t tokens) {
        cab_ctx_params p;
        check(cab_ctx_default_params(&p), "cab_ctx_default_params");
        p.device = info_.device;
        p.n_seq_max = n_seq;
        p.n_threads = a_.threads;
        p.kv_capacity_tokens = n_seq * round_up(tokens + 1, p.kv_block_size);
        if (a_.kv_int8) p.kv_q8_capacity_tokens = p.kv_capacity_tokens;
        p.prefill_chunk = chunk();
        p.auto_evict = a_.policy.empty() ? nullptr : &evict_;
        cab_ctx *ctx = nullptr;
        check(cab_ctx_create(model_, &p, &ctx), "cab_ctx_create");
        return CtxPtr(ctx);
    }

    // Seconds per prefill of the prompt into a fresh sequence, after one untimed run. The time
    // ends when cab_logits gives the last token's logits in host memory, so it covers the
    // device's work.
    std::vector<double> prefill() {
        const std::vector<cab_token> prompt = random_tokens(a_.seed, a_.prompt, info_.n_vocab);
        CtxPtr ctx = context(1, a_.prompt);
        std::vector<double> times;
        for (int32_t rep = 0; rep <= a_.reps; ++rep) {
            check(cab_seq_reset(ctx.get(), 0), "cab_seq_reset");
            const auto t0 = Clock::now();
            check(cab_prefill(ctx.get(), 0, prompt.data(), prompt.size()), "cab_prefill");
            const float *logits = nullptr;
            check(cab_logits(ctx.get(), 0, &logits), "cab_logits");
            const double s = cab::bench::seconds_since(t0);
            if (rep > 0) times.push_back(s);
            std::printf("  prefill rep %d%s: %.4f s\n", rep, rep ? "" : " (warmup)", s);
            std::fflush(stdout);
        }
        return times;
    }

    struct Decode {
        int32_t batch;
        std::vector<double> times;  // seconds for `steps` steps, per rep
        // Seconds inside cab_decode for `steps` steps, per rep: host work before the step's
        // kernels run (staging, the graph launch; the GPU has nothing to do meanwhile, since the
        // previous cab_sample waited for it).
        std::vector<double> call_times;
        std::vector<cab_token> greedy_seq0;  // sequence 0's first tokens, first rep
    };

    // B sequences, each prefilled with its own short prompt, then warmup and timed greedy steps
    // over all of them at once: cab_decode, then cab_sample per sequence.
    Decode decode(int32_t batch) {
        Decode d{batch, {}, {}, {}};
        CtxPtr ctx = context(batch, int64_t{a_.decode_prompt} + a_.warmup + a_.steps);
        std::vector<std::vector<cab_token>> prompts;
        std::vector<cab_seq> seqs(static_cast<size_t>(batch));
        for (int32_t s = 0; s < batch; ++s) {
            prompts.push_back(random_tokens(a_.seed + 1 + s, a_.decode_prompt, info_.n_vocab));
            seqs[s] = s;
        }
        std::vector<cab_token> next(static_cast<size_t>(batch));
        for (int32_t rep = 0; rep < a_.reps; ++rep) {
            for (int32_t s = 0; s < batch; ++s) {
                check(cab_seq_reset(ctx.get(), s), "cab_seq_reset");
                check(cab_prefill(ctx.get(), s, prompts[s].data(), prompts[s].size()),
                      "cab_prefill");
                if (a_.kv_int8) check(cab_evict(ctx.get(), s, &quantize_, nullptr), "cab_evict");
                check(cab_sample(ctx.get(), s, nullptr, &next[s]), "cab_sample");
            }
            double in_decode = 0.0;
            const auto step = [&] {
                if (rep == 0 && d.greedy_seq0.size() < 16) d.greedy_seq0.push_back(next[0]);
                const auto c0 = Clock::now();
                check(cab_decode(ctx.get(), seqs.data(), next.data(), seqs.size()), "cab_decode");
                in_decode += cab::bench::seconds_since(c0);
                for (int32_t s = 0; s < batch; ++s)
                    check(cab_sample(ctx.get(), s, nullptr, &next[s]), "cab_sample");
            };
            for (int32_t i = 0; i < a_.warmup; ++i) step();
            in_decode = 0.0;
            const auto t0 = Clock::now();
            for (int32_t i = 0; i < a_.steps; ++i) step();
            d.times.push_back(cab::bench::seconds_since(t0));
            d.call_times.push_back(in_decode);
            std::printf(
                "  decode B=%d rep %d: %.2f ms/step, %.1f tokens/s (%.1f us/step in "
                "cab_decode)\n",
                batch, rep, d.times.back() * 1e3 / a_.steps,
                static_cast<double>(batch) * a_.steps / d.times.back(), in_decode * 1e6 / a_.steps);
            std::fflush(stdout);
        }
        return d;
    }

private:
    const Args &a_;
    const cab_model *model_;
    const cab_model_info &info_;
    cab_evict_params evict_{};
    cab_evict_params quantize_{};
};

std::string device_string(cab_device d) {
    return d == CAB_DEVICE_CUDA ? "cuda" : d == CAB_DEVICE_CPU ? "cpu" : "auto";
}

std::string device_name(cab_device d) {
    if (d == CAB_DEVICE_CUDA)
        return cab::bench::shell("nvidia-smi --query-gpu=name --format=csv,noheader -i 0");
    return cab::bench::cpu_model();
}

std::string numbers(const std::vector<double> &v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%s%.6g", i ? ", " : "", v[i]);
        out += buf;
    }
    return out + "]";
}

std::string tokens_json(const std::vector<cab_token> &v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::to_string(v[i]);
    return out + "]";
}

void write_json(const Args &a, int argc, char **argv, const cab_model_info &info, int32_t chunk,
                double load_s, const std::vector<double> &prefill,
                const std::vector<Bench::Decode> &decodes) {
    using cab::bench::JsonObject;
    std::string command;
    for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
    JsonObject prov;
    prov.add_string("cpu", cab::bench::cpu_model())
        .add_string("device", device_string(info.device))
        .add_string("device_name", device_name(info.device))
        .add_string("libcab", cab_version_string())
        .add_string("commit", a.commit.empty() ? "unknown" : a.commit)
        .add_string("command", command)
        .add_string("date", cab::bench::today());
    JsonObject model;
    model.add_string("path", a.model)
        .add_string("arch", info.arch)
        .add_string("name", info.name)
        .add_number("n_params", static_cast<double>(info.n_params))
        .add_number("file_bytes", static_cast<double>(info.file_bytes))
        .add_number("n_vocab", info.n_vocab)
        .add_number("n_embd", info.n_embd)
        .add_number("n_layer", info.n_layer)
        .add_number("n_head", info.n_head)
        .add_number("n_head_kv", info.n_head_kv)
        .add_number("head_dim", info.head_dim)
        .add_number("n_ff", info.n_ff);
    JsonObject pre;
    pre.add_number("tokens", a.prompt)
        .add_number("chunk", chunk)
        .add("times_s", numbers(prefill))
        .add_number("median_s", median(prefill))
        .add_number("tokens_per_s", a.prompt / median(prefill));
    std::vector<std::string> items;
    for (const Bench::Decode &d : decodes) {
        const double m = median(d.times);
        JsonObject o;
        o.add_number("batch", d.batch)
            .add_number("prompt_tokens", a.decode_prompt)
            .add_number("warmup_steps", a.warmup)
            .add_number("steps", a.steps)
            .add("times_s", numbers(d.times))
            .add_number("median_s", m)
            .add_number("ms_per_step", m * 1e3 / a.steps)
            .add_number("tokens_per_s", static_cast<double>(d.batch) * a.steps / m)
            .add_number("us_per_step_in_cab_decode", median(d.call_times) * 1e6 / a.steps)
            .add("greedy_tokens_seq0", tokens_json(d.greedy_seq0));
        items.push_back(o.str("    "));
    }
    JsonObject root;
    root.add_string("tool", "bench_generate")
        .add_string("impl", "libcab")
        .add_string("label", a.label)
        .add_string("kv_type",
                    a.kv_int8 ? "int8 (quantize policy after each decode prompt)" : "bf16")
        .add("provenance", prov.str("  "))
        .add("model", model.str("  "))
        .add_number("reps", a.reps)
        .add_number("seed", static_cast<double>(a.seed))
        .add_string("prompt_token_ids", "64-bit LCG token ids (bench_generate.cpp random_tokens)")
        .add_string("next_token",
                    "cab_sample with a NULL sampler: greedy argmax where the logits are "
                    "(on the GPU with the CUDA backend, only the token copied back)")
        .add_string("auto_evict", a.policy.empty() ? "off"
                                                   : a.policy + ", budget " +
                                                         std::to_string(a.budget) + " tokens")
        .add_number("load_s", load_s)
        .add("prefill", pre.str("  "))
        .add("decode", cab::bench::json_array(items, "  "));
    std::ofstream out(a.json);
    out << root.str() << "\n";
    if (!out) throw std::runtime_error("cannot write " + a.json);
    std::printf("wrote %s\n", a.json.c_str());
}

}  // namespace

int main(int argc, char **argv) {
    try {
        const Args a = parse(argc, argv);
        cab_model_params mp;
        check(cab_model_default_params(&mp), "cab_model_default_params");
        mp.device = a.device;
        cab_model *raw = nullptr;
        const auto t0 = Clock::now();
        check(cab_model_load(a.model.c_str(), &mp, &raw), "cab_model_load");
        const double load_s = cab::bench::seconds_since(t0);
        const ModelPtr model(raw);
        cab_model_info info{};
        info.struct_size = sizeof info;
        check(cab_model_info_get(model.get(), &info), "cab_model_info_get");
        std::printf(
            "bench_generate: %s (%s, %.3g B parameters, %.2f GB file) on %s (%s), libcab %s\n",
            a.label.empty() ? a.model.c_str() : a.label.c_str(), info.arch, info.n_params / 1e9,
            info.file_bytes / 1e9, device_name(info.device).c_str(),
            device_string(info.device).c_str(), cab_version_string());
        std::printf("  load: %.2f s\n", load_s);
        std::fflush(stdout);

        Bench bench(a, model.get(), info);
        const std::vector<double> prefill = bench.prefill();
        std::vector<Bench::Decode> decodes;
        for (int32_t b : a.batches) decodes.push_back(bench.decode(b));

        std::printf("\n| figure | median | tokens/s |\n|---|---|---|\n");
        std::printf("| load | %.2f s | |\n", load_s);
        std::printf("| prefill %d tokens (chunk %d) | %.4f s | %.0f |\n", a.prompt, bench.chunk(),
                    median(prefill), a.prompt / median(prefill));
        for (const Bench::Decode &d : decodes) {
            const double m = median(d.times);
            std::printf("| decode B=%d, %d steps | %.3f ms/step | %.1f |\n", d.batch, a.steps,
                        m * 1e3 / a.steps, static_cast<double>(d.batch) * a.steps / m);
        }
        if (!a.json.empty())
            write_json(a, argc, argv, info, bench.chunk(), load_s, prefill, decodes);
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bench_generate: %s\n", e.what());
        return 1;
    }
}
