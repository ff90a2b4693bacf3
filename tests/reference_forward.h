// An independent, naive reference of the llama / qwen2 forward pass for the tests of scores and
// eviction: one token at a time, in double precision, straight from the model's (host, F32)
// weights, with dense softmax attention over an explicit list of visible cached positions per
// (layer, kv head). It shares no code with the library's forward pass or kernels.
//
// Eviction is a mask in this reference: a token's query sees exactly the positions the caller
// lists for each (layer, kv head), plus itself. Keys and values of a token are computed once,
// when the token is processed, as the cache does.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <vector>

#include "model/model.h"
#include "model/weights.h"

namespace cab::test {

class ReferenceForward {
public:
    // visible[layer * n_head_kv + kv_head]: cached positions the query sees (any order).
    using Visible = std::vector<std::vector<int32_t>>;
    // probs[layer][query head]: the attention probability the query gave each position it saw.
    using Probs = std::vector<std::vector<std::map<int32_t, double>>>;

    explicit ReferenceForward(const Model &model) : model_(model), hp_(model.hparams()) {
        kv_.resize(static_cast<size_t>(hp_.n_layer) * hp_.n_head_kv);
    }

    // Every cached position of every stream: the dense, unmasked view.
    Visible all_visible() const {
        Visible v(kv_.size());
        for (size_t i = 0; i < kv_.size(); ++i)
            for (const auto &entry : kv_[i]) v[i].push_back(entry.first);
        return v;
    }

    // Processes `token` at position `pos` (not seen before); returns its next-token logits.
    // When probs is non-null it receives the attention probabilities of this query.
    std::vector<double> step(int32_t token, int32_t pos, const Visible &visible,
                             Probs *probs = nullptr) {
        const ModelWeights &w = model_.weights();
        const int64_t e = hp_.n_embd, d = hp_.head_dim;
        const int32_t group = hp_.n_head / hp_.n_head_kv;
        std::vector<double> x(static_cast<size_t>(e));
        for (int64_t i = 0; i < e; ++i) x[i] = w.token_embd.as<float>()[token * e + i];
        if (probs != nullptr)
            probs->assign(static_cast<size_t>(hp_.n_layer),
                          std::vector<std::map<int32_t, double>>(static_cast<size_t>(hp_.n_head)));
        for (int32_t l = 0; l < hp_.n_layer; ++l) {
            const LayerWeights &lw = w.layers[static_cast<size_t>(l)];
            const std::vector<double> xn = rmsnorm(x, lw.attn_norm);
            // The fused Q/K/V weight's rows (and bias entries) of each projection.
            const int64_t nq = int64_t{hp_.n_head} * d, nkv = int64_t{hp_.n_head_kv} * d;
            auto part = [&](int64_t first, int64_t n) {
                return linear(lw.wqkv.rows_view(first, n),
                              lw.bqkv.empty() ? Tensor{} : lw.bqkv.cols_view(first, n), xn);
            };
            std::vector<double> q = part(0, nq);
            std::vector<double> k = part(nq, nkv);
            const std::vector<double> v = part(nq + nkv, nkv);
            for (int32_t h = 0; h < hp_.n_head; ++h) rope(&q[h * d], pos);
            for (int32_t g = 0; g < hp_.n_head_kv; ++g) {
                rope(&k[g * d], pos);
                Entry &entry = kv_[stream(l, g)][pos];
                entry.k.assign(k.begin() + g * d, k.begin() + (g + 1) * d);
                entry.v.assign(v.begin() + g * d, v.begin() + (g + 1) * d);
            }
            std::vector<double> att(static_cast<size_t>(hp_.n_head * d), 0.0);
            for (int32_t h = 0; h < hp_.n_head; ++h) {
                const int32_t g = h / group;
                std::vector<int32_t> seen = visible.at(stream(l, g));
                seen.push_back(pos);
                std::vector<double> s(seen.size());
                double mx = -1e300, sum = 0.0;
                for (size_t j = 0; j < seen.size(); ++j) {
                    const Entry &kj = kv_[stream(l, g)].at(seen[j]);
                    double dot = 0.0;
                    for (int64_t t = 0; t < d; ++t) dot += q[h * d + t] * kj.k[t];
                    s[j] = dot / std::sqrt(static_cast<double>(d));
                    mx = std::max(mx, s[j]);
                }
                for (double &sj : s) sum += (sj = std::exp(sj - mx));
                for (size_t j = 0; j < seen.size(); ++j) {
                    const double p = s[j] / sum;
                    const Entry &vj = kv_[stream(l, g)].at(seen[j]);
                    for (int64_t t = 0; t < d; ++t) att[h * d + t] += p * vj.v[t];
                    if (probs != nullptr) (*probs)[l][h][seen[j]] += p;
                }
            }
            add(x, linear(lw.wo, Tensor{}, att));
            const std::vector<double> fn = rmsnorm(x, lw.ffn_norm);
            const int64_t n_ff = hp_.n_ff;
            std::vector<double> gate = linear(lw.ffn_gate_up.rows_view(0, n_ff), Tensor{}, fn);
            const std::vector<double> up =
                linear(lw.ffn_gate_up.rows_view(n_ff, n_ff), Tensor{}, fn);
            for (size_t i = 0; i < gate.size(); ++i)
                gate[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
            add(x, linear(lw.ffn_down, Tensor{}, gate));
        }
        return linear(w.output, Tensor{}, rmsnorm(x, w.output_norm));
    }

private:
    struct Entry {
        std::vector<double> k, v;
    };

    size_t stream(int32_t layer, int32_t g) const {
        return static_cast<size_t>(layer) * hp_.n_head_kv + g;
    }

    std::vector<double> rmsnorm(const std::vector<double> &x, const Tensor &w) const {
        double ss = 0.0;
        for (double xi : x) ss += xi * xi;
        const double scale = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + hp_.rms_eps);
        std::vector<double> y(x.size());
        for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale * w.as<float>()[i];
        return y;
    }

    // y = W x (+ b), W [rows, cols] row-major.
    static std::vector<double> linear(const Tensor &w, const Tensor &b,
                                      const std::vector<double> &x) {
        std::vector<double> y(static_cast<size_t>(w.rows()), 0.0);
        for (int64_t r = 0; r < w.rows(); ++r) {
            const float *row = w.as<float>() + r * w.cols();
            double acc = b.empty() ? 0.0 : b.as<float>()[r];
            for (int64_t c = 0; c < w.cols(); ++c) acc += row[c] * x[static_cast<size_t>(c)];
            y[static_cast<size_t>(r)] = acc;
        }
        return y;
    }

    static void add(std::vector<double> &x, const std::vector<double> &y) {
        for (size_t i = 0; i < x.size(); ++i) x[i] += y[i];
    }

    // Rotary embedding of one head: pairs (2i, 2i + 1) for llama GGUF files, (i, i + d/2) NeoX.
    void rope(double *v, int32_t pos) const {
        const int32_t d = hp_.head_dim, half = d / 2;
        const bool neox = hp_.rope_style == RopeStyle::NeoX;
        for (int32_t i = 0; i < half; ++i) {
            const double angle = pos * static_cast<double>(hp_.rope_freq_scale) *
                                 std::pow(static_cast<double>(hp_.rope_theta), -2.0 * i / d);
            double &a = neox ? v[i] : v[2 * i];
            double &b = neox ? v[i + half] : v[2 * i + 1];
            const double x0 = a, x1 = b;
            a = x0 * std::cos(angle) - x1 * std::sin(angle);
            b = x0 * std::sin(angle) + x1 * std::cos(angle);
        }
    }

    const Model &model_;
    const HParams &hp_;
    std::vector<std::map<int32_t, Entry>> kv_;  // [layer * n_head_kv + g]: position -> K, V
};

}  // namespace cab::test
