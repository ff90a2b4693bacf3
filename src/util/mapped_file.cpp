#include "util/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace cab {

namespace {

// Closes the descriptor on every path out of the constructor; the mapping outlives it.
struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
};

[[noreturn]] void fail_io(const std::string &what, const std::string &path, int err) {
    fail(CAB_ERR_IO, what + " '" + path + "': " + std::strerror(err));
}

}  // namespace

MappedFile::MappedFile(const std::string &path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail_io("cannot open", path, errno);
    FdCloser closer{fd};

    struct stat st {};
    if (::fstat(fd, &st) != 0) fail_io("cannot stat", path, errno);
    if (!S_ISREG(st.st_mode))
        fail_io("not a regular file", path, S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
    if (st.st_size == 0) return;

    void *p = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) fail_io("cannot mmap", path, errno);
    data_ = static_cast<const uint8_t *>(p);
    size_ = static_cast<size_t>(st.st_size);
}

MappedFile::~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<uint8_t *>(data_), size_);
}

}  // namespace cab
