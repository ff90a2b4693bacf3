// The tasks that hide facts in essays: passkey, needle (one RULER-style key/value fact),
// multikey (several such facts, one asked) and qa (an invented fact, a question about it).
#pragma once

#include <cstdint>
#include <string>

#include "model_text.h"
#include "tasks/haystack.h"
#include "tasks/sample.h"

namespace cab_eval {

// Facts in a multikey sample: the asked one and three distractors.
constexpr int kMultikeyFacts = 4;

// The sample of `spec` (not xsum), drawn from `seed`. The needle occurs exactly once in the
// prompt and the answer nowhere else (the passkey needle says it twice): draws that break that
// are made again. Throws std::invalid_argument when spec.length
// is too short for the task.
Sample make_needle_sample(const ModelText &text, const Haystack &haystack, const SampleSpec &spec,
                          uint64_t seed, const std::string &id);

}  // namespace cab_eval
