#include "scoring.h"

#include "metrics.h"
#include "util/text.h"

namespace cab_eval {

std::vector<Score> score_answer(Task task, const std::string &generated, const std::string &gold) {
    switch (task) {
        case Task::passkey:
        case Task::needle:
        case Task::multikey:
            return {{"contains", contains_answer(generated, gold)}};
        case Task::qa: {
            const std::string line = first_nonblank_line(generated);
            return {{"em", exact_match(line, gold)},
                    {"f1", token_f1(line, gold)},
                    {"contains", contains_answer(generated, gold)}};
        }
        case Task::xsum: {
            const RougeScores r = rouge(generated, gold);
            return {{"rouge1", r.rouge1}, {"rouge2", r.rouge2}, {"rougeL", r.rouge_l}};
        }
    }
    return {};
}

}  // namespace cab_eval
