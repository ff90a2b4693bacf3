// Answer metrics. The QA ones follow the SQuAD evaluation script (normalization, exact match,
// token F1); ROUGE follows the rouge-score package (lower case, [a-z0-9] tokens, no stemming),
// F-measures of ROUGE-1, ROUGE-2 and ROUGE-L (sentence-level LCS).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cab_eval {

// SQuAD normalization: lower case, ASCII punctuation removed, the articles "a", "an", "the"
// removed, white space collapsed to single spaces.
std::string normalize_answer(std::string_view text);
// The words of normalize_answer(text).
std::vector<std::string> answer_tokens(std::string_view text);

// 1 when the normalized texts are equal, else 0.
double exact_match(std::string_view prediction, std::string_view gold);
// 1 when the normalized gold words appear, in order and adjacent, among the normalized
// prediction's words ("The pass key is 71432." contains "71432"), else 0. An empty gold: 0.
double contains_answer(std::string_view prediction, std::string_view gold);
// SQuAD token F1 over normalized words (multiset overlap). When either side has no words: 1 if
// both have none, else 0.
double token_f1(std::string_view prediction, std::string_view gold);

// rouge-score's default tokenizer: lower case, every character outside [a-z0-9] a separator.
std::vector<std::string> rouge_tokens(std::string_view text);

struct RougeScores {
    double rouge1 = 0.0;
    double rouge2 = 0.0;
    double rouge_l = 0.0;
};
// F-measures of prediction against reference; 0 where either side has no n-grams.
RougeScores rouge(std::string_view prediction, std::string_view reference);

}  // namespace cab_eval
