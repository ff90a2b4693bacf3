// The harness's plumbing: JSON lines, the resumable results file, budget and policy specs, KV
// sizing, and text helpers (eval/).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "config.h"
#include "results_file.h"
#include "sample_run.h"
#include "util/json.h"
#include "util/text.h"

namespace {

std::string temp_path(const std::string &name) {
    const auto p = std::filesystem::temp_directory_path() / ("cab-eval-test-" + name);
    std::filesystem::remove(p);
    return p.string();
}

std::string slurp(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string record(const std::string &config, const std::string &sample) {
    cab_eval::JsonObject metrics;
    metrics.add("contains", 1.0);
    cab_eval::JsonObject r;
    r.add("config", config)
        .add("sample", sample)
        .add("policy", "snapkv")
        .add("budget", "10%")
        .add("metrics", metrics);
    return r.str();
}

}  // namespace

TEST_CASE("eval json: quoting and reading string fields", "[eval]") {
    CHECK(cab_eval::json_quote("a\"b\\c\nd\te\x01") == "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
    // Invalid UTF-8 (a character cut short) becomes U+FFFD; valid characters stay.
    CHECK(cab_eval::json_quote("caf\xC3") == "\"caf\xEF\xBF\xBD\"");
    CHECK(cab_eval::json_quote("caf\xC3\xA9") == "\"caf\xC3\xA9\"");

    cab_eval::JsonObject inner;
    inner.add("x", int64_t{3}).add("y", 0.5);
    cab_eval::JsonObject o;
    o.add("text", "line\n\"quoted\"")
        .add("n", int64_t{-7})
        .add("nested", inner)
        .add("nan", std::nan(""));
    CHECK(o.str() ==
          "{\"text\":\"line\\n\\\"quoted\\\"\",\"n\":-7,\"nested\":{\"x\":3,\"y\":0.5},\"nan\":"
          "null}");

    std::map<std::string, std::string> f;
    REQUIRE(cab_eval::parse_string_fields(o.str(), &f));
    CHECK(f.size() == 1);
    CHECK(f["text"] == "line\n\"quoted\"");
    f.clear();
    REQUIRE(cab_eval::parse_string_fields(
        R"({"a":[1,{"b":"c"}],"u":"\u00e9\ud83d\ude00","t":true})", &f));
    CHECK(f["u"] == "\xC3\xA9\xF0\x9F\x98\x80");
    CHECK_FALSE(cab_eval::parse_string_fields(R"({"a":"b")", &f));
    CHECK_FALSE(cab_eval::parse_string_fields(R"({"a":"b"} x)", &f));
}

TEST_CASE("eval results file: resumes its configuration, refuses another", "[eval]") {
    const std::string path = temp_path("results.jsonl");
    {
        cab_eval::ResultsFile f(path, "aaaa");
        CHECK(f.existing() == 0);
        f.append({record("aaaa", "s1"), record("aaaa", "s2")},
                 {cab_eval::ResultsFile::key("s1", "snapkv", "10%"),
                  cab_eval::ResultsFile::key("s2", "snapkv", "10%")});
    }
    {
        cab_eval::ResultsFile f(path, "aaaa");
        CHECK(f.existing() == 2);
        CHECK(f.has(cab_eval::ResultsFile::key("s1", "snapkv", "10%")));
        CHECK(f.has(cab_eval::ResultsFile::key("s2", "snapkv", "10%")));
        CHECK_FALSE(f.has(cab_eval::ResultsFile::key("s3", "snapkv", "10%")));
        CHECK_FALSE(f.has(cab_eval::ResultsFile::key("s1", "snapkv", "20%")));
    }
    const std::string before = slurp(path);
    CHECK_THROWS_AS(cab_eval::ResultsFile(path, "bbbb"), cab_eval::ConfigError);
    CHECK(slurp(path) == before);

    // A line cut short by a crash is dropped; the complete ones stay.
    { std::ofstream(path, std::ios::app) << record("aaaa", "s3").substr(0, 20); }
    {
        cab_eval::ResultsFile f(path, "aaaa");
        CHECK(f.existing() == 2);
        CHECK_FALSE(f.has(cab_eval::ResultsFile::key("s3", "snapkv", "10%")));
    }
    CHECK(slurp(path) == before);

    { std::ofstream(path, std::ios::app) << "not json\n"; }
    CHECK_THROWS_AS(cab_eval::ResultsFile(path, "aaaa"), cab_eval::ConfigError);
    std::filesystem::remove(path);
}

TEST_CASE("eval config: budgets, policies, lists", "[eval]") {
    const auto ratio = cab_eval::parse_budget("10%");
    CHECK(ratio.is_ratio);
    CHECK(ratio.ratio == Approx(0.1));
    CHECK(ratio.tokens_kept(1016) == 101);
    CHECK(cab_eval::parse_budget("12.5%").tokens_kept(1000) == 125);
    CHECK(cab_eval::parse_budget("29%").tokens_kept(100) == 29);  // exact, as libcab reads it
    const auto tokens = cab_eval::parse_budget("128");
    CHECK_FALSE(tokens.is_ratio);
    CHECK(tokens.tokens_kept(1000) == 128);
    CHECK(tokens.tokens_kept(100) == 100);
    for (const char *bad : {"", "%", "abc", "101%", "-1", "-5%", "1.5"})
        CHECK_THROWS_AS(cab_eval::parse_budget(bad), cab_eval::ConfigError);

    const auto p = cab_eval::parse_policy("cab:window");
    CHECK(p.label == "cab:window");
    CHECK(p.policy == "cab");
    CHECK(p.window_source);
    CHECK_FALSE(p.normalize);
    CHECK(cab_eval::parse_policy("h2o:norm").normalize);
    CHECK_THROWS_AS(cab_eval::parse_policy("cab:bogus"), cab_eval::ConfigError);
    CHECK_THROWS_AS(cab_eval::parse_policy(":window"), cab_eval::ConfigError);
    const auto chunked = cab_eval::parse_policy("chunkkv:layer:c8:k5");
    CHECK(chunked.label == "chunkkv:layer:c8:k5");  // the results keep the modifiers
    CHECK(chunked.policy == "chunkkv");
    CHECK(chunked.shared_per_layer);
    CHECK(chunked.chunk == 8);
    CHECK(chunked.kernel == 5);
    const auto shifted = cab_eval::parse_policy("snapkv:k23:s8");
    CHECK((shifted.kernel == 23 && shifted.shift == 8));
    CHECK(cab_eval::parse_policy("snapkv:s3").shift == 3);  // half the default kernel 7
    CHECK(cab_eval::parse_policy("snapkv:s2:k5").shift == 2);
    CHECK(cab_eval::evict_params(shifted, tokens, {}).snapkv_shift == 8);
    const auto adaptive = cab_eval::parse_policy("snapkv:k15:s7:ada:w16");
    CHECK(adaptive.allocation == CAB_ALLOCATION_ADAPTIVE);
    CHECK(cab_eval::evict_params(adaptive, tokens, {}).allocation == CAB_ALLOCATION_ADAPTIVE);
    CHECK(cab_eval::evict_params(adaptive, tokens, {}).snapkv_window == 16);
    CHECK(cab_eval::evict_params(cab_eval::parse_policy("h2o:pyr"), tokens, {}).allocation ==
          CAB_ALLOCATION_PYRAMID);
    CHECK(cab_eval::evict_params(shifted, tokens, {}).allocation == CAB_ALLOCATION_UNIFORM);
    CHECK(cab_eval::evict_params(shifted, tokens, {}).snapkv_inherit == 0.0f);
    const auto inherit = cab_eval::parse_policy("snapkv:k15:s7:i33");
    CHECK(cab_eval::evict_params(inherit, tokens, {}).snapkv_inherit == 0.33f);
    for (const char *bad : {"chunkkv:c0", "chunkkv:c", "chunkkv:c-1", "chunkkv:c1x", "snapkv:k4",
                            "snapkv:k0", "snapkv:k99999999999", "snapkv:layers", "snapkv:s4",
                            "snapkv:w0", "snapkv:adaptive", "snapkv:k5:s3", "snapkv:s-1",
                            "snapkv:s", "snapkv:s1x", "snapkv:i0", "snapkv:i100", "snapkv:i"})
        CHECK_THROWS_AS(cab_eval::parse_policy(bad), cab_eval::ConfigError);

    cab_eval::EvalConfig config;
    config.sinks = 2;
    config.window = 16;
    const auto c = cab_eval::evict_params(chunked, tokens, config);
    CHECK(std::string(c.policy) == "chunkkv");
    CHECK(c.selection == CAB_SELECTION_SHARED_PER_LAYER);
    CHECK(c.chunkkv_chunk == 8);
    CHECK(c.snapkv_kernel == 5);
    CHECK(c.score_source == CAB_SCORE_CUMULATIVE);
    const auto e = cab_eval::evict_params(p, ratio, config);
    CHECK(std::string(e.policy) == "cab");
    CHECK(e.budget_unit == CAB_BUDGET_RATIO);
    CHECK(e.budget_ratio == Approx(0.1));
    CHECK(e.score_source == CAB_SCORE_WINDOW);
    CHECK(e.n_sinks == 2);
    CHECK(e.snapkv_window == 16);
    CHECK(e.selection == CAB_SELECTION_PER_HEAD);
    CHECK(e.chunkkv_chunk == 16);
    CHECK(e.snapkv_kernel == 7);
    CHECK(e.snapkv_shift == 0);

    CHECK(cab_eval::split_list("a,,b,") == std::vector<std::string>{"a", "b"});
}

TEST_CASE("eval config: the hash follows what changes results", "[eval]") {
    cab_model_info info{};
    std::snprintf(info.name, sizeof info.name, "m");
    cab_eval::EvalConfig a;
    cab_eval::EvalConfig b = a;
    b.samples = 99;  // more cells, same results per cell
    b.lengths = {512};
    CHECK(cab_eval::config_hash(a, info) == cab_eval::config_hash(b, info));
    b.seed = 1;
    CHECK(cab_eval::config_hash(a, info) != cab_eval::config_hash(b, info));
    b = a;
    b.sinks = 8;
    CHECK(cab_eval::config_hash(a, info) != cab_eval::config_hash(b, info));
    cab_model_info other = info;
    other.file_bytes = 1;
    CHECK(cab_eval::config_hash(a, info) != cab_eval::config_hash(a, other));
}

TEST_CASE("eval runner: KV room for the dense sequence, one copy and every cell", "[eval]") {
    // Prompt 100, answer 10, blocks of 16: dense 110 -> 112, the copy 100 -> 112,
    // 10% -> 10 + 10 -> 32, 128 -> 100 + 10 -> 112.
    const std::vector<cab_eval::BudgetSpec> budgets = {cab_eval::parse_budget("10%"),
                                                       cab_eval::parse_budget("128")};
    CHECK(cab_eval::kv_tokens_needed(100, 10, budgets, 16) == 368);
    CHECK(cab_eval::kv_tokens_needed(100, 10, {}, 16) == 224);
}

TEST_CASE("eval text: sentences, UTF-8, lines", "[eval]") {
    using V = std::vector<std::string>;
    CHECK(cab_eval::split_sentences(
              "July 2010What is it?  It is\nthis. \"Quoted.\" Next (one.) end") ==
          V{"July 2010What is it?", "It is this.", "\"Quoted.\"", "Next (one.)", "end"});
    // A lost paragraph break: "accelerating.We" ends a sentence; "U.S.A" or "3.5" do not.
    CHECK(cab_eval::split_sentences("it is accelerating.We would not. The U.S.A has 3.5 of it.") ==
          V{"it is accelerating.", "We would not.", "The U.S.A has 3.5 of it."});
    CHECK(cab_eval::split_sentences("  \n ").empty());

    CHECK(cab_eval::sanitize_utf8("ok \xE2\x82\xAC \xE2\x82 \xC0\xAF \xED\xA0\x80 end") ==
          "ok \xE2\x82\xAC \xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD "
          "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD end");
    CHECK(cab_eval::count_occurrences("71432 and 71432, not 7143", "71432") == 2);
    CHECK(cab_eval::count_occurrences("aaaa", "aa") == 2);
    CHECK(cab_eval::first_nonblank_line("\n  \n  The answer. \nMore") == "The answer.");
    CHECK(cab_eval::first_nonblank_line(" \n ") == "");
}
