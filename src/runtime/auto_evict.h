// When automatic eviction fires and how a prompt is cut into prefill chunks (DESIGN.md
// section 5, "When"). Pure arithmetic on token counts; the context runs the evictions.
//
// A sequence with S streams that has taken `seq_length` tokens and caches `cached` tokens over
// all its streams has a per-stream budget b (the spec's tokens, or a share of seq_length) and
// is over budget + slack when cached > S * (b + slack): on average, each stream holds more than
// slack tokens past its budget. (An average, because pyramid and adaptive allocations give the
// streams different budgets; with uniform budgets every stream has the same length.) It is then
// evicted to b per stream, which leaves room for slack more tokens, so a sequence never holds
// more than S * (b + slack) tokens: peak KV memory is bounded, prefill included. With
// "quantize+<policy>" the tokens of both types count, and the eviction quantizes first.
//
// Plain "quantize" (or "quantize+full") evicts nothing, so its budget bounds nothing: it fires
// when a stream's f full-precision tokens would pass quantize_recent + slack, and quantizes, which
// leaves recent + ((f - recent) mod block_size) of them (whole blocks move). A slack of at least
// block_size (checked at context creation) leaves room for a token after every quantize, so no
// stream ever holds more than recent + slack full-precision tokens; the int8 ones grow until the
// int8 blocks run out (KV_FULL).
#pragma once

#include <cstdint>

#include "runtime/evict.h"

namespace cab {

// Whether automatic eviction with these options quantizes without evicting: "quantize", or
// "quantize+full" (full never evicts).
bool quantizes_only(const EvictOptions &options);

class AutoEvict {
public:
    AutoEvict() = default;
    // options.policy == nullptr or `full` (which never evicts) turns automatic eviction off,
    // unless options.quantize: then it quantizes only.
    AutoEvict(const EvictOptions &options, int32_t slack, int32_t n_streams);

    bool enabled() const { return enabled_; }
    // Plain quantize: the trigger is quantize_room, not room.
    bool quantizes_only() const { return quantizes_only_; }
    int32_t slack() const { return slack_; }
    // Question-aware policies also evict to budget after the chunk that ends a prompt.
    bool question_aware() const { return question_aware_; }

    // Per-stream token budget of a sequence that has taken seq_length tokens.
    int32_t budget(int64_t seq_length) const;
    // The most tokens in [0, limit] the sequence can take before it is over budget + slack.
    int64_t room(int64_t cached, int64_t seq_length, int64_t limit) const;
    // Plain quantize: the most tokens in [0, limit] a sequence whose streams hold at most
    // `full_precision` full-precision tokens can take before one holds more than
    // quantize_recent + slack.
    int64_t quantize_room(int64_t full_precision, int64_t limit) const;
    // Whether the sequence holds more than its budget (slack not counted).
    bool over_budget(int64_t cached, int64_t seq_length) const;
    // The options of the eviction that fires for a sequence that has taken seq_length tokens:
    // to its budget (quantizing first with quantize+<policy>), or, plain quantize, no policy.
    EvictOptions to_budget(int64_t seq_length) const;

private:
    bool over(int64_t cached, int64_t seq_length, int64_t extra) const;

    EvictOptions options_;
    int32_t slack_ = 0;
    int64_t n_streams_ = 0;
    bool enabled_ = false;
    bool quantizes_only_ = false;
    bool question_aware_ = false;
};

// The size of the next prefill chunk of a prompt with `remaining` tokens left: at most
// max_chunk and `room`, and such that the prompt's last `window` tokens end up in one chunk
// (the score window of the latest chunk then covers them: the question). Returns <= 0 when the
// last window does not fit in `room`; the caller then evicts or gives up the alignment.
int64_t plan_chunk(int64_t remaining, int64_t max_chunk, int64_t room, int64_t window);

}  // namespace cab
