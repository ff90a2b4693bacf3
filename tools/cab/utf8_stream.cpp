#include "utf8_stream.h"

namespace cab_cli {

namespace {

bool is_continuation(unsigned char b) {
    return (b & 0xC0u) == 0x80u;
}

// Length of the character a lead byte starts; 1 for ASCII and for bytes that cannot lead.
size_t sequence_length(unsigned char b) {
    if ((b & 0xE0u) == 0xC0u) return 2;
    if ((b & 0xF0u) == 0xE0u) return 3;
    if ((b & 0xF8u) == 0xF0u) return 4;
    return 1;
}

}  // namespace

std::string Utf8Stream::push(std::string_view bytes) {
    pending_.append(bytes.data(), bytes.size());
    // Find the last lead byte among the final three bytes; hold it back if its character is
    // not complete yet.
    size_t ready = pending_.size();
    for (size_t back = 1; back <= 3 && back <= pending_.size(); ++back) {
        const size_t i = pending_.size() - back;
        const auto b = static_cast<unsigned char>(pending_[i]);
        if (is_continuation(b)) continue;
        if (i + sequence_length(b) > pending_.size()) ready = i;
        break;
    }
    std::string out = pending_.substr(0, ready);
    pending_.erase(0, ready);
    return out;
}

std::string Utf8Stream::flush() {
    std::string out;
    out.swap(pending_);
    return out;
}

}  // namespace cab_cli
