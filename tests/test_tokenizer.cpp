// Tokenizers against independent references: SmolLM2's byte-level BPE against HF `tokenizers`
// (configured as SmolLM2's tokenizer.json, fed the GGUF vocabulary), the pre-tokenizer regexes
// against HF's regex splits, and stories260K's SentencePiece-style tokenizer against llama2.c's
// encoder run on tok512.bin (tools/golden/tokenizer_reference.py writes models/ref/). Then the
// properties every tokenizer must have: round trips, special-token parsing, errors.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "gguf_builder.h"
#include "model/gguf.h"
#include "model/pretokenizer.h"
#include "model/tokenizer.h"
#include "model/unicode.h"
#include "test_paths.h"
#include "util/error.h"

namespace {

using cab::Tokenizer;
using Ids = std::vector<int32_t>;
using cab::test::GgufBuilder;

std::string read_file(const std::string &path) {
    if (!cab::test::file_exists(path)) FAIL(path << " is missing: run tools/setup.sh");
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

std::vector<std::string> read_lines(const std::string &path) {
    std::istringstream in(read_file(path));
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    REQUIRE(!lines.empty());
    return lines;
}

std::vector<std::string> split(const std::string &s, char sep) {
    std::vector<std::string> out(1);
    for (char c : s) {
        if (c == sep) {
            out.emplace_back();
        } else {
            out.back() += c;
        }
    }
    return out;
}

Ids parse_ids(const std::string &s) {
    Ids ids;
    std::istringstream in(s);
    for (int32_t id; in >> id;) ids.push_back(id);
    return ids;
}

std::string unhex(const std::string &hex) {
    std::string out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2)
        out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    return out;
}

struct Loaded {
    std::unique_ptr<cab::gguf::File> file;
    std::unique_ptr<Tokenizer> tokenizer;
};

const Tokenizer &load(const std::string &model_file) {
    static std::vector<std::pair<std::string, Loaded>> cache;
    for (const auto &[name, loaded] : cache) {
        if (name == model_file) return *loaded.tokenizer;
    }
    const std::string path = cab::test::models_path(model_file);
    if (!cab::test::file_exists(path)) FAIL(path << " is missing: run tools/setup.sh");
    Loaded l;
    l.file = cab::gguf::File::open(path);
    l.tokenizer = Tokenizer::from_gguf(*l.file);
    cache.emplace_back(model_file, std::move(l));
    return *cache.back().second.tokenizer;
}

const Tokenizer &smollm2() {
    return load("SmolLM2-135M-Instruct.Q4_1.gguf");
}
const Tokenizer &stories() {
    return load("stories260K.gguf");
}

std::string decode(const Tokenizer &t, const Ids &ids, bool skip_special = false) {
    return t.decode(ids.data(), ids.size(), skip_special);
}

// Compares token lists and names the first difference.
void check_same(const Ids &got, const Ids &want, const std::string &what) {
    if (got == want) return;
    size_t i = 0;
    while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
    FAIL(what << ": first difference at token " << i << " of " << want.size() << " (got "
              << (i < got.size() ? std::to_string(got[i]) : "end") << ", want "
              << (i < want.size() ? std::to_string(want[i]) : "end") << ")");
}

void check_essays(const Tokenizer &t, const std::string &ref_file) {
    for (const std::string &line : read_lines(cab::test::models_path(ref_file))) {
        const auto fields = split(line, '\t');
        REQUIRE(fields.size() == 2);
        const std::string text =
            read_file(cab::test::shared_path("data/paul_graham_essays/" + fields[0]));
        const Ids ids = t.encode(text, false, false);
        check_same(ids, parse_ids(fields[1]), fields[0]);
        CHECK(decode(t, ids) == text);
    }
}

// Random text from a pool of pieces that stress the tokenizers.
std::string random_text(std::mt19937 &rng) {
    static const char *const pool[] = {"a",
                                       "Z",
                                       "the",
                                       " ",
                                       "  ",
                                       "\t",
                                       "\n",
                                       "\r\n",
                                       "'s",
                                       "'LL",
                                       "1",
                                       "42",
                                       "3.14",
                                       ".",
                                       "!?",
                                       "(",
                                       "é",
                                       "e\xCC\x81",
                                       "\xE4\xBD\xA0",
                                       "\xF0\x9F\x98\x80",
                                       "\xC2\xA0",
                                       "\xE2\x80\x83",
                                       "<|im_start|>",
                                       "<|im_end|>",
                                       "<s>",
                                       "</s>",
                                       "<",
                                       "|",
                                       "\xC3\x9F"};
    std::uniform_int_distribution<size_t> pick(0, std::size(pool) - 1), len(0, 40);
    std::string s;
    for (size_t i = len(rng); i > 0; --i) s += pool[pick(rng)];
    return s;
}

// A byte-level vocabulary: the 256 GPT-2 alphabet characters, then `extra`.
std::vector<std::string> byte_vocab(const std::vector<std::string> &extra) {
    std::vector<std::string> tokens;
    for (int b = 0; b < 256; ++b) {
        tokens.emplace_back();
        cab::unicode::append_utf8(tokens.back(), cab::unicode::byte_to_gpt2(uint8_t(b)));
    }
    tokens.insert(tokens.end(), extra.begin(), extra.end());
    return tokens;
}

std::unique_ptr<Tokenizer> tokenizer_from(const GgufBuilder &b) {
    const std::vector<uint8_t> data = b.build();
    const auto file = cab::gguf::File::from_memory(data.data(), data.size());
    return Tokenizer::from_gguf(*file);
}

void check_rejected(const GgufBuilder &b, cab_status status, const std::string &words) {
    try {
        tokenizer_from(b);
        FAIL("accepted metadata that should fail with " << words);
    } catch (const cab::Error &e) {
        CHECK(e.status() == status);
        CHECK_THAT(e.what(), Catch::Contains(words));
    }
}

}  // namespace

TEST_CASE("tokenizer: SmolLM2 matches HF tokenizers on every essay", "[tokenizer]") {
    check_essays(smollm2(), "ref/smollm2_essays.txt");
}

TEST_CASE("tokenizer: SmolLM2 matches HF tokenizers on hard strings", "[tokenizer]") {
    const Tokenizer &t = smollm2();
    for (const std::string &line : read_lines(cab::test::models_path("ref/smollm2_hard.txt"))) {
        const auto fields = split(line, '\t');
        REQUIRE(fields.size() == 4);
        const std::string text = unhex(fields[1]);
        const bool special = fields[0] == "S";
        INFO("input '" << text << "' parse_special " << special);
        const Ids ids = t.encode(text, false, special);
        check_same(ids, parse_ids(fields[2]), "hard string " + fields[1]);
        CHECK(decode(t, ids) == unhex(fields[3]));  // text less bytes SmolLM2 cannot spell
    }
}

TEST_CASE("tokenizer: pre-tokenizers split as the HF regexes do", "[tokenizer]") {
    for (const std::string &line : read_lines(cab::test::models_path("ref/pretok_hard.txt"))) {
        const auto fields = split(line, '\t');
        REQUIRE(fields.size() == 3);
        const std::string text = unhex(fields[1]);
        std::vector<std::string> want;
        for (const std::string &piece : split(fields[2], ' ')) {
            if (!piece.empty()) want.push_back(unhex(piece));
        }
        const auto kind =
            cab::pretokenizer_from_name(fields[0] == "llama3" ? "llama-bpe" : fields[0]);
        const auto pieces = cab::pretokenize(kind, text);
        INFO(fields[0] << " on '" << text << "'");
        CHECK(std::vector<std::string>(pieces.begin(), pieces.end()) == want);
    }
    CHECK_THROWS_AS(cab::pretokenizer_from_name("no-such-pre"), cab::Error);
}

TEST_CASE("tokenizer: stories260K matches the llama2.c encoder", "[tokenizer]") {
    const Tokenizer &t = stories();
    check_essays(t, "ref/stories260K_essays.txt");
    for (const std::string &line : read_lines(cab::test::models_path("ref/stories260K_hard.txt"))) {
        const auto fields = split(line, '\t');
        REQUIRE(fields.size() == 2);
        const std::string text = unhex(fields[0]);
        INFO("input hex " << fields[0]);
        const Ids want = parse_ids(fields[1]);
        const Ids ids = t.encode(text, false, false);
        check_same(ids, want, "hard string " + fields[0]);
        CHECK(decode(t, ids) == text);
        // With BOS: llama2.c's encode(bos=1) prepends it; skipping it decodes the same text.
        Ids with_bos = t.encode(text, true, false);
        REQUIRE(!with_bos.empty());
        CHECK(with_bos[0] == t.bos());
        check_same(Ids(with_bos.begin() + 1, with_bos.end()), want, "with BOS " + fields[0]);
        CHECK(decode(t, with_bos, true) == text);
    }
}

TEST_CASE("tokenizer: special tokens are parsed only when asked", "[tokenizer]") {
    const Tokenizer &t = smollm2();
    const std::string text = "<|im_start|>user\nHi<|im_end|>";
    const Ids parsed = t.encode(text, false, true);
    REQUIRE(parsed.size() >= 3);
    CHECK(parsed.front() == 1);  // <|im_start|>
    CHECK(parsed.back() == 2);   // <|im_end|>
    CHECK(Ids(parsed.begin() + 1, parsed.end() - 1) == t.encode("user\nHi", false, false));
    const Ids plain = t.encode(text, false, false);
    for (int32_t id : plain) CHECK_FALSE(t.is_control(id));
    CHECK(decode(t, plain) == text);
    CHECK(decode(t, parsed) == text);
    CHECK(decode(t, parsed, true) == "user\nHi");
    CHECK(t.token_to_piece(1) == "<|im_start|>");

    // SentencePiece: a space prefix follows the start and every special token.
    const Tokenizer &s = stories();
    const Ids ids = s.encode("<s>Once", false, true);
    REQUIRE(ids.size() >= 2);
    CHECK(ids[0] == s.bos());
    CHECK(Ids(ids.begin() + 1, ids.end()) == s.encode("Once", false, false));
    CHECK(decode(s, ids) == "<s>Once");
    CHECK(s.encode("<s>", false, false) != Ids{s.bos()});
}

TEST_CASE("tokenizer: decode inverts encode on random text", "[tokenizer]") {
    std::mt19937 rng(1234);
    for (const Tokenizer *t : {&smollm2(), &stories()}) {
        for (int i = 0; i < 300; ++i) {
            const std::string text = random_text(rng);
            INFO("input '" << text << "'");
            for (bool special : {false, true}) {
                const Ids ids = t->encode(text, false, special);
                CHECK(decode(*t, ids) == text);
                std::string pieces;
                for (int32_t id : ids) pieces += t->token_to_piece(id);
                if (t == &smollm2()) CHECK(pieces == text);
            }
        }
    }
}

TEST_CASE("tokenizer: invalid UTF-8 is tokenized byte-wise and decodes back", "[tokenizer]") {
    const std::string text = "abc\x80\xBF def \xE4\xB8 \xC3\x28 \x80";
    for (const Tokenizer *t : {&smollm2(), &stories()}) {
        const Ids ids = t->encode(text, false, false);
        CHECK(decode(*t, ids) == text);
    }
    const Ids ids = smollm2().encode("\xE4", false, false);
    REQUIRE(ids.size() == 1);
    CHECK(smollm2().token_to_piece(ids[0]) == "\xE4");
    // SmolLM2's vocabulary has no character for the bytes 0xF5..0xFF (never in UTF-8) and a few
    // others: like HF `tokenizers` and llama.cpp, the tokenizer leaves them out.
    const Ids a = smollm2().encode("a", false, false), b = smollm2().encode("b", false, false);
    REQUIRE(a.size() == 1);
    REQUIRE(b.size() == 1);
    CHECK(smollm2().encode("a\xFF\xFE"
                           "b",
                           false, false) == Ids{a[0], b[0]});
    const std::string all_bytes_text = "\xFF\xFE\x04 x";
    CHECK(decode(stories(), stories().encode(all_bytes_text, false, false)) == all_bytes_text);
}

TEST_CASE("tokenizer: pieces may hold part of a UTF-8 character", "[tokenizer]") {
    // An emoji SmolLM2 has no token for, and a CJK character that stories260K spells in bytes.
    const std::string emoji = "\xF0\x9F\xA6\x9C";
    const Ids ids = smollm2().encode(emoji, false, false);
    REQUIRE(ids.size() > 1);
    std::string prefix;
    for (size_t k = 0; k < ids.size(); ++k) {
        CHECK(decode(smollm2(), Ids(ids.begin(), ids.begin() + k + 1)) ==
              prefix + smollm2().token_to_piece(ids[k]));
        prefix += smollm2().token_to_piece(ids[k]);
    }
    CHECK(prefix == emoji);

    const Ids cjk = stories().encode("\xE4\xBD\xA0", false, false);
    REQUIRE(cjk.size() == 4);  // the space prefix, then <0xE4> <0xBD> <0xA0>
    CHECK(stories().token_to_piece(cjk[1]) == "\xE4");
    CHECK(decode(stories(), Ids(cjk.begin(), cjk.begin() + 2)) == "\xE4");
}

TEST_CASE("tokenizer: empty input, BOS and end-of-generation ids", "[tokenizer]") {
    const Tokenizer &t = smollm2();
    CHECK(t.n_vocab() == 49152);
    CHECK(t.encode("", false, true).empty());
    CHECK(t.encode("", true, true).empty());  // tokenizer.ggml.add_bos_token is false
    CHECK(t.encode("Hi", true, false) == t.encode("Hi", false, false));
    CHECK(decode(t, {}) == "");
    CHECK(t.bos() == 1);
    CHECK(t.eos() == 2);
    CHECK(t.eot() == 2);
    CHECK(t.is_eog(2));
    CHECK(t.is_eog(0));  // <|endoftext|>
    CHECK_FALSE(t.is_eog(1));
    CHECK_FALSE(t.is_eog(-1));
    CHECK_FALSE(t.is_eog(t.n_vocab()));
    CHECK(t.is_control(0));
    CHECK_FALSE(t.is_control(100));

    const Tokenizer &s = stories();
    CHECK(s.n_vocab() == 512);
    CHECK(s.encode("", false, false).empty());
    CHECK(s.encode("", true, false) == Ids{1});
    CHECK(s.bos() == 1);
    CHECK(s.eos() == 2);
    CHECK(s.eot() == -1);
    CHECK(s.is_eog(2));
    CHECK_FALSE(s.is_eog(1));
    CHECK(decode(s, {1, 2}, true) == "");
    CHECK(decode(s, {1, 2}, false) == "<s></s>");
}

TEST_CASE("tokenizer: unknown token ids are rejected with their index", "[tokenizer]") {
    for (const Tokenizer *t : {&smollm2(), &stories()}) {
        for (int32_t bad : {-1, t->n_vocab(), INT32_MAX}) {
            const Ids ids = {1, bad};
            try {
                t->decode(ids.data(), ids.size(), false);
                FAIL("decode accepted token " << bad);
            } catch (const cab::Error &e) {
                CHECK(e.status() == CAB_ERR_INVALID_ARGUMENT);
                CHECK_THAT(e.what(), Catch::Contains("tokens[1]"));
            }
            try {
                t->token_to_piece(bad);
                FAIL("token_to_piece accepted token " << bad);
            } catch (const cab::Error &e) {
                CHECK(e.status() == CAB_ERR_INVALID_ARGUMENT);
            }
        }
    }
}

TEST_CASE("unicode: character classes and the GPT-2 byte alphabet", "[tokenizer]") {
    using namespace cab::unicode;
    CHECK(flags('a') == kLetter);
    CHECK(flags(0x4F60) == kLetter);  // CJK
    CHECK(flags(0x0663) == kNumber);  // Arabic-Indic three
    CHECK(flags(0x2167) == kNumber);  // Roman numeral eight (Nl)
    CHECK(flags(0x3000) == kWhitespace);
    CHECK(flags(0x200B) == 0);  // zero width space is not White_Space
    CHECK(flags(0x0301) == 0);  // combining mark
    CHECK(flags(kInvalid) == 0);
    CHECK(byte_to_gpt2(' ') == 0x120);   // 'Ġ'
    CHECK(byte_to_gpt2('\n') == 0x10A);  // 'Ċ'
    CHECK(byte_to_gpt2('A') == 'A');
    for (int b = 0; b < 256; ++b) CHECK(gpt2_to_byte(byte_to_gpt2(static_cast<uint8_t>(b))) == b);
    size_t pos = 0;
    CHECK(next_codepoint("\xC0\x80", pos) == kInvalid);  // overlong
    CHECK(pos == 1);
    pos = 0;
    CHECK(next_codepoint("\xED\xA0\x80", pos) == kInvalid);  // surrogate
    pos = 0;
    CHECK(next_codepoint("\xF0\x9F\x98\x80", pos) == 0x1F600);
    CHECK(pos == 4);
}

TEST_CASE("tokenizer: Llama 3 takes whole-word tokens before merging", "[tokenizer]") {
    // "ab" is a token but no merge makes it: only ignore_merges (llama-bpe) finds it.
    const std::vector<std::string> tokens = byte_vocab({"bc", "abc", "ab"});
    const int32_t a = 'a', b = 'b', x = 'x', abc = 257, ab = 258;
    GgufBuilder base;
    base.add_string("tokenizer.ggml.model", "gpt2")
        .add_string_array("tokenizer.ggml.tokens", tokens)
        .add_string_array("tokenizer.ggml.merges", {"b c", "a bc"});
    GgufBuilder llama3 = base, gpt2 = base;
    const auto t3 = tokenizer_from(llama3.add_string("tokenizer.ggml.pre", "llama-bpe"));
    const auto t2 = tokenizer_from(gpt2.add_string("tokenizer.ggml.pre", "gpt2"));
    CHECK(t3->encode("ab", false, false) == Ids{ab});
    CHECK(t2->encode("ab", false, false) == Ids{a, b});
    CHECK(t3->encode("abc", false, false) == Ids{abc});
    CHECK(t2->encode("abc", false, false) == Ids{abc});
    CHECK(t3->encode("xab", false, false) == Ids{x, a, b});
    CHECK(t3->bos() == -1);
    CHECK(t3->is_eog(0) == false);
}

TEST_CASE("tokenizer: from_gguf rejects bad tokenizer metadata", "[tokenizer]") {
    const std::vector<std::string> tokens = byte_vocab({"ab"});
    const auto bpe = [&] {
        GgufBuilder b;
        b.add_string("tokenizer.ggml.model", "gpt2")
            .add_string_array("tokenizer.ggml.tokens", tokens);
        return b;
    };
    GgufBuilder ok = bpe();
    CHECK_NOTHROW(tokenizer_from(ok.add_string_array("tokenizer.ggml.merges", {"a b"})));

    GgufBuilder unknown_model;
    unknown_model.add_string("tokenizer.ggml.model", "bert")
        .add_string_array("tokenizer.ggml.tokens", tokens);
    check_rejected(unknown_model, CAB_ERR_UNSUPPORTED, "'bert'");
    GgufBuilder no_model;
    no_model.add_string_array("tokenizer.ggml.tokens", tokens);
    check_rejected(no_model, CAB_ERR_FORMAT, "tokenizer.ggml.model");
    GgufBuilder no_tokens;
    no_tokens.add_string("tokenizer.ggml.model", "llama");
    check_rejected(no_tokens, CAB_ERR_FORMAT, "tokenizer.ggml.tokens");
    GgufBuilder no_merges = bpe();
    check_rejected(no_merges, CAB_ERR_FORMAT, "tokenizer.ggml.merges");
    GgufBuilder bad_merge = bpe();
    bad_merge.add_string_array("tokenizer.ggml.merges", {"a b", "a zz"});
    check_rejected(bad_merge, CAB_ERR_FORMAT, "tokenizer.ggml.merges[1]");
    GgufBuilder bad_pre = bpe();
    bad_pre.add_string_array("tokenizer.ggml.merges", {})
        .add_string("tokenizer.ggml.pre", "no-such-pre");
    check_rejected(bad_pre, CAB_ERR_UNSUPPORTED, "no-such-pre");
    GgufBuilder bad_types = bpe();
    bad_types.add_string_array("tokenizer.ggml.merges", {})
        .add_array<int32_t>("tokenizer.ggml.token_type", cab::gguf::ValueType::INT32, {1, 1});
    check_rejected(bad_types, CAB_ERR_FORMAT, "tokenizer.ggml.token_type");
    GgufBuilder bad_bos = bpe();
    bad_bos.add_string_array("tokenizer.ggml.merges", {})
        .add_u32("tokenizer.ggml.bos_token_id", 100000);
    check_rejected(bad_bos, CAB_ERR_FORMAT, "tokenizer.ggml.bos_token_id");
    GgufBuilder bad_byte;
    bad_byte.add_string("tokenizer.ggml.model", "llama")
        .add_string_array("tokenizer.ggml.tokens", {"<unk>", "<0xZZ>"})
        .add_array<int32_t>("tokenizer.ggml.token_type", cab::gguf::ValueType::INT32, {2, 6});
    check_rejected(bad_byte, CAB_ERR_FORMAT, "<0xZZ>");
}
