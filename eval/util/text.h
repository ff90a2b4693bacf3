// Plain text helpers of the evaluation harness: files, UTF-8 repair, sentence splitting.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace cab_eval {

// The whole file; throws std::runtime_error naming the path when it cannot be read.
std::string read_text_file(const std::string &path);

// The regular files of a directory whose names end with `suffix`, sorted by name.
std::vector<std::string> list_files(const std::string &dir, const std::string &suffix);

// `text` with every invalid UTF-8 sequence replaced by U+FFFD, so that it is valid JSON text (a
// generated answer may stop inside a character).
std::string sanitize_utf8(std::string_view text);

// Splits prose into sentences: a sentence ends at '.', '!' or '?' (with any closing quotes or
// brackets after it) followed by white space, or directly by a capital letter after a lower-case
// one ("end.Next", where the source lost a paragraph break). Runs of white space become one
// space; sentences are trimmed and never empty.
std::vector<std::string> split_sentences(std::string_view text);

// Non-overlapping occurrences of `needle` (non-empty) in `text`.
size_t count_occurrences(std::string_view text, std::string_view needle);

std::string trim(std::string_view text);

// The first line of `text` that is not blank, trimmed ("" when there is none).
std::string first_nonblank_line(std::string_view text);

}  // namespace cab_eval
