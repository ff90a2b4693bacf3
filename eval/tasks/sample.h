// One evaluation sample: a prompt that ends with a question, and the answer it asks for.
#pragma once

#include <cstdint>
#include <string>

#include "model_text.h"

namespace cab_eval {

enum class Task { passkey, needle, multikey, qa, xsum };

const char *task_name(Task task);
// False for an unknown name.
bool parse_task(const std::string &name, Task *task);
// Whether the task hides facts in essays at a depth (every task but xsum).
inline bool has_depth(Task task) {
    return task != Task::xsum;
}

// What to generate: the task, the target prompt length in tokens (xsum: the most it may have),
// the depth in percent (-1 for xsum) and the sample's number within its (task, length, depth).
struct SampleSpec {
    Task task = Task::passkey;
    int32_t length = 0;
    int32_t depth = -1;
    int32_t index = 0;
};

struct Sample {
    Task task = Task::passkey;
    std::string id;  // unique within a configuration, e.g. "needle-L1024-D50-3"
    int32_t target_length = 0;
    int32_t depth = -1;
    std::string context;   // the essays with the facts in them (xsum: the article)
    std::string needle;    // the sentence that holds the answer ("" for xsum)
    std::string question;  // what the prompt ends with
    std::string answer;    // the gold answer (xsum: the reference summary)
    Prompt prompt;
};

}  // namespace cab_eval
