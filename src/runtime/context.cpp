#include "runtime/context.h"

#include <algorithm>
#include <climits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "kv/kv_cache.h"
#include "model/model.h"
#include "runtime/auto_evict.h"
#include "runtime/forward.h"
#include "util/error.h"
#include "util/parallel.h"

namespace cab {

namespace {

constexpr int32_t kMaxSeqs = 1 << 16;
constexpr int32_t kMaxChunk = 1 << 16;

// A quantize policy for automatic eviction needs int8 blocks to move tokens to. Plain quantize
// bounds each stream's full-precision tokens by quantize_recent + slack, which needs room for a
// token after quantizing whole blocks, and a pool that holds that bound (auto_evict.h).
void check_auto_quantize(const ContextOptions &o) {
    const EvictOptions &a = o.auto_evict;
    const std::string policy =
        a.policy == nullptr ? "quantize" : "quantize+" + std::string(a.policy->name());
    require(o.kv_q8_capacity_tokens > 0, CAB_ERR_INVALID_ARGUMENT,
            "auto_evict: policy '" + policy +
                "' moves tokens to int8 KV blocks, but kv_q8_capacity_tokens is 0 (give them a "
                "capacity)");
    if (!quantizes_only(a)) return;
    const std::string slack = std::to_string(o.auto_evict_slack);
    require(o.auto_evict_slack >= o.kv_block_size, CAB_ERR_INVALID_ARGUMENT,
            "auto_evict: policy '" + policy + "' moves whole blocks, so auto_evict_slack " + slack +
                " must be at least kv_block_size " + std::to_string(o.kv_block_size) +
                " to leave room for a token after quantizing");
    require(int64_t{a.quantize_recent} + o.auto_evict_slack <= o.kv_capacity_tokens,
            CAB_ERR_INVALID_ARGUMENT,
            "auto_evict: quantize_recent " + std::to_string(a.quantize_recent) +
                " + auto_evict_slack " + slack + " exceed kv_capacity_tokens " +
                std::to_string(o.kv_capacity_tokens) +
                ": a sequence would fill the pool before quantizing starts");
}

void check_options(const ContextOptions &o) {
    require(o.n_seq_max >= 1 && o.n_seq_max <= kMaxSeqs, CAB_ERR_INVALID_ARGUMENT,
            "n_seq_max " + std::to_string(o.n_seq_max) + " is out of range [1, " +
                std::to_string(kMaxSeqs) + "]");
    require(o.n_threads >= 0 && o.n_threads <= 1024, CAB_ERR_INVALID_ARGUMENT,
            "n_threads " + std::to_string(o.n_threads) + " is out of range [0, 1024]");
    require(o.prefill_chunk >= 1 && o.prefill_chunk <= kMaxChunk, CAB_ERR_INVALID_ARGUMENT,
            "prefill_chunk " + std::to_string(o.prefill_chunk) + " is out of range [1, " +
                std::to_string(kMaxChunk) + "]");
    require(o.kv_capacity_tokens >= 1, CAB_ERR_INVALID_ARGUMENT,
            "kv_capacity_tokens " + std::to_string(o.kv_capacity_tokens) + " must be positive");
    require(o.kv_block_size >= 1 && o.kv_block_size <= 4096, CAB_ERR_INVALID_ARGUMENT,
            "kv_block_size " + std::to_string(o.kv_block_size) + " is out of range [1, 4096]");
    require(o.kv_type >= CAB_KV_TYPE_AUTO && o.kv_type <= CAB_KV_TYPE_BF16,
            CAB_ERR_INVALID_ARGUMENT, "kv_type " + std::to_string(o.kv_type) + " is unknown");
    require(o.score_window >= 1 && o.score_window <= kMaxChunk, CAB_ERR_INVALID_ARGUMENT,
            "score_window " + std::to_string(o.score_window) + " is out of range [1, " +
                std::to_string(kMaxChunk) + "]");
    require(o.kv_q8_capacity_tokens >= 0, CAB_ERR_INVALID_ARGUMENT,
            "kv_q8_capacity_tokens " + std::to_string(o.kv_q8_capacity_tokens) + " is negative");
    require(o.kv_q8_type == CAB_KV_Q8_INT8 || o.kv_q8_type == CAB_KV_Q8_FP8_E4M3,
            CAB_ERR_INVALID_ARGUMENT, "kv_q8_type " + std::to_string(o.kv_q8_type) + " is unknown");
    if (o.auto_evict.policy == nullptr && !o.auto_evict.quantize) return;
    validate(o.auto_evict.params);
    require(o.auto_evict_slack >= 1, CAB_ERR_INVALID_ARGUMENT,
            "auto_evict_slack " + std::to_string(o.auto_evict_slack) + " must be at least 1");
    if (o.auto_evict.quantize) check_auto_quantize(o);
    if (quantizes_only(o.auto_evict)) return;  // its budget bounds nothing
    const BudgetSpec &b = o.auto_evict.budget;
    require(b.is_ratio || int64_t{b.tokens} + o.auto_evict_slack <= o.kv_capacity_tokens,
            CAB_ERR_INVALID_ARGUMENT,
            "auto_evict: budget " + std::to_string(b.tokens) + " + auto_evict_slack " +
                std::to_string(o.auto_evict_slack) + " exceed kv_capacity_tokens " +
                std::to_string(o.kv_capacity_tokens) +
                ": a sequence would fill the pool before eviction starts");
    require(o.auto_evict.budget.is_ratio || o.auto_evict.budget.tokens >= 0,
            CAB_ERR_INVALID_ARGUMENT, "auto_evict: the budget is negative");
}

class ContextImpl final : public Context {
public:
    ContextImpl(const Model &model, const ContextOptions &options)
        : model_(model), opt_(options), ex_(model.backend().make_executor(options.n_threads)) {
        const HParams &hp = model.hparams();
        KvConfig kc;
        kc.n_layer = hp.n_layer;
        kc.n_head_kv = hp.n_head_kv;
        kc.n_head = hp.n_head;
        kc.head_dim = hp.head_dim;
        kc.block_size = options.kv_block_size;
        kc.capacity_tokens = options.kv_capacity_tokens;
        kc.q8_capacity_tokens = options.kv_q8_capacity_tokens;
        kc.q8_type = options.kv_q8_type == CAB_KV_Q8_FP8_E4M3 ? Q8Type::Fp8E4M3 : Q8Type::Int8;
        kc.n_seq_max = options.n_seq_max;
        kc.dtype = model.backend().kv_dtype();
        kc.scores = options.kv_scores;
        kc.score_window = options.score_window;
        kv_ = std::make_unique<KvCache>(model.backend(), kc);
        fwd_ = std::make_unique<Forward>(
            model, *ex_, std::max(options.prefill_chunk, options.n_seq_max), options.n_seq_max);
        seqs_.resize(static_cast<size_t>(options.n_seq_max));
        auto_ = AutoEvict(options.auto_evict, options.auto_evict_slack, hp.n_layer * hp.n_head_kv);
    }

    const Model &model() const override { return model_; }
    int32_t n_seq_max() const override { return opt_.n_seq_max; }

    void prefill(int32_t seq, const int32_t *tokens, size_t n) override {
        check_seq(seq, "seq");
        require(n > 0, CAB_ERR_INVALID_ARGUMENT, "n must be positive");
        require(tokens != nullptr, CAB_ERR_INVALID_ARGUMENT, "tokens is NULL");
        check_tokens(tokens, n, "tokens");
        Seq &s = seqs_[static_cast<size_t>(seq)];
        const int64_t start = static_cast<int64_t>(s.history.size());
        require(start + static_cast<int64_t>(n) <= INT32_MAX, CAB_ERR_INVALID_ARGUMENT,
                "sequence " + std::to_string(seq) + " would exceed 2^31 positions");
        const int32_t total = static_cast<int32_t>(n);
        fetch_logits([](int32_t) { return true; });  // the prefill's head overwrites them
        if (auto_.enabled()) {
            prefill_evicting(seq, tokens, total);
            return;
        }
        require(n <= static_cast<size_t>(opt_.kv_capacity_tokens), CAB_ERR_KV_FULL,
                "KV cache full: " + std::to_string(n) + " tokens exceed kv_capacity_tokens " +
                    std::to_string(opt_.kv_capacity_tokens));
        // All or nothing: the whole prompt is reserved first, and a failure undoes every chunk.
        kv_->reserve(&seq, &total, 1);
        const std::vector<int32_t> before = kv_->lengths(seq);
        std::vector<float> logits(static_cast<size_t>(model_.hparams().n_vocab));
        try {
            int32_t done = 0;
            while (done < total) {
                int64_t c = plan_chunk(total - done, opt_.prefill_chunk, total, opt_.score_window);
                if (c <= 0) c = std::min(opt_.prefill_chunk, total - done);
                run_chunk(seq, tokens + done, static_cast<int32_t>(c), start + done, logits.data());
                done += static_cast<int32_t>(c);
            }
        } catch (...) {
            kv_->truncate(seq, before);
            throw;
        }
        s.history.insert(s.history.end(), tokens, tokens + n);
        s.logits.swap(logits);
        s.has_logits = true;
    }

    void decode(const int32_t *seqs, const int32_t *tokens, size_t n) override {
        require(n > 0, CAB_ERR_INVALID_ARGUMENT, "n must be positive");
        require(seqs != nullptr, CAB_ERR_INVALID_ARGUMENT, "seqs is NULL");
        require(tokens != nullptr, CAB_ERR_INVALID_ARGUMENT, "tokens is NULL");
        require(n <= static_cast<size_t>(opt_.n_seq_max), CAB_ERR_INVALID_ARGUMENT,
                "n " + std::to_string(n) + " exceeds n_seq_max " + std::to_string(opt_.n_seq_max));
        std::vector<int32_t> where(static_cast<size_t>(opt_.n_seq_max), -1);
        for (size_t i = 0; i < n; ++i) {
            // Tested before any message is built: this runs for every sequence of every step.
            if (seqs[i] < 0 || seqs[i] >= opt_.n_seq_max)
                check_seq(seqs[i], "seqs[" + std::to_string(i) + "]");
            int32_t &first = where[static_cast<size_t>(seqs[i])];
            if (first >= 0)
                fail(CAB_ERR_INVALID_ARGUMENT, "seqs[" + std::to_string(i) +
                                                   "] = " + std::to_string(seqs[i]) +
                                                   " repeats seqs[" + std::to_string(first) + "]");
            first = static_cast<int32_t>(i);
            if (seqs_[static_cast<size_t>(seqs[i])].history.size() >= INT32_MAX)
                fail(CAB_ERR_INVALID_ARGUMENT,
                     "sequence " + std::to_string(seqs[i]) + " would exceed 2^31 positions");
        }
        check_tokens(tokens, n, "tokens");
        if (auto_.enabled())
            for (size_t i = 0; i < n; ++i)
                if (room(seqs[i], 1) < 1) evict_to_budget(seqs[i]);
        const std::vector<int32_t> ones(n, 1);
        kv_->reserve(seqs, ones.data(), n);
        std::vector<std::vector<int32_t>> before;
        std::vector<int32_t> pos(n);
        for (size_t i = 0; i < n; ++i) {
            before.push_back(kv_->lengths(seqs[i]));
            pos[i] = static_cast<int32_t>(seqs_[static_cast<size_t>(seqs[i])].history.size());
        }
        // Sequences outside this step keep logits the step would overwrite on the device.
        fetch_logits([&](int32_t seq) { return where[static_cast<size_t>(seq)] < 0; });
        try {
            fwd_->decode(*kv_, seqs, tokens, pos.data(), static_cast<int32_t>(n));
        } catch (...) {
            for (size_t i = 0; i < n; ++i) kv_->truncate(seqs[i], before[i]);
            throw;
        }
        for (size_t i = 0; i < n; ++i) {
            kv_->commit(seqs[i], 1, &pos[i], &tokens[i]);
            Seq &s = seqs_[static_cast<size_t>(seqs[i])];
            s.history.push_back(tokens[i]);
            s.has_logits = true;
            s.device_row = static_cast<int32_t>(i);
        }
    }

    const float *logits(int32_t seq) const override {
        check_seq(seq, "seq");
        const Seq &s = seqs_[static_cast<size_t>(seq)];
        if (!s.has_logits) return nullptr;
        fetch(s);
        return s.logits.data();
    }

    std::optional<int32_t> greedy_token(int32_t seq) override {
        check_seq(seq, "seq");
        const Seq &s = seqs_[static_cast<size_t>(seq)];
        if (s.device_row < 0) return std::nullopt;
        const int32_t token = fwd_->argmax(s.device_row);
        // 0 is also what a row without a finite logit gives; the host sampler then says so.
        if (token == 0) return std::nullopt;
        return token;
    }

    const std::vector<int32_t> &history(int32_t seq) const override {
        check_seq(seq, "seq");
        return seqs_[static_cast<size_t>(seq)].history;
    }

    int64_t seq_length(int32_t seq) const override {
        check_seq(seq, "seq");
        return static_cast<int64_t>(seqs_[static_cast<size_t>(seq)].history.size());
    }

    void seq_reset(int32_t seq) override {
        check_seq(seq, "seq");
        kv_->reset(seq);
        seqs_[static_cast<size_t>(seq)] = Seq{};
    }

    void seq_copy(int32_t src, int32_t dst) override {
        check_seq(src, "src");
        check_seq(dst, "dst");
        require(src != dst, CAB_ERR_INVALID_ARGUMENT,
                "src and dst are both sequence " + std::to_string(src));
        // Copied first, so that nothing can fail once the KV cache holds the copy.
        Seq copy = seqs_[static_cast<size_t>(src)];
        kv_->copy_seq(*ex_, src, dst);
        seqs_[static_cast<size_t>(dst)] = std::move(copy);
    }

    cab_kv_stats kv_stats(int32_t seq) const override {
        const bool all = seq == CAB_SEQ_ALL;
        if (!all) check_seq(seq, "seq");
        const KvConfig &c = kv_->config();
        cab_kv_stats st{};
        st.n_layer = c.n_layer;
        st.n_head_kv = c.n_head_kv;
        st.block_size = c.block_size;
        st.seq_length = all ? 0 : seq_length(seq);
        st.stream_min = INT32_MAX;
        st.stream_max = 0;
        for (int32_t s = all ? 0 : seq; s < (all ? opt_.n_seq_max : seq + 1); ++s)
            for (int32_t l = 0; l < c.n_layer; ++l)
                for (int32_t h = 0; h < c.n_head_kv; ++h) {
                    const Stream &str = kv_->stream(s, l, h);
                    st.tokens_cached += str.length;
                    st.tokens_evicted += str.n_evicted;
                    st.stream_min = std::min(st.stream_min, str.length);
                    st.stream_max = std::max(st.stream_max, str.length);
                    const int32_t q8 = kv_->q8_blocks(str);
                    st.q8_blocks_used += q8;
                    st.blocks_used += static_cast<int64_t>(str.blocks.size()) - q8;
                }
        st.blocks_free = kv_->blocks_free();
        st.blocks_total = kv_->blocks_total();
        st.q8_blocks_free = kv_->q8_blocks_free();
        st.q8_blocks_total = kv_->q8_blocks_total();
        const uint64_t block = kv_->bytes_per_block(), q8_block = kv_->bytes_per_q8_block();
        st.q8_bytes_used = static_cast<uint64_t>(st.q8_blocks_used) * q8_block;
        st.bytes_used = static_cast<uint64_t>(st.blocks_used) * block + st.q8_bytes_used;
        st.bytes_total = static_cast<uint64_t>(st.blocks_total) * block +
                         static_cast<uint64_t>(st.q8_blocks_total) * q8_block;
        return st;
    }

    std::vector<int32_t> kv_lengths(int32_t seq) const override {
        check_seq(seq, "seq");
        return kv_->lengths(seq);
    }

    const Stream &kv_stream(int32_t seq, int32_t layer, int32_t head) const override {
        check_seq(seq, "seq");
        const KvConfig &c = kv_->config();
        require(layer >= 0 && layer < c.n_layer, CAB_ERR_INVALID_ARGUMENT,
                "layer " + std::to_string(layer) + " is out of range [0, " +
                    std::to_string(c.n_layer) + ")");
        require(head >= 0 && head < c.n_head_kv, CAB_ERR_INVALID_ARGUMENT,
                "head " + std::to_string(head) + " is out of range [0, " +
                    std::to_string(c.n_head_kv) + ") (kv heads)");
        return kv_->stream(seq, layer, head);
    }

    SlotScores kv_scores(int32_t seq, int32_t layer, int32_t head) const override {
        kv_stream(seq, layer, head);
        SlotScores out;
        kv_->read_scores(*ex_, seq, layer, head, out);
        return out;
    }

    EvictResult evict(int32_t seq, const EvictOptions &options) override {
        check_seq(seq, "seq");
        return evict_sequence(*kv_, *ex_, seq, options, resolve_threads(opt_.n_threads));
    }

private:
    struct Seq {
        std::vector<int32_t> history;
        bool has_logits = false;  // false until the first prefill or decode
        // The newest logits: in row device_row of the forward pass's device logits after a
        // decode step (-1 once copied here), fetched into `logits` when first asked for. A copy
        // of the sequence (seq_copy) shares the row; that is safe because every call that
        // overwrites device logits first fetches each sequence it does not give a new row.
        mutable std::vector<float> logits;
        mutable int32_t device_row = -1;
    };

    void fetch(const Seq &s) const {
        if (s.device_row < 0) return;
        s.logits.resize(static_cast<size_t>(model_.hparams().n_vocab));
        fwd_->read_logits(s.device_row, s.logits.data());
        s.device_row = -1;
    }

    // Copies to the host the device logits of the sequences `pick` selects.
    template <class Pick>
    void fetch_logits(Pick &&pick) {
        for (int32_t seq = 0; seq < opt_.n_seq_max; ++seq)
            if (pick(seq)) fetch(seqs_[static_cast<size_t>(seq)]);
    }

    // Runs one reserved prefill chunk at positions [start, start + n) and commits it to the
    // cache; the caller adds its tokens to the history.
    void run_chunk(int32_t seq, const int32_t *tokens, int32_t n, int64_t start, float *logits) {
        std::vector<int32_t> pos(static_cast<size_t>(n));
        for (int32_t i = 0; i < n; ++i) pos[i] = static_cast<int32_t>(start + i);
        fwd_->prefill(*kv_, seq, tokens, pos.data(), n, logits, false);
        kv_->commit(seq, n, pos.data(), tokens);
    }

    // Prefill under automatic eviction: chunks no larger than the room left under budget +
    // slack, evicting to budget between them, so the sequence never holds more than budget +
    // slack per stream. Blocks are reserved per chunk, so a KV_FULL part-way keeps the chunks
    // already done (their tokens stay in the sequence) and says so.
    void prefill_evicting(int32_t seq, const int32_t *tokens, int32_t total) {
        Seq &s = seqs_[static_cast<size_t>(seq)];
        std::vector<float> logits(static_cast<size_t>(model_.hparams().n_vocab));
        int32_t done = 0;
        try {
            while (done < total) {
                const int32_t c = next_chunk(seq, total - done);
                kv_->reserve(&seq, &c, 1);
                const std::vector<int32_t> before = kv_->lengths(seq);
                try {
                    run_chunk(seq, tokens + done, c, seq_length(seq), logits.data());
                } catch (...) {
                    kv_->truncate(seq, before);
                    throw;
                }
                s.history.insert(s.history.end(), tokens + done, tokens + done + c);
                s.logits = logits;
                s.has_logits = true;
                done += c;
            }
        } catch (const Error &e) {
            if (done == 0) throw;
            throw Error(e.status(), std::string(e.what()) + " (with automatic eviction " +
                                        std::to_string(done) + " of the " + std::to_string(total) +
                                        " prompt tokens were prefilled and stay in the sequence)");
        }
        if (auto_.question_aware() && auto_.over_budget(cached(seq), seq_length(seq)))
            evict_to_budget(seq);
    }

    // The next chunk of a prompt with `remaining` tokens left, evicting first when the room
    // under budget + slack is too small for a useful chunk.
    int32_t next_chunk(int32_t seq, int32_t remaining) {
        const int64_t want = std::min(opt_.prefill_chunk, remaining);
        int64_t space = room(seq, remaining);
        bool evicted = false;
        if (space < want && space < auto_.slack()) {
            evict_to_budget(seq);
            evicted = true;
            space = room(seq, remaining);
        }
        int64_t c = plan_chunk(remaining, opt_.prefill_chunk, space, opt_.score_window);
        if (c <= 0 && !evicted && space < remaining) {
            // Evicting now lets the prompt's last window of tokens go in one chunk.
            evict_to_budget(seq);
            space = room(seq, remaining);
            c = plan_chunk(remaining, opt_.prefill_chunk, space, opt_.score_window);
        }
        if (c <= 0) c = std::min(want, space);  // slack < window: the window spans chunks
        require(c >= 1, CAB_ERR_INTERNAL, "automatic eviction left no room for a prefill chunk");
        return static_cast<int32_t>(c);
    }

    int64_t cached(int32_t seq) const {
        int64_t n = 0;
        for (int32_t length : kv_->lengths(seq)) n += length;
        return n;
    }

    // The most full-precision tokens a stream of seq holds: its int8 blocks hold its first
    // slots, packed.
    int64_t longest_full_precision(int32_t seq) const {
        const KvConfig &c = kv_->config();
        int32_t longest = 0;
        for (int32_t l = 0; l < c.n_layer; ++l)
            for (int32_t h = 0; h < c.n_head_kv; ++h) {
                const Stream &s = kv_->stream(seq, l, h);
                const int32_t q8_slots = std::min(s.length, kv_->q8_blocks(s) * c.block_size);
                longest = std::max(longest, s.length - q8_slots);
            }
        return longest;
    }

    int64_t room(int32_t seq, int64_t limit) const {
        if (auto_.quantizes_only()) return auto_.quantize_room(longest_full_precision(seq), limit);
        return auto_.room(cached(seq), seq_length(seq), limit);
    }

    void evict_to_budget(int32_t seq) {
        try {
            evict_sequence(*kv_, *ex_, seq, auto_.to_budget(seq_length(seq)),
                           resolve_threads(opt_.n_threads));
        } catch (const Error &e) {
            // Only quantizing takes blocks, all or nothing (KvCache::quantize).
            if (e.status() != CAB_ERR_KV_FULL) throw;
            throw Error(e.status(), std::string(e.what()) +
                                        "; automatic eviction could not quantize: the int8 "
                                        "blocks (kv_q8_capacity_tokens " +
                                        std::to_string(opt_.kv_q8_capacity_tokens) +
                                        ") are full, so nothing was quantized");
        }
    }

    void check_seq(int32_t seq, const std::string &what) const {
        if (seq < 0 || seq >= opt_.n_seq_max)
            fail(CAB_ERR_INVALID_ARGUMENT, what + " = " + std::to_string(seq) +
                                               " is out of range [0, " +
                                               std::to_string(opt_.n_seq_max) + ")");
    }

    void check_tokens(const int32_t *tokens, size_t n, const char *what) const {
        const int32_t n_vocab = model_.hparams().n_vocab;
        for (size_t i = 0; i < n; ++i) {
            // Tested before any message is built: this runs for every token of a prompt.
            if (tokens[i] < 0 || tokens[i] >= n_vocab)
                fail(CAB_ERR_INVALID_ARGUMENT, std::string(what) + "[" + std::to_string(i) +
                                                   "] = " + std::to_string(tokens[i]) +
                                                   " is not a token id (n_vocab " +
                                                   std::to_string(n_vocab) + ")");
        }
    }

    const Model &model_;
    ContextOptions opt_;
    std::unique_ptr<Executor> ex_;
    std::unique_ptr<KvCache> kv_;
    std::unique_ptr<Forward> fwd_;
    std::vector<Seq> seqs_;
    AutoEvict auto_;
};

}  // namespace

std::unique_ptr<Context> Context::create(const Model &model, const ContextOptions &options) {
    check_options(options);
    const char *backend = model.backend().name();
    require(options.device == CAB_DEVICE_AUTO || options.device == model.device(),
            CAB_ERR_UNSUPPORTED,
            std::string("context device ") + (options.device == CAB_DEVICE_CUDA ? "CUDA" : "CPU") +
                ": the model's weights are on the " + backend +
                " backend; a context runs where its model is (load the model with that device)");
    const DType kv = model.backend().kv_dtype();
    const cab_kv_type native = kv == DType::F32 ? CAB_KV_TYPE_F32 : CAB_KV_TYPE_BF16;
    require(options.kv_type == CAB_KV_TYPE_AUTO || options.kv_type == native, CAB_ERR_UNSUPPORTED,
            std::string("kv_type: the ") + backend + " backend keeps the KV cache in " +
                (native == CAB_KV_TYPE_F32 ? "F32" : "BF16") + " only (use CAB_KV_TYPE_AUTO)");
    require(model.backend().kv_block_size_supported(options.kv_block_size), CAB_ERR_UNSUPPORTED,
            "kv_block_size " + std::to_string(options.kv_block_size) + ": the " + backend +
                " backend takes KV blocks of a power-of-two size only");
    return std::make_unique<ContextImpl>(model, options);
}

}  // namespace cab
