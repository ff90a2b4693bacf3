#include "tasks/needle_tasks.h"

#include <stdexcept>
#include <vector>

#include "tasks/context_builder.h"
#include "tasks/qa_facts.h"
#include "util/rng.h"
#include "util/text.h"

namespace cab_eval {

namespace {

// RULER's keys are word pairs; these make 24 x 24 distinct keys.
const std::vector<std::string> kAdjectives = {
    "amber", "brave", "calm",  "dusty",  "eager",  "fuzzy", "gentle", "hollow",
    "icy",   "jolly", "kind",  "lively", "mellow", "noisy", "odd",    "proud",
    "quiet", "rusty", "shiny", "tidy",   "velvet", "witty", "young",  "zesty"};
const std::vector<std::string> kNouns = {
    "anchor", "badger", "canyon", "dolphin", "ember",    "falcon", "glacier", "harbor",
    "island", "jungle", "kettle", "lantern", "meadow",   "nectar", "orchard", "pebble",
    "quarry", "river",  "saddle", "tunnel",  "umbrella", "valley", "walnut",  "yarrow"};

std::string magic_key(Rng &rng) {
    return rng.pick(kAdjectives) + "-" + rng.pick(kNouns);
}

std::string magic_value(Rng &rng) {
    return std::to_string(rng.range(1000000, 9999999));
}

std::string magic_sentence(const std::string &key, const std::string &value) {
    return "One of the special magic numbers for " + key + " is: " + value + ".";
}

const char kMagicInstruction[] =
    "Some special magic numbers are hidden within the following text. Make sure to memorize "
    "it. I will quiz you about the numbers afterwards.";

// The parts of one draw: what the prompt holds and what it asks.
struct Draw {
    NeedlePrompt parts;
    std::string answer;
    std::string needle;
};

Draw draw_passkey(Rng &rng, double depth) {
    const std::string key = std::to_string(rng.range(10000, 99999));
    Draw d;
    d.answer = key;
    d.needle = "The pass key is " + key + ". Remember it. " + key + " is the pass key.";
    d.parts.instruction =
        "There is an important piece of information hidden inside a lot of irrelevant text. "
        "Find it and memorize it. I will quiz you about the important information there.";
    d.parts.needles = {{d.needle, depth}};
    d.parts.question = "What is the pass key number mentioned in the provided text?";
    return d;
}

Draw draw_magic(Rng &rng, double depth, int n_facts) {
    std::vector<std::string> keys;
    std::vector<std::string> values;
    while (static_cast<int>(keys.size()) < n_facts) {
        std::string k = magic_key(rng);
        std::string v = magic_value(rng);
        bool fresh = true;
        for (size_t i = 0; i < keys.size(); ++i) fresh = fresh && keys[i] != k && values[i] != v;
        if (!fresh) continue;
        keys.push_back(std::move(k));
        values.push_back(std::move(v));
    }
    Draw d;
    d.answer = values[0];
    d.needle = magic_sentence(keys[0], values[0]);
    d.parts.instruction = kMagicInstruction;
    d.parts.needles.push_back({d.needle, depth});
    for (size_t i = 1; i < keys.size(); ++i)
        d.parts.needles.push_back(
            {magic_sentence(keys[i], values[i]), static_cast<double>(rng.range(0, 100)) / 100.0});
    d.parts.question =
        "What is the special magic number for " + keys[0] + " mentioned in the provided text?";
    return d;
}

Draw draw_qa(Rng &rng, double depth) {
    const QaFact fact = make_qa_fact(rng);
    Draw d;
    d.answer = fact.answer;
    d.needle = fact.sentence;
    d.parts.instruction = "Read the following text and answer the question about it.";
    d.parts.needles = {{fact.sentence, depth}};
    d.parts.question = fact.question + " Answer briefly.";
    return d;
}

Draw draw(Task task, Rng &rng, double depth) {
    switch (task) {
        case Task::passkey:
            return draw_passkey(rng, depth);
        case Task::needle:
            return draw_magic(rng, depth, 1);
        case Task::multikey:
            return draw_magic(rng, depth, kMultikeyFacts);
        case Task::qa:
            return draw_qa(rng, depth);
        case Task::xsum:
            break;
    }
    throw std::logic_error("make_needle_sample: xsum hides no needle");
}

}  // namespace

Sample make_needle_sample(const ModelText &text, const Haystack &haystack, const SampleSpec &spec,
                          uint64_t seed, const std::string &id) {
    Rng rng(seed);
    constexpr int kMaxDraws = 64;
    for (int attempt = 0; attempt < kMaxDraws; ++attempt) {
        Draw d = draw(spec.task, rng, static_cast<double>(spec.depth) / 100.0);
        BuiltContext built = build_context(text, haystack, rng, d.parts, spec.length);
        const std::string &prompt = built.prompt.text;
        if (count_occurrences(prompt, d.needle) != 1 ||
            count_occurrences(prompt, d.answer) != count_occurrences(d.needle, d.answer))
            continue;
        Sample s;
        s.task = spec.task;
        s.id = id;
        s.target_length = spec.length;
        s.depth = spec.depth;
        s.context = std::move(built.context);
        s.needle = std::move(d.needle);
        s.question = std::move(d.parts.question);
        s.answer = std::move(d.answer);
        s.prompt = std::move(built.prompt);
        return s;
    }
    throw std::runtime_error("sample " + id + ": none of " + std::to_string(kMaxDraws) +
                             " draws has its answer only in its needle");
}

}  // namespace cab_eval
