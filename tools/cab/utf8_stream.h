// Streams token pieces as text: a piece may end inside a UTF-8 character, so the incomplete tail
// is held back until the bytes that complete it arrive.
#pragma once

#include <string>
#include <string_view>

namespace cab_cli {

class Utf8Stream {
public:
    // Adds bytes; returns the ones that are ready to print (complete characters, and invalid
    // bytes as they are).
    std::string push(std::string_view bytes);
    // Returns whatever is held back (an incomplete character at the end of the stream).
    std::string flush();

private:
    std::string pending_;
};

}  // namespace cab_cli
