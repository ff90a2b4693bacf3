// Errors inside libcab: thrown as cab::Error, turned into a cab_status + message at the C ABI.
#pragma once

#include <stdexcept>
#include <string>

#include "cab/cab.h"

namespace cab {

class Error : public std::runtime_error {
public:
    Error(cab_status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}
    cab_status status() const noexcept { return status_; }

private:
    cab_status status_;
};

[[noreturn]] inline void fail(cab_status status, const std::string &message) {
    throw Error(status, message);
}

// Checks a precondition that depends on caller input or file contents (not an internal bug).
// The message is built before the call: where a check runs per token, slot or step, test first
// and call fail(), or pass a literal (the overload below builds no string).
inline void require(bool ok, cab_status status, const std::string &message) {
    if (!ok) fail(status, message);
}
inline void require(bool ok, cab_status status, const char *message) {
    if (!ok) fail(status, message);
}

}  // namespace cab
