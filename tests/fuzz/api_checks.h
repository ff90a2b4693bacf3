// The checks fuzz_api makes: every call's status and message, and after every call the KV
// figures of the context against a shadow of what the calls so far should have left.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "cab/cab.h"

namespace fuzz_api {

[[noreturn]] inline void finding(const std::string &what, const std::string &detail) {
    std::fprintf(stderr, "fuzz_api: %s: %s\n", what.c_str(), detail.c_str());
    std::abort();
}

// The statuses (four at most) a call may return here; a value, so that a choice between lists
// cannot dangle.
class Allowed {
public:
    Allowed(std::initializer_list<cab_status> list) : n_(std::min<size_t>(list.size(), 4)) {
        std::copy(list.begin(), list.begin() + n_, s_);
    }
    bool has(cab_status s) const { return std::find(s_, s_ + n_, s) != s_ + n_; }
    std::string names() const {
        std::string out;
        for (size_t i = 0; i < n_; ++i)
            out += (i ? " or " : "") + std::string(cab_status_string(s_[i]));
        return out;
    }

private:
    cab_status s_[4];
    size_t n_;
};
const Allowed kOk = {CAB_OK};
const Allowed kInvalid = {CAB_ERR_INVALID_ARGUMENT};

// Runs one call and checks what every call owes: a documented status that is not INTERNAL and
// is one of `allowed`; on failure a message that starts with the call's name; on success
// cab_last_error() as it was.
template <typename F>
cab_status call(const char *name, const Allowed &allowed, F &&f) {
    const std::string before = cab_last_error();
    const cab_status s = f();
    const char *message = cab_last_error();
    if (message == nullptr) finding(name, "cab_last_error() is NULL");
    if (s > CAB_OK || s <= CAB_ERR_INTERNAL)
        finding(name, std::string(cab_status_string(s)) + ": " + message);
    if (!allowed.has(s))
        finding(name, std::string(cab_status_string(s)) + " where " + allowed.names() +
                          " was due: " + message);
    if (s == CAB_OK && before != message) finding(name, "success changed cab_last_error()");
    if (s != CAB_OK && std::strncmp(message, name, std::strlen(name)) != 0)
        finding(name, std::string("error message does not name the call: '") + message + "'");
    return s;
}

inline std::string str(int64_t v) {
    return std::to_string(v);
}

// What the calls so far should have left in each sequence.
struct SeqShadow {
    int64_t length = 0;
    bool has_logits = false;
    std::vector<float> logits;  // the logits last read, while no call has changed them
    // A cab_evict per head since the last reset: it can leave the heads of a layer holding
    // different tokens, which automatic eviction with shared selection then refuses (STATE).
    bool per_head_evicted = false;
};

struct Shadow {
    int32_t n_seq = 1;
    int64_t capacity = 0;
    int32_t block_size = 1;
    bool auto_evict = false;
    bool auto_shared = false;  // automatic eviction selects per layer
    bool ratio = false;
    int64_t budget_tokens = 0;
    int64_t ratio_ppm = 0;
    int64_t slack = 0;
    std::vector<SeqShadow> seqs;

    int64_t budget(int64_t length) const {
        return ratio ? static_cast<int32_t>(length * ratio_ppm / 1000000) : budget_tokens;
    }
    // What a prefill or decode step of these sequences may return under automatic eviction.
    Allowed auto_evict_statuses(const int32_t *seq, size_t n) const {
        for (size_t i = 0; i < n; ++i)
            if (auto_shared && seqs[static_cast<size_t>(seq[i])].per_head_evicted)
                return {CAB_OK, CAB_ERR_KV_FULL, CAB_ERR_STATE};
        return {CAB_OK, CAB_ERR_KV_FULL};
    }
    // Blocks a stream of `length` tokens holds.
    int64_t blocks(int64_t length) const { return (length + block_size - 1) / block_size; }
};

// Reads of one context, checked like every other call, and the invariants.
class Probe {
public:
    Probe(cab_ctx *ctx, const Shadow &sh, const cab_model_info &info)
        : ctx_(ctx), sh_(sh), info_(info) {}

    int32_t streams() const { return info_.n_layer * info_.n_head_kv; }
    cab_kv_stats stats(int32_t seq) {
        cab_kv_stats st{};
        st.struct_size = sizeof st;
        call("cab_kv_stats_get", kOk, [&] { return cab_kv_stats_get(ctx_, seq, &st); });
        return st;
    }
    std::vector<int32_t> lengths(int32_t seq) {
        std::vector<int32_t> out(static_cast<size_t>(streams()));
        size_t n = 0;
        call("cab_kv_lengths", kOk,
             [&] { return cab_kv_lengths(ctx_, seq, out.data(), out.size(), &n); });
        if (n != out.size()) finding("cab_kv_lengths", "n_out " + str(int64_t(n)));
        return out;
    }
    std::vector<int32_t> positions(int32_t seq, int32_t layer, int32_t head, size_t n) {
        std::vector<int32_t> out(n);
        size_t got = 0;
        call("cab_kv_positions", kOk,
             [&] { return cab_kv_positions(ctx_, seq, layer, head, out.data(), n, &got); });
        if (got != n)
            finding("cab_kv_positions", "n_out " + str(int64_t(got)) + " != " + str(int64_t(n)));
        return out;
    }
    std::vector<float> logits(int32_t seq) {
        const float *p = nullptr;
        call("cab_logits", kOk, [&] { return cab_logits(ctx_, seq, &p); });
        if (p == nullptr) finding("cab_logits", "OK with a NULL pointer");
        for (int32_t i = 0; i < info_.n_vocab; ++i)
            if (!std::isfinite(p[i])) finding("cab_logits", "logit " + str(i) + " is not finite");
        return std::vector<float>(p, p + info_.n_vocab);
    }
    // Blocks a stream of `length` tokens holds.
    int64_t blocks(int64_t length) const { return sh_.blocks(length); }
    // Free blocks that appending n tokens to seq takes.
    int64_t blocks_needed(int32_t seq, int64_t n) {
        int64_t need = 0;
        for (int32_t len : lengths(seq)) need += blocks(len + n) - blocks(len);
        return need;
    }

    // After every call: the figures of every sequence and of the pool agree with each other and
    // with the shadow.
    void check_invariants() {
        int64_t used = 0, cached = 0;
        for (int32_t s = 0; s < sh_.n_seq; ++s) {
            const SeqShadow &q = sh_.seqs[static_cast<size_t>(s)];
            int64_t length = -1;
            call("cab_seq_length", kOk, [&] { return cab_seq_length(ctx_, s, &length); });
            const std::string where = "seq " + str(s) + ": ";
            if (length != q.length)
                finding("sequence length", where + str(length) + ", calls made " + str(q.length));
            const cab_kv_stats st = stats(s);
            const std::vector<int32_t> lens = lengths(s);
            int64_t sum = 0, want_blocks = 0;
            int32_t lo = INT32_MAX, hi = 0;
            for (int32_t len : lens) {
                if (len < 0 || len > length) finding("stream length", where + str(len));
                sum += len;
                want_blocks += blocks(len);
                lo = std::min(lo, len);
                hi = std::max(hi, len);
            }
            if (st.seq_length != length || st.tokens_cached != sum || st.stream_min != lo ||
                st.stream_max != hi || st.n_layer != info_.n_layer ||
                st.n_head_kv != info_.n_head_kv || st.block_size != sh_.block_size)
                finding("kv stats", where + "disagree with cab_kv_lengths / cab_seq_length");
            if (st.tokens_cached + st.tokens_evicted != streams() * length)
                finding("kv stats", where + "cached " + str(st.tokens_cached) + " + evicted " +
                                        str(st.tokens_evicted) + " != streams * length " +
                                        str(streams() * length));
            if (st.blocks_used != want_blocks)
                finding("kv blocks", where + str(st.blocks_used) + " held for streams needing " +
                                         str(want_blocks));
            if (st.bytes_used * static_cast<uint64_t>(st.blocks_total) !=
                st.bytes_total * static_cast<uint64_t>(st.blocks_used))
                finding("kv bytes", where + "bytes_used is not blocks_used * bytes per block");
            if (sh_.auto_evict && st.tokens_cached > streams() * (sh_.budget(length) + sh_.slack))
                finding("automatic eviction", where + str(st.tokens_cached) +
                                                  " cached, above streams * (budget " +
                                                  str(sh_.budget(length)) + " + slack)");
            used += st.blocks_used;
            cached += st.tokens_cached;
        }
        const cab_kv_stats all = stats(CAB_SEQ_ALL);
        if (all.blocks_used != used || all.tokens_cached != cached || all.seq_length != 0)
            finding("kv stats", "CAB_SEQ_ALL is not the sum of the sequences");
        if (all.blocks_used + all.blocks_free != all.blocks_total)
            finding("kv stats", "used " + str(all.blocks_used) + " + free " + str(all.blocks_free) +
                                    " != total " + str(all.blocks_total));
        if (all.blocks_total != blocks(sh_.capacity) * streams())
            finding("kv stats", "blocks_total " + str(all.blocks_total));
    }

private:
    cab_ctx *ctx_;
    const Shadow &sh_;
    const cab_model_info &info_;
};

}  // namespace fuzz_api
