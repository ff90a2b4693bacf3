// The cab tool's streaming of token pieces: bytes of one character split across pieces must come
// out whole and in order, invalid bytes pass through, nothing is lost at the end.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "utf8_stream.h"

TEST_CASE("cli utf8 stream: any split of the bytes gives the same text", "[cli]") {
    const std::string text =
        "plain ascii, caf\xC3\xA9, \xE4\xB8\xAD\xE6\x96\x87, emoji \xF0\x9F\x98\x80\xF0\x9F\x91\x8D,"
        " invalid \xFF\xFE and a lone lead \xE4 then ok, trailing lead \xF0\x9F";
    std::mt19937 rng(7);
    for (int trial = 0; trial < 500; ++trial) {
        cab_cli::Utf8Stream stream;
        std::string out;
        size_t pos = 0;
        while (pos < text.size()) {
            size_t n = std::min<size_t>(1 + rng() % 4, text.size() - pos);
            std::string ready = stream.push(std::string_view(text).substr(pos, n));
            // Whatever is released never ends inside a valid multi-byte character.
            if (!ready.empty()) {
                unsigned char last = static_cast<unsigned char>(ready.back());
                CHECK((last < 0x80 || (last & 0xC0) == 0x80 || last >= 0xF8 ||
                       text.compare(pos + n - 1, 1, ready.substr(ready.size() - 1)) == 0));
            }
            out += ready;
            pos += n;
        }
        out += stream.flush();
        REQUIRE(out == text);
    }
}

TEST_CASE("cli utf8 stream: an incomplete character is held until completed", "[cli]") {
    cab_cli::Utf8Stream stream;
    CHECK(stream.push("a\xF0\x9F") == "a");
    CHECK(stream.push("\x98") == "");
    CHECK(stream.push("\x80!") == "\xF0\x9F\x98\x80!");
    CHECK(stream.flush() == "");
}
