// Plain byte buffers for what the ranks of a run exchange (compress/reducer.hpp): values
// appended in the machine's byte order and read back in the same order.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace surgeon::model {

class ByteWriter {
public:
    void bytes(const void* p, size_t n) {
        const auto* c = static_cast<const char*>(p);
        out_.insert(out_.end(), c, c + n);
    }
    void i64(int64_t v) { bytes(&v, sizeof v); }
    template <typename Vector>  // a std::vector of any allocator
    void vec(const Vector& v) {
        i64(static_cast<int64_t>(v.size()));
        bytes(v.data(), v.size() * sizeof(typename Vector::value_type));
    }
    void text(const std::string& s) {
        i64(static_cast<int64_t>(s.size()));
        bytes(s.data(), s.size());
    }
    std::vector<char>& buffer() { return out_; }

private:
    std::vector<char> out_;
};

class ByteReader {
public:
    explicit ByteReader(const std::vector<char>& in) : in_(in) {}
    void bytes(void* p, size_t n) {
        require(n <= in_.size() - pos_, SURGEON_ERR_INTERNAL, "a message between ranks is shorter than its contents");
        if (n) std::memcpy(p, in_.data() + pos_, n);
        pos_ += n;
    }
    int64_t i64() {
        int64_t v = 0;
        bytes(&v, sizeof v);
        return v;
    }
    template <typename T>
    std::vector<T> vec() {
        const int64_t n = i64();
        require(n >= 0 && static_cast<size_t>(n) <= (in_.size() - pos_) / sizeof(T), SURGEON_ERR_INTERNAL,
                "a message between ranks is shorter than its contents");
        std::vector<T> v(static_cast<size_t>(n));
        bytes(v.data(), v.size() * sizeof(T));
        return v;
    }
    // Reads a vector written by ByteWriter::vec into `v`, which must hold as many elements.
    template <typename Vector>
    void vec_into(Vector& v) {
        require(i64() == static_cast<int64_t>(v.size()), SURGEON_ERR_INTERNAL,
                "a message between ranks holds an array of another length");
        bytes(v.data(), v.size() * sizeof(typename Vector::value_type));
    }
    std::string text() {
        const std::vector<char> c = vec<char>();
        return std::string(c.begin(), c.end());
    }
    bool at_end() const { return pos_ == in_.size(); }

private:
    const std::vector<char>& in_;
    size_t pos_ = 0;
};

}  // namespace surgeon::model
