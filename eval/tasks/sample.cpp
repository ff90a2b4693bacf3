#include "tasks/sample.h"

namespace cab_eval {

namespace {

const char *const kTaskNames[] = {"passkey", "needle", "multikey", "qa", "xsum"};
constexpr int kTasks = static_cast<int>(sizeof kTaskNames / sizeof kTaskNames[0]);

}  // namespace

const char *task_name(Task task) {
    return kTaskNames[static_cast<int>(task)];
}

bool parse_task(const std::string &name, Task *task) {
    for (int i = 0; i < kTasks; ++i) {
        if (name == kTaskNames[i]) {
            *task = static_cast<Task>(i);
            return true;
        }
    }
    return false;
}

}  // namespace cab_eval
