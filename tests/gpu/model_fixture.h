// Whole-model GPU tests: random llama / qwen2 GGUF models, one model file loaded twice (on the
// CPU, the reference, and on CUDA), contexts on each, and the comparisons with their tolerances.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "gguf_builder.h"
#include "kv/stream.h"
#include "model/ggml_types.h"
#include "model/model.h"
#include "policy/policy.h"
#include "runtime/context.h"
#include "test_paths.h"

namespace cab::gpu_test {

// GPU against CPU. bf16 keeps 8 significant bits, so each rounding of a weight or an activation
// on the GPU is off by up to 2^-9 (0.2%) relative; over a few layers these add up, like a random
// walk, to about 1% of the logits' scale. A logit may differ by 5% of the largest |logit| plus
// 0.02 for logits near zero, and the logit vectors must correlate above 0.998 (centred cosine:
// a common offset cannot hide a wrong shape). A broken kernel (a lost head, a shifted position,
// a missed key) moves logits by tens of percent and decorrelates them. Measured on the CPU with
// bf16 emulated (weights and every activation the GPU keeps in bf16 rounded to 8 significant
// bits), over these tests' random models, the tiny models, stories260K and SmolLM2: the worst
// difference is 24% of the bound, the worst correlation 0.9999; with 7 bits (twice bf16's error)
// 42% and 0.9984.
constexpr double kBf16Rel = 0.05;
constexpr double kBf16Abs = 0.02;
constexpr double kMinCorrelation = 0.998;
// GPU against GPU, same weights, different chunking or batching: GEMM shapes, tiles and split
// counts order fp32 sums differently, which flips an occasional bf16 rounding by one ulp; the
// flip spreads through the later layers and tokens. Measured on the CPU emulating bf16 weights and
// activations (chunked vs one chunk, batched vs alone): <= 0.5% of the largest logit on the
// random models, 1.5% on SmolLM2, whose 30 layers amplify more (kDeepTightRel).
constexpr double kTightRel = 1e-2;
constexpr double kDeepTightRel = 3e-2;

// ---- random models -------------------------------------------------------------------------

struct RandomModelSpec {
    std::string arch = "llama";  // or "qwen2" (Q/K/V biases, NeoX RoPE)
    int32_t n_layer = 2;
    int32_t n_embd = 256;
    int32_t n_head = 4;
    int32_t n_head_kv = 2;
    int32_t head_dim = 64;  // written as attention.key_length: n_head * head_dim may differ
    int32_t n_ff = 512;
    int32_t n_vocab = 512;
    bool f16 = false;   // matrices in F16, else F32; vectors are always F32
    bool tied = false;  // no output.weight: the LM head is token_embd
    uint32_t seed = 1;

    std::string label() const {
        std::ostringstream s;
        s << arch << " " << n_layer << " layers, head_dim " << head_dim << ", heads " << n_head
          << "/" << n_head_kv << (f16 ? ", F16" : ", F32") << (tied ? ", tied" : "");
        return s.str();
    }
};

inline RandomModelSpec spec(const char *arch, int32_t n_layer, int32_t head_dim, int32_t n_head,
                            int32_t n_head_kv, bool f16, bool tied, uint32_t seed) {
    RandomModelSpec s;
    s.arch = arch;
    s.n_layer = n_layer;
    s.head_dim = head_dim;
    s.n_head = n_head;
    s.n_head_kv = n_head_kv;
    s.f16 = f16;
    s.tied = tied;
    s.seed = seed;
    return s;
}

// head_dim 64 and 128, GQA groups 2 and 4, both architectures, F16 and F32, a tied LM head.
inline const std::vector<RandomModelSpec> &random_specs() {
    static const std::vector<RandomModelSpec> specs = {
        spec("llama", 4, 64, 4, 2, true, false, 11),
        spec("llama", 2, 128, 8, 2, false, false, 12),
        spec("qwen2", 3, 64, 8, 2, false, true, 13),
        spec("qwen2", 2, 128, 4, 2, true, false, 14),
    };
    return specs;
}

// A GGUF file under the temp directory, unique to this process and call, removed when done.
class TempModelFile {
public:
    explicit TempModelFile(const std::vector<uint8_t> &bytes) {
        static int counter = 0;
        path_ =
            (std::filesystem::temp_directory_path() / ("cab_gpu_model_" + std::to_string(getpid()) +
                                                       "_" + std::to_string(counter++) + ".gguf"))
                .string();
        std::ofstream(path_, std::ios::binary)
            .write(reinterpret_cast<const char *>(bytes.data()),
                   static_cast<std::streamsize>(bytes.size()));
    }
    ~TempModelFile() { std::remove(path_.c_str()); }
    TempModelFile(const TempModelFile &) = delete;
    TempModelFile &operator=(const TempModelFile &) = delete;
    const std::string &path() const { return path_; }

private:
    std::string path_;
};

// Weights are scaled so that activations stay O(1) and attention is neither uniform nor one-hot:
// q and k entries have std ~1.2, so q.k / sqrt(d) has std ~1.4; logits have std ~2.
inline std::vector<uint8_t> random_model_gguf(const RandomModelSpec &s) {
    using test::GgufBuilder;
    std::mt19937 rng(s.seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    GgufBuilder b;
    const std::string a = s.arch + ".";
    b.add_string("general.architecture", s.arch).add_string("general.name", "random " + s.arch);
    b.add_u32(a + "context_length", 4096).add_u32(a + "embedding_length", s.n_embd);
    b.add_u32(a + "block_count", s.n_layer).add_u32(a + "feed_forward_length", s.n_ff);
    b.add_u32(a + "attention.head_count", s.n_head);
    b.add_u32(a + "attention.head_count_kv", s.n_head_kv);
    b.add_u32(a + "attention.key_length", s.head_dim);
    b.add_u32(a + "attention.value_length", s.head_dim);
    b.add_f32(a + "attention.layer_norm_rms_epsilon", 1e-5f);
    b.add_f32(a + "rope.freq_base", 10000.0f);
    std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
    while (tokens.size() < static_cast<size_t>(s.n_vocab))
        tokens.push_back("t" + std::to_string(tokens.size()));
    b.add_string("tokenizer.ggml.model", "llama").add_string_array("tokenizer.ggml.tokens", tokens);
    b.add_u32("tokenizer.ggml.bos_token_id", 1).add_u32("tokenizer.ggml.eos_token_id", 2);

    const auto matrix = [&](const std::string &name, int64_t rows, int64_t cols, float std_dev) {
        std::vector<float> w(static_cast<size_t>(rows * cols));
        for (float &x : w) x = std_dev * normal(rng);
        const std::vector<uint64_t> ne = {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)};
        if (!s.f16) {
            b.add_tensor(name, ggml::Type::F32, ne, test::to_bytes(w));
            return;
        }
        std::vector<uint16_t> h(w.size());
        for (size_t i = 0; i < w.size(); ++i) h[i] = ggml::f32_to_fp16(w[i]);
        b.add_tensor(name, ggml::Type::F16, ne, test::to_bytes(h));
    };
    const auto vector = [&](const std::string &name, int64_t n, float mean, float std_dev) {
        std::vector<float> v(static_cast<size_t>(n));
        for (float &x : v) x = mean + std_dev * normal(rng);
        b.add_tensor(name, ggml::Type::F32, {static_cast<uint64_t>(n)}, test::to_bytes(v));
    };
    const float in = 1.0f / std::sqrt(static_cast<float>(s.n_embd));
    const int64_t q = int64_t{s.n_head} * s.head_dim, kv = int64_t{s.n_head_kv} * s.head_dim;
    // A tied LM head is token_embd: scaled like output.weight, so that logits stay O(1).
    matrix("token_embd.weight", s.n_vocab, s.n_embd, s.tied ? 2.0f * in : 1.0f);
    vector("output_norm.weight", s.n_embd, 1.0f, 0.1f);
    if (!s.tied) matrix("output.weight", s.n_vocab, s.n_embd, 2.0f * in);
    for (int32_t l = 0; l < s.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        vector(p + "attn_norm.weight", s.n_embd, 1.0f, 0.1f);
        matrix(p + "attn_q.weight", q, s.n_embd, 1.2f * in);
        matrix(p + "attn_k.weight", kv, s.n_embd, 1.2f * in);
        matrix(p + "attn_v.weight", kv, s.n_embd, in);
        if (s.arch == "qwen2") {
            vector(p + "attn_q.bias", q, 0.0f, 0.2f);
            vector(p + "attn_k.bias", kv, 0.0f, 0.2f);
            vector(p + "attn_v.bias", kv, 0.0f, 0.2f);
        }
        matrix(p + "attn_output.weight", s.n_embd, q, 0.5f / std::sqrt(static_cast<float>(q)));
        vector(p + "ffn_norm.weight", s.n_embd, 1.0f, 0.1f);
        matrix(p + "ffn_gate.weight", s.n_ff, s.n_embd, in);
        matrix(p + "ffn_up.weight", s.n_ff, s.n_embd, in);
        matrix(p + "ffn_down.weight", s.n_embd, s.n_ff,
               0.5f / std::sqrt(static_cast<float>(s.n_ff)));
    }
    return b.build();
}

// ---- models and contexts ---------------------------------------------------------------------

inline std::unique_ptr<Model> load_on(const std::string &path, cab_device device) {
    LoadOptions o;
    o.device = device;
    o.gpu_index = 0;
    return Model::load(path, o);
}

// One model file on both devices.
struct ModelPair {
    std::unique_ptr<Model> cpu, gpu;
    const HParams &hp() const { return cpu->hparams(); }
    int32_t n_vocab() const { return cpu->hparams().n_vocab; }
};

inline ModelPair load_pair(const std::string &path) {
    ModelPair m;
    m.cpu = load_on(path, CAB_DEVICE_CPU);
    m.gpu = load_on(path, CAB_DEVICE_CUDA);
    REQUIRE(m.gpu->device() == CAB_DEVICE_CUDA);
    return m;
}

// A random model's file and its two loads (the file outlives the models that map it).
struct RandomModel {
    explicit RandomModel(const RandomModelSpec &spec)
        : file(random_model_gguf(spec)), models(load_pair(file.path())) {}
    TempModelFile file;
    ModelPair models;
};

// A model of the project's models/ or tests/golden/ folders; a missing one is a failure that
// says how to make it, never a skip.
inline std::string require_file(const std::string &path, const std::string &how) {
    INFO(path << " is missing: " << how);
    REQUIRE(test::file_exists(path));
    return path;
}

inline std::string prepared_model(const std::string &name) {
    return require_file(test::models_path(name),
                        "run tools/prepare_models.sh (and carry models/ to the GPU machine)");
}

inline std::string golden_model(const std::string &name) {
    return require_file(test::golden_path(name + ".gguf"),
                        "regenerate with tools/golden/make_tiny_models.py");
}

struct CtxConfig {
    int32_t n_seq_max = 1;
    int64_t capacity = 1024;
    int32_t block_size = 16;  // a power of two (the CUDA pool's requirement)
    int32_t chunk = 512;
    int32_t score_window = 32;
    int64_t q8_capacity = 0;  // int8 KV blocks (kv/quant_q8.h)
};

// A context on the model's own device; the KV type follows it (F32 on the CPU, BF16 on CUDA).
inline std::unique_ptr<Context> make_ctx(const Model &model, const CtxConfig &c = {}) {
    ContextOptions o;
    o.device = model.device();
    o.n_seq_max = c.n_seq_max;
    o.n_threads = 0;
    o.kv_capacity_tokens = c.capacity;
    o.kv_block_size = c.block_size;
    o.prefill_chunk = c.chunk;
    o.score_window = c.score_window;
    o.kv_q8_capacity_tokens = c.q8_capacity;
    return Context::create(model, o);
}

inline std::vector<int32_t> random_tokens(std::mt19937 &rng, size_t n, int32_t n_vocab) {
    std::uniform_int_distribution<int32_t> dist(0, n_vocab - 1);
    std::vector<int32_t> out(n);
    for (int32_t &t : out) t = dist(rng);
    return out;
}

inline void decode_one(Context &ctx, int32_t seq, int32_t token) {
    ctx.decode(&seq, &token, 1);
}

inline std::vector<float> logits_of(const Context &ctx, int32_t seq) {
    const float *l = ctx.logits(seq);
    REQUIRE(l != nullptr);
    return std::vector<float>(l, l + ctx.model().hparams().n_vocab);
}

// Sets (or, for a null value, unsets) an environment variable for a scope: CAB_CUDA_GRAPHS,
// which a CUDA context reads when it is created.
class ScopedEnv {
public:
    ScopedEnv(const char *name, const char *value) : name_(name) {
        if (const char *old = std::getenv(name)) old_ = old;
        if (value != nullptr) {
            setenv(name, value, 1);
        } else {
            unsetenv(name);
        }
    }
    ~ScopedEnv() {
        if (old_) {
            setenv(name_.c_str(), old_->c_str(), 1);
        } else {
            unsetenv(name_.c_str());
        }
    }
    ScopedEnv(const ScopedEnv &) = delete;
    ScopedEnv &operator=(const ScopedEnv &) = delete;

private:
    std::string name_;
    std::optional<std::string> old_;
};

// ---- logits ----------------------------------------------------------------------------------

struct LogitDiff {
    double max_diff = 0.0;  // max |got - ref|
    double max_ref = 0.0;   // max |ref|
    double correlation = 0.0;
    bool finite = true;
    int32_t argmax_got = 0, argmax_ref = 0;
    double margin_ref = 0.0;  // ref's top-1 minus top-2
};

inline int32_t argmax(const float *x, int32_t n) {
    return static_cast<int32_t>(std::max_element(x, x + n) - x);
}

inline double top2_margin(const float *x, int32_t n) {
    float first = -INFINITY, second = -INFINITY;
    for (int32_t i = 0; i < n; ++i) {
        if (x[i] > first) {
            second = first;
            first = x[i];
        } else if (x[i] > second) {
            second = x[i];
        }
    }
    return static_cast<double>(first) - second;
}

inline LogitDiff diff_logits(const float *got, const float *ref, int32_t n) {
    LogitDiff d;
    double mean_g = 0.0, mean_r = 0.0;
    for (int32_t i = 0; i < n; ++i) {
        d.finite = d.finite && std::isfinite(got[i]);
        d.max_diff = std::max(d.max_diff, std::fabs(static_cast<double>(got[i]) - ref[i]));
        d.max_ref = std::max(d.max_ref, std::fabs(static_cast<double>(ref[i])));
        mean_g += got[i];
        mean_r += ref[i];
    }
    mean_g /= n;
    mean_r /= n;
    double gg = 0.0, rr = 0.0, gr = 0.0;
    for (int32_t i = 0; i < n; ++i) {
        const double g = got[i] - mean_g, r = ref[i] - mean_r;
        gg += g * g;
        rr += r * r;
        gr += g * r;
    }
    d.correlation = gg > 0.0 && rr > 0.0 ? gr / std::sqrt(gg * rr) : (gg == rr ? 1.0 : 0.0);
    d.argmax_got = argmax(got, n);
    d.argmax_ref = argmax(ref, n);
    d.margin_ref = top2_margin(ref, n);
    return d;
}

inline double bf16_tolerance(double max_ref) {
    return kBf16Rel * max_ref + kBf16Abs;
}

// GPU logits against the CPU's: finite, within the bf16 tolerance, correlated, and the same
// argmax wherever the CPU's top-2 margin exceeds the tolerance (below it, rounding may swap them).
inline void check_bf16(const float *gpu, const float *cpu, int32_t n, const std::string &what) {
    const LogitDiff d = diff_logits(gpu, cpu, n);
    const double tol = bf16_tolerance(d.max_ref);
    INFO(what << ": max |gpu - cpu| " << d.max_diff << " (tolerance " << tol << ", max |cpu| "
              << d.max_ref << "), correlation " << d.correlation << ", argmax gpu " << d.argmax_got
              << " cpu " << d.argmax_ref << ", cpu top-2 margin " << d.margin_ref);
    CHECK(d.finite);
    CHECK(d.max_diff <= tol);
    CHECK(d.correlation > kMinCorrelation);
    if (d.margin_ref > tol) CHECK(d.argmax_got == d.argmax_ref);
}

inline void check_bf16(const std::vector<float> &gpu, const std::vector<float> &cpu,
                       const std::string &what) {
    REQUIRE(gpu.size() == cpu.size());
    check_bf16(gpu.data(), cpu.data(), static_cast<int32_t>(cpu.size()), what);
}

// max |got - ref| <= rel * max |ref|.
inline void check_relative(const std::vector<float> &got, const std::vector<float> &ref, double rel,
                           const std::string &what) {
    REQUIRE(got.size() == ref.size());
    const LogitDiff d = diff_logits(got.data(), ref.data(), static_cast<int32_t>(ref.size()));
    INFO(what << ": max |diff| " << d.max_diff << ", max |ref| " << d.max_ref << ", relative "
              << d.max_diff / d.max_ref << " (tolerance " << rel << ")");
    CHECK(d.finite);
    CHECK(d.max_diff <= rel * d.max_ref);
}

// ---- streams: positions and scores ---------------------------------------------------------

// One stream's cached positions and its score accumulators, copied to the host.
struct CachedStream {
    std::vector<int32_t> pos;
    std::vector<float> score, observers, window, last;
};

inline std::vector<int32_t> stream_positions(const Context &ctx, int32_t seq, int32_t layer,
                                             int32_t head) {
    const Stream &s = ctx.kv_stream(seq, layer, head);
    REQUIRE(s.pos.size() >= static_cast<size_t>(s.length));
    return std::vector<int32_t>(s.pos.begin(), s.pos.begin() + s.length);
}

inline CachedStream stream_scores(const Context &ctx, int32_t seq, int32_t layer, int32_t head) {
    CachedStream out;
    out.pos = stream_positions(ctx, seq, layer, head);
    SlotScores s = ctx.kv_scores(seq, layer, head);
    for (const std::vector<float> *v : {&s.score, &s.observers, &s.window, &s.last})
        REQUIRE(v->size() == out.pos.size());
    out.score = std::move(s.score);
    out.observers = std::move(s.observers);
    out.window = std::move(s.window);
    out.last = std::move(s.last);
    return out;
}

// Every stream of seq, index layer * n_head_kv + head.
inline std::vector<std::vector<int32_t>> all_positions(const Context &ctx, int32_t seq) {
    const HParams &hp = ctx.model().hparams();
    std::vector<std::vector<int32_t>> out;
    for (int32_t l = 0; l < hp.n_layer; ++l)
        for (int32_t h = 0; h < hp.n_head_kv; ++h) out.push_back(stream_positions(ctx, seq, l, h));
    return out;
}

inline std::vector<CachedStream> all_scores(const Context &ctx, int32_t seq) {
    const HParams &hp = ctx.model().hparams();
    std::vector<CachedStream> out;
    for (int32_t l = 0; l < hp.n_layer; ++l)
        for (int32_t h = 0; h < hp.n_head_kv; ++h) out.push_back(stream_scores(ctx, seq, l, h));
    return out;
}

// A policy that keeps, in selection unit i, exactly the slots whose positions keep[i] lists
// (ascending). evict_sequence passes the unit index as stream_seed (layer * n_head_kv + head
// when every stream selects alone), so this applies another context's eviction result to a
// context through the ordinary path: selection, compaction of K/V/scores, freeing of blocks.
class KeepPositions final : public Policy {
public:
    explicit KeepPositions(std::vector<std::vector<int32_t>> keep) : keep_(std::move(keep)) {}
    std::string_view name() const override { return "test-keep-positions"; }
    std::vector<int32_t> select(const StreamScores &scores, int32_t, const PolicyParams &,
                                uint64_t unit) const override {
        const std::vector<int32_t> &want = keep_.at(static_cast<size_t>(unit));
        std::vector<int32_t> slots;
        for (int32_t j = 0; j < scores.n; ++j)
            if (std::binary_search(want.begin(), want.end(), scores.positions[j]))
                slots.push_back(j);
        return slots;
    }

private:
    std::vector<std::vector<int32_t>> keep_;
};

}  // namespace cab::gpu_test
