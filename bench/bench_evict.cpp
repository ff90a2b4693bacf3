// Benchmark of eviction (DESIGN.md sections 3-5) on the CPU or, with --device cuda, on the GPU:
// 1. eviction time per stream and per sequence, for every policy, on sequences of 4k and 32k
//    cached tokens in SmolLM2-135M's shape (30 layers x 3 kv heads, head_dim 64; --shape for
//    another), with random keys and heavy-tailed random scores: the policy's selection on one
//    stream alone, and evict_sequence over all streams (score reads, allocation, selection,
//    compaction, freeing) until the device has finished;
// 2. the cost of score accumulation: prefill and decode time of a real model with scores on
//    and off (the attention's compile-time switch), the same model and tokens.
// Prints a table and writes bench/results/{cpu,gpu}_evict_<date>.json with the machine, the
// device, the commit and the command. `--smoke` runs a tiny version (the test suite does, to
// keep this working). `--breakdown` also times the phases of one eviction per policy and size.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "bench_report.h"
#include "kv/kv_cache.h"
#include "model/model.h"
#include "policy/policy.h"
#include "runtime/context.h"
#include "runtime/evict.h"
#include "util/error.h"
#include "util/parallel.h"

using namespace cab;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
    std::string model = std::string(CAB_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
    std::string out_dir = std::string(CAB_SOURCE_DIR) + "/bench/results";
    std::vector<int32_t> sizes = {4096, 32768};
    int32_t budget = 256;
    int32_t threads = 0;
    int32_t n_prefill = 1024;
    int32_t n_decode = 64;
    int32_t reps = 5;
    bool smoke = false;
    bool write_json = true;
    bool breakdown = false;
    cab_device device = CAB_DEVICE_CPU;
    KvConfig shape;  // n_layer, n_head_kv, head_dim of the eviction part
};

const char kUsage[] =
    "usage: bench_evict [--device cpu|cuda] [--model GGUF] [--out DIR] [--sizes 4096,32768]\n"
    "                   [--shape LAYERS,KV_HEADS,HEAD_DIM] [--budget N] [--threads N]\n"
    "                   [--prefill N] [--decode N] [--reps N] [--smoke] [--no-json]\n"
    "                   [--breakdown]\n";

std::vector<int32_t> int_list(const std::string &list) {
    std::vector<int32_t> out;
    for (size_t p = 0; p <= list.size();) {
        const size_t comma = std::min(list.find(',', p), list.size());
        out.push_back(std::stoi(list.substr(p, comma - p)));
        p = comma + 1;
    }
    return out;
}

Args parse(int argc, char **argv) {
    Args a;
    a.shape.n_layer = 30;
    a.shape.n_head_kv = 3;
    a.shape.head_dim = 64;
    for (int i = 1; i < argc; ++i) {
        const std::string opt = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::runtime_error(opt + " needs a value");
            return argv[++i];
        };
        if (opt == "--model") {
            a.model = value();
        } else if (opt == "--out") {
            a.out_dir = value();
        } else if (opt == "--sizes") {
            a.sizes = int_list(value());
        } else if (opt == "--shape") {
            const std::vector<int32_t> s = int_list(value());
            if (s.size() != 3) throw std::runtime_error("--shape needs LAYERS,KV_HEADS,HEAD_DIM");
            a.shape.n_layer = s[0];
            a.shape.n_head_kv = s[1];
            a.shape.head_dim = s[2];
        } else if (opt == "--device") {
            const std::string d = value();
            if (d == "cpu") {
                a.device = CAB_DEVICE_CPU;
            } else if (d == "cuda") {
                a.device = CAB_DEVICE_CUDA;
            } else {
                throw std::runtime_error("--device must be cpu or cuda, not " + d);
            }
        } else if (opt == "--budget") {
            a.budget = std::stoi(value());
        } else if (opt == "--threads") {
            a.threads = std::stoi(value());
        } else if (opt == "--prefill") {
            a.n_prefill = std::stoi(value());
        } else if (opt == "--decode") {
            a.n_decode = std::stoi(value());
        } else if (opt == "--reps") {
            a.reps = std::max(1, std::stoi(value()));
        } else if (opt == "--no-json") {
            a.write_json = false;
        } else if (opt == "--breakdown") {
            a.breakdown = true;
        } else if (opt == "--smoke") {
            a.smoke = true;
            a.write_json = false;
            a.breakdown = true;
            a.model = std::string(CAB_SOURCE_DIR) + "/tests/golden/tiny_llama.gguf";
            a.sizes = {300};
            a.budget = 32;
            a.n_prefill = 40;
            a.n_decode = 4;
            a.reps = 1;
            a.shape.n_layer = 2;
            a.shape.n_head_kv = 2;
            a.shape.head_dim = 16;
        } else {
            throw std::runtime_error("unknown option " + opt + "\n" + kUsage);
        }
    }
    return a;
}

// The best of several runs: on a shared machine, other load only ever adds time.
double best(const std::vector<double> &v) {
    return *std::min_element(v.begin(), v.end());
}

// Fills sequence 0 with n tokens of random keys/values and heavy-tailed random scores (a few
// tokens draw most of the attention, as in real models); observers count the later queries.
// The scores are written into the pool's paged score rows (backend.h, KvPoolRef::scores) with
// one upload of the whole table, after the appends (which zero them).
void fill(KvCache &kv, Executor &ex, Backend &backend, int32_t n, uint32_t seed) {
    const KvConfig &c = kv.config();
    const int32_t chunk = std::min(n, 1024);
    const int64_t cols = int64_t{c.n_head_kv} * c.head_dim;
    std::vector<float> host_k(static_cast<size_t>(chunk * cols)), host_v(host_k.size());
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal;
    std::lognormal_distribution<float> heavy(0.0f, 2.0f);
    for (size_t i = 0; i < host_k.size(); ++i) {
        host_k[i] = normal(rng);
        host_v[i] = normal(rng);
    }
    Tensor k = backend.alloc(backend.act_dtype(), chunk, cols);
    Tensor v = backend.alloc(backend.act_dtype(), chunk, cols);
    ex.upload(host_k.data(), k);
    ex.upload(host_v.data(), v);
    std::vector<float> draws(4096);
    for (float &d : draws) d = heavy(rng);
    const int32_t seq = 0;
    std::vector<StreamRef> refs;
    for (int32_t done = 0; done < n; done += chunk) {
        const int32_t rows = std::min(chunk, n - done);
        kv.reserve(&seq, &rows, 1);
        for (int32_t l = 0; l < c.n_layer; ++l) {
            kv.stream_refs(l, &seq, 1, rows, refs);
            ex.kv_append(kv.pool_ref(), refs.data(), 1, rows, k.rows_view(0, rows),
                         v.rows_view(0, rows));
        }
        std::vector<int32_t> pos(static_cast<size_t>(rows));
        for (int32_t i = 0; i < rows; ++i) pos[i] = done + i;
        kv.commit(seq, rows, pos.data(), pos.data());
    }
    const KvPoolRef &pool = kv.pool_ref();
    const size_t bs = static_cast<size_t>(pool.block_size);
    if (pool.scores.cols() != pool.block_size)
        throw std::runtime_error("the pool's score rows are not one block long");
    std::vector<float> scores(static_cast<size_t>(pool.scores.rows()) * bs, 0.0f);
    for (int32_t l = 0; l < c.n_layer; ++l)
        for (int32_t h = 0; h < c.n_head_kv; ++h) {
            const Stream &s = kv.stream(seq, l, h);
            for (int32_t j = 0; j < n; ++j) {
                const size_t r = (static_cast<size_t>(j) * 7919 + l * 131 + h * 17) % 4096;
                const size_t block = static_cast<size_t>(s.blocks[j / bs]);
                float *slot = &scores[block * kScoreKinds * bs + j % bs];
                slot[kScore * bs] = draws[r];
                slot[kObservers * bs] = static_cast<float>(n - j);
                slot[kWindow * bs] = draws[(r + 1) % 4096];
                slot[kLast * bs] = draws[(r + 2) % 4096];
            }
        }
    ex.upload(scores.data(), pool.scores);
}

// Waits until the device has run everything queued: a kv_read_* call waits for it (backend.h).
void finish(const KvCache &kv, Executor &ex) {
    SlotScores s;
    kv.read_scores(ex, 0, 0, 0, s);
}

std::unique_ptr<Backend> make_backend(cab_device device, int32_t threads) {
    if (device == CAB_DEVICE_CPU) return make_cpu_backend(threads);
#ifdef CAB_HAVE_CUDA
    return make_cuda_backend(0);
#else
    throw std::runtime_error("--device cuda: this build has no CUDA backend");
#endif
}

// Host wall times of the phases of one eviction of sequence 0 down evict_sequence's plan path,
// in seconds (see breakdown()).
struct Phases {
    double plans = 0.0;     // keep_plans: the budgets and a keep plan per stream (host only)
    double select = 0.0;    // KvCache::select: host checks, Executor::kv_select, stream metadata
    double executor = 0.0;  // Executor::kv_select alone, on a second fill of the same data
    double finish = 0.0;    // what was still queued after KvCache::select
};

// Times the phases of one eviction (n tokens, policy o) with std::chrono around each call, after
// the reps have grown every buffer. Executor::kv_select covers staging, the selection and
// compaction on the device and the copy of the kept lists back, which waits for them (it must, to
// fill host_keep), so no phase leaves work queued for the next; finish (a small read that waits
// for the device) shows that. nullopt for a policy that selects on the host.
std::optional<Phases> breakdown(KvCache &kv, Executor &ex, Backend &backend, int32_t n,
                                const EvictOptions &o) {
    const KvConfig &c = kv.config();
    Phases p;
    fill(kv, ex, backend, n, 42);
    finish(kv, ex);
    auto t0 = Clock::now();
    const std::optional<std::vector<KeepPlan>> plans = keep_plans(kv, 0, o);
    p.plans = bench::seconds_since(t0);
    if (!plans) {
        kv.reset(0);
        return std::nullopt;
    }
    // The units KvCache::select hands the executor when every stream selects alone (as here):
    // every stream that loses slots.
    std::vector<StreamRef> refs;
    for (int32_t l = 0; l < c.n_layer; ++l)
        for (int32_t h = 0; h < c.n_head_kv; ++h) {
            const Stream &s = kv.stream(0, l, h);
            refs.push_back(StreamRef{s.blocks.data(), s.length});
        }
    std::vector<SelectUnit> units;
    size_t total = 0;
    for (size_t u = 0; u < refs.size(); ++u) {
        const int32_t n_keep = keep_count((*plans)[u], refs[u].length);
        if (n_keep == refs[u].length) continue;
        units.push_back(SelectUnit{&refs[u], 1, (*plans)[u]});
        total += static_cast<size_t>(n_keep);
    }
    std::vector<int32_t> keep(total);
    t0 = Clock::now();
    if (!units.empty())
        ex.kv_select(kv.pool_ref(), units.data(), static_cast<int32_t>(units.size()), keep.data());
    p.executor = bench::seconds_since(t0);
    // The device's slots moved under the cache's metadata: start again from a fresh fill.
    kv.reset(0);
    fill(kv, ex, backend, n, 42);
    finish(kv, ex);
    t0 = Clock::now();
    kv.select(ex, 0, *plans, o.shared_per_layer);
    p.select = bench::seconds_since(t0);
    t0 = Clock::now();
    finish(kv, ex);
    p.finish = bench::seconds_since(t0);
    kv.reset(0);
    return p;
}

// Prints the best of `reps` breakdowns, phase by phase.
void print_breakdown(KvCache &kv, Executor &ex, Backend &backend, int32_t n, const EvictOptions &o,
                     int32_t reps) {
    std::optional<Phases> best_p;
    for (int32_t rep = 0; rep < reps; ++rep) {
        const std::optional<Phases> p = breakdown(kv, ex, backend, n, o);
        if (!p) {
            std::printf("    %s selects on the host: no breakdown\n", o.policy->name().data());
            return;
        }
        if (!best_p) best_p = p;
        best_p->plans = std::min(best_p->plans, p->plans);
        best_p->select = std::min(best_p->select, p->select);
        best_p->executor = std::min(best_p->executor, p->executor);
        best_p->finish = std::min(best_p->finish, p->finish);
    }
    const Phases &p = *best_p;
    std::printf(
        "    breakdown (best of %d): plans %.3f ms, KvCache::select %.3f ms (of which "
        "Executor::kv_select %.3f ms), finish %.3f ms\n",
        reps, p.plans * 1e3, p.select * 1e3, p.executor * 1e3, p.finish * 1e3);
}

struct EvictRow {
    std::string policy;
    int32_t tokens;
    double select_us;      // Policy::select on one stream (its data in cache), best of reps
    double sequence_ms;    // evict_sequence over every stream (from memory), best of reps
    double per_stream_us;  // sequence_ms / streams
    int64_t blocks_freed;
};

std::vector<EvictRow> bench_eviction(const Args &a) {
    auto backend = make_backend(a.device, a.threads);
    auto ex = backend->make_executor(a.threads);
    const int32_t streams = a.shape.n_layer * a.shape.n_head_kv;
    std::vector<EvictRow> rows;
    for (int32_t n : a.sizes) {
        KvConfig c = a.shape;
        c.capacity_tokens = n;
        c.dtype = backend->kv_dtype();
        KvCache kv(*backend, c);
        for (std::string_view name : policy_names()) {
            EvictOptions o;
            o.policy = find_policy(name);
            o.budget.tokens = a.budget;
            std::vector<double> select, sequence;
            EvictResult r;
            for (int rep = 0; rep < a.reps; ++rep) {
                fill(kv, *ex, *backend, n, 42);
                const Stream &s = kv.stream(0, 0, 0);
                std::vector<float> keys;
                kv.read_keys(*ex, 0, 0, 0, keys);
                SlotScores sc;
                kv.read_scores(*ex, 0, 0, 0, sc);
                const StreamScores view{
                    s.length,         s.pos.data(),   sc.score.data(), sc.observers.data(),
                    sc.window.data(), sc.last.data(), keys.data(),     c.head_dim};
                for (int i = 0; i < 3; ++i) {
                    const auto t0 = Clock::now();
                    const std::vector<int32_t> keep = o.policy->select(view, a.budget, o.params, 0);
                    select.push_back(bench::seconds_since(t0));
                    if (keep.empty()) throw std::runtime_error("empty selection");
                }
                const auto t0 = Clock::now();
                r = evict_sequence(kv, *ex, 0, o, resolve_threads(a.threads));
                finish(kv, *ex);
                sequence.push_back(bench::seconds_since(t0));
                kv.reset(0);
            }
            const double seconds = best(sequence);
            rows.push_back({std::string(name), n, best(select) * 1e6, seconds * 1e3,
                            seconds * 1e6 / streams, r.blocks_freed});
            std::printf(
                "  evict %-8s %6d tokens: select %9.1f us/stream, sequence %8.2f ms "
                "(%7.1f us/stream), %lld blocks freed\n",
                rows.back().policy.c_str(), n, rows.back().select_us, rows.back().sequence_ms,
                rows.back().per_stream_us, static_cast<long long>(r.blocks_freed));
            if (a.breakdown) print_breakdown(kv, *ex, *backend, n, o, a.reps);
            std::fflush(stdout);
        }
    }
    return rows;
}

struct ScoringRow {
    bool scores;
    double prefill_s;  // best of reps
    double decode_s;   // best of reps, for n_decode steps
};

std::vector<ScoringRow> bench_scoring(const Args &a, const Model &model) {
    std::mt19937 rng(1);
    std::uniform_int_distribution<int32_t> dist(0, model.hparams().n_vocab - 1);
    std::vector<int32_t> prompt(static_cast<size_t>(a.n_prefill)), steps(a.n_decode);
    for (auto &t : prompt) t = dist(rng);
    for (auto &t : steps) t = dist(rng);
    std::vector<double> times[2][2];
    for (int r = 0; r < a.reps; ++r)
        for (int on = 0; on < 2; ++on) {  // alternate, so drift hits both alike
            ContextOptions o;
            o.device = a.device;
            o.n_threads = a.threads;
            o.kv_capacity_tokens = a.n_prefill + a.n_decode + 16;
            o.kv_scores = on == 1;
            auto ctx = Context::create(model, o);
            auto t0 = Clock::now();
            ctx->prefill(0, prompt.data(), prompt.size());
            times[on][0].push_back(bench::seconds_since(t0));
            const int32_t seq = 0;
            t0 = Clock::now();
            for (int32_t tok : steps) ctx->decode(&seq, &tok, 1);
            times[on][1].push_back(bench::seconds_since(t0));
            std::printf("  rep %d scores %-3s: prefill %.3f s, decode %.3f s\n", r,
                        on ? "on" : "off", times[on][0].back(), times[on][1].back());
            std::fflush(stdout);
        }
    return {{false, best(times[0][0]), best(times[0][1])},
            {true, best(times[1][0]), best(times[1][1])}};
}

void print_tables(const Args &a, const std::vector<EvictRow> &ev,
                  const std::vector<ScoringRow> &sc) {
    std::printf("\neviction to %d tokens per stream, %d layers x %d kv heads x head_dim %d\n",
                a.budget, a.shape.n_layer, a.shape.n_head_kv, a.shape.head_dim);
    std::printf(
        "| policy | cached tokens | select, one stream | evict, whole sequence | per "
        "stream |\n|---|---|---|---|---|\n");
    for (const EvictRow &r : ev)
        std::printf("| %s | %d | %.1f us | %.2f ms | %.1f us |\n", r.policy.c_str(), r.tokens,
                    r.select_us, r.sequence_ms, r.per_stream_us);
    const double pre = sc[1].prefill_s / sc[0].prefill_s - 1.0;
    const double dec = sc[1].decode_s / sc[0].decode_s - 1.0;
    std::printf("\nscore accumulation, %d-token prefill then %d decode steps (best of %d)\n",
                a.n_prefill, a.n_decode, a.reps);
    std::printf("| | scores off | scores on | overhead |\n|---|---|---|---|\n");
    std::printf("| prefill | %.3f s (%.0f tok/s) | %.3f s (%.0f tok/s) | %+.1f%% |\n",
                sc[0].prefill_s, a.n_prefill / sc[0].prefill_s, sc[1].prefill_s,
                a.n_prefill / sc[1].prefill_s, pre * 100.0);
    std::printf("| decode | %.2f ms/step | %.2f ms/step | %+.1f%% |\n",
                sc[0].decode_s * 1e3 / a.n_decode, sc[1].decode_s * 1e3 / a.n_decode, dec * 100.0);
}

std::string device_name(cab_device device) {
    if (device == CAB_DEVICE_CPU) return bench::cpu_model();
    return bench::shell("nvidia-smi --query-gpu=name --format=csv,noheader -i 0");
}

void write_json(const Args &a, int argc, char **argv, const std::vector<EvictRow> &ev,
                const std::vector<ScoringRow> &sc, int32_t threads) {
    std::vector<std::string> evict_items, scoring_items;
    for (const EvictRow &r : ev) {
        bench::JsonObject o;
        o.add_string("policy", r.policy)
            .add_number("cached_tokens", r.tokens)
            .add_number("select_us_per_stream", r.select_us)
            .add_number("evict_ms_per_sequence", r.sequence_ms)
            .add_number("evict_us_per_stream", r.per_stream_us)
            .add_number("blocks_freed", static_cast<double>(r.blocks_freed));
        evict_items.push_back(o.str("    "));
    }
    for (const ScoringRow &r : sc) {
        bench::JsonObject o;
        o.add("scores", r.scores ? "true" : "false")
            .add_number("prefill_s", r.prefill_s)
            .add_number("prefill_tokens_per_s", a.n_prefill / r.prefill_s)
            .add_number("decode_ms_per_step", r.decode_s * 1e3 / a.n_decode);
        scoring_items.push_back(o.str("    "));
    }
    bench::JsonObject shape;
    shape.add_number("n_layer", a.shape.n_layer)
        .add_number("n_head_kv", a.shape.n_head_kv)
        .add_number("head_dim", a.shape.head_dim)
        .add_number("budget_tokens_per_stream", a.budget);
    bench::JsonObject scoring;
    scoring.add_string("model", a.model)
        .add_number("prefill_tokens", a.n_prefill)
        .add_number("decode_steps", a.n_decode)
        .add_number("reps", a.reps)
        .add("runs", bench::json_array(scoring_items, "  "));
    bench::JsonObject root;
    const bool cpu = a.device == CAB_DEVICE_CPU;
    root.add("provenance", bench::provenance(argc, argv, CAB_SOURCE_DIR))
        .add_string("device", cpu ? "cpu" : "cuda")
        .add_string("device_name", device_name(a.device))
        .add_number("threads", threads)
        .add("eviction_shape", shape.str("  "))
        .add("eviction", bench::json_array(evict_items, "  "))
        .add("scoring", scoring.str("  "));
    const std::string path =
        a.out_dir + (cpu ? "/cpu_evict_" : "/gpu_evict_") + bench::today() + ".json";
    std::ofstream out(path);
    out << root.str() << "\n";
    if (!out) throw std::runtime_error("cannot write " + path);
    std::printf("\nwrote %s\n", path.c_str());
}

}  // namespace

int main(int argc, char **argv) {
    try {
        const Args a = parse(argc, argv);
        const int32_t threads = resolve_threads(a.threads);
        std::printf("bench_evict: %s, %d threads\neviction:\n", device_name(a.device).c_str(),
                    threads);
        const std::vector<EvictRow> ev = bench_eviction(a);
        std::printf("scoring overhead (%s):\n", a.model.c_str());
        LoadOptions load;
        load.device = a.device;
        const auto model = Model::load(a.model, load);
        const std::vector<ScoringRow> sc = bench_scoring(a, *model);
        print_tables(a, ev, sc);
        if (a.write_json) write_json(a, argc, argv, ev, sc, threads);
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bench_evict: %s\n", e.what());
        return 1;
    }
}
