#include "tasks/haystack.h"

#include <stdexcept>

#include "util/text.h"

namespace cab_eval {

Haystack::Haystack(const ModelText &text, const std::string &essay_dir) {
    for (const auto &name : list_files(essay_dir, ".txt")) {
        const auto first = static_cast<int32_t>(sentences_.size());
        for (auto &s : split_sentences(read_text_file(essay_dir + "/" + name)))
            sentences_.push_back(std::move(s));
        const auto end = static_cast<int32_t>(sentences_.size());
        if (end > first) essays_.emplace_back(first, end);
    }
    if (essays_.empty()) throw std::runtime_error("no essays (*.txt) in '" + essay_dir + "'");
    tokens_.reserve(sentences_.size());
    for (const auto &s : sentences_)
        tokens_.push_back(static_cast<int32_t>(text.count_tokens(" " + s)));
}

std::vector<int32_t> Haystack::run(Rng &rng, int64_t min_tokens) const {
    std::vector<size_t> order(essays_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    rng.shuffle(order);
    const auto [first, end] = essays_[order[0]];
    const auto start = static_cast<int32_t>(rng.range(first, end - 1));

    std::vector<int32_t> out;
    int64_t total = 0;
    auto take = [&](int32_t b, int32_t e) {
        for (int32_t i = b; i < e && total < min_tokens; ++i) {
            out.push_back(i);
            total += tokens_[i];
        }
    };
    take(start, end);
    for (size_t k = 1; k < order.size(); ++k)
        take(essays_[order[k]].first, essays_[order[k]].second);
    take(first, start);
    return out;
}

}  // namespace cab_eval
