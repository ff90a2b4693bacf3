// The essays that hide the needles: loaded once, split into sentences, each sentence's token
// count measured with the model, and a seeded run of sentences for each sample.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model_text.h"
#include "util/rng.h"

namespace cab_eval {

class Haystack {
public:
    // Reads DIR/*.txt (sorted by name). Throws when there is none.
    Haystack(const ModelText &text, const std::string &essay_dir);

    const std::string &sentence(int32_t i) const { return sentences_[i]; }
    // Tokens of " " + the sentence: its share of sentences joined with spaces.
    int32_t tokens(int32_t i) const { return tokens_[i]; }
    size_t size() const { return sentences_.size(); }

    // Sentence indices in reading order: the essays in a seeded order, starting at a random
    // sentence of the first one, wrapping around, until they hold at least `min_tokens` tokens
    // (every sentence once at most).
    std::vector<int32_t> run(Rng &rng, int64_t min_tokens) const;

private:
    std::vector<std::string> sentences_;
    std::vector<int32_t> tokens_;
    std::vector<std::pair<int32_t, int32_t>> essays_;  // [first, end) sentence per essay
};

}  // namespace cab_eval
