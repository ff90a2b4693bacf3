#include "metrics.h"

#include <algorithm>
#include <map>

namespace cab_eval {

namespace {

bool is_ascii_punct(char c) {
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
           (c >= '{' && c <= '~');
}

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::vector<std::string> split_words(std::string_view text) {
    std::vector<std::string> words;
    std::string word;
    for (const char c : text) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            if (!word.empty()) words.push_back(std::move(word));
            word.clear();
        } else {
            word += c;
        }
    }
    if (!word.empty()) words.push_back(std::move(word));
    return words;
}

double f_measure(double overlap, double n_prediction, double n_reference) {
    if (overlap <= 0.0 || n_prediction <= 0.0 || n_reference <= 0.0) return 0.0;
    const double p = overlap / n_prediction;
    const double r = overlap / n_reference;
    return 2.0 * p * r / (p + r);
}

double rouge_n(const std::vector<std::string> &pred, const std::vector<std::string> &ref,
               size_t n) {
    if (pred.size() < n || ref.size() < n) return 0.0;
    auto grams = [n](const std::vector<std::string> &t) {
        std::map<std::vector<std::string>, int> counts;
        for (size_t i = 0; i + n <= t.size(); ++i)
            ++counts[std::vector<std::string>(t.begin() + static_cast<std::ptrdiff_t>(i),
                                              t.begin() + static_cast<std::ptrdiff_t>(i + n))];
        return counts;
    };
    const auto p = grams(pred);
    const auto r = grams(ref);
    int overlap = 0;
    for (const auto &[gram, count] : p) {
        const auto it = r.find(gram);
        if (it != r.end()) overlap += std::min(count, it->second);
    }
    return f_measure(overlap, static_cast<double>(pred.size() - n + 1),
                     static_cast<double>(ref.size() - n + 1));
}

size_t lcs_length(const std::vector<std::string> &a, const std::vector<std::string> &b) {
    std::vector<size_t> row(b.size() + 1, 0);
    for (const auto &x : a) {
        size_t diagonal = 0;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t above = row[j];
            row[j] = x == b[j - 1] ? diagonal + 1 : std::max(row[j], row[j - 1]);
            diagonal = above;
        }
    }
    return row[b.size()];
}

}  // namespace

std::string normalize_answer(std::string_view text) {
    std::string cleaned;
    cleaned.reserve(text.size());
    for (const char c : text)
        if (!is_ascii_punct(c)) cleaned += lower(c);
    std::string out;
    for (const auto &w : split_words(cleaned)) {
        if (w == "a" || w == "an" || w == "the") continue;
        if (!out.empty()) out += ' ';
        out += w;
    }
    return out;
}

std::vector<std::string> answer_tokens(std::string_view text) {
    return split_words(normalize_answer(text));
}

double exact_match(std::string_view prediction, std::string_view gold) {
    return normalize_answer(prediction) == normalize_answer(gold) ? 1.0 : 0.0;
}

double contains_answer(std::string_view prediction, std::string_view gold) {
    const auto p = answer_tokens(prediction);
    const auto g = answer_tokens(gold);
    if (g.empty()) return 0.0;
    return std::search(p.begin(), p.end(), g.begin(), g.end()) != p.end() ? 1.0 : 0.0;
}

double token_f1(std::string_view prediction, std::string_view gold) {
    const auto p = answer_tokens(prediction);
    const auto g = answer_tokens(gold);
    if (p.empty() || g.empty()) return p.empty() && g.empty() ? 1.0 : 0.0;
    std::map<std::string, int> gold_counts;
    for (const auto &w : g) ++gold_counts[w];
    int same = 0;
    for (const auto &w : p) {
        auto it = gold_counts.find(w);
        if (it != gold_counts.end() && it->second > 0) {
            --it->second;
            ++same;
        }
    }
    return f_measure(same, static_cast<double>(p.size()), static_cast<double>(g.size()));
}

std::vector<std::string> rouge_tokens(std::string_view text) {
    std::vector<std::string> tokens;
    std::string token;
    for (const char raw : text) {
        const char c = lower(raw);
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            token += c;
        } else if (!token.empty()) {
            tokens.push_back(std::move(token));
            token.clear();
        }
    }
    if (!token.empty()) tokens.push_back(std::move(token));
    return tokens;
}

RougeScores rouge(std::string_view prediction, std::string_view reference) {
    const auto p = rouge_tokens(prediction);
    const auto r = rouge_tokens(reference);
    RougeScores s;
    s.rouge1 = rouge_n(p, r, 1);
    s.rouge2 = rouge_n(p, r, 2);
    if (!p.empty() && !r.empty())
        s.rouge_l = f_measure(static_cast<double>(lcs_length(p, r)), static_cast<double>(p.size()),
                              static_cast<double>(r.size()));
    return s;
}

}  // namespace cab_eval
