// The harness's tasks (eval/tasks): reproducible from their seed, as long as asked in the
// model's tokens, the fact at the asked depth, the answer in the prompt only where the fact
// states it, and the prompt ending with the question.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>
#include <string>

#include "eval_models.h"
#include "model_text.h"
#include "tasks/needle_tasks.h"
#include "tasks/task_set.h"
#include "test_paths.h"
#include "util/text.h"

using cab_eval::SampleSpec;
using cab_eval::Task;

namespace {

const std::string kChatmlTail = "<|im_end|>\n<|im_start|>assistant\n";

const cab_eval::ModelText &smollm2_text() {
    static const cab_eval::ModelText text(cab::test::eval_smollm2());
    return text;
}

std::string data_dir() {
    return cab::test::shared_path("data");
}

// One task set per seed for the file: building the haystack tokenizes every essay.
cab_eval::TaskSet &tasks(uint64_t seed) {
    static cab_eval::TaskSet seed0(smollm2_text(), data_dir(), 0, 2048);
    static cab_eval::TaskSet seed7(smollm2_text(), data_dir(), 7, 2048);
    return seed == 0 ? seed0 : seed7;
}

int64_t tokens(const std::string &text) {
    return static_cast<int64_t>(smollm2_text().count_tokens(text));
}

}  // namespace

TEST_CASE("eval tasks: the same seed gives the same sample, another seed another", "[eval]") {
    for (const Task task : {Task::passkey, Task::needle, Task::multikey, Task::qa, Task::xsum}) {
        INFO(cab_eval::task_name(task));
        const SampleSpec spec{task, 1024, cab_eval::has_depth(task) ? 50 : -1, 3};
        const auto a = tasks(0).make(spec);
        const auto b = tasks(0).make(spec);
        const auto c = tasks(7).make(spec);
        CHECK(a.prompt.text == b.prompt.text);
        CHECK(a.prompt.tokens == b.prompt.tokens);
        CHECK(a.answer == b.answer);
        CHECK(a.id == tasks(0).id(spec));
        CHECK(a.prompt.text != c.prompt.text);
        // Another index is another sample.
        const auto d = tasks(0).make({task, spec.length, spec.depth, 4});
        CHECK(d.id != a.id);
        CHECK(d.prompt.text != a.prompt.text);
    }
}

// The longest essay sentence takes 143 SmolLM2 tokens; the median one 18.
constexpr int64_t kLongestSentence = 143;

TEST_CASE("eval tasks: prompts are as long as asked, in the model's tokens", "[eval]") {
    int64_t short_by = 0;
    int64_t samples = 0;
    for (const Task task : {Task::passkey, Task::needle, Task::multikey, Task::qa}) {
        for (const int32_t length : {512, 1024, 2048}) {
            for (int32_t index = 0; index < 3; ++index) {
                const auto s = tasks(0).make({task, length, 50, index});
                INFO(s.id);
                const auto n = static_cast<int64_t>(s.prompt.tokens.size());
                CHECK(n <= length);
                // Whole sentences: short of the target by less than the next sentence.
                CHECK(n > length - kLongestSentence - 8);
                short_by += length - n;
                ++samples;
            }
        }
    }
    // Typically a few tokens short (about 10 on average).
    CHECK(short_by < 30 * samples);
}

TEST_CASE("eval tasks: the fact sits at the asked depth", "[eval]") {
    for (const Task task : {Task::passkey, Task::needle, Task::qa}) {
        for (const int32_t depth : {0, 25, 50, 75, 100}) {
            const auto s = tasks(0).make({task, 2048, depth, 1});
            INFO(s.id);
            const size_t at = s.context.find(s.needle);
            REQUIRE(at != std::string::npos);
            std::string essays = s.context;
            essays.erase(at, s.needle.size());
            const double before = static_cast<double>(tokens(s.context.substr(0, at)));
            const double goal = depth / 100.0 * static_cast<double>(tokens(essays));
            if (depth == 0) CHECK(at == 0);
            if (depth == 100) CHECK(at + s.needle.size() == s.context.size());
            // The closest sentence boundary: within half of the longest sentence (a few tokens
            // more where tokens merge across the boundary).
            CHECK(std::fabs(before - goal) <= kLongestSentence / 2 + 4);
        }
    }
}

TEST_CASE("eval tasks: the answer is in the prompt only in its fact; the question ends it",
          "[eval]") {
    for (const Task task : {Task::passkey, Task::needle, Task::multikey, Task::qa}) {
        for (int32_t index = 0; index < 8; ++index) {
            const auto s = tasks(0).make({task, 1024, 25 * (index % 5), index});
            INFO(s.id << ": " << s.needle);
            CHECK(cab_eval::count_occurrences(s.prompt.text, s.needle) == 1);
            CHECK(cab_eval::count_occurrences(s.needle, s.answer) >= 1);
            CHECK(cab_eval::count_occurrences(s.prompt.text, s.answer) ==
                  cab_eval::count_occurrences(s.needle, s.answer));
            // Chat formatted, the user turn ends with the question; then the assistant's turn.
            REQUIRE(s.prompt.text.size() > s.question.size() + kChatmlTail.size());
            CHECK(s.prompt.text.substr(s.prompt.text.size() - kChatmlTail.size() -
                                       s.question.size()) == s.question + kChatmlTail);
            CHECK(s.prompt.text.find(s.context) != std::string::npos);
        }
    }
}

TEST_CASE("eval tasks: passkey, needle and multikey facts", "[eval]") {
    const auto passkey = tasks(0).make({Task::passkey, 1024, 50, 0});
    CHECK(passkey.answer.size() == 5);
    CHECK(passkey.needle == "The pass key is " + passkey.answer + ". Remember it. " +
                                passkey.answer + " is the pass key.");

    const auto needle = tasks(0).make({Task::needle, 1024, 50, 0});
    CHECK(needle.answer.size() == 7);
    CHECK(needle.needle.find("One of the special magic numbers for ") == 0);
    CHECK(cab_eval::count_occurrences(needle.context, "special magic numbers for") == 1);

    const auto multi = tasks(0).make({Task::multikey, 1024, 50, 0});
    const std::string lead = "One of the special magic numbers for ";
    CHECK(cab_eval::count_occurrences(multi.context, lead) == cab_eval::kMultikeyFacts);
    // The question asks for the key of the fact that holds the answer.
    REQUIRE(multi.needle.rfind(lead, 0) == 0);
    const std::string key =
        multi.needle.substr(lead.size(), multi.needle.find(" is: ") - lead.size());
    CHECK(multi.needle == lead + key + " is: " + multi.answer + ".");
    CHECK(multi.question.find("magic number for " + key + " mentioned") != std::string::npos);
    CHECK(cab_eval::count_occurrences(multi.context, key + " is:") == 1);
}

TEST_CASE("eval tasks: xsum takes whole articles that fit", "[eval]") {
    std::set<std::string> ids;
    for (int32_t index = 0; index < 6; ++index) {
        const SampleSpec spec{Task::xsum, 2048, -1, index};
        const auto s = tasks(0).make(spec);
        INFO(s.id);
        CHECK(ids.insert(s.id).second);
        CHECK(static_cast<int64_t>(s.prompt.tokens.size()) <= 2048);
        CHECK(s.question == "Summarize the above article in 1 sentence.");
        CHECK(s.context.rfind("###\nArticle: ", 0) == 0);
        CHECK_FALSE(s.answer.empty());
        CHECK(s.prompt.text.substr(s.prompt.text.size() - kChatmlTail.size() - s.question.size()) ==
              s.question + kChatmlTail);
    }
    // Only articles that fit: with a 256-token limit there are fewer, all short.
    cab_eval::TaskSet small(smollm2_text(), data_dir(), 0, 256);
    int32_t found = 0;
    while (found < 1000 && !small.id({Task::xsum, 256, -1, found}).empty()) ++found;
    CHECK(found > 0);
    CHECK(found < 1000);
    CHECK(small.make({Task::xsum, 256, -1, found - 1}).prompt.tokens.size() <= 256);
    CHECK_THROWS_AS(small.make({Task::xsum, 256, -1, found}), std::invalid_argument);
}

TEST_CASE("eval tasks: a model without a chat template gets a plain prompt", "[eval]") {
    const cab_eval::ModelText text(cab::test::eval_stories260k());
    REQUIRE_FALSE(text.has_chat_template());
    cab_eval::TaskSet set(text, data_dir(), 0, 400);
    const auto s = set.make({Task::qa, 400, 50, 0});
    CHECK(s.prompt.tokens.size() <= 400);
    CHECK(s.prompt.tokens.size() >= 300);
    CHECK(s.prompt.tokens.front() == text.info().bos);
    const std::string tail = s.question + "\nAnswer:";
    CHECK(s.prompt.text.substr(s.prompt.text.size() - tail.size()) == tail);
    // Too short for the instruction, fact and question: refused, not cut.
    CHECK_THROWS_AS(set.make({Task::qa, 40, 50, 0}), std::invalid_argument);
}

TEST_CASE("eval tasks: the plan covers every cell, index by index", "[eval]") {
    const auto specs =
        cab_eval::TaskSet::plan({Task::passkey, Task::xsum}, {512, 1024}, {0, 100}, 3, 1024);
    // Per index: passkey at 2 lengths x 2 depths, then as many xsum articles.
    REQUIRE(specs.size() == 3 * (4 + 4));
    CHECK(specs[0].index == 0);
    CHECK(specs[0].length == 512);
    CHECK(specs[1].depth == 100);
    CHECK(specs[2].length == 1024);
    for (size_t i = 4; i < 8; ++i) {
        CHECK(specs[i].task == Task::xsum);
        CHECK(specs[i].depth == -1);
        CHECK(specs[i].length == 1024);
    }
    CHECK(specs[8].index == 1);
    CHECK(specs[12].index == 4);  // the fifth xsum article
    CHECK(specs[23].index == 11);
    CHECK(std::count_if(specs.begin(), specs.end(), [](const SampleSpec &s) {
              return s.task == Task::passkey && s.length == 1024 && s.depth == 100;
          }) == 3);
}
