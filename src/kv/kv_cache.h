// The paged KV cache of a context (DESIGN.md section 3): a block pool allocated once (K/V rows and,
// paged alongside, the per-slot attention scores of section 4), and one stream per (sequence,
// layer, kv head) with its host-side metadata. Appends are reserved first, all or nothing, so that
// a full pool is a clean CAB_ERR_KV_FULL that changes nothing. Optionally a second pool of int8
// blocks (KvConfig::q8_capacity_tokens) takes a stream's oldest blocks when quantize() converts
// them: a stream's int8 blocks always come before its full-precision ones.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "cab/cab.h"
#include "kv/block_pool.h"
#include "kv/quant_q8.h"
#include "kv/stream.h"

namespace cab {

struct KvConfig {
    int32_t n_layer = 0;
    int32_t n_head_kv = 0;
    int32_t n_head = 0;  // query heads (0: n_head_kv); sizes a backend's deferred scores
    int32_t head_dim = 0;
    int32_t block_size = 16;
    int64_t capacity_tokens = 0;  // tokens of every layer and kv head, all sequences together
    // Tokens per layer and kv head held in int8 blocks (kv/quant_q8.h), on top of capacity_tokens;
    // 0: none. Only quantize() fills them, with a stream's oldest blocks.
    int64_t q8_capacity_tokens = 0;
    Q8Type q8_type = Q8Type::Int8;  // the 8-bit blocks' element type
    int32_t n_seq_max = 1;
    DType dtype = DType::F32;
    // Accumulate attention scores per slot (DESIGN.md section 4), and W: how many of a prefill
    // chunk's last queries make the `window` score.
    bool scores = true;
    int32_t score_window = 32;
};

class KvCache {
public:
    // Allocates the whole pool: ceil(capacity / block_size) * n_layer * n_head_kv blocks.
    // Throws INVALID_ARGUMENT (bad sizes), OUT_OF_MEMORY.
    KvCache(Backend &backend, const KvConfig &config);

    const KvConfig &config() const { return cfg_; }
    const KvPoolRef &pool_ref() const { return pool_ref_; }
    int32_t blocks_total() const { return pool_.n_total(); }
    int32_t blocks_free() const { return pool_.n_free(); }
    int32_t q8_blocks_total() const { return q8_pool_.n_total(); }
    int32_t q8_blocks_free() const { return q8_pool_.n_free(); }
    size_t bytes_per_block() const;
    // K and V rows and their scales of one int8 block.
    size_t bytes_per_q8_block() const;

    // Gives every stream of sequence seqs[i] blocks for n_new[i] more slots, for all i at once.
    // The sequences must be distinct. If the pool cannot serve them all, throws
    // Error(KV_FULL) naming the blocks needed and free, and changes nothing.
    void reserve(const int32_t *seqs, const int32_t *n_new, size_t count);
    // Undoes reservations: returns the blocks of seq's streams past their length.
    void release_unused(int32_t seq);
    // The streams of `layer` for seqs[0..count) (n_head_kv each, sequence-major) as kernels see
    // them, each length counting n_new reserved slots about to be written, with their score
    // accumulators when the cache keeps scores.
    void stream_refs(int32_t layer, const int32_t *seqs, size_t count, int32_t n_new,
                     std::vector<StreamRef> &out);
    // Records that n reserved slots of every stream of seq now hold these tokens.
    void commit(int32_t seq, int32_t n, const int32_t *positions, const int32_t *tokens);

    // Drops every token of seq and returns all its blocks.
    void reset(int32_t seq);
    // Lengths of seq's streams (index layer * n_head_kv + head), e.g. to restore them.
    std::vector<int32_t> lengths(int32_t seq) const;
    // Truncates seq's streams back to `lengths` (from lengths()) and frees the blocks past them.
    void truncate(int32_t seq, const std::vector<int32_t> &lengths);
    // Makes dst a copy of src, stream by stream: the blocks in use (K, V and scores, copied by
    // the executor), positions, tokens, lengths and eviction counts; then returns dst's old
    // blocks. The copy's blocks are taken while dst still holds its own, so that any failure
    // leaves dst as it was: throws Error(KV_FULL) naming the blocks needed and free, and changes
    // nothing, when the pool has fewer free than src uses. src != dst.
    void copy_seq(Executor &executor, int32_t src, int32_t dst);
    // Keeps slots keep[0..n) (strictly increasing, < length) of one stream: moves them to the
    // front in order, with their metadata and scores, and returns the blocks past the new
    // length. In a stream with int8 blocks slots keep their types: the int8 blocks past the
    // kept int8 slots are returned too, and the kept full-precision slots move into the
    // stream's full-precision blocks (quantized only where fewer than block_size of them land
    // in the last int8 block). Throws INVALID_ARGUMENT for a bad keep list.
    void compact(Executor &executor, int32_t seq, int32_t layer, int32_t head, const int32_t *keep,
                 size_t n);
    // Evicts by plan where the scores are (Executor::kv_select), for streams without int8
    // blocks (Error(INTERNAL) otherwise: they go through compact): plans[u] for unit u, where the
    // units are seq's streams (index layer * n_head_kv + head) or, when shared_per_layer, its
    // layers (every head of a layer then keeps the same slots; they must hold the same tokens,
    // else Error(STATE)). Throws INVALID_ARGUMENT for a bad plan, or a ranking plan when the
    // cache keeps no scores, before anything changes.
    void select(Executor &executor, int32_t seq, const std::vector<KeepPlan> &plans,
                bool shared_per_layer);
    // Converts the full-precision blocks of seq's streams that hold only slots older than their
    // last `recent` into int8 blocks (kv/quant_q8.h), scores moved with them, and frees them;
    // returns the slots converted. All or nothing: throws Error(KV_FULL) naming the int8 blocks
    // needed and free, changing nothing, when the int8 pool cannot take them all.
    int64_t quantize(Executor &executor, int32_t seq, int32_t recent);
    // The int8 blocks at the front of a stream.
    int32_t q8_blocks(const Stream &s) const;
    // The stream's post-RoPE keys, [length][head_dim] F32, copied to host memory.
    void read_keys(Executor &executor, int32_t seq, int32_t layer, int32_t head,
                   std::vector<float> &out) const;
    // The stream's scores, copied to host memory. Throws STATE when the cache keeps none.
    void read_scores(Executor &executor, int32_t seq, int32_t layer, int32_t head,
                     SlotScores &out) const;
    // One score kind (ScoreKind) of every stream of seq, layer by layer and head by head within
    // a layer, concatenated, copied to host memory in one executor call. Throws STATE when the
    // cache keeps no scores.
    void read_score_kind(Executor &executor, int32_t seq, int32_t kind,
                         std::vector<float> &out) const;
    // The mean post-RoPE keys over runs of runs[i] slots (policy/key_means.h) of every stream i
    // of seq, in the order above, concatenated, copied to host memory in one executor call.
    void read_key_means(Executor &executor, int32_t seq, const std::vector<int32_t> &runs,
                        std::vector<float> &out) const;

    const Stream &stream(int32_t seq, int32_t layer, int32_t head) const;
    // The stream as ops see it, with n_new reserved slots counted in its length.
    StreamRef ref(int32_t seq, int32_t layer, int32_t head, int32_t n_new = 0) const;
    // Applies any decode scores the executor left pending for seq's streams
    // (Executor::settle_scores).
    void settle(Executor &executor, int32_t seq) const;
    // Full-precision and int8 blocks seq's streams hold (one walk over them), and their bytes
    // (K, V, int8 scales).
    struct BlockCounts {
        int64_t full = 0, q8 = 0;
        int64_t total() const { return full + q8; }
    };
    BlockCounts blocks_used(int32_t seq) const;
    uint64_t bytes_of(const BlockCounts &counts) const;
    // The length of the longest stream of sequences seqs[0..count), committed slots only.
    int32_t longest_stream(const int32_t *seqs, size_t count) const;
    // Whether the next slot of some stream of seqs[0..count) is in an 8-bit block (a reserved
    // one): a decode step of them then appends into 8-bit blocks.
    bool next_slot_q8(const int32_t *seqs, size_t count) const;

private:
    // Every stream of seq as ops see it, layer by layer and head by head within a layer.
    std::vector<StreamRef> seq_refs(int32_t seq) const;
    Stream &at(int32_t seq, int32_t layer, int32_t head);
    int32_t blocks_for(int64_t slots) const;
    // Returns blocks of either pool to theirs.
    void give_back(const int32_t *ids, size_t n);
    void free_tail(Stream &s);
    // The host side of a compaction whose device side is done: metadata and the freed tail.
    void compacted(Stream &s, const int32_t *keep, int32_t n_keep);
    // Throws `status` unless keep[0..n) is strictly increasing within s's slots.
    static void check_keep(const Stream &s, const int32_t *keep, size_t n, cab_status status);

    KvConfig cfg_;
    BlockPool pool_;
    BlockPool q8_pool_;  // ids from pool_.n_total() on
    KvPoolRef pool_ref_;
    std::vector<Stream> streams_;  // [seq][layer][head]
};

}  // namespace cab
