// Binary values in the machine's byte order: 64-bit integers and length-prefixed arrays,
// written to and read from any sink or source with bytes(p, n) (ValueWriter, ValueReader),
// and the in-memory buffers the ranks of a run exchange (compress/reducer.hpp).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace surgeon::model {

// Derived provides bytes(const void* p, size_t n).
template <typename Derived>
class ValueWriter {
public:
    void i64(int64_t v) { self().bytes(&v, sizeof v); }
    template <typename Vector>  // a std::vector of any allocator
    void vec(const Vector& v) {
        i64(static_cast<int64_t>(v.size()));
        self().bytes(v.data(), v.size() * sizeof(typename Vector::value_type));
    }
    void text(const std::string& s) {
        i64(static_cast<int64_t>(s.size()));
        self().bytes(s.data(), s.size());
    }

private:
    Derived& self() { return static_cast<Derived&>(*this); }
};

// Derived provides bytes(void* p, size_t n) and check_count(count, element_size), which
// throws when a length prefix cannot be right.
template <typename Derived>
class ValueReader {
public:
    int64_t i64() {
        int64_t v = 0;
        self().bytes(&v, sizeof v);
        return v;
    }
    template <typename T>
    std::vector<T> vec() {
        const int64_t n = i64();
        self().check_count(n, sizeof(T));
        std::vector<T> v(static_cast<size_t>(n));
        self().bytes(v.data(), v.size() * sizeof(T));
        return v;
    }
    // Reads an array written by vec into `v`, which must hold as many elements.
    template <typename Vector>
    void vec_into(Vector& v) {
        require(i64() == static_cast<int64_t>(v.size()), SURGEON_ERR_INTERNAL,
                "a message between ranks holds an array of another length");
        self().bytes(v.data(), v.size() * sizeof(typename Vector::value_type));
    }
    std::string text() {
        const std::vector<char> c = vec<char>();
        return std::string(c.begin(), c.end());
    }

private:
    Derived& self() { return static_cast<Derived&>(*this); }
};

class ByteWriter : public ValueWriter<ByteWriter> {
public:
    void bytes(const void* p, size_t n) {
        const auto* c = static_cast<const char*>(p);
        out_.insert(out_.end(), c, c + n);
    }
    std::vector<char>& buffer() { return out_; }

private:
    std::vector<char> out_;
};

class ByteReader : public ValueReader<ByteReader> {
public:
    explicit ByteReader(const std::vector<char>& in) : in_(in) {}
    void bytes(void* p, size_t n) {
        require(n <= in_.size() - pos_, SURGEON_ERR_INTERNAL, "a message between ranks is shorter than its contents");
        if (n) std::memcpy(p, in_.data() + pos_, n);
        pos_ += n;
    }
    void check_count(int64_t n, size_t element_size) const {
        require(n >= 0 && static_cast<size_t>(n) <= (in_.size() - pos_) / element_size, SURGEON_ERR_INTERNAL,
                "a message between ranks is shorter than its contents");
    }

private:
    const std::vector<char>& in_;
    size_t pos_ = 0;
};

}  // namespace surgeon::model
