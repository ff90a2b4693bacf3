#include "policy/budget.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "util/error.h"

namespace cab {

namespace {

using Sizes = std::vector<int64_t>;

int64_t sum(const Sizes &v) {
    return std::accumulate(v.begin(), v.end(), int64_t{0});
}

// Caps every b[i] at cap[i] and hands the excess, in equal shares (remainder to the earliest),
// to the entries below their cap, until it is all placed or every entry is full.
void water_fill(Sizes &b, const Sizes &cap) {
    int64_t excess = 0;
    for (size_t i = 0; i < b.size(); ++i) {
        if (b[i] > cap[i]) {
            excess += b[i] - cap[i];
            b[i] = cap[i];
        }
    }
    // Each round places everything or fills at least one more entry: at most size() rounds.
    while (excess > 0) {
        std::vector<size_t> open;
        for (size_t i = 0; i < b.size(); ++i)
            if (b[i] < cap[i]) open.push_back(i);
        if (open.empty()) return;
        const int64_t share = excess / static_cast<int64_t>(open.size());
        int64_t extra = excess % static_cast<int64_t>(open.size());
        for (size_t i : open) {
            const int64_t want = share + (extra > 0 ? 1 : 0);
            if (extra > 0) --extra;
            const int64_t given = std::min(want, cap[i] - b[i]);
            b[i] += given;
            excess -= given;
        }
    }
}

// `total` split into `parts` equal shares, the remainder to the first ones.
Sizes even_split(int64_t total, size_t parts) {
    Sizes out(parts, total / static_cast<int64_t>(parts));
    for (size_t i = 0; i < static_cast<size_t>(total % static_cast<int64_t>(parts)); ++i) ++out[i];
    return out;
}

// Real shares (summing to `total` up to rounding) to integers summing to `total` exactly:
// floors, then one more to the largest fractional parts (ties to the earlier share).
Sizes largest_remainder(const std::vector<double> &shares, int64_t total) {
    Sizes out(shares.size());
    std::vector<size_t> order(shares.size());
    for (size_t i = 0; i < shares.size(); ++i) {
        out[i] = static_cast<int64_t>(std::floor(shares[i]));
        order[i] = i;
    }
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return shares[a] - std::floor(shares[a]) > shares[b] - std::floor(shares[b]);
    });
    int64_t left = total - sum(out);
    for (size_t i = 0; left > 0; i = (i + 1) % order.size(), --left) ++out[order[i]];
    return out;
}

// The floor every stream gets from Pyramid and Adaptive: min_budget, or the protected slots.
int64_t floor_budget(const AllocationParams &p) {
    return std::max<int64_t>(p.min_budget, int64_t{p.protect_front} + p.protect_back);
}

// Layer totals of the pyramid (see budget.h), summing to `total`.
Sizes pyramid_layers(int64_t total, int32_t n_layer, int32_t n_head, const AllocationParams &p) {
    const double avg = static_cast<double>(total) / (static_cast<double>(n_layer) * n_head);
    if (n_layer == 1 || avg <= static_cast<double>(floor_budget(p)))
        return even_split(total, static_cast<size_t>(n_layer));
    const double b_min = std::max(static_cast<double>(floor_budget(p)), avg / p.pyramid_beta);
    const double b_max = 2.0 * avg - b_min;
    std::vector<double> shares(static_cast<size_t>(n_layer));
    for (int32_t l = 0; l < n_layer; ++l)
        shares[static_cast<size_t>(l)] = n_head * (b_max - (b_max - b_min) * l / (n_layer - 1));
    return largest_remainder(shares, total);
}

// One layer's budget shared among its heads by attention concentration (see budget.h).
// budget <= sum of the heads' lengths.
Sizes adaptive_heads(const StreamLayout &layout, int32_t layer, int64_t budget,
                     const AllocationParams &p) {
    const size_t n_head = static_cast<size_t>(layout.n_head);
    const size_t first = static_cast<size_t>(layer) * n_head;
    Sizes len(n_head), out(n_head);
    for (size_t h = 0; h < n_head; ++h) {
        len[h] = layout.lengths[first + h];
        out[h] = std::min<int64_t>(floor_budget(p), len[h]);
    }
    if (sum(out) > budget) {
        Sizes even = even_split(budget, n_head);
        water_fill(even, len);
        return even;
    }
    struct Entry {
        double value;
        int32_t head, rank;
    };
    std::vector<Entry> pool;
    for (size_t h = 0; h < n_head; ++h) {
        const int64_t protect =
            std::min<int64_t>(len[h], int64_t{p.protect_front} + p.protect_back);
        const float *score = layout.scores[first + h];
        std::vector<double> sorted;
        if (len[h] > protect)
            sorted.assign(score + p.protect_front, score + len[h] - p.protect_back);
        const double mass = std::accumulate(sorted.begin(), sorted.end(), 0.0);
        std::sort(sorted.begin(), sorted.end(), std::greater<double>());
        // A head's best ranked slots come first, so the floor and the pool take prefixes of its
        // order.
        for (int64_t r = out[h] - protect; r < static_cast<int64_t>(sorted.size()); ++r) {
            const double v = mass > 0.0 ? sorted[static_cast<size_t>(r)] / mass : 0.0;
            pool.push_back({v, static_cast<int32_t>(h), static_cast<int32_t>(r)});
        }
    }
    const size_t take = static_cast<size_t>(budget - sum(out));
    auto better = [](const Entry &a, const Entry &b) {
        if (a.value != b.value) return a.value > b.value;
        if (a.head != b.head) return a.head < b.head;
        return a.rank < b.rank;
    };
    std::nth_element(pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(take), pool.end(),
                     better);
    for (size_t i = 0; i < take; ++i) ++out[static_cast<size_t>(pool[i].head)];
    return out;
}

void check_layout(const StreamLayout &layout, const AllocationParams &p) {
    require(layout.n_layer > 0 && layout.n_head > 0, CAB_ERR_INVALID_ARGUMENT,
            "budget allocation: n_layer = " + std::to_string(layout.n_layer) +
                " and n_head = " + std::to_string(layout.n_head) + " must be positive");
    const size_t n = static_cast<size_t>(layout.n_layer) * static_cast<size_t>(layout.n_head);
    require(layout.lengths.size() == n, CAB_ERR_INVALID_ARGUMENT,
            "budget allocation: " + std::to_string(layout.lengths.size()) + " lengths for " +
                std::to_string(n) + " streams");
    for (size_t i = 0; i < n; ++i) {
        // Loops test first and build the message only on failure: they run over every slot.
        if (layout.lengths[i] < 0)
            fail(CAB_ERR_INVALID_ARGUMENT,
                 "budget allocation: lengths[" + std::to_string(i) + "] is negative");
    }
    require(p.min_budget >= 0, CAB_ERR_INVALID_ARGUMENT,
            "budget allocation: min_budget = " + std::to_string(p.min_budget) + " is negative");
    require(p.protect_front >= 0 && p.protect_back >= 0, CAB_ERR_INVALID_ARGUMENT,
            "budget allocation: protected slots " + std::to_string(p.protect_front) + " + " +
                std::to_string(p.protect_back) + " must not be negative");
    require(p.pyramid_beta >= 1.0, CAB_ERR_INVALID_ARGUMENT,
            "budget allocation: pyramid_beta = " + std::to_string(p.pyramid_beta) + " is below 1");
    if (p.method != BudgetAllocation::Adaptive) return;
    require(layout.scores.size() == n, CAB_ERR_INVALID_ARGUMENT,
            "budget allocation: adaptive needs scores for each of the " + std::to_string(n) +
                " streams, got " + std::to_string(layout.scores.size()));
    for (size_t i = 0; i < n; ++i) {
        if (layout.lengths[i] == 0) continue;
        require(layout.scores[i] != nullptr, CAB_ERR_INVALID_ARGUMENT,
                "budget allocation: scores[" + std::to_string(i) + "] is null");
        for (int32_t j = 0; j < layout.lengths[i]; ++j) {
            if (std::isnan(layout.scores[i][j]))
                fail(CAB_ERR_INVALID_ARGUMENT, "budget allocation: scores[" + std::to_string(i) +
                                                   "][" + std::to_string(j) + "] is NaN");
        }
    }
}

}  // namespace

BudgetAllocation parse_budget_allocation(std::string_view name) {
    if (name == "uniform") return BudgetAllocation::Uniform;
    if (name == "pyramid") return BudgetAllocation::Pyramid;
    if (name == "adaptive") return BudgetAllocation::Adaptive;
    fail(CAB_ERR_INVALID_ARGUMENT,
         "budget allocation '" + std::string(name) + "' is not one of uniform, pyramid, adaptive");
}

int64_t total_budget(const BudgetSpec &spec, const std::vector<int32_t> &lengths) {
    int64_t total = 0;
    for (int32_t len : lengths) total += spec.tokens_for(len);
    return total;
}

std::vector<int32_t> allocate_budgets(const StreamLayout &layout, const BudgetSpec &spec,
                                      const AllocationParams &p) {
    check_layout(layout, p);
    const size_t n_head = static_cast<size_t>(layout.n_head);
    const size_t n_layer = static_cast<size_t>(layout.n_layer);
    const Sizes caps(layout.lengths.begin(), layout.lengths.end());
    const int64_t total = total_budget(spec, layout.lengths);

    Sizes budget;
    switch (p.method) {
        case BudgetAllocation::Uniform:
            for (int32_t len : layout.lengths) budget.push_back(spec.tokens_for(len));
            break;
        case BudgetAllocation::Pyramid:
            for (int64_t layer_total : pyramid_layers(total, layout.n_layer, layout.n_head, p)) {
                const Sizes heads = even_split(layer_total, n_head);
                budget.insert(budget.end(), heads.begin(), heads.end());
            }
            break;
        case BudgetAllocation::Adaptive: {
            Sizes layers = even_split(total, n_layer), layer_caps(n_layer, 0);
            for (size_t i = 0; i < caps.size(); ++i) layer_caps[i / n_head] += caps[i];
            water_fill(layers, layer_caps);
            for (size_t l = 0; l < n_layer; ++l) {
                const Sizes heads = adaptive_heads(layout, static_cast<int32_t>(l), layers[l], p);
                budget.insert(budget.end(), heads.begin(), heads.end());
            }
            break;
        }
    }
    water_fill(budget, caps);
    return std::vector<int32_t>(budget.begin(), budget.end());
}

}  // namespace cab
