// A tiny in-memory GGUF writer for tests: well-formed files by default, and every field
// overridable so that tests can build malformed ones (wrong counts, n_dims, offsets, types).
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/ggml_types.h"
#include "model/gguf.h"

namespace cab::test {

// Appends little-endian values to a byte vector.
class ByteWriter {
public:
    template <typename T>
    ByteWriter &put(T v) {
        return append(&v, sizeof(T));
    }
    ByteWriter &u32(uint32_t v) { return put(v); }
    ByteWriter &u64(uint64_t v) { return put(v); }
    ByteWriter &str(std::string_view s) {
        u64(s.size());
        return append(s.data(), s.size());
    }
    ByteWriter &raw(const std::vector<uint8_t> &b) { return append(b.data(), b.size()); }
    ByteWriter &pad_to(size_t alignment) {
        while (bytes.size() % alignment != 0) bytes.push_back(0);
        return *this;
    }

    std::vector<uint8_t> bytes;

private:
    // resize + memcpy rather than vector::insert, which trips a false -Wnonnull in GCC 12.
    ByteWriter &append(const void *p, size_t n) {
        if (n == 0) return *this;
        const size_t at = bytes.size();
        bytes.resize(at + n);
        std::memcpy(bytes.data() + at, p, n);
        return *this;
    }
};

// Encodings of GGUF values (what follows the value-type field).
template <typename T>
std::vector<uint8_t> encode_scalar(T v) {
    return ByteWriter().put(v).bytes;
}

inline std::vector<uint8_t> encode_string(std::string_view s) {
    return ByteWriter().str(s).bytes;
}

template <typename T>
std::vector<uint8_t> encode_array(gguf::ValueType elem, const std::vector<T> &values) {
    ByteWriter w;
    w.u32(static_cast<uint32_t>(elem)).u64(values.size());
    for (const T &v : values) w.put(v);
    return w.bytes;
}

inline std::vector<uint8_t> encode_string_array(const std::vector<std::string> &values) {
    ByteWriter w;
    w.u32(static_cast<uint32_t>(gguf::ValueType::STRING)).u64(values.size());
    for (const std::string &s : values) w.str(s);
    return w.bytes;
}

// An array whose elements are arrays, each given as its own encode_*array() bytes.
inline std::vector<uint8_t> encode_array_of_arrays(const std::vector<std::vector<uint8_t>> &inner) {
    ByteWriter w;
    w.u32(static_cast<uint32_t>(gguf::ValueType::ARRAY)).u64(inner.size());
    for (const auto &a : inner) w.raw(a);
    return w.bytes;
}

// Little-endian bytes of a vector of plain values (tensor data).
template <typename T>
std::vector<uint8_t> to_bytes(const std::vector<T> &values) {
    std::vector<uint8_t> out(values.size() * sizeof(T));
    if (!out.empty()) std::memcpy(out.data(), values.data(), out.size());
    return out;
}

class GgufBuilder {
public:
    struct Tensor {
        std::string name;
        uint32_t type_id = 0;
        std::vector<uint64_t> ne;        // written as given; n_dims = ne.size() unless set
        std::optional<uint32_t> n_dims;  // to write an n_dims that disagrees with ne
        std::vector<uint8_t> data;
        std::optional<uint64_t> offset;  // default: the next aligned offset
    };

    GgufBuilder &version(uint32_t v) {
        version_ = v;
        return *this;
    }
    // Writes general.alignment (uint32) and lays the data section out with it.
    GgufBuilder &alignment(uint32_t a) {
        layout_alignment_ = a;
        return add_u32("general.alignment", a);
    }
    // Header counts that disagree with the content, for malformed files.
    GgufBuilder &override_counts(std::optional<uint64_t> n_tensors, std::optional<uint64_t> n_kv) {
        n_tensors_ = n_tensors;
        n_kv_ = n_kv;
        return *this;
    }

    GgufBuilder &add_value(std::string key, gguf::ValueType type, std::vector<uint8_t> payload) {
        kv_.push_back({std::move(key), static_cast<uint32_t>(type), std::move(payload)});
        return *this;
    }
    GgufBuilder &add_u8(std::string k, uint8_t v) { return scalar(k, gguf::ValueType::UINT8, v); }
    GgufBuilder &add_i8(std::string k, int8_t v) { return scalar(k, gguf::ValueType::INT8, v); }
    GgufBuilder &add_u16(std::string k, uint16_t v) {
        return scalar(k, gguf::ValueType::UINT16, v);
    }
    GgufBuilder &add_i16(std::string k, int16_t v) { return scalar(k, gguf::ValueType::INT16, v); }
    GgufBuilder &add_u32(std::string k, uint32_t v) {
        return scalar(k, gguf::ValueType::UINT32, v);
    }
    GgufBuilder &add_i32(std::string k, int32_t v) { return scalar(k, gguf::ValueType::INT32, v); }
    GgufBuilder &add_u64(std::string k, uint64_t v) {
        return scalar(k, gguf::ValueType::UINT64, v);
    }
    GgufBuilder &add_i64(std::string k, int64_t v) { return scalar(k, gguf::ValueType::INT64, v); }
    GgufBuilder &add_f32(std::string k, float v) { return scalar(k, gguf::ValueType::FLOAT32, v); }
    GgufBuilder &add_f64(std::string k, double v) { return scalar(k, gguf::ValueType::FLOAT64, v); }
    GgufBuilder &add_bool(std::string k, bool v) {
        return scalar(k, gguf::ValueType::BOOL, static_cast<uint8_t>(v));
    }
    GgufBuilder &add_string(std::string k, std::string_view v) {
        return add_value(std::move(k), gguf::ValueType::STRING, encode_string(v));
    }
    template <typename T>
    GgufBuilder &add_array(std::string k, gguf::ValueType elem, const std::vector<T> &v) {
        return add_value(std::move(k), gguf::ValueType::ARRAY, encode_array(elem, v));
    }
    GgufBuilder &add_string_array(std::string k, const std::vector<std::string> &v) {
        return add_value(std::move(k), gguf::ValueType::ARRAY, encode_string_array(v));
    }

    GgufBuilder &add_tensor(Tensor t) {
        tensors_.push_back(std::move(t));
        return *this;
    }
    // A well-formed tensor: ne in ggml order, data of exactly the right size.
    GgufBuilder &add_tensor(std::string name, ggml::Type type, std::vector<uint64_t> ne,
                            std::vector<uint8_t> data) {
        return add_tensor(Tensor{std::move(name), static_cast<uint32_t>(type), std::move(ne),
                                 std::nullopt, std::move(data), std::nullopt});
    }

    // The file: header, metadata, tensor infos, padding, then each tensor's data at its
    // offset. The last tensor is not padded, so the file ends where its data ends; a tensor
    // given fewer bytes than its shape needs makes a file whose data is cut short.
    std::vector<uint8_t> build() const {
        std::vector<uint64_t> offsets;
        uint64_t next = 0;
        for (const Tensor &t : tensors_) {
            const uint64_t off = t.offset ? *t.offset : next;
            offsets.push_back(off);
            next = round_up(off + t.data.size());
        }

        ByteWriter w;
        w.u32(0x46554747).u32(version_);
        w.u64(n_tensors_ ? *n_tensors_ : tensors_.size());
        w.u64(n_kv_ ? *n_kv_ : kv_.size());
        for (const Kv &kv : kv_) w.str(kv.key).u32(kv.type).raw(kv.payload);
        for (size_t i = 0; i < tensors_.size(); ++i) {
            const Tensor &t = tensors_[i];
            w.str(t.name).u32(t.n_dims ? *t.n_dims : static_cast<uint32_t>(t.ne.size()));
            for (uint64_t ne : t.ne) w.u64(ne);
            w.u32(t.type_id).u64(offsets[i]);
        }
        w.pad_to(layout_alignment());
        const size_t data_start = w.bytes.size();
        for (size_t i = 0; i < tensors_.size(); ++i) {
            const std::vector<uint8_t> &d = tensors_[i].data;
            // A test may point a tensor far away: its data is then not written.
            if (d.empty() || offsets[i] > (1u << 30)) continue;
            const size_t at = data_start + offsets[i];
            if (w.bytes.size() < at + d.size()) w.bytes.resize(at + d.size(), 0);
            std::copy(d.begin(), d.end(), w.bytes.begin() + static_cast<std::ptrdiff_t>(at));
        }
        return w.bytes;
    }

private:
    struct Kv {
        std::string key;
        uint32_t type;
        std::vector<uint8_t> payload;
    };

    template <typename T>
    GgufBuilder &scalar(std::string &key, gguf::ValueType type, T v) {
        return add_value(std::move(key), type, encode_scalar(v));
    }
    // Padding only follows a valid, modest alignment; a test of a bad or huge one lays the
    // data out with the default.
    size_t layout_alignment() const {
        const uint32_t a = layout_alignment_;
        return a != 0 && (a & (a - 1)) == 0 && a <= 4096 ? a : 32;
    }
    uint64_t round_up(uint64_t x) const {
        const uint64_t a = layout_alignment();
        return (x + a - 1) / a * a;
    }

    uint32_t version_ = 3;
    uint32_t layout_alignment_ = 32;
    std::optional<uint64_t> n_tensors_, n_kv_;
    std::vector<Kv> kv_;
    std::vector<Tensor> tensors_;
};

}  // namespace cab::test
