// A small GGUF v3 reader for the tests, written from the format description (ggml
// docs/gguf.md) independently of lib/io/gguf.cpp: it parses the header, every metadata
// value and tensor info, checks the layout (alignment, offsets, file size), and decodes
// F32 / F16 / BF16 / Q8_0 / Q4_0 tensors to floats.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace surgeon::testing {

struct GgufValue {
    uint32_t type = 0;  // 0..12 as in the spec; arrays: 9 with elem_type
    uint64_t u = 0;     // unsigned integers and bool
    int64_t i = 0;      // signed integers
    double f = 0.0;     // floats
    std::string s;
    uint32_t elem_type = 0;
    std::vector<GgufValue> arr;
};

struct GgufTensorInfo {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type = 0;
    uint64_t offset = 0;  // relative to the data section
};

struct GgufFile {
    uint32_t version = 0;
    std::map<std::string, GgufValue> kv;
    std::vector<std::string> key_order;
    std::vector<GgufTensorInfo> tensors;
    uint64_t data_start = 0;
    std::string bytes;  // the whole file

    const GgufTensorInfo& tensor(const std::string& name) const {
        for (const GgufTensorInfo& t : tensors)
            if (t.name == name) return t;
        throw std::runtime_error("no tensor " + name);
    }
    uint64_t elements(const GgufTensorInfo& t) const {
        uint64_t n = 1;
        for (uint64_t d : t.ne) n *= d;
        return n;
    }
    // Bytes per the spec: 4/2 per value, 18 per 32 values (Q4_0), 34 per 32 (Q8_0).
    static uint64_t byte_size(uint32_t type, uint64_t n) {
        switch (type) {
            case 0: return 4 * n;
            case 1:
            case 30: return 2 * n;
            case 2: return n / 32 * 18;
            case 8: return n / 32 * 34;
        }
        throw std::runtime_error("unknown tensor type " + std::to_string(type));
    }

    static float half(uint16_t h) {
        const int e = (h >> 10) & 0x1f, m = h & 0x3ff;
        const float sign = (h & 0x8000) ? -1.0f : 1.0f;
        if (e == 0) return sign * std::ldexp(static_cast<float>(m), -24);
        if (e == 31) return m ? NAN : sign * INFINITY;
        return sign * std::ldexp(static_cast<float>(m + 1024), e - 25);
    }

    std::vector<float> decode(const GgufTensorInfo& t) const {
        const uint64_t n = elements(t);
        const char* p = bytes.data() + data_start + t.offset;
        std::vector<float> out(n);
        auto u16 = [](const char* q) {
            uint16_t v;
            std::memcpy(&v, q, 2);
            return v;
        };
        for (uint64_t k = 0; k < n; ++k) {
            switch (t.type) {
                case 0: std::memcpy(&out[k], p + 4 * k, 4); break;
                case 1: out[k] = half(u16(p + 2 * k)); break;
                case 30: {
                    const uint32_t b = static_cast<uint32_t>(u16(p + 2 * k)) << 16;
                    std::memcpy(&out[k], &b, 4);
                    break;
                }
                case 2: {  // Q4_0: d, then byte j = value j (low nibble) | value j+16 (high)
                    const char* blk = p + (k / 32) * 18;
                    const uint64_t j = k % 32;
                    const uint8_t byte = static_cast<uint8_t>(blk[2 + (j % 16)]);
                    const int q = (j < 16 ? (byte & 0x0f) : (byte >> 4)) - 8;
                    out[k] = half(u16(blk)) * static_cast<float>(q);
                    break;
                }
                case 8: {  // Q8_0: d, then 32 int8
                    const char* blk = p + (k / 32) * 34;
                    out[k] = half(u16(blk)) * static_cast<float>(static_cast<int8_t>(blk[2 + k % 32]));
                    break;
                }
                default: throw std::runtime_error("cannot decode type " + std::to_string(t.type));
            }
        }
        return out;
    }
};

inline GgufFile read_gguf(const std::string& path) {
    GgufFile g;
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot open " + path);
    g.bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    size_t at = 0;
    auto take = [&](void* dst, size_t n) {
        if (g.bytes.size() - at < n) throw std::runtime_error("GGUF truncated at byte " + std::to_string(at));
        std::memcpy(dst, g.bytes.data() + at, n);
        at += n;
    };
    auto u32 = [&] {
        uint32_t v;
        take(&v, 4);
        return v;
    };
    auto u64 = [&] {
        uint64_t v;
        take(&v, 8);
        return v;
    };
    auto str = [&] {
        const uint64_t n = u64();
        if (n > g.bytes.size()) throw std::runtime_error("bad string length");
        std::string s(n, '\0');
        take(s.data(), n);
        return s;
    };
    std::function<GgufValue(uint32_t)> value = [&](uint32_t type) {
        GgufValue v;
        v.type = type;
        switch (type) {
            case 0: { uint8_t x; take(&x, 1); v.u = x; break; }
            case 1: { int8_t x; take(&x, 1); v.i = x; break; }
            case 2: { uint16_t x; take(&x, 2); v.u = x; break; }
            case 3: { int16_t x; take(&x, 2); v.i = x; break; }
            case 4: v.u = u32(); break;
            case 5: { int32_t x; take(&x, 4); v.i = x; break; }
            case 6: { float x; take(&x, 4); v.f = x; break; }
            case 7: { uint8_t x; take(&x, 1); if (x > 1) throw std::runtime_error("bad bool"); v.u = x; break; }
            case 8: v.s = str(); break;
            case 9: {
                v.elem_type = u32();
                const uint64_t n = u64();
                if (n > g.bytes.size()) throw std::runtime_error("bad array length");
                for (uint64_t k = 0; k < n; ++k) v.arr.push_back(value(v.elem_type));
                break;
            }
            case 10: v.u = u64(); break;
            case 11: { int64_t x; take(&x, 8); v.i = x; break; }
            case 12: { double x; take(&x, 8); v.f = x; break; }
            default: throw std::runtime_error("bad value type " + std::to_string(type));
        }
        return v;
    };
    char magic[4];
    take(magic, 4);
    if (std::string(magic, 4) != "GGUF") throw std::runtime_error("bad magic");
    g.version = u32();
    const uint64_t n_tensors = u64(), n_kv = u64();
    for (uint64_t k = 0; k < n_kv; ++k) {
        const std::string key = str();
        if (g.kv.count(key)) throw std::runtime_error("duplicate key " + key);
        g.kv[key] = value(u32());
        g.key_order.push_back(key);
    }
    for (uint64_t k = 0; k < n_tensors; ++k) {
        GgufTensorInfo t;
        t.name = str();
        const uint32_t dims = u32();
        for (uint32_t d = 0; d < dims; ++d) t.ne.push_back(u64());
        t.type = u32();
        t.offset = u64();
        g.tensors.push_back(t);
    }
    uint64_t alignment = 32;
    if (g.kv.count("general.alignment")) alignment = g.kv.at("general.alignment").u;
    g.data_start = (at + alignment - 1) / alignment * alignment;
    for (const GgufTensorInfo& t : g.tensors) {
        if (t.offset % alignment != 0) throw std::runtime_error(t.name + ": offset not aligned");
        if (g.data_start + t.offset + GgufFile::byte_size(t.type, g.elements(t)) > g.bytes.size())
            throw std::runtime_error(t.name + ": data past the end of the file");
    }
    return g;
}

}  // namespace surgeon::testing
