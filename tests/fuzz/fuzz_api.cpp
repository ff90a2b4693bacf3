// libFuzzer target: the input drives a sequence of at most 64 C API calls on a context over a
// tiny model loaded once (make_seeds.py --api): context creation with odd params and automatic
// eviction, prefill, batched decode, logits, sampling, sequence length / reset / copy, the KV
// inspection calls, cab_evict with every policy and odd params, destroy. Input layout:
// api_input.h. Every call must return a documented status other than INTERNAL, the one the
// contract says where it pins it (KV_FULL exactly when a batch cannot fit without automatic
// eviction), a message naming the call on failure, and leave cab_last_error alone on success.
// After every call the context's KV figures must add up against a shadow of what the calls did.
// A crash, a leak, a sanitizer report or a broken check is a finding (docs/RELIABILITY.md).
// The model and its contexts are on the device CAB_FUZZ_DEVICE names: cpu (default) or cuda, the
// latter for replaying inputs with fuzz_api_replay on a CUDA build (replay_main.cpp).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "api_checks.h"
#include "api_input.h"
#include "cab/cab.h"

namespace fuzz_api {
namespace {

struct ModelFree {
    void operator()(cab_model *m) const { cab_model_free(m); }
};
struct CtxFree {
    void operator()(cab_ctx *c) const { cab_ctx_destroy(c); }
};
struct SamplerFree {
    void operator()(cab_sampler *s) const { cab_sampler_free(s); }
};
using Ctx = std::unique_ptr<cab_ctx, CtxFree>;
using Sampler = std::unique_ptr<cab_sampler, SamplerFree>;

// Loaded once, before the first input, and freed at exit so that the leak check stays on.
std::unique_ptr<cab_model, ModelFree> g_model;
cab_model_info g_info{};
// Where the model and every context live: CAB_FUZZ_DEVICE, read once at start-up.
cab_device g_device = CAB_DEVICE_CPU;

cab_device device_from_env() {
    const char *name = std::getenv("CAB_FUZZ_DEVICE");
    if (name == nullptr || std::strcmp(name, "cpu") == 0) return CAB_DEVICE_CPU;
    if (std::strcmp(name, "cuda") == 0) return CAB_DEVICE_CUDA;
    finding("CAB_FUZZ_DEVICE", std::string("'") + name + "' is neither cpu nor cuda");
}

class Session {
public:
    explicit Session(Input &in) : in_(in) {
        S_ = g_info.n_layer * g_info.n_head_kv;
        n_vocab_ = g_info.n_vocab;
    }

    void run() {
        op_create();
        for (int i = 0; i < 64 && !in_.done(); ++i) {
            (this->*kOps[in_.byte() % (sizeof kOps / sizeof kOps[0])])();
            if (ctx_) kv().check_invariants();
        }
    }

private:
    Probe kv() { return Probe(ctx_.get(), sh_, g_info); }

    // ---- argument readers -----------------------------------------------------------------
    int32_t read_seq() {
        const uint8_t b = in_.byte();
        if (b < kOdd) return b % (sh_.n_seq + 1);  // n_seq itself is out of range
        const int32_t odd[] = {CAB_SEQ_ALL, kI32Min, kI32Max, 65536};
        return odd[(b - kOdd) % 4];
    }
    int32_t read_token() {
        const uint8_t b = in_.byte();
        if (b < kOdd) return b % n_vocab_;
        const int32_t odd[] = {-1, n_vocab_, kI32Min, kI32Max};
        return odd[(b - kOdd) % 4];
    }
    bool seq_ok(int32_t seq) const { return ctx_ && seq >= 0 && seq < sh_.n_seq; }
    bool token_ok(int32_t t) const { return t >= 0 && t < n_vocab_; }

    // ---- operations --------------------------------------------------------------------
    void op_create() {
        ctx_.reset();
        const uint8_t misuse = in_.byte() % 16;
        CtxArgs a = read_ctx(in_);
        // The normal device and kv_type are AUTO or the CPU backend's own (CPU, F32). On CUDA
        // its own are CUDA and BF16: a context elsewhere than its model, or with another KV
        // type, is UNSUPPORTED by contract, so the CPU's values stand for CUDA's.
        if (g_device == CAB_DEVICE_CUDA) {
            if (enum_value(a.params.device) == CAB_DEVICE_CPU)
                set_enum(a.params.device, CAB_DEVICE_CUDA);
            if (enum_value(a.params.kv_type) == CAB_KV_TYPE_F32)
                set_enum(a.params.kv_type, CAB_KV_TYPE_BF16);
            // The CUDA backend takes power-of-two blocks only (cab_ctx_create: UNSUPPORTED, held
            // by a GPU test); rounded down, so that the replay reaches the rest.
            int32_t &block = a.params.kv_block_size;
            if (block >= 1 && block <= 1024)
                while ((block & (block - 1)) != 0) block &= block - 1;
        }
        const cab_ctx_params *params = a.null ? nullptr : &a.params;
        cab_ctx *out = reinterpret_cast<cab_ctx *>(&a);  // must be overwritten
        if (misuse == 14) {
            call("cab_ctx_create", kInvalid,
                 [&] { return cab_ctx_create(g_model.get(), params, nullptr); });
            return;
        }
        const cab_model *model = misuse == 15 ? nullptr : g_model.get();
        Allowed allowed = a.validity == Validity::Good ? kOk
                          : a.validity == Validity::Bad
                              ? kInvalid
                              : Allowed{CAB_OK, CAB_ERR_INVALID_ARGUMENT, CAB_ERR_UNSUPPORTED};
        if (model == nullptr) allowed = kInvalid;
        const cab_status s =
            call("cab_ctx_create", allowed, [&] { return cab_ctx_create(model, params, &out); });
        if (s != CAB_OK) {
            if (out != nullptr) finding("cab_ctx_create", "failed but set *ctx_out");
            return;
        }
        if (out == nullptr) finding("cab_ctx_create", "OK with a NULL context");
        ctx_.reset(out);
        cab_ctx_params p;
        cab_ctx_default_params(&p);
        if (!a.null) p = a.params;
        sh_ = Shadow{};
        sh_.n_seq = p.n_seq_max;
        sh_.capacity = p.kv_capacity_tokens;
        sh_.block_size = p.kv_block_size;
        const cab_evict_params &e = a.evict.params;
        sh_.auto_evict = a.auto_evict && std::strcmp(e.policy, "full") != 0;
        sh_.auto_shared = enum_value(e.selection) == CAB_SELECTION_SHARED_PER_LAYER;
        sh_.ratio = enum_value(e.budget_unit) == CAB_BUDGET_RATIO;
        sh_.budget_tokens = e.budget_tokens;
        sh_.ratio_ppm = std::llround(e.budget_ratio * 1e6);
        sh_.slack = p.auto_evict_slack;
        sh_.seqs.assign(static_cast<size_t>(sh_.n_seq), SeqShadow{});
    }

    void op_prefill() {
        const int32_t seq = read_seq();
        const uint8_t b = in_.byte();
        const bool null_tokens = b == kOdd;
        const size_t n = b < kOdd ? b % 49u : (null_tokens ? 3u : 0u);
        std::vector<cab_token> tokens(n);
        bool tokens_ok = true;
        for (cab_token &t : tokens) tokens_ok = token_ok(t = read_token()) && tokens_ok;
        const cab_token *ptr = null_tokens ? nullptr : tokens.data();
        if (!seq_ok(seq) || null_tokens || n == 0 || !tokens_ok) {
            call("cab_prefill", kInvalid, [&] { return cab_prefill(ctx_.get(), seq, ptr, n); });
            return;
        }
        SeqShadow &q = sh_.seqs[static_cast<size_t>(seq)];
        const bool fits =
            static_cast<int64_t>(n) <= sh_.capacity &&
            kv().blocks_needed(seq, static_cast<int64_t>(n)) <= kv().stats(CAB_SEQ_ALL).blocks_free;
        const Allowed allowed = sh_.auto_evict ? sh_.auto_evict_statuses(&seq, 1)
                                : fits         ? kOk
                                               : Allowed{CAB_ERR_KV_FULL};
        const cab_status s =
            call("cab_prefill", allowed, [&] { return cab_prefill(ctx_.get(), seq, ptr, n); });
        if (s == CAB_OK) {
            q.length += static_cast<int64_t>(n);
            q.has_logits = true;
            q.logits.clear();
            return;
        }
        // With automatic eviction the chunks done before the pool filled stay in the sequence.
        int64_t length = 0;
        call("cab_seq_length", kOk, [&] { return cab_seq_length(ctx_.get(), seq, &length); });
        if (length != q.length && (!sh_.auto_evict || length > q.length + static_cast<int64_t>(n)))
            finding("cab_prefill",
                    "KV_FULL changed the length from " + str(q.length) + " to " + str(length));
        if (length != q.length) {
            q.length = length;
            q.has_logits = true;
            q.logits.clear();
        }
    }

    void op_decode() {
        const uint8_t b = in_.byte();
        const size_t n = b < kOdd ? 1 + b % static_cast<uint32_t>(sh_.n_seq + 1) : (b - kOdd) % 3;
        std::vector<cab_seq> seqs(n);
        std::vector<cab_token> tokens(n);
        bool ok = ctx_ && n >= 1 && n <= static_cast<size_t>(sh_.n_seq);
        std::vector<bool> seen(static_cast<size_t>(sh_.n_seq), false);
        for (size_t i = 0; i < n; ++i) {
            seqs[i] = read_seq();
            tokens[i] = read_token();
            ok =
                ok && seq_ok(seqs[i]) && !seen[static_cast<size_t>(seqs[i])] && token_ok(tokens[i]);
            if (seq_ok(seqs[i])) seen[static_cast<size_t>(seqs[i])] = true;
        }
        const cab_seq *sp = b == kOdd + 1 ? nullptr : seqs.data();
        const cab_token *tp = b == kOdd + 2 ? nullptr : tokens.data();
        auto decode = [&] { return cab_decode(ctx_.get(), sp, tp, n); };
        if (!ok || sp == nullptr || tp == nullptr) {
            call("cab_decode", kInvalid, decode);
            return;
        }
        int64_t need = 0;
        for (cab_seq s : seqs) need += kv().blocks_needed(s, 1);
        const bool fits = need <= kv().stats(CAB_SEQ_ALL).blocks_free;
        const Allowed allowed = sh_.auto_evict ? sh_.auto_evict_statuses(seqs.data(), n)
                                : fits         ? kOk
                                               : Allowed{CAB_ERR_KV_FULL};
        if (call("cab_decode", allowed, decode) != CAB_OK) return;
        for (cab_seq s : seqs) {
            SeqShadow &q = sh_.seqs[static_cast<size_t>(s)];
            q.length += 1;
            q.has_logits = true;
            q.logits.clear();
        }
    }

    void op_logits() {
        const int32_t seq = read_seq();
        const bool null_out = in_.byte() >= kOdd;
        if (!seq_ok(seq) || null_out) {
            const float *p = nullptr;
            call("cab_logits", kInvalid,
                 [&] { return cab_logits(ctx_.get(), seq, null_out ? nullptr : &p); });
            return;
        }
        SeqShadow &q = sh_.seqs[static_cast<size_t>(seq)];
        if (!q.has_logits) {
            const float *p = reinterpret_cast<const float *>(&q);
            call("cab_logits", {CAB_ERR_STATE}, [&] { return cab_logits(ctx_.get(), seq, &p); });
            if (p != nullptr) finding("cab_logits", "STATE left a pointer");
            return;
        }
        const std::vector<float> now = kv().logits(seq);
        if (!q.logits.empty() && q.logits != now)
            finding("cab_logits",
                    "seq " + str(seq) + ": the logits changed without a call that changes them");
        q.logits = now;
    }

    void op_sample() {
        const int32_t seq = read_seq();
        const uint8_t b = in_.byte();
        cab_sampler *sampler = (b & 1) ? sampler_.get() : nullptr;
        const bool null_out = b >= kOdd;
        cab_token token = -7;
        auto sample = [&] {
            return cab_sample(ctx_.get(), seq, sampler, null_out ? nullptr : &token);
        };
        if (!seq_ok(seq) || null_out) {
            call("cab_sample", kInvalid, sample);
            return;
        }
        const SeqShadow &q = sh_.seqs[static_cast<size_t>(seq)];
        if (call("cab_sample", {q.has_logits ? CAB_OK : CAB_ERR_STATE}, sample) != CAB_OK) return;
        if (!token_ok(token)) finding("cab_sample", "token " + str(token));
        // Greedy picks the first maximum, wherever the logits are.
        if (sampler == nullptr || greedy_) {
            const std::vector<float> l = kv().logits(seq);
            const auto best = std::max_element(l.begin(), l.end()) - l.begin();
            if (token != best)
                finding("cab_sample", "greedy gave " + str(token) + ", argmax is " + str(best));
        }
    }

    void op_sampler_new() {
        sampler_.reset();
        const SamplerArgs a = read_sampler(in_);
        cab_sampler *out = reinterpret_cast<cab_sampler *>(&greedy_);
        const cab_status s =
            call("cab_sampler_create", a.normal ? kOk : Allowed{CAB_OK, CAB_ERR_INVALID_ARGUMENT},
                 [&] { return cab_sampler_create(a.null ? nullptr : &a.params, &out); });
        if (s != CAB_OK) {
            if (out != nullptr) finding("cab_sampler_create", "failed but set *sampler_out");
            return;
        }
        sampler_.reset(out);
        greedy_ = a.null || (a.params.temperature <= 0.0f && a.params.repeat_penalty == 1.0f);
    }

    void op_seq_length() {
        const int32_t seq = read_seq();
        int64_t length = -1;
        const bool null_out = in_.byte() >= kOdd;
        call("cab_seq_length", seq_ok(seq) && !null_out ? kOk : kInvalid,
             [&] { return cab_seq_length(ctx_.get(), seq, null_out ? nullptr : &length); });
    }

    void op_reset() {
        const int32_t seq = read_seq();
        if (call("cab_seq_reset", seq_ok(seq) ? kOk : kInvalid,
                 [&] { return cab_seq_reset(ctx_.get(), seq); }) == CAB_OK)
            sh_.seqs[static_cast<size_t>(seq)] = SeqShadow{};
    }

    void op_copy() {
        const int32_t src = read_seq(), dst = read_seq();
        auto copy = [&] { return cab_seq_copy(ctx_.get(), src, dst); };
        if (!seq_ok(src) || !seq_ok(dst) || src == dst) {
            call("cab_seq_copy", kInvalid, copy);
            return;
        }
        const bool fits = kv().stats(src).blocks_used <= kv().stats(CAB_SEQ_ALL).blocks_free;
        if (call("cab_seq_copy", {fits ? CAB_OK : CAB_ERR_KV_FULL}, copy) != CAB_OK) return;
        SeqShadow &d = sh_.seqs[static_cast<size_t>(dst)];
        d = sh_.seqs[static_cast<size_t>(src)];
        const std::vector<int32_t> lens = kv().lengths(src);
        if (kv().lengths(dst) != lens) finding("cab_seq_copy", "stream lengths differ");
        if (kv().stats(dst).tokens_evicted != kv().stats(src).tokens_evicted)
            finding("cab_seq_copy", "eviction counts differ");
        for (int32_t l = 0; l < g_info.n_layer; ++l)
            for (int32_t h = 0; h < g_info.n_head_kv; ++h) {
                const size_t n =
                    static_cast<size_t>(lens[static_cast<size_t>(l * g_info.n_head_kv + h)]);
                if (kv().positions(dst, l, h, n) != kv().positions(src, l, h, n))
                    finding("cab_seq_copy",
                            "positions differ in layer " + str(l) + " head " + str(h));
            }
        if (d.has_logits && kv().logits(dst) != kv().logits(src))
            finding("cab_seq_copy", "logits differ");
    }

    void op_kv_stats() {
        const int32_t seq = read_seq();
        const uint8_t shape = in_.byte();
        const uint8_t partial = in_.byte();
        // Room past the struct, to see that nothing beyond struct_size is written.
        unsigned char buf[sizeof(cab_kv_stats) + 16];
        std::memset(buf, 0xA5, sizeof buf);
        uint32_t size = sizeof(cab_kv_stats);
        if (shape % 8 == 4) size = 4 + partial % (sizeof(cab_kv_stats) - 4);
        if (shape % 8 == 5) size = 2;
        if (shape % 8 == 6) size = sizeof(cab_kv_stats) + 4;
        std::memcpy(buf, &size, sizeof size);
        cab_kv_stats *out = shape % 8 == 7 ? nullptr : reinterpret_cast<cab_kv_stats *>(buf);
        const bool ok = ctx_ && (seq == CAB_SEQ_ALL || seq_ok(seq)) && out != nullptr &&
                        size >= 4 && size <= sizeof(cab_kv_stats);
        if (call("cab_kv_stats_get", ok ? kOk : kInvalid,
                 [&] { return cab_kv_stats_get(ctx_.get(), seq, out); }) != CAB_OK)
            return;
        for (size_t i = size; i < sizeof buf; ++i)
            if (buf[i] != 0xA5) finding("cab_kv_stats_get", "wrote past struct_size " + str(size));
    }

    void op_kv_lengths() {
        const int32_t seq = read_seq();
        const uint8_t b = in_.byte();
        const size_t cap = b < kOdd ? b % static_cast<uint32_t>(S_ + 2) : (b == kOdd ? 0 : 4);
        std::vector<int32_t> buf(cap + 1);
        int32_t *out = b < kOdd ? buf.data() : nullptr;
        size_t n = 0;
        const bool null_n = b == kOdd + 2;
        const bool ok = seq_ok(seq) && !null_n && (out != nullptr || cap == 0);
        const Allowed allowed = !ok                             ? kInvalid
                                : cap < static_cast<size_t>(S_) ? Allowed{CAB_ERR_BUFFER_TOO_SMALL}
                                                                : kOk;
        if (call("cab_kv_lengths", allowed, [&] {
                return cab_kv_lengths(ctx_.get(), seq, out, cap, null_n ? nullptr : &n);
            }) == CAB_ERR_INVALID_ARGUMENT)
            return;
        if (n != static_cast<size_t>(S_)) finding("cab_kv_lengths", "n_out " + str(int64_t(n)));
    }

    void op_kv_positions() { kv_stream(false); }
    void op_kv_scores() { kv_stream(true); }
    void op_destroy() { ctx_.reset(); }

    // cab_kv_positions, or cab_kv_scores with some of its arrays NULL.
    void kv_stream(bool scores) {
        const int32_t seq = read_seq();
        const int32_t layer = in_.pick(0, g_info.n_layer, {-1, kI32Max});
        const int32_t head = in_.pick(0, g_info.n_head_kv, {-1, kI32Min});
        const uint8_t b = in_.byte();
        const uint8_t nulls = in_.byte();
        const size_t cap = b < kOdd ? b : (b == kOdd ? 0 : 5);
        std::vector<int32_t> pos(cap + 1);
        std::vector<float> sc(cap + 1), ob(cap + 1), win(cap + 1);
        const bool null_buf = b >= kOdd;
        const bool null_n = b == kOdd + 2;
        size_t n = 0;
        auto run = [&] {
            size_t *n_out = null_n ? nullptr : &n;
            if (!scores)
                return cab_kv_positions(ctx_.get(), seq, layer, head,
                                        null_buf ? nullptr : pos.data(), cap, n_out);
            return cab_kv_scores(ctx_.get(), seq, layer, head,
                                 (nulls & 1) || null_buf ? nullptr : sc.data(),
                                 (nulls & 2) || null_buf ? nullptr : ob.data(),
                                 (nulls & 4) || null_buf ? nullptr : win.data(), cap, n_out);
        };
        const char *name = scores ? "cab_kv_scores" : "cab_kv_positions";
        const bool ok = seq_ok(seq) && layer >= 0 && layer < g_info.n_layer && head >= 0 &&
                        head < g_info.n_head_kv && !null_n && (scores || !null_buf || cap == 0);
        if (!ok) {
            call(name, kInvalid, run);
            return;
        }
        const size_t len = static_cast<size_t>(
            kv().lengths(seq)[static_cast<size_t>(layer * g_info.n_head_kv + head)]);
        if (call(name, {cap >= len ? CAB_OK : CAB_ERR_BUFFER_TOO_SMALL}, run) != CAB_OK ||
            null_buf) {
            if (n != len)
                finding(name, "n_out " + str(int64_t(n)) + ", stream holds " + str(int64_t(len)));
            return;
        }
        if (n != len)
            finding(name, "n_out " + str(int64_t(n)) + ", stream holds " + str(int64_t(len)));
        const int64_t length = sh_.seqs[static_cast<size_t>(seq)].length;
        for (size_t i = 0; i < n; ++i) {
            if (!scores && (pos[i] < 0 || pos[i] >= length || (i > 0 && pos[i] <= pos[i - 1])))
                finding(name, "position " + str(pos[i]) + " at slot " + str(int64_t(i)));
            if (scores && !(sc[i] >= 0 && ob[i] >= 0 && win[i] >= 0 && std::isfinite(sc[i]) &&
                            std::isfinite(ob[i]) && std::isfinite(win[i])))
                finding(name, "score not finite and >= 0 at slot " + str(int64_t(i)));
        }
    }

    void op_evict() {
        const int32_t seq = read_seq();
        const uint8_t r = in_.byte() % 8;
        const EvictArgs a = read_evict(in_);
        cab_evict_report report{};
        report.struct_size = r == 6   ? 0
                             : r == 7 ? offsetof(cab_evict_report, blocks_freed)
                                      : sizeof report;
        cab_evict_report *rp = r == 5 ? nullptr : &report;
        auto evict = [&] { return cab_evict(ctx_.get(), seq, a.null ? nullptr : &a.params, rp); };
        if (!seq_ok(seq) || r == 6 || a.validity == Validity::Bad) {
            call("cab_evict", kInvalid, evict);
            return;
        }
        const cab_kv_stats before = kv().stats(seq);
        const std::vector<int32_t> lens = kv().lengths(seq);
        const bool shared =
            !a.null && enum_value(a.params.selection) == CAB_SELECTION_SHARED_PER_LAYER;
        const Allowed allowed = a.validity == Validity::Unknown
                                    ? Allowed{CAB_OK, CAB_ERR_INVALID_ARGUMENT, CAB_ERR_STATE}
                                : shared ? Allowed{CAB_OK, CAB_ERR_STATE}
                                         : kOk;
        const cab_status s = call("cab_evict", allowed, evict);
        const cab_kv_stats after = kv().stats(seq);
        if (s != CAB_OK) {
            if (kv().lengths(seq) != lens) finding("cab_evict", "failed but changed the streams");
            return;
        }
        if (after.seq_length != before.seq_length) finding("cab_evict", "changed the length");
        if (!shared) sh_.seqs[static_cast<size_t>(seq)].per_head_evicted = true;
        if (rp == nullptr) return;
        const int64_t freed = before.blocks_used - after.blocks_used;
        const bool whole = r != 7;
        if (report.tokens_before != before.tokens_cached ||
            report.tokens_kept != after.tokens_cached ||
            report.tokens_evicted != before.tokens_cached - after.tokens_cached ||
            (whole && (report.blocks_freed != freed ||
                       report.bytes_freed != before.bytes_used - after.bytes_used)))
            finding("cab_evict", "the report disagrees with cab_kv_stats");
        if (!whole && report.blocks_freed != 0) finding("cab_evict", "wrote past struct_size");
    }

    using Op = void (Session::*)();
    // The opcodes of make_seeds.py's OPS, in order.
    static constexpr Op kOps[] = {
        &Session::op_create,     &Session::op_prefill,    &Session::op_decode,
        &Session::op_logits,     &Session::op_sample,     &Session::op_sampler_new,
        &Session::op_seq_length, &Session::op_reset,      &Session::op_copy,
        &Session::op_kv_stats,   &Session::op_kv_lengths, &Session::op_kv_positions,
        &Session::op_kv_scores,  &Session::op_evict,      &Session::op_destroy};

    Input &in_;
    int32_t S_ = 0;
    int32_t n_vocab_ = 0;
    Shadow sh_;
    Ctx ctx_;
    Sampler sampler_;
    bool greedy_ = true;  // sampler_ picks the argmax
};

}  // namespace
}  // namespace fuzz_api

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    using namespace fuzz_api;
    cab_model_params params;
    cab_model_default_params(&params);
    g_device = device_from_env();
    params.device = g_device;
    cab_model *model = nullptr;
    const char *path = CAB_FUZZ_API_MODELS "/api.gguf";
    if (cab_model_load(path, &params, &model) != CAB_OK)
        finding(std::string("loading ") + path, cab_last_error());
    g_model.reset(model);
    // Freed by a handler registered after the load, so before the CUDA runtime's own teardown
    // (a later cudaFree fails: an API error to compute-sanitizer) and before the leak check.
    std::atexit([] { g_model.reset(); });
    g_info.struct_size = sizeof g_info;
    if (cab_model_info_get(model, &g_info) != CAB_OK) finding("model info", cab_last_error());
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_api::Input in(data, size);
    fuzz_api::Session(in).run();
    return 0;
}
