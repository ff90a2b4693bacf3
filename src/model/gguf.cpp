#include "model/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "util/error.h"
#include "util/mapped_file.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the GGUF reader reads little-endian files in place");

namespace cab::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;            // "GGUF" read as a little-endian u32
constexpr size_t kMinKvBytes = 8 + 4 + 1;          // key length, value type, smallest value
constexpr size_t kMinTensorBytes = 8 + 4 + 4 + 8;  // name length, n_dims, type, offset
constexpr size_t kMaxDims = 4;
// Vectors sized from a file's counts reserve at most this much up front; past it they grow as
// entries are actually read, so a lying count cannot force a huge allocation.
constexpr uint64_t kMaxReserve = 1 << 16;

// Per value type, in ValueType order: name, bytes of one scalar (0 for STRING and ARRAY),
// whether it is an integer and whether it is signed.
struct TypeInfo {
    const char *name;
    size_t size;
    bool integer;
    bool is_signed;
};
constexpr TypeInfo kTypeInfo[] = {
    {"uint8", 1, true, false},    {"int8", 1, true, true},    {"uint16", 2, true, false},
    {"int16", 2, true, true},     {"uint32", 4, true, false}, {"int32", 4, true, true},
    {"float32", 4, false, false}, {"bool", 1, false, false},  {"string", 0, false, false},
    {"array", 0, false, false},   {"uint64", 8, true, false}, {"int64", 8, true, true},
    {"float64", 8, false, false},
};

const TypeInfo &info(ValueType t) {
    return kTypeInfo[static_cast<uint32_t>(t)];
}
bool is_integer(ValueType t) {
    return info(t).integer;
}
bool is_signed(ValueType t) {
    return info(t).is_signed;
}
size_t scalar_size(ValueType t) {
    return info(t).size;
}

// Smallest encoding of one element, used to check counts against the bytes left.
size_t min_element_size(ValueType t) {
    if (t == ValueType::STRING) return 8;
    if (t == ValueType::ARRAY) return 4 + 8;
    return scalar_size(t);
}

template <typename T>
T load(const uint8_t *p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

// Reads one little-endian element of an integer type as the two's complement bits of its
// value; `neg` tells a negative value.
uint64_t load_integer(ValueType t, const uint8_t *p, bool *neg) {
    const size_t size = scalar_size(t);
    uint64_t x = 0;
    std::memcpy(&x, p, size);
    const unsigned unused = static_cast<unsigned>(64 - 8 * size);
    if (is_signed(t) && unused != 0) {
        x = static_cast<uint64_t>(static_cast<int64_t>(x << unused) >> unused);  // sign-extend
    }
    *neg = is_signed(t) && static_cast<int64_t>(x) < 0;
    return x;
}

// A cursor over the file's bytes that checks every read and names the offset on failure.
class Reader {
public:
    Reader(const uint8_t *base, size_t size, std::string origin)
        : base_(base), size_(size), origin_(std::move(origin)) {}

    size_t pos() const { return pos_; }
    size_t left() const { return size_ - pos_; }
    const uint8_t *here() const { return base_ + pos_; }

    [[noreturn]] void error(size_t at, const std::string &what) const {
        fail(CAB_ERR_FORMAT, "gguf '" + origin_ + "': at byte " + std::to_string(at) + ": " + what);
    }

    // Messages are only assembled on failure: a reader of 49152-string arrays must not build
    // 49152 of them.
    void need(uint64_t n, const std::string &what, std::string_view detail = {}) const {
        if (n > left()) {
            error(pos_, what + std::string(detail) + " needs " + std::to_string(n) +
                            " bytes but only " + std::to_string(left()) +
                            " are left in the file (" + std::to_string(size_) + " bytes)");
        }
    }

    const uint8_t *take(uint64_t n, const std::string &what, std::string_view detail = {}) {
        need(n, what, detail);
        const uint8_t *p = here();
        pos_ += static_cast<size_t>(n);
        return p;
    }

    uint32_t u32(const std::string &what) { return load<uint32_t>(take(4, what)); }
    uint64_t u64(const std::string &what) { return load<uint64_t>(take(8, what)); }

    std::string_view str(const std::string &what) {
        const uint64_t len = load<uint64_t>(take(8, what, " length"));
        if (len > left()) need(len, what, " of length " + std::to_string(len));
        const uint8_t *p = take(len, what);
        return {reinterpret_cast<const char *>(p), static_cast<size_t>(len)};
    }

    // Checks that `count` elements of at least `min_size` bytes each can fit in what is left.
    void check_count(uint64_t count, size_t min_size, const std::string &what) const {
        if (min_size != 0 && count > left() / min_size) {
            error(pos_, what + " count " + std::to_string(count) + " needs at least " +
                            std::to_string(min_size) + " bytes each but only " +
                            std::to_string(left()) + " bytes are left");
        }
    }

    ValueType value_type(const std::string &what) {
        const size_t at = pos_;
        const uint32_t t = u32(what);
        if (t > static_cast<uint32_t>(ValueType::FLOAT64)) {
            error(at, what + " " + std::to_string(t) + " is not a GGUF value type");
        }
        return static_cast<ValueType>(t);
    }

    Value value(ValueType type, const std::string &what, int depth) {
        Value v;
        v.type = type;
        if (type == ValueType::STRING) {
            v.str = str(what);
        } else if (type == ValueType::ARRAY) {
            array(&v, what, depth + 1);
        } else {
            scalar(&v, what);
        }
        return v;
    }

private:
    void scalar(Value *v, const std::string &what) {
        const size_t at = pos_;
        const uint8_t *p = take(scalar_size(v->type), what);
        if (v->type == ValueType::FLOAT32) {
            v->f = load<float>(p);
        } else if (v->type == ValueType::FLOAT64) {
            v->f = load<double>(p);
        } else if (v->type == ValueType::BOOL) {
            if (p[0] > 1) error(at, what + " is a bool of value " + std::to_string(p[0]));
            v->i = p[0];
            v->u = p[0];
        } else {
            bool neg = false;
            const uint64_t x = load_integer(v->type, p, &neg);
            if (neg || x <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                v->i = static_cast<int64_t>(x);
            }
            if (!neg) v->u = x;
        }
    }

    void array(Value *v, const std::string &what, int depth) {
        const size_t at = pos_;
        if (depth > kMaxArrayDepth) {
            error(at, what + " nests arrays " + std::to_string(depth) + " deep (at most " +
                          std::to_string(kMaxArrayDepth) + ")");
        }
        v->elem_type = value_type(what + " element type");
        v->n = u64(what + " element count");
        check_count(v->n, min_element_size(v->elem_type), what + " element");
        const std::string elem = what + " element";
        if (v->elem_type == ValueType::STRING) {
            v->strings.reserve(static_cast<size_t>(std::min(v->n, kMaxReserve)));
            for (uint64_t k = 0; k < v->n; ++k) v->strings.push_back(str(elem));
        } else if (v->elem_type == ValueType::ARRAY) {
            nested_arrays_ += v->n;
            if (nested_arrays_ > kMaxNestedArrays) {
                error(at, what + " brings the file's arrays of arrays to " +
                              std::to_string(nested_arrays_) + " inner arrays (at most " +
                              std::to_string(kMaxNestedArrays) + ")");
            }
            v->arrays.reserve(static_cast<size_t>(v->n));
            for (uint64_t k = 0; k < v->n; ++k) {
                v->arrays.push_back(value(ValueType::ARRAY, elem, depth));
            }
        } else {
            const size_t first = pos_;
            v->array_data = take(v->n * scalar_size(v->elem_type), what);
            if (v->elem_type == ValueType::BOOL) {
                for (uint64_t k = 0; k < v->n; ++k) {
                    if (v->array_data[k] > 1) error(first + k, elem + " is not a bool (0 or 1)");
                }
            }
        }
    }

    const uint8_t *base_;
    size_t size_;
    std::string origin_;
    size_t pos_ = 0;
    uint64_t nested_arrays_ = 0;
};

std::string quoted(std::string_view s) {
    return "'" + std::string(s) + "'";
}

// "a uint32 of value 7", "a string", "an array of string" for error messages.
std::string describe(const Value &v) {
    const bool vowel = v.type == ValueType::ARRAY || is_signed(v.type);  // "an int8"
    const std::string s = std::string(vowel ? "an " : "a ") + value_type_name(v.type);
    if (v.type == ValueType::ARRAY) return s + " of " + value_type_name(v.elem_type);
    if (is_integer(v.type)) {
        return s + " of value " + (is_signed(v.type) ? std::to_string(v.i) : std::to_string(v.u));
    }
    if (v.type == ValueType::FLOAT32 || v.type == ValueType::FLOAT64) {
        return s + " of value " + std::to_string(v.f);
    }
    return s;
}

}  // namespace

const char *value_type_name(ValueType type) {
    return static_cast<uint32_t>(type) <= static_cast<uint32_t>(ValueType::FLOAT64)
               ? info(type).name
               : "unknown";
}

File::File() = default;
File::~File() = default;

std::unique_ptr<File> File::open(const std::string &path) {
    std::unique_ptr<File> f(new File());
    f->path_ = path;
    f->mapping_ = std::make_unique<MappedFile>(path);
    f->base_ = f->mapping_->data();
    f->size_ = f->mapping_->size();
    f->parse();
    return f;
}

std::unique_ptr<File> File::from_memory(const void *data, size_t size) {
    std::unique_ptr<File> f(new File());
    f->base_ = static_cast<const uint8_t *>(data);
    f->size_ = data == nullptr ? 0 : size;
    f->parse();
    return f;
}

std::string File::origin() const {
    return path_.empty() ? "<memory>" : path_;
}

void File::parse() {
    Reader r(base_, size_, origin());

    const uint32_t magic = r.u32("magic");
    if (magic != kMagic) {
        std::string shown(reinterpret_cast<const char *>(base_), 4);
        for (char &c : shown) c = (c >= 32 && c < 127) ? c : '?';
        r.error(0, "bad magic '" + shown + "' (not a GGUF file)");
    }
    version_ = r.u32("version");
    if (version_ != 2 && version_ != 3) {
        const bool swapped = version_ == 0x02000000u || version_ == 0x03000000u;
        fail(CAB_ERR_UNSUPPORTED,
             "gguf '" + origin() + "': at byte 4: GGUF version " + std::to_string(version_) +
                 (swapped ? " (a big-endian file)" : "") + " is not supported (only 2 and 3)");
    }
    const uint64_t n_tensors = r.u64("tensor count");
    const uint64_t n_kv = r.u64("metadata count");
    r.check_count(n_kv, kMinKvBytes, "metadata");
    if (n_tensors > (r.left() - n_kv * kMinKvBytes) / kMinTensorBytes) {
        r.error(8, "tensor count " + std::to_string(n_tensors) + " cannot fit in the " +
                       std::to_string(r.left()) + " bytes left after " + std::to_string(n_kv) +
                       " metadata entries");
    }

    for (uint64_t k = 0; k < n_kv; ++k) {
        const size_t at = r.pos();
        const std::string_view key = r.str("metadata key #" + std::to_string(k));
        if (key.empty() || key.size() > kMaxKeyLength) {
            r.error(at, "metadata key #" + std::to_string(k) + " has length " +
                            std::to_string(key.size()) + " (1 to " + std::to_string(kMaxKeyLength) +
                            " allowed)");
        }
        if (kv_index_.count(key) != 0) r.error(at, "duplicate metadata key " + quoted(key));
        const std::string what = "value of " + quoted(key);
        const ValueType type = r.value_type("type of " + quoted(key));
        kv_.emplace_back(std::string(key), r.value(type, what, 0));
        kv_index_.emplace(key, kv_.size() - 1);
    }

    if (const Value *a = find("general.alignment")) {
        const bool ok =
            is_integer(a->type) && a->i > 0 && a->u <= kMaxAlignment && (a->u & (a->u - 1)) == 0;
        if (!ok) {
            fail(CAB_ERR_FORMAT, "gguf '" + origin() + "': general.alignment is " + describe(*a) +
                                     ", not a power of two from 1 to " +
                                     std::to_string(kMaxAlignment));
        }
        alignment_ = static_cast<size_t>(a->u);
    }

    for (uint64_t k = 0; k < n_tensors; ++k) {
        const size_t at = r.pos();
        TensorInfo t;
        const std::string_view name = r.str("tensor #" + std::to_string(k) + " name");
        if (tensor_index_.count(name) != 0) r.error(at, "duplicate tensor name " + quoted(name));
        t.name = std::string(name);
        const std::string what = "tensor " + quoted(name);

        const size_t dims_at = r.pos();
        const uint32_t n_dims = r.u32(what + " n_dims");
        if (n_dims > kMaxDims) {
            r.error(dims_at, what + " has " + std::to_string(n_dims) + " dimensions (at most 4)");
        }
        t.n_dims = static_cast<int>(n_dims);
        uint64_t count = 1;
        for (uint32_t d = 0; d < n_dims; ++d) {
            const size_t ne_at = r.pos();
            const uint64_t ne = r.u64(what + " ne[" + std::to_string(d) + "]");
            const uint64_t max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
            if (ne > max || (ne != 0 && count > max / ne)) {
                r.error(ne_at, what + " ne[" + std::to_string(d) +
                                   "] = " + std::to_string(static_cast<int64_t>(ne)) +
                                   " is negative or makes the element count overflow");
            }
            count *= ne;
            t.ne[d] = static_cast<int64_t>(ne);
        }

        const size_t type_at = r.pos();
        const uint32_t type_id = r.u32(what + " type");
        const ggml::TypeTraits *tt = ggml::traits_of(type_id);
        if (tt == nullptr) {
            const char *known = ggml::ggml_type_name(type_id);
            if (known != nullptr) {
                fail(CAB_ERR_UNSUPPORTED, "gguf '" + origin() + "': at byte " +
                                              std::to_string(type_at) + ": " + what + " has type " +
                                              known + " (" + std::to_string(type_id) +
                                              "), which libcab cannot read");
            }
            r.error(type_at, what + " has unknown type id " + std::to_string(type_id));
        }
        t.type = static_cast<ggml::Type>(type_id);
        if (t.ne[0] % tt->block_size != 0) {
            r.error(type_at, what + " row of " + std::to_string(t.ne[0]) + " elements is not a " +
                                 "multiple of the " + tt->name + " block size " +
                                 std::to_string(tt->block_size));
        }
        const uint64_t blocks = count / static_cast<uint64_t>(tt->block_size);
        if (blocks > std::numeric_limits<size_t>::max() / tt->block_bytes) {
            r.error(type_at, what + " byte size overflows");
        }
        t.nbytes = static_cast<size_t>(blocks) * tt->block_bytes;

        const size_t off_at = r.pos();
        t.offset = r.u64(what + " offset");
        if (t.offset % alignment_ != 0) {
            r.error(off_at, what + " offset " + std::to_string(t.offset) +
                                " is not a multiple of the alignment " +
                                std::to_string(alignment_));
        }
        tensors_.push_back(std::move(t));
        tensor_index_.emplace(name, tensors_.size() - 1);
    }

    // The data section starts at the next multiple of the alignment (it may be empty).
    const size_t end_of_infos = r.pos();
    data_offset_ = end_of_infos + (alignment_ - end_of_infos % alignment_) % alignment_;
    for (TensorInfo &t : tensors_) {
        const bool starts_inside = data_offset_ <= size_ && t.offset <= size_ - data_offset_;
        if (!starts_inside || t.nbytes > size_ - data_offset_ - t.offset) {
            const std::string range =
                starts_inside ? "[" + std::to_string(data_offset_ + t.offset) + ", " +
                                    std::to_string(data_offset_ + t.offset + t.nbytes) + ")"
                              : "at data offset " + std::to_string(t.offset) +
                                    " (data section at byte " + std::to_string(data_offset_) + ")";
            fail(CAB_ERR_FORMAT, "gguf '" + origin() + "': tensor " + quoted(t.name) + " data " +
                                     range + " exceeds file size " + std::to_string(size_));
        }
        t.data = base_ + data_offset_ + t.offset;
    }
}

const Value *File::find(std::string_view key) const {
    const auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const TensorInfo *File::tensor(std::string_view name) const {
    const auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const Value &File::require_key(std::string_view key) const {
    const Value *v = find(key);
    if (v == nullptr) fail(CAB_ERR_FORMAT, "gguf '" + origin() + "': missing key " + quoted(key));
    return *v;
}

void File::type_error(std::string_view key, const Value &v, const char *want) const {
    fail(CAB_ERR_FORMAT, "gguf '" + origin() + "': key " + quoted(key) + " is " + describe(v) +
                             ", expected " + want);
}

std::string File::get_string(std::string_view key) const {
    const Value &v = require_key(key);
    if (v.type != ValueType::STRING) type_error(key, v, "a string");
    return std::string(v.str);
}

std::string File::get_string(std::string_view key, std::string_view fallback) const {
    return find(key) ? get_string(key) : std::string(fallback);
}

uint32_t File::get_u32(std::string_view key) const {
    const Value &v = require_key(key);
    const bool negative = is_signed(v.type) && v.i < 0;
    if (!is_integer(v.type) || negative || v.u > std::numeric_limits<uint32_t>::max()) {
        type_error(key, v, "an integer from 0 to 4294967295");
    }
    return static_cast<uint32_t>(v.u);
}

uint32_t File::get_u32(std::string_view key, uint32_t fallback) const {
    return find(key) ? get_u32(key) : fallback;
}

int64_t File::get_i64(std::string_view key, int64_t fallback) const {
    const Value *v = find(key);
    if (v == nullptr) return fallback;
    const bool too_big = v->type == ValueType::UINT64 &&
                         v->u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    if (!is_integer(v->type) || too_big) type_error(key, *v, "an int64");
    return v->i;
}

float File::get_f32(std::string_view key) const {
    const Value &v = require_key(key);
    if (v.type == ValueType::FLOAT32 || v.type == ValueType::FLOAT64) {
        return static_cast<float>(v.f);
    }
    if (!is_integer(v.type)) type_error(key, v, "a number");
    return is_signed(v.type) ? static_cast<float>(v.i) : static_cast<float>(v.u);
}

float File::get_f32(std::string_view key, float fallback) const {
    return find(key) ? get_f32(key) : fallback;
}

bool File::get_bool(std::string_view key, bool fallback) const {
    const Value *v = find(key);
    if (v == nullptr) return fallback;
    if (v->type != ValueType::BOOL) type_error(key, *v, "a bool");
    return v->u != 0;
}

const std::vector<std::string_view> &File::get_string_array(std::string_view key) const {
    const Value &v = require_key(key);
    if (v.type != ValueType::ARRAY || v.elem_type != ValueType::STRING) {
        type_error(key, v, "an array of string");
    }
    return v.strings;
}

std::vector<float> File::get_f32_array(std::string_view key) const {
    const Value &v = require_key(key);
    const bool ok = v.type == ValueType::ARRAY &&
                    (v.elem_type == ValueType::FLOAT32 || v.elem_type == ValueType::FLOAT64);
    if (!ok) type_error(key, v, "an array of float32");
    std::vector<float> out(static_cast<size_t>(v.n));
    for (size_t k = 0; k < out.size(); ++k) {
        out[k] = v.elem_type == ValueType::FLOAT32
                     ? load<float>(v.array_data + 4 * k)
                     : static_cast<float>(load<double>(v.array_data + 8 * k));
    }
    return out;
}

std::vector<int32_t> File::get_i32_array(std::string_view key) const {
    const Value &v = require_key(key);
    if (v.type != ValueType::ARRAY || !is_integer(v.elem_type)) {
        type_error(key, v, "an array of int32");
    }
    const size_t size = scalar_size(v.elem_type);
    std::vector<int32_t> out(static_cast<size_t>(v.n));
    for (size_t k = 0; k < out.size(); ++k) {
        bool neg = false;
        const uint64_t x = load_integer(v.elem_type, v.array_data + size * k, &neg);
        const int64_t s = static_cast<int64_t>(x);
        const bool fits = neg ? s >= std::numeric_limits<int32_t>::min()
                              : x <= static_cast<uint64_t>(std::numeric_limits<int32_t>::max());
        if (!fits) {
            fail(CAB_ERR_FORMAT, "gguf '" + origin() + "': key " + quoted(key) + " element " +
                                     std::to_string(k) + " does not fit an int32");
        }
        out[k] = static_cast<int32_t>(s);
    }
    return out;
}

}  // namespace cab::gguf
