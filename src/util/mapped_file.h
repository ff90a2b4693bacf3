// A read-only memory mapping of a whole file, unmapped when the object dies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace cab {

class MappedFile {
public:
    // Maps `path` read-only. Throws cab::Error(IO) naming the path and strerror when the file
    // cannot be opened, is not a regular file, or cannot be mapped. An empty file maps to
    // data() == nullptr, size() == 0 (mmap cannot map zero bytes).
    explicit MappedFile(const std::string &path);
    ~MappedFile();
    MappedFile(const MappedFile &) = delete;
    MappedFile &operator=(const MappedFile &) = delete;

    const uint8_t *data() const { return data_; }
    size_t size() const { return size_; }

private:
    const uint8_t *data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace cab
