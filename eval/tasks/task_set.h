// Every task over one model and data folder: which samples a run asks for, their ids, and the
// samples themselves, each reproducible from (task, seed, target length, depth, index).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model_text.h"
#include "tasks/haystack.h"
#include "tasks/sample.h"
#include "tasks/xsum.h"

namespace cab_eval {

class TaskSet {
public:
    // `data_dir` holds paul_graham_essays/ and xsum/xsum_0shot.jsonl; each is read when a task
    // first needs it. xsum samples are the articles whose prompt fits in xsum_max_tokens.
    TaskSet(const ModelText &text, std::string data_dir, uint64_t seed, int32_t xsum_max_tokens);
    ~TaskSet();

    // The samples of a run, in run order: index by index, so that a run cut short still covers
    // every (task, length, depth) evenly. xsum has no length or depth but as many samples as
    // every other task: samples x lengths x depths articles.
    static std::vector<SampleSpec> plan(const std::vector<Task> &tasks,
                                        const std::vector<int32_t> &lengths,
                                        const std::vector<int32_t> &depths, int32_t samples,
                                        int32_t xsum_max_tokens);

    // The sample's id; "" when xsum has fewer fitting articles than spec.index + 1.
    std::string id(const SampleSpec &spec);
    Sample make(const SampleSpec &spec);

    // The seed of the sample with this id.
    uint64_t sample_seed(const std::string &id) const;

private:
    const Haystack &haystack();
    XsumTask &xsum();

    const ModelText &text_;
    std::string data_dir_;
    uint64_t seed_;
    int32_t xsum_max_tokens_;
    std::unique_ptr<Haystack> haystack_;
    std::unique_ptr<XsumTask> xsum_;
};

}  // namespace cab_eval
