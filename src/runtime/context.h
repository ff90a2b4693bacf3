// A context: the KV block pool, the sequences that live in it, and prefill/decode over a model.
// Used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "cab/cab.h"
#include "runtime/evict.h"

namespace cab {

class Model;
struct Stream;
struct SlotScores;

struct ContextOptions {
    cab_device device = CAB_DEVICE_AUTO;
    int32_t n_seq_max = 1;
    int32_t n_threads = 0;  // 0: hardware concurrency
    int64_t kv_capacity_tokens = 4096;
    int64_t kv_q8_capacity_tokens = 0;           // 8-bit blocks (KvConfig::q8_capacity_tokens)
    cab_kv_q8_type kv_q8_type = CAB_KV_Q8_INT8;  // their element type (KvConfig::q8_type)
    int32_t kv_block_size = 16;
    cab_kv_type kv_type = CAB_KV_TYPE_AUTO;
    int32_t prefill_chunk = 512;
    // Attention scores per cached token (DESIGN.md section 4), with W = score_window. The C API
    // keeps them always, so that any policy can run on any context; internal callers (the
    // benchmark) turn them off to measure what they cost.
    bool kv_scores = true;
    int32_t score_window = 32;
    // Automatic eviction (runtime/auto_evict.h): off while auto_evict.policy is null. A ratio
    // budget here is a share of the sequence's length (the tokens it has taken).
    EvictOptions auto_evict;
    int32_t auto_evict_slack = 64;
};

class Context {
public:
    // Throws cab::Error (INVALID_ARGUMENT, OUT_OF_MEMORY, UNSUPPORTED, DEVICE). The context runs
    // on its model's backend; options.device must be AUTO or that backend's device.
    static std::unique_ptr<Context> create(const Model &model, const ContextOptions &options);
    virtual ~Context() = default;

    virtual const Model &model() const = 0;
    virtual int32_t n_seq_max() const = 0;

    // See cab_prefill / cab_decode for the contract (validation, KV_FULL leaves state as it was).
    virtual void prefill(int32_t seq, const int32_t *tokens, size_t n) = 0;
    virtual void decode(const int32_t *seqs, const int32_t *tokens, size_t n) = 0;

    // nullptr when the sequence has no logits yet. After a decode step the logits stay on the
    // device until first asked for; this copies them (the pointer is valid until the next
    // prefill, decode or reset).
    virtual const float *logits(int32_t seq) const = 0;
    // The greedy (argmax) token of seq's newest logits computed where they are, without copying
    // them to the host; nullopt when they are on the host already or no logit is finite (then
    // sample from logits()).
    virtual std::optional<int32_t> greedy_token(int32_t seq) = 0;
    // Every token the sequence has taken (prompt and generated), oldest first.
    virtual const std::vector<int32_t> &history(int32_t seq) const = 0;
    virtual int64_t seq_length(int32_t seq) const = 0;
    virtual void seq_reset(int32_t seq) = 0;
    // See cab_seq_copy: dst becomes an independent copy of src (its KV streams, tokens and
    // logits); KV_FULL leaves dst as it was. Throws INVALID_ARGUMENT naming src or dst.
    virtual void seq_copy(int32_t src, int32_t dst) = 0;

    // seq = CAB_SEQ_ALL for the whole pool. Fills every field of cab_kv_stats but struct_size.
    virtual cab_kv_stats kv_stats(int32_t seq) const = 0;
    // Cached tokens per stream of seq, index layer * n_head_kv + head.
    virtual std::vector<int32_t> kv_lengths(int32_t seq) const = 0;
    // One stream of seq as it is now: positions, tokens and scores per slot. Valid until the
    // next call that changes the context. Throws INVALID_ARGUMENT naming a bad layer or head.
    virtual const Stream &kv_stream(int32_t seq, int32_t layer, int32_t head) const = 0;
    // The stream's scores, copied from the device. Throws STATE when the context keeps none,
    // INVALID_ARGUMENT naming a bad layer or head.
    virtual SlotScores kv_scores(int32_t seq, int32_t layer, int32_t head) const = 0;

    // See cab_evict: shrinks seq's KV cache to the options' budget.
    virtual EvictResult evict(int32_t seq, const EvictOptions &options) = 0;
};

}  // namespace cab
