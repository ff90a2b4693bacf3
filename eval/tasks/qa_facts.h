// Invented facts for question answering after the context: a sentence that states the fact,
// a question about it and its short answer, drawn from fixed templates, names and answers.
#pragma once

#include <string>

#include "util/rng.h"

namespace cab_eval {

struct QaFact {
    std::string sentence;  // "The secret ingredient of the cake in Marlowe's bakery is cardamom."
    std::string question;  // "What is the secret ingredient of the cake in Marlowe's bakery?"
    std::string answer;    // "cardamom"
};

QaFact make_qa_fact(Rng &rng);

}  // namespace cab_eval
