// How each task scores a generated answer against its gold answer.
#pragma once

#include <string>
#include <vector>

#include "tasks/sample.h"

namespace cab_eval {

struct Score {
    const char *name;  // "contains", "em", "f1", "rouge1", "rouge2", "rougeL"
    double value;
};

// passkey, needle, multikey: contains (the number among the answer's words; accuracy).
// qa: em and f1 on the answer's first non-blank line (chat models may add more lines), and
// contains on the whole answer. xsum: rouge1, rouge2, rougeL on the whole answer.
std::vector<Score> score_answer(Task task, const std::string &generated, const std::string &gold);

}  // namespace cab_eval
