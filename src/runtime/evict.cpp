#include "runtime/evict.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "kv/kv_cache.h"
#include "policy/inherit.h"
#include "policy/key_means.h"
#include "util/error.h"
#include "util/parallel.h"

namespace cab {

namespace {

// snapkv's layer inheritance (policy/inherit.h) compares streams: host path only.
bool inherits(const EvictOptions &o) {
    return o.policy->name() == "snapkv" && o.params.snapkv_inherit > 0.0f;
}

bool ranks_by_window(const EvictOptions &o) {
    const std::string_view name = o.policy->name();
    if (name == "snapkv" || name == "chunkkv") return true;
    const bool sourced = name == "h2o" || name == "cab" || name == "cab-frc";
    return sourced && o.params.cab_score_source == ScoreSource::Window;
}

// Whether the host path copies the units' scores: every policy but random ranks by them, and the
// adaptive allocation compares streams by them.
bool reads_scores(const EvictOptions &o) {
    return o.policy->name() != "random" || o.allocation.method == BudgetAllocation::Adaptive;
}

// The one score kind the host path reads, or -1 for all of them: cab and cab-frc rank by the
// kind their score source names, and the adaptive allocation ranks their streams by it too.
int32_t single_kind(const EvictOptions &o) {
    const std::string_view name = o.policy->name();
    if (name != "cab" && name != "cab-frc") return -1;
    return ranks_by_window(o) ? kWindow : kScore;
}

// The score a unit is ranked by, which the adaptive allocation reads too.
const float *ranking_score(const StreamScores &s, const EvictOptions &o) {
    if (ranks_by_window(o)) return s.window;
    if (o.policy->name() == "tova") return s.last;
    return s.score;
}

// One selection unit's metadata as the policy reads it: a stream's scores copied from the cache,
// or for a layer whose heads share the selection, the sums of its heads' scores.
struct UnitScores {
    SlotScores sums;
    StreamScores view;
};

void point_view(UnitScores &u) {
    u.view.score = u.sums.score.data();
    u.view.observers = u.sums.observers.data();
    u.view.window = u.sums.window.data();
    u.view.last = u.sums.last.data();
}

// A stream's positions, and with `scores` its scores (when the cache keeps them).
void read_stream(const KvCache &kv, Executor &ex, int32_t seq, int32_t layer, int32_t head,
                 bool scores, UnitScores &u) {
    const Stream &s = kv.stream(seq, layer, head);
    u.view.n = s.length;
    u.view.positions = s.pos.data();
    if (!kv.config().scores || !scores) return;
    kv.read_scores(ex, seq, layer, head, u.sums);
    point_view(u);
}

// Error(STATE) unless every head of the layer holds the same tokens.
void require_same_tokens(const KvCache &kv, int32_t seq, int32_t layer) {
    const Stream &first = kv.stream(seq, layer, 0);
    for (int32_t h = 1; h < kv.config().n_head_kv; ++h)
        require(kv.stream(seq, layer, h).pos == first.pos, CAB_ERR_STATE,
                "evict: selection shared per layer needs every head of layer " +
                    std::to_string(layer) + " to hold the same tokens, but head " +
                    std::to_string(h) + " differs from head 0 (an earlier per-head eviction?)");
}

// Sums the layer's heads slot by slot (with `scores`).
void gather_layer(const KvCache &kv, Executor &ex, int32_t seq, int32_t layer, bool scores,
                  UnitScores &u) {
    const int32_t n_head = kv.config().n_head_kv;
    const size_t n = static_cast<size_t>(kv.stream(seq, layer, 0).length);
    require_same_tokens(kv, seq, layer);
    read_stream(kv, ex, seq, layer, 0, scores, u);
    if (!kv.config().scores || !scores) return;
    SlotScores head;
    for (int32_t h = 1; h < n_head; ++h) {
        kv.read_scores(ex, seq, layer, h, head);
        for (size_t j = 0; j < n; ++j) {
            u.sums.score[j] += head.score[j];
            u.sums.observers[j] += head.observers[j];
            u.sums.window[j] += head.window[j];
            u.sums.last[j] += head.last[j];
        }
    }
    point_view(u);
}

// A unit's positions and its one score kind, from `all` (every stream's, in layer and head order,
// as KvCache::read_score_kind gives them; `offset` moves past the unit's streams): a stream's
// own, or with head < 0 the layer's heads summed slot by slot in head order, as gather_layer.
void unit_of_kind(const KvCache &kv, int32_t seq, int32_t layer, int32_t head, int32_t kind,
                  const std::vector<float> &all, size_t &offset, UnitScores &u) {
    if (head < 0) require_same_tokens(kv, seq, layer);
    const Stream &s = kv.stream(seq, layer, std::max(head, 0));
    const size_t n = static_cast<size_t>(s.length);
    u.view.n = s.length;
    u.view.positions = s.pos.data();
    std::vector<float> &v = kind == kWindow ? u.sums.window : u.sums.score;
    v.assign(all.begin() + static_cast<std::ptrdiff_t>(offset),
             all.begin() + static_cast<std::ptrdiff_t>(offset + n));
    offset += n;
    for (int32_t h = 1; head < 0 && h < kv.config().n_head_kv; ++h, offset += n)
        for (size_t j = 0; j < n; ++j) v[j] += all[offset + j];
    (kind == kWindow ? u.view.window : u.view.score) = v.data();
}

// cab-frc's key means (policy/key_means.h) for every unit, from `all` (every stream's, in layer
// and head order, as KvCache::read_key_means gives them): a stream's own, or with shared heads
// the layer's heads' means concatenated per run ([runs][n_head_kv * d]), so that cosine
// similarities compare tokens across all the layer's heads at once, as over their concatenated
// keys.
void unit_key_means(const KvConfig &c, bool shared, const std::vector<int32_t> &runs,
                    const std::vector<float> &all, std::vector<UnitScores> &units,
                    std::vector<std::vector<float>> &means) {
    const size_t d = static_cast<size_t>(c.head_dim);
    const int32_t heads_per_unit = shared ? 1 : c.n_head_kv;
    size_t offset = 0;
    for (int32_t l = 0; l < c.n_layer; ++l)
        for (int32_t h = 0; h < heads_per_unit; ++h) {
            const size_t u = static_cast<size_t>(l) * heads_per_unit + h;
            const size_t stream = static_cast<size_t>(l) * c.n_head_kv + (shared ? 0 : h);
            const int32_t run = runs[stream];
            const size_t rows = static_cast<size_t>(run_count(units[u].view.n, run));
            const size_t n_head = shared ? static_cast<size_t>(c.n_head_kv) : 1;
            std::vector<float> &m = means[u];
            m.resize(rows * n_head * d);
            for (size_t head = 0; head < n_head; ++head, offset += rows * d)
                for (size_t r = 0; r < rows; ++r)
                    std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(offset + r * d), d,
                                m.begin() + static_cast<std::ptrdiff_t>((r * n_head + head) * d));
            units[u].view.key_means = m.data();
            units[u].view.key_run = run;
            units[u].view.head_dim = static_cast<int32_t>(n_head * d);
        }
}

// The general path: every unit's scores copied to the host, the policy run there, then one
// compaction per stream.
void select_on_host(KvCache &kv, Executor &executor, int32_t seq, const EvictOptions &options,
                    int32_t threads) {
    const KvConfig &c = kv.config();
    const bool shared = options.shared_per_layer;
    const int32_t heads_per_unit = shared ? 1 : c.n_head_kv;
    const size_t n_units = static_cast<size_t>(c.n_layer) * heads_per_unit;
    const bool keys = options.policy->name() == "cab-frc";

    // Every unit's scores first: the adaptive allocation compares them across heads. A policy
    // that reads one kind has it copied for all the sequence's streams in one call.
    const bool scores = reads_scores(options);
    const int32_t kind = c.scores ? single_kind(options) : -1;
    std::vector<float> kind_scores;
    if (kind >= 0) kv.read_score_kind(executor, seq, kind, kind_scores);
    size_t kind_offset = 0;
    std::vector<UnitScores> units(n_units);
    StreamLayout layout;
    layout.n_layer = c.n_layer;
    layout.n_head = heads_per_unit;
    for (int32_t l = 0; l < c.n_layer; ++l)
        for (int32_t h = 0; h < heads_per_unit; ++h) {
            UnitScores &u = units[static_cast<size_t>(l) * heads_per_unit + h];
            if (kind >= 0) {
                unit_of_kind(kv, seq, l, shared ? -1 : h, kind, kind_scores, kind_offset, u);
            } else if (shared) {
                gather_layer(kv, executor, seq, l, scores, u);
            } else {
                read_stream(kv, executor, seq, l, h, scores, u);
            }
            layout.lengths.push_back(u.view.n);
            layout.scores.push_back(ranking_score(u.view, options));
        }
    const std::vector<int32_t> budgets =
        allocate_budgets(layout, options.budget, options.allocation);

    // Layer inheritance: the units of the first n_inherit layers rank by the deeper layers'
    // window score (their own view's window is replaced by it; the policy is unchanged).
    const int32_t n_inherit =
        inherits(options) ? inherit_layers(options.params.snapkv_inherit, c.n_layer) : 0;
    std::vector<std::vector<float>> inherited(static_cast<size_t>(n_inherit) * heads_per_unit);
    if (n_inherit > 0 && c.scores) {
        DeepWindowScore deep;
        for (size_t i = static_cast<size_t>(n_inherit) * heads_per_unit; i < n_units; ++i) {
            int32_t first = 0, end = 0;
            ranked_range(units[i].view.n, budgets[i], options.params, &first, &end);
            deep.add(units[i].view, first, end);
        }
        for (size_t i = 0; i < inherited.size(); ++i) {
            inherited[i] = deep.for_stream(units[i].view);
            units[i].view.window = inherited[i].data();
        }
    }

    // cab-frc reads its key graph's nodes, the keys' means over runs of slots, which the
    // executor computes where the keys are: only the means are copied to the host.
    std::vector<std::vector<float>> means(keys ? n_units : 0);
    if (keys) {
        std::vector<int32_t> runs;
        for (int32_t l = 0; l < c.n_layer; ++l)
            for (int32_t h = 0; h < c.n_head_kv; ++h)
                runs.push_back(frc_run_length(kv.stream(seq, l, h).length, options.params));
        std::vector<float> all;
        kv.read_key_means(executor, seq, runs, all);
        unit_key_means(c, shared, runs, all, units, means);
    }

    // Every selection before any compaction, on `threads` threads. A selection that throws then
    // compacts no stream.
    std::vector<std::vector<int32_t>> keeps(n_units);
    parallel_indices(n_units, threads, [&](size_t i) {
        keeps[i] = options.policy->select(units[i].view, budgets[i], options.params,
                                          static_cast<uint64_t>(i));
    });

    for (int32_t l = 0; l < c.n_layer; ++l)
        for (int32_t h = 0; h < heads_per_unit; ++h) {
            const size_t i = static_cast<size_t>(l) * heads_per_unit + h;
            const std::vector<int32_t> &keep = keeps[i];
            if (keep.size() == static_cast<size_t>(units[i].view.n)) continue;
            if (shared) {
                for (int32_t head = 0; head < c.n_head_kv; ++head)
                    kv.compact(executor, seq, l, head, keep.data(), keep.size());
            } else {
                kv.compact(executor, seq, l, h, keep.data(), keep.size());
            }
        }
}

}  // namespace

std::optional<std::vector<KeepPlan>> keep_plans(const KvCache &kv, int32_t seq,
                                                const EvictOptions &o) {
    // cab-frc ranks by a graph of its keys, which only the host path builds.
    if (o.policy->name() == "cab-frc") return std::nullopt;
    if (inherits(o)) return std::nullopt;
    if (o.allocation.method == BudgetAllocation::Adaptive) return std::nullopt;
    const KvConfig &c = kv.config();
    const int32_t heads_per_unit = o.shared_per_layer ? 1 : c.n_head_kv;
    StreamLayout layout;
    layout.n_layer = c.n_layer;
    layout.n_head = heads_per_unit;
    for (int32_t l = 0; l < c.n_layer; ++l)
        for (int32_t h = 0; h < heads_per_unit; ++h)
            layout.lengths.push_back(kv.stream(seq, l, h).length);
    const std::vector<int32_t> budgets = allocate_budgets(layout, o.budget, o.allocation);
    // A plan depends only on (length, budget), which most units share (a uniform budget over
    // streams of one length): each run of equal pairs is planned once, since every keep_plan
    // call validates the parameters anew (microseconds, times the 112 streams of a 7B cache).
    std::vector<KeepPlan> plans;
    plans.reserve(budgets.size());
    std::optional<KeepPlan> plan;
    for (size_t i = 0; i < budgets.size(); ++i) {
        if (i == 0 || layout.lengths[i] != layout.lengths[i - 1] || budgets[i] != budgets[i - 1])
            plan = o.policy->keep_plan(layout.lengths[i], budgets[i], o.params);
        if (!plan) return std::nullopt;
        plans.push_back(*plan);
    }
    return plans;
}

bool question_aware(const EvictOptions &options) {
    return options.policy != nullptr && ranks_by_window(options);
}

EvictResult evict_sequence(KvCache &kv, Executor &executor, int32_t seq,
                           const EvictOptions &options, int32_t threads) {
    require(options.policy != nullptr || options.quantize, CAB_ERR_INVALID_ARGUMENT,
            "evict: no policy");
    if (options.policy != nullptr) validate(options.params);

    EvictResult result;
    const KvCache::BlockCounts before = kv.blocks_used(seq);
    for (int32_t length : kv.lengths(seq)) result.tokens_before += length;
    if (result.tokens_before == 0) return result;

    // All or nothing (KV_FULL changes nothing), before any eviction.
    if (options.quantize)
        result.tokens_quantized = kv.quantize(executor, seq, options.quantize_recent);
    if (options.policy != nullptr) {
        // Streams with int8 blocks compact on the host side's path (KvCache::compact keeps
        // each slot's type); the others where the scores are.
        const std::optional<std::vector<KeepPlan>> plans =
            kv.blocks_used(seq).q8 == 0 ? keep_plans(kv, seq, options) : std::nullopt;
        if (plans) {
            kv.select(executor, seq, *plans, options.shared_per_layer);
        } else {
            select_on_host(kv, executor, seq, options, threads);
        }
    }

    for (int32_t length : kv.lengths(seq)) result.tokens_kept += length;
    const KvCache::BlockCounts after = kv.blocks_used(seq);
    result.blocks_freed = before.total() - after.total();
    result.bytes_freed = kv.bytes_of(before) - kv.bytes_of(after);
    return result;
}

}  // namespace cab
