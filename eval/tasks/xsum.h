// XSum summarization (the H2O paper's 0-shot set): each line of xsum_0shot.jsonl holds a prompt
// ("###\nArticle: ...\n\nSummarize the above article in 1 sentence.\n") and summary_gt.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model_text.h"
#include "tasks/sample.h"

namespace cab_eval {

class XsumTask {
public:
    // Loads `jsonl_path`; samples are taken in a seeded order of the articles, skipping those
    // whose prompt is longer than max_tokens.
    XsumTask(const ModelText &text, const std::string &jsonl_path, uint64_t seed,
             int32_t max_tokens);

    // The index-th sample; false when fewer articles fit.
    bool sample(int32_t index, Sample *out);

private:
    struct Article {
        std::string prompt;
        std::string summary;
    };
    Sample make(size_t article) const;

    const ModelText &text_;
    int32_t max_tokens_;
    std::vector<Article> articles_;
    std::vector<size_t> order_;    // seeded permutation of the articles
    size_t scanned_ = 0;           // order_[0, scanned_) have been measured
    std::vector<Sample> fitting_;  // the samples found so far, in order
};

}  // namespace cab_eval
