// Builds a prompt of a target length in tokens: essay sentences with fact sentences (needles)
// inserted at depths, an instruction before them and a question after.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model_text.h"
#include "tasks/haystack.h"
#include "util/rng.h"

namespace cab_eval {

struct Needle {
    std::string sentence;
    double depth = 0.0;  // in [0, 1]: the share of the essay tokens before it
};

struct NeedlePrompt {
    std::string instruction;
    std::vector<Needle> needles;  // inserted in this order where depths coincide
    std::string question;
};

struct BuiltContext {
    std::string context;  // essays and needles, sentences separated by single spaces
    Prompt prompt;
};

// The longest prompt of at most `target_tokens` tokens: as many whole essay sentences as fit
// (from haystack.run), each needle on the sentence boundary whose share of the essay tokens is
// closest to its depth. The user turn is instruction, blank line, context, blank line,
// question (ModelText::user_prompt, cue "Answer:"). Throws std::invalid_argument when even the
// prompt without essay text is longer than the target.
BuiltContext build_context(const ModelText &text, const Haystack &haystack, Rng &rng,
                           const NeedlePrompt &parts, int32_t target_tokens);

}  // namespace cab_eval
