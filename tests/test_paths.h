// Where tests find their data. Paths come from CMake (tests/CMakeLists.txt).
#pragma once

#include <fstream>
#include <string>

namespace cab::test {

inline std::string source_path(const std::string &rel) {
    return std::string(CAB_SOURCE_DIR) + "/" + rel;
}
inline std::string shared_path(const std::string &rel) {
    return std::string(CAB_SHARED_DIR) + "/" + rel;
}
inline std::string models_path(const std::string &rel) {
    return std::string(CAB_MODELS_DIR) + "/" + rel;
}
inline std::string golden_path(const std::string &rel) {
    return std::string(CAB_GOLDEN_DIR) + "/" + rel;
}

inline bool file_exists(const std::string &path) {
    return std::ifstream(path).good();
}

}  // namespace cab::test
