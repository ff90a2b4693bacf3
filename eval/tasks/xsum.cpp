#include "tasks/xsum.h"

#include <map>
#include <sstream>
#include <stdexcept>

#include "util/json.h"
#include "util/rng.h"
#include "util/text.h"

namespace cab_eval {

XsumTask::XsumTask(const ModelText &text, const std::string &jsonl_path, uint64_t seed,
                   int32_t max_tokens)
    : text_(text), max_tokens_(max_tokens) {
    std::istringstream lines(read_text_file(jsonl_path));
    std::string line;
    for (size_t number = 1; std::getline(lines, line); ++number) {
        if (trim(line).empty()) continue;
        std::map<std::string, std::string> fields;
        if (!parse_string_fields(line, &fields) || !fields.count("article") ||
            !fields.count("summary_gt"))
            throw std::runtime_error(jsonl_path + ":" + std::to_string(number) +
                                     ": not a JSON object with article and summary_gt");
        articles_.push_back({trim(fields["article"]), trim(fields["summary_gt"])});
    }
    if (articles_.empty()) throw std::runtime_error("no articles in '" + jsonl_path + "'");
    order_.resize(articles_.size());
    for (size_t i = 0; i < order_.size(); ++i) order_[i] = i;
    Rng rng(hash_string("xsum", seed));
    rng.shuffle(order_);
}

Sample XsumTask::make(size_t article) const {
    const Article &a = articles_[article];
    Sample s;
    s.task = Task::xsum;
    s.id = "xsum-" + std::to_string(article);
    s.target_length = max_tokens_;
    s.depth = -1;
    s.context = a.prompt;
    const size_t last_paragraph = a.prompt.rfind("\n\n");
    if (last_paragraph != std::string::npos)
        s.question = first_nonblank_line(a.prompt.substr(last_paragraph + 2));
    s.answer = a.summary;
    s.prompt = text_.user_prompt(a.prompt, "Summary:");
    return s;
}

bool XsumTask::sample(int32_t index, Sample *out) {
    while (static_cast<int32_t>(fitting_.size()) <= index && scanned_ < order_.size()) {
        Sample s = make(order_[scanned_++]);
        if (static_cast<int64_t>(s.prompt.tokens.size()) <= max_tokens_)
            fitting_.push_back(std::move(s));
    }
    if (static_cast<int32_t>(fitting_.size()) <= index) return false;
    *out = fitting_[index];
    return true;
}

}  // namespace cab_eval
