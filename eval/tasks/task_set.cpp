#include "tasks/task_set.h"

#include <stdexcept>
#include <utility>

#include "tasks/needle_tasks.h"
#include "util/rng.h"

namespace cab_eval {

TaskSet::TaskSet(const ModelText &text, std::string data_dir, uint64_t seed,
                 int32_t xsum_max_tokens)
    : text_(text), data_dir_(std::move(data_dir)), seed_(seed), xsum_max_tokens_(xsum_max_tokens) {}

TaskSet::~TaskSet() = default;

std::vector<SampleSpec> TaskSet::plan(const std::vector<Task> &tasks,
                                      const std::vector<int32_t> &lengths,
                                      const std::vector<int32_t> &depths, int32_t samples,
                                      int32_t xsum_max_tokens) {
    const auto cells = static_cast<int32_t>(lengths.size() * depths.size());
    std::vector<SampleSpec> specs;
    for (int32_t index = 0; index < samples; ++index) {
        for (const Task task : tasks) {
            for (int32_t c = 0; c < cells; ++c) {
                if (has_depth(task)) {
                    specs.push_back(
                        {task, lengths[c / depths.size()], depths[c % depths.size()], index});
                } else {
                    specs.push_back({task, xsum_max_tokens, -1, index * cells + c});
                }
            }
        }
    }
    return specs;
}

const Haystack &TaskSet::haystack() {
    if (!haystack_)
        haystack_ = std::make_unique<Haystack>(text_, data_dir_ + "/paul_graham_essays");
    return *haystack_;
}

XsumTask &TaskSet::xsum() {
    if (!xsum_)
        xsum_ = std::make_unique<XsumTask>(text_, data_dir_ + "/xsum/xsum_0shot.jsonl", seed_,
                                           xsum_max_tokens_);
    return *xsum_;
}

uint64_t TaskSet::sample_seed(const std::string &id) const {
    return hash_string(id, hash_string("cab-eval-seed") ^ (seed_ * 0x9e3779b97f4a7c15ull));
}

std::string TaskSet::id(const SampleSpec &spec) {
    if (!has_depth(spec.task)) {
        Sample s;
        return xsum().sample(spec.index, &s) ? s.id : std::string();
    }
    return std::string(task_name(spec.task)) + "-L" + std::to_string(spec.length) + "-D" +
           std::to_string(spec.depth) + "-" + std::to_string(spec.index);
}

Sample TaskSet::make(const SampleSpec &spec) {
    if (!has_depth(spec.task)) {
        Sample s;
        if (!xsum().sample(spec.index, &s))
            throw std::invalid_argument("xsum has no sample " + std::to_string(spec.index) +
                                        " of at most " + std::to_string(xsum_max_tokens_) +
                                        " tokens");
        return s;
    }
    const std::string sample_id = id(spec);
    return make_needle_sample(text_, haystack(), spec, sample_seed(sample_id), sample_id);
}

}  // namespace cab_eval
