// The harness's answer metrics (eval/metrics.h) on hand-computed cases: SQuAD normalization,
// exact match, contains, token F1, ROUGE-1/2/L F-measures.
#include <catch2/catch.hpp>

#include "metrics.h"
#include "scoring.h"

using cab_eval::contains_answer;
using cab_eval::exact_match;
using cab_eval::normalize_answer;
using cab_eval::rouge;
using cab_eval::token_f1;

TEST_CASE("eval metrics: SQuAD normalization", "[eval]") {
    CHECK(normalize_answer("The  Quick, brown fox!") == "quick brown fox");
    CHECK(normalize_answer("  A cat; an apple;\nthe END. ") == "cat apple end");
    CHECK(normalize_answer("71,432.") == "71432");
    CHECK(normalize_answer("theory of another") == "theory of another");  // whole words only
    CHECK(normalize_answer("...") == "");
}

TEST_CASE("eval metrics: exact match and contains", "[eval]") {
    CHECK(exact_match("The cardamom.", "cardamom") == 1.0);
    CHECK(exact_match("Cardamom powder", "cardamom") == 0.0);
    CHECK(exact_match("the greenhouse", "The Greenhouse!") == 1.0);

    CHECK(contains_answer("The pass key is 71432.", "71432") == 1.0);
    CHECK(contains_answer("The pass key is 714320.", "71432") == 0.0);  // words, not substrings
    CHECK(contains_answer("It is star anise, I think", "star anise") == 1.0);
    CHECK(contains_answer("anise, then star", "star anise") == 0.0);  // in order and adjacent
    CHECK(contains_answer("anything", "") == 0.0);
    CHECK(contains_answer("", "71432") == 0.0);
}

TEST_CASE("eval metrics: token F1", "[eval]") {
    // "cat sat on mat" vs "cat is on mat": 3 common of 4 and 4.
    CHECK(token_f1("the cat sat on the mat", "the cat is on a mat") == Approx(0.75));
    // P = 1/3, R = 1: F1 = 2 * (1/3) / (4/3) = 0.5.
    CHECK(token_f1("red blue green", "blue") == Approx(0.5));
    // A repeated word counts once per gold occurrence: P = 1/2, R = 1.
    CHECK(token_f1("blue blue", "blue") == Approx(2.0 / 3.0));
    CHECK(token_f1("nothing shared", "cardamom") == 0.0);
    CHECK(token_f1("the", "a") == 1.0);  // both normalize to nothing
    CHECK(token_f1("", "cardamom") == 0.0);
}

TEST_CASE("eval metrics: ROUGE F-measures", "[eval]") {
    // Prediction 8 tokens, reference 9. Unigram overlap: the x2, quick, brown, dog, jumps = 6,
    // so F = 2 * 6 / (8 + 9). Bigrams (7 and 8): "the quick", "quick brown" = 2, F = 4 / 15.
    // LCS "the quick brown jumps the" = 5, F = 10 / 17.
    const auto r = rouge("The quick brown dog jumps on the log.",
                         "The quick brown fox jumps over the lazy dog");
    CHECK(r.rouge1 == Approx(12.0 / 17.0));
    CHECK(r.rouge2 == Approx(4.0 / 15.0));
    CHECK(r.rouge_l == Approx(10.0 / 17.0));

    // Same length: unigrams 5 of 6, bigrams 3 of 5, LCS "the cat on the mat" 5 of 6.
    const auto s = rouge("the cat sat on the mat", "the cat is on the mat");
    CHECK(s.rouge1 == Approx(5.0 / 6.0));
    CHECK(s.rouge2 == Approx(0.6));
    CHECK(s.rouge_l == Approx(5.0 / 6.0));

    // Case and punctuation do not count; articles do (unlike SQuAD's normalization).
    const auto t = rouge("Hello, WORLD!", "hello world");
    CHECK(t.rouge1 == 1.0);
    CHECK(t.rouge2 == 1.0);
    CHECK(t.rouge_l == 1.0);
    CHECK(cab_eval::rouge_tokens("The U.S. £47.50 café") ==
          std::vector<std::string>{"the", "u", "s", "47", "50", "caf"});

    const auto empty = rouge("", "reference words");
    CHECK(empty.rouge1 == 0.0);
    CHECK(empty.rouge2 == 0.0);
    CHECK(empty.rouge_l == 0.0);
    CHECK(rouge("one", "one").rouge2 == 0.0);  // no bigrams
}

TEST_CASE("eval metrics: each task scores with its metrics", "[eval]") {
    using cab_eval::Task;
    const auto passkey = cab_eval::score_answer(Task::passkey, "The pass key is 71432.", "71432");
    REQUIRE(passkey.size() == 1);
    CHECK(std::string(passkey[0].name) == "contains");
    CHECK(passkey[0].value == 1.0);

    // em and f1 look at the first non-blank line, contains at all of it.
    const auto qa = cab_eval::score_answer(Task::qa, "\nCardamom.\nIt is cardamom.", "cardamom");
    REQUIRE(qa.size() == 3);
    CHECK(std::string(qa[0].name) == "em");
    CHECK(qa[0].value == 1.0);
    CHECK(std::string(qa[1].name) == "f1");
    CHECK(qa[1].value == 1.0);
    CHECK(std::string(qa[2].name) == "contains");
    CHECK(qa[2].value == 1.0);
    const auto verbose = cab_eval::score_answer(Task::qa, "Sure.\nIt is cardamom.", "cardamom");
    CHECK(verbose[0].value == 0.0);
    CHECK(verbose[1].value == 0.0);
    CHECK(verbose[2].value == 1.0);

    const auto xsum =
        cab_eval::score_answer(Task::xsum, "the cat sat on the mat", "the cat is on the mat");
    REQUIRE(xsum.size() == 3);
    CHECK(std::string(xsum[2].name) == "rougeL");
    CHECK(xsum[2].value == Approx(5.0 / 6.0));
}
