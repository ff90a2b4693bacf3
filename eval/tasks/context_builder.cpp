#include "tasks/context_builder.h"

#include <cmath>
#include <stdexcept>

namespace cab_eval {

namespace {

class Composer {
public:
    Composer(const ModelText &text, const Haystack &haystack, const NeedlePrompt &parts,
             std::vector<int32_t> run)
        : text_(text), haystack_(haystack), parts_(parts), run_(std::move(run)) {
        prefix_.push_back(0);
        for (const int32_t s : run_) prefix_.push_back(prefix_.back() + haystack_.tokens(s));
    }

    size_t available() const { return run_.size(); }
    int64_t essay_tokens(size_t n) const { return prefix_[n]; }

    // The context and prompt with the first n sentences of the run.
    BuiltContext compose(size_t n) const {
        std::vector<size_t> at(parts_.needles.size());
        for (size_t k = 0; k < at.size(); ++k) at[k] = boundary(n, parts_.needles[k].depth);
        BuiltContext out;
        auto append = [&out](const std::string &s) {
            if (!out.context.empty()) out.context += ' ';
            out.context += s;
        };
        for (size_t b = 0; b <= n; ++b) {
            for (size_t k = 0; k < at.size(); ++k)
                if (at[k] == b) append(parts_.needles[k].sentence);
            if (b < n) append(haystack_.sentence(run_[b]));
        }
        out.prompt = text_.user_prompt(
            parts_.instruction + "\n\n" + out.context + "\n\n" + parts_.question, "Answer:");
        return out;
    }

private:
    // The sentence boundary (0..n) whose share of the n sentences' tokens is closest to depth;
    // the earlier one on ties.
    size_t boundary(size_t n, double depth) const {
        const double goal = depth * static_cast<double>(prefix_[n]);
        size_t best = 0;
        for (size_t b = 1; b <= n; ++b)
            if (std::fabs(static_cast<double>(prefix_[b]) - goal) <
                std::fabs(static_cast<double>(prefix_[best]) - goal))
                best = b;
        return best;
    }

    const ModelText &text_;
    const Haystack &haystack_;
    const NeedlePrompt &parts_;
    std::vector<int32_t> run_;
    std::vector<int64_t> prefix_;  // prefix_[n] = tokens of the first n sentences
};

}  // namespace

BuiltContext build_context(const ModelText &text, const Haystack &haystack, Rng &rng,
                           const NeedlePrompt &parts, int32_t target_tokens) {
    Composer c(text, haystack, parts, haystack.run(rng, int64_t{target_tokens} + 256));
    const auto size = [&](size_t n) {
        return static_cast<int64_t>(c.compose(n).prompt.tokens.size());
    };
    const int64_t fixed = size(0);
    if (fixed > target_tokens)
        throw std::invalid_argument("a prompt of " + std::to_string(target_tokens) +
                                    " tokens cannot hold this task: its instruction, facts and "
                                    "question alone take " +
                                    std::to_string(fixed));
    // Sentence counts add up to within a few tokens of the joined text's count: start from the
    // estimate, then correct it against the real tokenization.
    size_t n = 0;
    while (n < c.available() && fixed + c.essay_tokens(n + 1) <= target_tokens) ++n;
    while (n > 0 && size(n) > target_tokens) --n;
    while (n < c.available() && size(n + 1) <= target_tokens) ++n;
    return c.compose(n);
}

}  // namespace cab_eval
