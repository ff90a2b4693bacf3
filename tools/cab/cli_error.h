// Errors of the command-line tool: a usage error exits 2 with the command's usage, a library
// error exits 1 with cab_last_error().
#pragma once

#include <stdexcept>
#include <string>

#include "cab/cab.h"

namespace cab_cli {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

class UsageError : public std::runtime_error {
public:
    UsageError(const std::string &message, const char *usage)
        : std::runtime_error(message), usage_(usage) {}
    const char *usage() const { return usage_; }

private:
    const char *usage_;  // static text
};

class ApiError : public std::runtime_error {
public:
    ApiError(cab_status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}
    cab_status status() const { return status_; }

private:
    cab_status status_;
};

// Throws ApiError with cab_last_error() (or the status name when the message is empty).
void check(cab_status status);

}  // namespace cab_cli
