#include "kv/kv_cache.h"

#include <algorithm>
#include <limits>
#include <string>

#include "policy/key_means.h"
#include "util/error.h"

namespace cab {

namespace {

// Blocks of a pool holding `tokens` per layer and kv head.
int32_t blocks_of(const KvConfig &c, int64_t tokens, const char *what) {
    int64_t per_stream = (tokens + c.block_size - 1) / c.block_size;
    int64_t streams = static_cast<int64_t>(c.n_layer) * c.n_head_kv;
    require(per_stream <= std::numeric_limits<int32_t>::max() / streams, CAB_ERR_INVALID_ARGUMENT,
            std::string(what) + " " + std::to_string(tokens) + " is too large");
    return static_cast<int32_t>(per_stream * streams);
}

int32_t pool_blocks(const KvConfig &c) {
    require(c.n_layer > 0 && c.n_head_kv > 0 && c.head_dim > 0, CAB_ERR_INVALID_ARGUMENT,
            "KV cache: n_layer, n_head_kv and head_dim must be positive");
    require(c.block_size > 0 && c.block_size <= 4096, CAB_ERR_INVALID_ARGUMENT,
            "kv_block_size " + std::to_string(c.block_size) + " is out of range [1, 4096]");
    require(c.capacity_tokens > 0, CAB_ERR_INVALID_ARGUMENT,
            "kv_capacity_tokens " + std::to_string(c.capacity_tokens) + " must be positive");
    require(c.q8_capacity_tokens >= 0, CAB_ERR_INVALID_ARGUMENT,
            "the int8 KV capacity " + std::to_string(c.q8_capacity_tokens) + " is negative");
    require(c.n_seq_max > 0, CAB_ERR_INVALID_ARGUMENT,
            "n_seq_max " + std::to_string(c.n_seq_max) + " must be positive");
    const int32_t hi = blocks_of(c, c.capacity_tokens, "kv_capacity_tokens");
    const int32_t q8 = blocks_of(c, c.q8_capacity_tokens, "the int8 KV capacity");
    require(q8 <= std::numeric_limits<int32_t>::max() - hi, CAB_ERR_INVALID_ARGUMENT,
            "the KV capacities are too large together");
    return hi;
}

}  // namespace

KvCache::KvCache(Backend &backend, const KvConfig &config)
    : cfg_(config),
      pool_(pool_blocks(config)),
      q8_pool_(blocks_of(config, config.q8_capacity_tokens, "the int8 KV capacity"),
               pool_.n_total()) {
    require(q8_pool_.n_total() == 0 || backend.kv_q8_supported(cfg_.q8_type), CAB_ERR_UNSUPPORTED,
            std::string(cfg_.q8_type == Q8Type::Int8 ? "int8" : "fp8 E4M3") +
                " KV blocks are not supported on the " + backend.name() + " backend");
    const int64_t n_blocks = int64_t{pool_.n_total()} + q8_pool_.n_total();
    pool_ref_.storage = backend.alloc(
        cfg_.dtype, static_cast<int64_t>(pool_.n_total()) * 2 * cfg_.block_size, cfg_.head_dim);
    if (q8_pool_.n_total() > 0) {
        const int64_t rows = static_cast<int64_t>(q8_pool_.n_total()) * 2 * cfg_.block_size;
        pool_ref_.storage_q8 = backend.alloc(DType::I8, rows, cfg_.head_dim);
        pool_ref_.scales_q8 = backend.alloc(DType::F32, rows, 1);
        pool_ref_.first_q8 = q8_pool_.first_id();
        pool_ref_.q8_type = cfg_.q8_type;
    }
    if (cfg_.scores)
        pool_ref_.scores = backend.alloc(DType::F32, n_blocks * kScoreKinds, cfg_.block_size);
    const int64_t n_streams = static_cast<int64_t>(cfg_.n_seq_max) * cfg_.n_layer * cfg_.n_head_kv;
    if (cfg_.scores)
        pool_ref_.pending =
            backend.alloc_pending_scores(n_streams, cfg_.n_head > 0 ? cfg_.n_head : cfg_.n_head_kv,
                                         cfg_.n_head_kv, cfg_.head_dim);
    pool_ref_.block_size = cfg_.block_size;
    pool_ref_.head_dim = cfg_.head_dim;
    if (n_streams <= std::numeric_limits<int32_t>::max())
        pool_ref_.n_streams = static_cast<int32_t>(n_streams);
    streams_.resize(static_cast<size_t>(n_streams));
}

void KvCache::give_back(const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n; ++i) (q8_pool_.owns(ids[i]) ? q8_pool_ : pool_).give_back(ids + i, 1);
}

int32_t KvCache::q8_blocks(const Stream &s) const {
    return s.q8_blocks;
}

size_t KvCache::bytes_per_block() const {
    return 2 * static_cast<size_t>(cfg_.block_size) * cfg_.head_dim * dtype_size(cfg_.dtype);
}

size_t KvCache::bytes_per_q8_block() const {
    return 2 * static_cast<size_t>(cfg_.block_size) * (cfg_.head_dim + sizeof(float));
}

Stream &KvCache::at(int32_t seq, int32_t layer, int32_t head) {
    return streams_[(static_cast<size_t>(seq) * cfg_.n_layer + layer) * cfg_.n_head_kv + head];
}

const Stream &KvCache::stream(int32_t seq, int32_t layer, int32_t head) const {
    return streams_[(static_cast<size_t>(seq) * cfg_.n_layer + layer) * cfg_.n_head_kv + head];
}

StreamRef KvCache::ref(int32_t seq, int32_t layer, int32_t head, int32_t n_new) const {
    const Stream &s = stream(seq, layer, head);
    const auto id = (static_cast<int64_t>(seq) * cfg_.n_layer + layer) * cfg_.n_head_kv + head;
    const int32_t length = s.length + n_new;
    const int32_t q8 =
        static_cast<int32_t>(std::min<int64_t>(length, int64_t{s.q8_blocks} * cfg_.block_size));
    return StreamRef{s.blocks.data(),    length, static_cast<int32_t>(id), s.epoch,
                     s.blocks.version(), q8};
}

void KvCache::settle(Executor &executor, int32_t seq) const {
    if (pool_ref_.pending.empty()) return;
    const std::vector<StreamRef> refs = seq_refs(seq);
    executor.settle_scores(pool_ref_, refs.data(), static_cast<int32_t>(refs.size()));
}

int32_t KvCache::blocks_for(int64_t slots) const {
    return static_cast<int32_t>((slots + cfg_.block_size - 1) / cfg_.block_size);
}

void KvCache::reserve(const int32_t *seqs, const int32_t *n_new, size_t count) {
    int64_t need = 0;
    int64_t tokens = 0;
    for (size_t i = 0; i < count; ++i) {
        tokens += n_new[i];
        for (int32_t l = 0; l < cfg_.n_layer; ++l)
            for (int32_t h = 0; h < cfg_.n_head_kv; ++h) {
                const Stream &s = stream(seqs[i], l, h);
                need += std::max<int64_t>(0, blocks_for(int64_t{s.length} + n_new[i]) -
                                                 static_cast<int64_t>(s.blocks.size()));
            }
    }
    if (need > pool_.n_free())
        fail(CAB_ERR_KV_FULL,
             "KV cache full: appending " + std::to_string(tokens) + " token(s) to " +
                 std::to_string(count) + " sequence(s) needs " + std::to_string(need) +
                 " blocks, the pool has " + std::to_string(pool_.n_free()) + " free of " +
                 std::to_string(pool_.n_total()) + " (raise kv_capacity_tokens, reset or evict)");
    for (size_t i = 0; i < count; ++i)
        for (int32_t l = 0; l < cfg_.n_layer; ++l)
            for (int32_t h = 0; h < cfg_.n_head_kv; ++h) {
                Stream &s = at(seqs[i], l, h);
                int32_t extra = blocks_for(int64_t{s.length} + n_new[i]) -
                                static_cast<int32_t>(s.blocks.size());
                if (extra > 0) pool_.take(extra, s.blocks.edit());
            }
}

void KvCache::free_tail(Stream &s) {
    size_t keep = static_cast<size_t>(blocks_for(s.length));
    if (s.blocks.size() <= keep) return;
    give_back(s.blocks.data() + keep, s.blocks.size() - keep);
    s.blocks.edit().resize(keep);
    s.q8_blocks = std::min(s.q8_blocks, static_cast<int32_t>(keep));
}

void KvCache::release_unused(int32_t seq) {
    for (int32_t l = 0; l < cfg_.n_layer; ++l)
        for (int32_t h = 0; h < cfg_.n_head_kv; ++h) {
            free_tail(at(seq, l, h));
        }
}

void KvCache::stream_refs(int32_t layer, const int32_t *seqs, size_t count, int32_t n_new,
                          std::vector<StreamRef> &out) {
    out.clear();
    for (size_t i = 0; i < count; ++i)
        for (int32_t h = 0; h < cfg_.n_head_kv; ++h) {
            const StreamRef r = ref(seqs[i], layer, h, n_new);
            if (blocks_for(r.length) > static_cast<int32_t>(at(seqs[i], layer, h).blocks.size()))
                fail(CAB_ERR_INTERNAL, "KV stream used without a reservation");
            out.push_back(r);
        }
}

void KvCache::commit(int32_t seq, int32_t n, const int32_t *positions, const int32_t *tokens) {
    for (int32_t l = 0; l < cfg_.n_layer; ++l)
        for (int32_t h = 0; h < cfg_.n_head_kv; ++h) {
            Stream &s = at(seq, l, h);
            s.pos.insert(s.pos.end(), positions, positions + n);
            s.token.insert(s.token.end(), tokens, tokens + n);
            s.length += n;
        }
}

void KvCache::reset(int32_t seq) {
    for (int32_t l = 0; l < cfg_.n_layer; ++l)
        for (int32_t h = 0; h < cfg_.n_head_kv; ++h) {
            Stream &s = at(seq, l, h);
            give_back(s.blocks.data(), s.blocks.size());
            const uint32_t epoch = s.epoch + 1;  // whatever a backend left pending is stale now
            s = Stream{};
            s.epoch = epoch;
        }
}

std::vector<int32_t> KvCache::lengths(int32_t seq) const {
    std::vector<int32_t> out;
    out.reserve(static_cast<size_t>(cfg_.n_layer) * cfg_.n_head_kv);
    for (int32_t l = 0; l < cfg_.n_layer; ++l)
        for (int32_t h = 0; h < cfg_.n_head_kv; ++h) out.push_back(stream(seq, l, h).length);
    return out;
}

void KvCache::truncate(int32_t seq, const std::vector<int32_t> &lengths) {
    size_t i = 0;
    for (int32_t l = 0; l < cfg_.n_layer; ++l)
        for (int32_t h = 0; h < cfg_.n_head_kv; ++h, ++i) {
            Stream &s = at(seq, l, h);
            s.length = std::min(s.length, lengths.at(i));
            s.pos.resize(static_cast<size_t>(s.length));
            s.token.resize(static_cast<size_t>(s.length));
            free_tail(s);
        }
}

void KvCache::copy_seq(Executor &executor, int32_t src, int32_t dst) {
    require(src != dst, CAB_ERR_INVALID_ARGUMENT,
            "copy_seq: src and dst are both sequence " + std::to_string(src));
    // The blocks src's streams use, stream after stream; block src_ids[i] goes to dst_ids[i].
    std::vector<int32_t> src_ids, dst_ids;
    for (int32_t l = 0; l < cfg_.n_layer; ++l)
        for (int32_t h = 0; h < cfg_.n_head_kv; ++h) {
            const Stream &s = stream(src, l, h);
            src_ids.insert(src_ids.end(), s.blocks.begin(),
                           s.blocks.begin() + blocks_for(s.length));
        }
    // Each block is copied into one of its own type.
    int32_t need = 0, need_q8 = 0;
    for (int32_t id : src_ids) ++(q8_pool_.owns(id) ? need_q8 : need);
    if (need > pool_.n_free() || need_q8 > q8_pool_.n_free())
        fail(CAB_ERR_KV_FULL,
             "KV cache full: copying sequence " + std::to_string(src) + " needs " +
                 std::to_string(need) + " blocks and " + std::to_string(need_q8) +
                 " int8 blocks, the pool has " + std::to_string(pool_.n_free()) + " free of " +
                 std::to_string(pool_.n_total()) + " and " + std::to_string(q8_pool_.n_free()) +
                 " int8 free of " + std::to_string(q8_pool_.n_total()) + " (sequence " +
                 std::to_string(dst) +
                 " keeps its blocks until the copy is made: reset it first, or evict)");
    settle(executor, src);  // the blocks carry the scores: all of them
    for (int32_t id : src_ids) (q8_pool_.owns(id) ? q8_pool_ : pool_).take(1, dst_ids);
    try {
        if (!src_ids.empty())
            executor.kv_copy_blocks(pool_ref_, src_ids.data(), dst_ids.data(),
                                    static_cast<int32_t>(src_ids.size()));
    } catch (...) {
        give_back(dst_ids.data(), dst_ids.size());
        throw;
    }
    reset(dst);
    auto next = dst_ids.begin();
    for (int32_t l = 0; l < cfg_.n_layer; ++l)
        for (int32_t h = 0; h < cfg_.n_head_kv; ++h) {
            const Stream &s = stream(src, l, h);
            Stream &d = at(dst, l, h);
            const int32_t used = blocks_for(s.length);
            d.blocks.edit().assign(next, next + used);
            d.q8_blocks = std::min(s.q8_blocks, used);
            next += used;
            d.length = s.length;
            d.pos = s.pos;
            d.token = s.token;
            d.n_evicted = s.n_evicted;
        }
}

void KvCache::check_keep(const Stream &s, const int32_t *keep, size_t n, cab_status status) {
    // The message is built only on failure: built for every entry, it cost ~4 ms per eviction of
    // a 7B cache (112 streams x 256 kept slots), more than the GPU's whole selection.
    for (size_t i = 0; i < n; ++i) {
        if (!(keep[i] >= 0 && keep[i] < s.length && (i == 0 || keep[i] > keep[i - 1])))
            fail(status, "compact: keep[" + std::to_string(i) + "] = " + std::to_string(keep[i]) +
                             " is not increasing within the stream's " + std::to_string(s.length) +
                             " slots");
    }
}

void KvCache::compacted(Stream &s, const int32_t *keep, int32_t n_keep) {
    for (int32_t i = 0; i < n_keep; ++i) {
        s.pos[i] = s.pos[keep[i]];
        s.token[i] = s.token[keep[i]];
    }
    s.n_evicted += s.length - n_keep;
    s.length = n_keep;
    s.pos.resize(static_cast<size_t>(n_keep));
    s.token.resize(static_cast<size_t>(n_keep));
    free_tail(s);
}

void KvCache::compact(Executor &executor, int32_t seq, int32_t layer, int32_t head,
                      const int32_t *keep, size_t n) {
    Stream &s = at(seq, layer, head);
    check_keep(s, keep, n, CAB_ERR_INVALID_ARGUMENT);
    const int32_t n_keep = static_cast<int32_t>(n);
    const int32_t q8 = q8_blocks(s);
    if (q8 == 0) {
        executor.kv_compact(pool_ref_, ref(seq, layer, head), keep, n_keep);
        compacted(s, keep, n_keep);
        return;
    }
    // Slots keep their types: the kept int8 slots fill the first int8 blocks, the int8 blocks
    // past them are freed from the middle of the list, and the kept full-precision slots follow
    // in the stream's full-precision blocks (those landing in the last int8 block's free tail,
    // fewer than block_size, are quantized). No block is taken, so eviction cannot run out.
    const int32_t q8_end = std::min(s.length, q8 * cfg_.block_size);
    const auto n8 = static_cast<int32_t>(std::lower_bound(keep, keep + n, q8_end) - keep);
    const int32_t q8_kept = blocks_for(n8);
    const int32_t hi_kept = blocks_for(n_keep) - q8_kept;
    std::vector<int32_t> blocks(s.blocks.begin(), s.blocks.begin() + q8_kept);
    blocks.insert(blocks.end(), s.blocks.begin() + q8,
                  s.blocks.begin() + q8 + std::max(0, hi_kept));
    const StreamRef src = ref(seq, layer, head);
    StreamRef dst = src;
    dst.blocks = blocks.data();
    dst.length = n_keep;
    dst.q8_length = std::min(n_keep, q8_kept * cfg_.block_size);
    executor.kv_compact_mixed(pool_ref_, src, dst, keep, n_keep);
    std::vector<int32_t> dropped(s.blocks.begin() + q8_kept, s.blocks.begin() + q8);
    dropped.insert(dropped.end(), s.blocks.begin() + q8 + std::max(0, hi_kept), s.blocks.end());
    give_back(dropped.data(), dropped.size());
    s.blocks.edit() = std::move(blocks);
    s.q8_blocks = q8_kept;
    compacted(s, keep, n_keep);
}

void KvCache::select(Executor &executor, int32_t seq, const std::vector<KeepPlan> &plans,
                     bool shared_per_layer) {
    const int32_t per_unit = shared_per_layer ? cfg_.n_head_kv : 1;
    const size_t n_units = static_cast<size_t>(cfg_.n_layer) * cfg_.n_head_kv / per_unit;
    require(plans.size() == n_units, CAB_ERR_INVALID_ARGUMENT,
            "select: " + std::to_string(plans.size()) + " plans for " + std::to_string(n_units) +
                " units");
    // The streams of unit u are seq's streams [u * per_unit, (u + 1) * per_unit).
    auto layer_head = [&](size_t u, int32_t i) {
        const size_t index = u * per_unit + i;
        return std::pair<int32_t, int32_t>(static_cast<int32_t>(index / cfg_.n_head_kv),
                                           static_cast<int32_t>(index % cfg_.n_head_kv));
    };
    auto stream_of = [&](size_t u, int32_t i) -> Stream & {
        const auto [layer, head] = layer_head(u, i);
        return at(seq, layer, head);
    };
    // Only the units that lose slots go to the executor: one that keeps all has nothing to do.
    std::vector<StreamRef> refs(n_units * per_unit);
    std::vector<SelectUnit> units;
    std::vector<size_t> unit_of;
    size_t total = 0;
    for (size_t u = 0; u < n_units; ++u) {
        const Stream &first = stream_of(u, 0);
        for (int32_t i = 0; i < per_unit; ++i) {
            const Stream &s = stream_of(u, i);
            const auto [layer, head] = layer_head(u, i);
            refs[u * per_unit + i] = ref(seq, layer, head);
            if (i > 0 && s.pos != first.pos)
                fail(CAB_ERR_STATE, "evict: selection shared per layer needs every head of layer " +
                                        std::to_string(u) + " to hold the same tokens, but head " +
                                        std::to_string(i) +
                                        " differs from head 0 (an earlier per-head eviction?)");
        }
        const int32_t n_keep = keep_count(plans[u], first.length);
        if (plans[u].ranks() && !cfg_.scores)
            fail(CAB_ERR_INVALID_ARGUMENT,
                 "evict: the policy ranks by attention scores, but this context keeps none "
                 "(cab_ctx_params.scores)");
        if (n_keep == first.length) continue;
        units.push_back(SelectUnit{refs.data() + u * per_unit, per_unit, plans[u]});
        unit_of.push_back(u);
        total += static_cast<size_t>(n_keep);
    }
    if (units.empty()) return;
    for (const SelectUnit &u : units)
        for (int32_t i = 0; i < u.n_streams; ++i)
            require(u.streams[i].length == 0 || !pool_ref_.is_q8(u.streams[i].blocks[0]),
                    CAB_ERR_INTERNAL,
                    "select: a stream with int8 blocks compacts through compact()");
    // Never empty: kv_select refuses a null output, and a budget of 0 keeps nothing at all.
    std::vector<int32_t> keep(std::max<size_t>(total, 1));
    executor.kv_select(pool_ref_, units.data(), static_cast<int32_t>(units.size()), keep.data());
    const int32_t *kept = keep.data();
    for (size_t j = 0; j < units.size(); ++j) {
        const size_t u = unit_of[j];
        const int32_t n_keep = keep_count(plans[u], units[j].streams[0].length);
        // The device wrote these; a wrong list must not index the metadata out of range. The
        // unit's streams are of one length, so one check covers them all.
        check_keep(stream_of(u, 0), kept, static_cast<size_t>(n_keep), CAB_ERR_INTERNAL);
        for (int32_t i = 0; i < per_unit; ++i) compacted(stream_of(u, i), kept, n_keep);
        kept += n_keep;
    }
}

int64_t KvCache::quantize(Executor &executor, int32_t seq, int32_t recent) {
    require(recent >= 0, CAB_ERR_INVALID_ARGUMENT,
            "quantize: recent " + std::to_string(recent) + " is negative");
    // Per stream (layer-major), its blocks [first, target) convert: from its first full-precision
    // block to the last full block before its last `recent` slots.
    std::vector<std::pair<int32_t, int32_t>> ranges;
    ranges.reserve(static_cast<size_t>(cfg_.n_layer) * cfg_.n_head_kv);
    std::vector<int32_t> src, dst;
    for (int32_t l = 0; l < cfg_.n_layer; ++l)
        for (int32_t h = 0; h < cfg_.n_head_kv; ++h) {
            const Stream &s = stream(seq, l, h);
            const int32_t first = q8_blocks(s);
            const int32_t target = std::max(0, s.length - recent) / cfg_.block_size;
            ranges.emplace_back(first, target);
            for (int32_t b = first; b < target; ++b) src.push_back(s.blocks[b]);
        }
    if (src.empty()) return 0;
    const auto need = static_cast<int32_t>(src.size());
    if (need > q8_pool_.n_free())
        fail(CAB_ERR_KV_FULL, "KV cache full: quantizing sequence " + std::to_string(seq) +
                                  " needs " + std::to_string(need) + " int8 blocks, the pool has " +
                                  std::to_string(q8_pool_.n_free()) + " free of " +
                                  std::to_string(q8_pool_.n_total()) +
                                  " (raise the int8 KV capacity, or evict)");
    settle(executor, seq);  // the blocks carry the scores
    q8_pool_.take(need, dst);
    try {
        executor.kv_quantize_blocks(pool_ref_, src.data(), dst.data(), need);
    } catch (...) {
        q8_pool_.give_back(dst.data(), dst.size());
        throw;
    }
    auto next = dst.begin();
    auto range = ranges.begin();
    for (int32_t l = 0; l < cfg_.n_layer; ++l)
        for (int32_t h = 0; h < cfg_.n_head_kv; ++h, ++range) {
            const auto [first, target] = *range;
            if (first >= target) continue;
            Stream &s = at(seq, l, h);
            std::vector<int32_t> &ids = s.blocks.edit();
            for (int32_t b = first; b < target; ++b) ids[static_cast<size_t>(b)] = *next++;
            s.q8_blocks = target;
        }
    pool_.give_back(src.data(), src.size());
    return int64_t{need} * cfg_.block_size;
}

void KvCache::read_keys(Executor &executor, int32_t seq, int32_t layer, int32_t head,
                        std::vector<float> &out) const {
    const Stream &s = stream(seq, layer, head);
    out.resize(static_cast<size_t>(s.length) * cfg_.head_dim);
    executor.kv_read(pool_ref_, ref(seq, layer, head), false, out.data());
}

void KvCache::read_scores(Executor &executor, int32_t seq, int32_t layer, int32_t head,
                          SlotScores &out) const {
    require(cfg_.scores, CAB_ERR_STATE, "this context keeps no scores");
    const Stream &s = stream(seq, layer, head);
    const size_t n = static_cast<size_t>(s.length);
    std::vector<float> buf(n * kScoreKinds);
    if (n > 0) executor.kv_read_scores(pool_ref_, ref(seq, layer, head), buf.data());
    std::vector<float> *dst[kScoreKinds] = {&out.score, &out.observers, &out.window, &out.last};
    static_assert(kScore == 0 && kObservers == 1 && kWindow == 2 && kLast == 3);
    for (size_t kind = 0; kind < kScoreKinds; ++kind)
        dst[kind]->assign(buf.begin() + kind * n, buf.begin() + (kind + 1) * n);
}

std::vector<StreamRef> KvCache::seq_refs(int32_t seq) const {
    std::vector<StreamRef> refs;
    refs.reserve(static_cast<size_t>(cfg_.n_layer) * cfg_.n_head_kv);
    for (int32_t l = 0; l < cfg_.n_layer; ++l)
        for (int32_t h = 0; h < cfg_.n_head_kv; ++h) refs.push_back(ref(seq, l, h));
    return refs;
}

void KvCache::read_score_kind(Executor &executor, int32_t seq, int32_t kind,
                              std::vector<float> &out) const {
    require(cfg_.scores, CAB_ERR_STATE, "this context keeps no scores");
    const std::vector<StreamRef> refs = seq_refs(seq);
    size_t total = 0;
    for (const StreamRef &r : refs) total += static_cast<size_t>(r.length);
    out.resize(total);
    executor.kv_read_score_kind(pool_ref_, refs.data(), static_cast<int32_t>(refs.size()), kind,
                                out.data());
}

void KvCache::read_key_means(Executor &executor, int32_t seq, const std::vector<int32_t> &runs,
                             std::vector<float> &out) const {
    const std::vector<StreamRef> refs = seq_refs(seq);
    require(runs.size() == refs.size(), CAB_ERR_INTERNAL,
            "read_key_means: " + std::to_string(runs.size()) + " runs for " +
                std::to_string(refs.size()) + " streams");
    size_t total = 0;
    for (size_t i = 0; i < refs.size(); ++i)
        total += static_cast<size_t>(run_count(refs[i].length, runs[i])) * cfg_.head_dim;
    out.resize(total);
    executor.kv_read_key_means(pool_ref_, refs.data(), static_cast<int32_t>(refs.size()),
                               runs.data(), out.data());
}

KvCache::BlockCounts KvCache::blocks_used(int32_t seq) const {
    BlockCounts c;
    for (int32_t l = 0; l < cfg_.n_layer; ++l)
        for (int32_t h = 0; h < cfg_.n_head_kv; ++h) {
            const Stream &s = stream(seq, l, h);
            const int32_t q8 = q8_blocks(s);
            c.q8 += q8;
            c.full += static_cast<int64_t>(s.blocks.size()) - q8;
        }
    return c;
}

uint64_t KvCache::bytes_of(const BlockCounts &counts) const {
    return static_cast<uint64_t>(counts.full) * bytes_per_block() +
           static_cast<uint64_t>(counts.q8) * bytes_per_q8_block();
}

int32_t KvCache::longest_stream(const int32_t *seqs, size_t count) const {
    int32_t longest = 0;
    for (size_t i = 0; i < count; ++i)
        for (int32_t l = 0; l < cfg_.n_layer; ++l)
            for (int32_t h = 0; h < cfg_.n_head_kv; ++h)
                longest = std::max(longest, stream(seqs[i], l, h).length);
    return longest;
}

bool KvCache::next_slot_q8(const int32_t *seqs, size_t count) const {
    if (q8_pool_.n_total() == 0) return false;
    for (size_t i = 0; i < count; ++i)
        for (int32_t l = 0; l < cfg_.n_layer; ++l)
            for (int32_t h = 0; h < cfg_.n_head_kv; ++h) {
                const Stream &s = stream(seqs[i], l, h);
                const auto b = static_cast<size_t>(s.length / cfg_.block_size);
                if (b < s.blocks.size() && q8_pool_.owns(s.blocks[b])) return true;
            }
    return false;
}

}  // namespace cab
