#include "api/guard.h"

namespace cab::api {

namespace {
thread_local std::string t_last_error;
}

void set_last_error(const std::string &message) { t_last_error = message; }
const std::string &last_error() { return t_last_error; }

void write_text(const std::string &text, char *buf, size_t cap, size_t *n_out, bool nul) {
    require_not_null(n_out, "n_out");
    require_arg(buf != nullptr || cap == 0, "buf is NULL but cap is not 0");
    *n_out = text.size();
    if (text.size() > cap)
        fail(CAB_ERR_BUFFER_TOO_SMALL, "buffer holds " + std::to_string(cap) + " bytes, " +
                                           std::to_string(text.size()) + " needed");
    if (!text.empty()) std::memcpy(buf, text.data(), text.size());
    if (nul && text.size() < cap) buf[text.size()] = '\0';
}

}  // namespace cab::api
