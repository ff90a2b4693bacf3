// GGUF reader: memory-maps a model file and exposes its metadata and tensor table.
// Nothing in the file is trusted: every count, length and offset is checked against the file
// size before use, and no allocation is sized by an unchecked count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/ggml_types.h"

namespace cab {
class MappedFile;
}

namespace cab::gguf {

enum class ValueType : uint32_t {
    UINT8 = 0,
    INT8 = 1,
    UINT16 = 2,
    INT16 = 3,
    UINT32 = 4,
    INT32 = 5,
    FLOAT32 = 6,
    BOOL = 7,
    STRING = 8,
    ARRAY = 9,
    UINT64 = 10,
    INT64 = 11,
    FLOAT64 = 12,
};

const char *value_type_name(ValueType type);

// One metadata value. Strings and array payloads point into the mapped file.
struct Value {
    ValueType type = ValueType::UINT8;
    // Scalars: an integer (or BOOL, as 0/1) is in i when it fits an int64 and in u when it is
    // not negative; floats are widened into f.
    int64_t i = 0;
    uint64_t u = 0;
    double f = 0.0;
    std::string_view str;  // STRING
    // ARRAY
    ValueType elem_type = ValueType::UINT8;
    uint64_t n = 0;                         // element count
    const uint8_t *array_data = nullptr;    // numeric and bool arrays: n packed LE elements
    std::vector<std::string_view> strings;  // string arrays
    std::vector<Value> arrays;              // arrays of arrays: one ARRAY value per element
};

// Limits on what a file may claim, so that a hostile file cannot make the reader allocate or
// recurse without bound. Real files are far below them.
inline constexpr int kMaxArrayDepth = 4;  // levels of array nesting (an array of arrays is 2)
inline constexpr uint64_t kMaxNestedArrays = 1 << 16;  // inner arrays in a whole file
inline constexpr uint32_t kMaxAlignment = 1u << 30;
inline constexpr uint64_t kMaxKeyLength = 65535;

struct TensorInfo {
    std::string name;
    ggml::Type type = ggml::Type::F32;
    int n_dims = 0;
    int64_t ne[4] = {1, 1, 1, 1};  // ggml order: ne[0] is the contiguous (row) dimension
    uint64_t offset = 0;           // from the start of the data section
    const void *data = nullptr;    // into the mapping
    size_t nbytes = 0;

    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
};

class File {
public:
    // Maps and parses a file. Throws cab::Error: IO (cannot open/map; strerror in the message),
    // FORMAT (bad magic, truncated, counts, lengths or offsets out of range, duplicate keys or
    // tensor names, a tensor type id ggml never defined; the message names the byte offset),
    // UNSUPPORTED (GGUF version other than 2 or 3, a ggml tensor type libcab cannot read).
    static std::unique_ptr<File> open(const std::string &path);
    // Parses a buffer the caller keeps alive (tests, fuzzing). Same checks as open().
    static std::unique_ptr<File> from_memory(const void *data, size_t size);

    ~File();
    File(const File &) = delete;
    File &operator=(const File &) = delete;

    uint32_t version() const { return version_; }
    size_t alignment() const { return alignment_; }
    size_t size() const { return size_; }
    size_t data_offset() const { return data_offset_; }  // start of the tensor data section
    const std::string &path() const { return path_; }

    const std::vector<std::pair<std::string, Value>> &metadata() const { return kv_; }
    const Value *find(std::string_view key) const;  // nullptr when absent

    // Typed getters. The ones without a default throw cab::Error(FORMAT) naming the key when it
    // is missing; all throw it when the key holds an incompatible type or a value out of range
    // (a fallback only stands in for a missing key). Integer getters accept any integer type
    // in range; float getters accept FLOAT32, FLOAT64 and integers.
    std::string get_string(std::string_view key) const;
    std::string get_string(std::string_view key, std::string_view fallback) const;
    uint32_t get_u32(std::string_view key) const;
    uint32_t get_u32(std::string_view key, uint32_t fallback) const;
    int64_t get_i64(std::string_view key, int64_t fallback) const;
    float get_f32(std::string_view key) const;
    float get_f32(std::string_view key, float fallback) const;
    bool get_bool(std::string_view key, bool fallback) const;
    // Arrays; throw FORMAT when absent or of another element type (f32: FLOAT32 or FLOAT64;
    // i32: any integer type whose elements fit an int32).
    const std::vector<std::string_view> &get_string_array(std::string_view key) const;
    std::vector<float> get_f32_array(std::string_view key) const;
    std::vector<int32_t> get_i32_array(std::string_view key) const;

    const std::vector<TensorInfo> &tensors() const { return tensors_; }
    const TensorInfo *tensor(std::string_view name) const;  // nullptr when absent

private:
    File();
    void parse();
    std::string origin() const;  // the path, or "<memory>", for messages
    const Value &require_key(std::string_view key) const;
    [[noreturn]] void type_error(std::string_view key, const Value &v, const char *want) const;

    std::string path_;
    const uint8_t *base_ = nullptr;
    size_t size_ = 0;
    std::unique_ptr<MappedFile> mapping_;  // set when this object owns an mmap
    uint32_t version_ = 0;
    size_t alignment_ = 32;
    size_t data_offset_ = 0;
    std::vector<std::pair<std::string, Value>> kv_;
    std::vector<TensorInfo> tensors_;
    // Keys and names are views of the file's bytes, which outlive these maps.
    std::unordered_map<std::string_view, size_t> kv_index_;
    std::unordered_map<std::string_view, size_t> tensor_index_;
};

}  // namespace cab::gguf
