// cab_soak: generates a long run of tokens on one sequence with automatic eviction and checks
// that KV memory and the process's RSS stay flat (issue 9, docs/RELIABILITY.md "Soak").
// Public C API only. Exit status: 0 passed, 1 failed (API error or growth), 2 usage error.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cab/cab.h"
#include "soak_record.h"

// AddressSanitizer keeps freed memory in a quarantine (256 MB by default) before reusing it, so
// RSS climbs for reasons that are not leaks; its leak checker covers leaks instead.
#if defined(__SANITIZE_ADDRESS__)
#define SOAK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SOAK_ASAN 1
#endif
#endif
#ifndef SOAK_ASAN
#define SOAK_ASAN 0
#endif

namespace {

const char kUsage[] =
    "usage: cab_soak -m MODEL [options]\n"
    "  --device auto|cpu|cuda   where the model and KV cache live (default auto)\n"
    "  --tokens N               tokens to generate on one sequence (default 100000)\n"
    "  --every N                sample KV bytes and RSS every N tokens (default 1000)\n"
    "  --policy NAME            automatic eviction policy (default cab)\n"
    "  --budget N               tokens kept per (layer, kv head) stream (default 64)\n"
    "  --slack N                tokens past the budget before eviction fires (default 64)\n"
    "  --kv-capacity N          KV pool size in tokens (default 1024)\n"
    "  --threads N              CPU threads, 0 = all cores (default 0)\n"
    "  --temp T                 sampling temperature, 0 = greedy (default 0.8)\n"
    "  --seed N                 sampler seed (default 42)\n"
    "  --prompt TEXT            prompt (default \"Once upon a time\")\n"
    "  --warmup-pct P           share of the run before growth is checked (default 10; at\n"
    "                           least 2 * (budget + slack) tokens)\n"
    "  --rss-tolerance-mib M    RSS growth allowed after the warm-up (default 4)\n"
    "  --json PATH              write every sample and the verdict as JSON\n";

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A failure that stops the run: an API error, or a cache past the bound eviction promises.
struct Fatal : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void check(cab_status status, const std::string &what) {
    if (status != CAB_OK)
        throw Fatal(what + " failed: " + cab_status_string(status) + ": " + cab_last_error());
}

int64_t to_int(const std::string &flag, const std::string &value, int64_t lo, int64_t hi) {
    size_t used = 0;
    int64_t v = 0;
    try {
        v = std::stoll(value, &used);
    } catch (const std::exception &) {
        used = 0;
    }
    if (used != value.size() || value.empty() || v < lo || v > hi)
        throw UsageError(flag + " wants an integer in [" + std::to_string(lo) + ", " +
                         std::to_string(hi) + "], not '" + value + "'");
    return v;
}

double to_double(const std::string &flag, const std::string &value, double lo) {
    size_t used = 0;
    double v = 0;
    try {
        v = std::stod(value, &used);
    } catch (const std::exception &) {
        used = 0;
    }
    if (used != value.size() || value.empty() || !(v >= lo))
        throw UsageError(flag + " wants a number >= " + std::to_string(lo) + ", not '" + value +
                         "'");
    return v;
}

soak::Options parse_args(int argc, char **argv) {
    soak::Options o;
    const int64_t kMax32 = INT32_MAX;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "-h" || flag == "--help") throw UsageError("");
        if (i + 1 >= argc) throw UsageError("unknown option or missing value: " + flag);
        const std::string v = argv[++i];
        if (flag == "-m" || flag == "--model") {
            o.model = v;
        } else if (flag == "--device") {
            if (v != "auto" && v != "cpu" && v != "cuda")
                throw UsageError("--device wants auto, cpu or cuda, not '" + v + "'");
            o.device = v;
        } else if (flag == "--tokens") {
            o.tokens = to_int(flag, v, 1, kMax32 / 2);
        } else if (flag == "--every") {
            o.every = to_int(flag, v, 1, kMax32);
        } else if (flag == "--policy") {
            o.policy = v;
        } else if (flag == "--budget") {
            o.budget = static_cast<int32_t>(to_int(flag, v, 0, kMax32));
        } else if (flag == "--slack") {
            o.slack = static_cast<int32_t>(to_int(flag, v, 1, kMax32));
        } else if (flag == "--kv-capacity") {
            o.kv_capacity = to_int(flag, v, 1, kMax32);
        } else if (flag == "--threads") {
            o.threads = static_cast<int32_t>(to_int(flag, v, 0, 1024));
        } else if (flag == "--temp") {
            o.temperature = static_cast<float>(to_double(flag, v, 0.0));
        } else if (flag == "--seed") {
            o.seed = static_cast<uint64_t>(to_int(flag, v, 0, INT64_MAX));
        } else if (flag == "--prompt") {
            o.prompt = v;
        } else if (flag == "--warmup-pct") {
            o.warmup_pct = static_cast<int32_t>(to_int(flag, v, 0, 90));
        } else if (flag == "--rss-tolerance-mib") {
            o.rss_tolerance_mib = to_double(flag, v, 0.0);
        } else if (flag == "--json") {
            o.json = v;
        } else {
            throw UsageError("unknown option " + flag);
        }
    }
    if (o.model.empty()) throw UsageError("-m MODEL is required");
    return o;
}

cab_device device_of(const std::string &name) {
    if (name == "cpu") return CAB_DEVICE_CPU;
    if (name == "cuda") return CAB_DEVICE_CUDA;
    return CAB_DEVICE_AUTO;
}

struct ModelFree {
    void operator()(cab_model *m) const { cab_model_free(m); }
};
struct CtxDestroy {
    void operator()(cab_ctx *c) const { cab_ctx_destroy(c); }
};
struct SamplerFree {
    void operator()(cab_sampler *s) const { cab_sampler_free(s); }
};

double mib(uint64_t bytes) {
    return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

class Soak {
public:
    Soak(const soak::Options &o, soak::RunInfo &info, soak::Result &result)
        : o_(o), info_(info), result_(result) {}

    // Loads, prefills and generates; throws Fatal to stop, records growth in failures.
    void run() {
        setup();
        const cab_seq seq = 0;
        uint64_t window_peak = 0, warmup_peak = 0;
        int64_t window_start = 0;
        const auto start = std::chrono::steady_clock::now();
        auto window_time = start;
        for (int64_t g = 1; g <= o_.tokens; ++g) {
            cab_token token = 0;
            check(cab_sample(ctx_.get(), seq, sampler_.get(), &token),
                  "cab_sample at token " + std::to_string(g));
            // End of generation is fed back like any token: the run is about length.
            if (cab_token_is_eog(model_.get(), token)) ++result_.eog_tokens;
            check(cab_decode(ctx_.get(), &seq, &token, 1),
                  "cab_decode at token " + std::to_string(g));
            const cab_kv_stats st = stats();
            check_bound(st, g);
            window_peak = std::max(window_peak, st.bytes_used);
            if (g <= info_.warmup_tokens) warmup_peak = std::max(warmup_peak, st.bytes_used);
            if (g % o_.every != 0 && g != o_.tokens) continue;

            const auto now = std::chrono::steady_clock::now();
            soak::Sample s;
            s.generated = g;
            s.seq_length = st.seq_length;
            s.tokens_cached = st.tokens_cached;
            s.stream_min = st.stream_min;
            s.stream_max = st.stream_max;
            s.tokens_evicted = st.tokens_evicted;
            s.blocks_used = st.blocks_used;
            s.kv_bytes = st.bytes_used;
            s.kv_bytes_peak = window_peak;
            s.rss_bytes = soak::rss_bytes();
            s.elapsed_s = std::chrono::duration<double>(now - start).count();
            const double window_s = std::chrono::duration<double>(now - window_time).count();
            s.window_tokens_per_s =
                window_s > 0 ? static_cast<double>(g - window_start) / window_s : 0;
            result_.samples.push_back(s);
            print(s);
            if (g == info_.warmup_tokens) rss_baseline_ = s.rss_bytes;
            if (g == info_.warmup_tokens && s.tokens_evicted == 0)
                fail("no eviction during the warm-up (" + std::to_string(g) +
                     " tokens): lower --budget or --slack");
            if (g > info_.warmup_tokens) check_growth(s, warmup_peak);
            window_peak = 0;
            window_start = g;
            window_time = now;
        }
        result_.duration_s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }

private:
    void setup() {
        cab_model_params mp;
        check(cab_model_default_params(&mp), "cab_model_default_params");
        mp.device = device_of(o_.device);
        cab_model *model = nullptr;
        check(cab_model_load(o_.model.c_str(), &mp, &model), "cab_model_load " + o_.model);
        model_.reset(model);
        cab_model_info mi;
        mi.struct_size = sizeof mi;
        check(cab_model_info_get(model, &mi), "cab_model_info_get");
        info_.device = mi.device == CAB_DEVICE_CUDA ? "cuda" : "cpu";
        info_.model_name = mi.name;
        info_.model_arch = mi.arch;
        info_.n_ctx_train = mi.n_ctx_train;
        info_.n_layer = mi.n_layer;
        info_.n_head_kv = mi.n_head_kv;
        info_.head_dim = mi.head_dim;
        info_.n_params = mi.n_params;

        cab_evict_params ev;
        check(cab_evict_default_params(&ev), "cab_evict_default_params");
        ev.policy = o_.policy.c_str();
        ev.budget_unit = CAB_BUDGET_TOKENS;
        ev.budget_tokens = o_.budget;
        cab_ctx_params cp;
        check(cab_ctx_default_params(&cp), "cab_ctx_default_params");
        cp.device = mp.device;
        cp.n_threads = o_.threads;
        cp.kv_capacity_tokens = o_.kv_capacity;
        cp.auto_evict = &ev;
        cp.auto_evict_slack = o_.slack;
        cab_ctx *ctx = nullptr;
        check(cab_ctx_create(model, &cp, &ctx), "cab_ctx_create");
        ctx_.reset(ctx);

        cab_sampler_params sp;
        check(cab_sampler_default_params(&sp), "cab_sampler_default_params");
        sp.temperature = o_.temperature;
        sp.seed = o_.seed;
        cab_sampler *sampler = nullptr;
        check(cab_sampler_create(&sp, &sampler), "cab_sampler_create");
        sampler_.reset(sampler);

        std::vector<cab_token> prompt(o_.prompt.size() + 8);
        size_t n = 0;
        check(cab_tokenize(model, o_.prompt.data(), o_.prompt.size(), CAB_TOKENIZE_ADD_BOS,
                           prompt.data(), prompt.size(), &n),
              "cab_tokenize");
        if (n == 0) throw Fatal("the prompt gives no tokens");
        check(cab_prefill(ctx, 0, prompt.data(), n), "cab_prefill");
        info_.prompt_tokens = static_cast<int64_t>(n);

        // Automatic eviction keeps a sequence within n_streams * (budget + slack) tokens; each
        // stream's last block may be partly empty, hence one block more per stream for bytes.
        const cab_kv_stats st = stats();
        const int64_t streams = int64_t{st.n_layer} * st.n_head_kv;
        const int64_t per_block = static_cast<int64_t>(st.bytes_total) / st.blocks_total;
        info_.kv_tokens_bound = streams * (int64_t{o_.budget} + o_.slack);
        const int64_t blocks_bound = (info_.kv_tokens_bound + st.block_size - 1) / st.block_size;
        info_.kv_bytes_bound = static_cast<uint64_t>((blocks_bound + streams) * per_block);
    }

    cab_kv_stats stats() const {
        cab_kv_stats st;
        st.struct_size = sizeof st;
        check(cab_kv_stats_get(ctx_.get(), 0, &st), "cab_kv_stats_get");
        return st;
    }

    void fail(const std::string &why) {
        std::fprintf(stderr, "cab_soak: FAIL: %s\n", why.c_str());
        result_.failures.push_back(why);
    }

    // Past the bound that automatic eviction promises: a broken eviction, not noise; stops.
    void check_bound(const cab_kv_stats &st, int64_t g) {
        if (st.tokens_cached <= info_.kv_tokens_bound && st.bytes_used <= info_.kv_bytes_bound)
            return;
        throw Fatal("at token " + std::to_string(g) + " the sequence caches " +
                    std::to_string(st.tokens_cached) + " tokens in " +
                    std::to_string(st.bytes_used) + " bytes, past the auto-eviction bound of " +
                    std::to_string(info_.kv_tokens_bound) + " tokens, " +
                    std::to_string(info_.kv_bytes_bound) + " bytes");
    }

    // Each kind of growth is reported once, at its first sample; the run goes on so that the
    // JSON shows the whole curve.
    void check_growth(const soak::Sample &s, uint64_t warmup_peak) {
        if (s.kv_bytes_peak > warmup_peak && !kv_failed_) {
            kv_failed_ = true;
            fail("KV bytes grew: " + std::to_string(s.kv_bytes_peak) +
                 " held in the window before token " + std::to_string(s.generated) +
                 ", more than the warm-up's peak of " + std::to_string(warmup_peak));
        }
        if (!info_.rss_checked || rss_failed_) return;
        const auto tolerance = static_cast<uint64_t>(o_.rss_tolerance_mib * 1024 * 1024);
        if (s.rss_bytes > rss_baseline_ + tolerance) {
            rss_failed_ = true;
            char why[200];
            std::snprintf(why, sizeof why,
                          "RSS grew from %.2f MiB after the warm-up to %.2f MiB at token %lld, "
                          "more than the tolerance of %.2f MiB",
                          mib(rss_baseline_), mib(s.rss_bytes), static_cast<long long>(s.generated),
                          o_.rss_tolerance_mib);
            fail(why);
        }
    }

    void print(const soak::Sample &s) const {
        std::printf(
            "tokens %8lld/%lld  cached %7lld (stream %d..%d)  kv %8.3f MiB (peak %8.3f)  "
            "evicted %11lld  rss %8.2f MiB  %8.1f tok/s  %7.1f s\n",
            static_cast<long long>(s.generated), static_cast<long long>(o_.tokens),
            static_cast<long long>(s.tokens_cached), s.stream_min, s.stream_max, mib(s.kv_bytes),
            mib(s.kv_bytes_peak), static_cast<long long>(s.tokens_evicted), mib(s.rss_bytes),
            s.window_tokens_per_s, s.elapsed_s);
        std::fflush(stdout);
    }

    const soak::Options &o_;
    soak::RunInfo &info_;
    soak::Result &result_;
    std::unique_ptr<cab_model, ModelFree> model_;
    std::unique_ptr<cab_ctx, CtxDestroy> ctx_;
    std::unique_ptr<cab_sampler, SamplerFree> sampler_;
    uint64_t rss_baseline_ = 0;  // RSS at the sample that ends the warm-up
    bool kv_failed_ = false;
    bool rss_failed_ = false;
};

void print_summary(const soak::Options &o, const soak::RunInfo &info, const soak::Result &r) {
    std::printf("\ncab_soak: %s, policy %s, budget %d + slack %d per stream\n", o.model.c_str(),
                o.policy.c_str(), o.budget, o.slack);
    if (!r.samples.empty()) {
        std::printf("  model %s (%s) on %s\n", info.model_name.c_str(), info.model_arch.c_str(),
                    info.device.c_str());
        const soak::Sample &first = r.samples.front(), &last = r.samples.back();
        uint64_t kv_peak = 0, rss_max = 0;
        for (const soak::Sample &s : r.samples) {
            kv_peak = std::max(kv_peak, s.kv_bytes_peak);
            rss_max = std::max(rss_max, s.rss_bytes);
        }
        std::printf(
            "  %lld tokens (last position %lld, %lld end-of-generation tokens fed back) in %.1f s, "
            "%.1f tokens/s\n",
            static_cast<long long>(last.generated), static_cast<long long>(last.seq_length - 1),
            static_cast<long long>(r.eog_tokens), r.duration_s,
            r.duration_s > 0 ? static_cast<double>(last.generated) / r.duration_s : 0.0);
        std::printf("  KV bytes: first %llu, last %llu, peak %llu (bound %llu); evicted %lld\n",
                    static_cast<unsigned long long>(first.kv_bytes),
                    static_cast<unsigned long long>(last.kv_bytes),
                    static_cast<unsigned long long>(kv_peak),
                    static_cast<unsigned long long>(info.kv_bytes_bound),
                    static_cast<long long>(last.tokens_evicted));
        std::printf("  RSS: first %.2f MiB, last %.2f MiB, max %.2f MiB%s\n", mib(first.rss_bytes),
                    mib(last.rss_bytes), mib(rss_max),
                    info.rss_checked ? "" : " (not checked under AddressSanitizer)");
    }
    if (r.failures.empty()) {
        std::printf("  PASSED\n");
    } else {
        for (const std::string &f : r.failures) std::printf("  FAILED: %s\n", f.c_str());
    }
}

}  // namespace

int main(int argc, char **argv) {
    soak::Options o;
    try {
        o = parse_args(argc, argv);
    } catch (const UsageError &e) {
        if (*e.what()) std::fprintf(stderr, "cab_soak: error: %s\n\n", e.what());
        std::fputs(kUsage, *e.what() ? stderr : stdout);
        return *e.what() ? 2 : 0;
    }
    soak::RunInfo info;
    info.library_version = cab_version_string();
    info.rss_checked = !SOAK_ASAN;
    // The warm-up ends on a sample, so that the RSS baseline is a measured point, and holds two
    // eviction cycles (a stream grows from budget to budget + slack between evictions), so that
    // its peak KV bytes are the steady state's.
    const int64_t warmup =
        std::max(o.tokens * o.warmup_pct / 100, 2 * (int64_t{o.budget} + o.slack));
    info.warmup_tokens = std::max<int64_t>(o.every, (warmup + o.every - 1) / o.every * o.every);
    soak::Result result;
    try {
        Soak(o, info, result).run();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "cab_soak: FAIL: %s\n", e.what());
        result.failures.push_back(e.what());
    }
    if (result.failures.empty() && info.warmup_tokens >= o.tokens)
        std::printf("cab_soak: note: the run ends within its warm-up; growth was not checked\n");
    print_summary(o, info, result);
    if (!o.json.empty() && !soak::write_json(o.json, o, info, result)) return 1;
    return result.failures.empty() ? 0 : 1;
}
