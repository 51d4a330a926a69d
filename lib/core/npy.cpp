#include "core/npy.hpp"

#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>

#include "core/error.hpp"
#include "core/half.hpp"

namespace surgeon {
namespace {

[[noreturn]] void bad(const std::string& path, const std::string& why) {
    fail(SURGEON_ERR_IO, path + ": " + why);
}

// Value of `'key': value` in the header dict, as raw text.
std::string dict_value(const std::string& header, const std::string& key, const std::string& path) {
    const std::string tag = "'" + key + "'";
    size_t p = header.find(tag);
    if (p == std::string::npos) bad(path, "npy header lacks " + tag);
    p = header.find(':', p + tag.size());
    if (p == std::string::npos) bad(path, "malformed npy header");
    ++p;
    while (p < header.size() && header[p] == ' ') ++p;
    if (p >= header.size()) bad(path, "malformed npy header");
    if (header[p] == '(') {
        size_t e = header.find(')', p);
        if (e == std::string::npos) bad(path, "malformed npy shape");
        return header.substr(p, e - p + 1);
    }
    if (header[p] == '\'') {
        size_t e = header.find('\'', p + 1);
        if (e == std::string::npos) bad(path, "malformed npy header string");
        return header.substr(p + 1, e - p - 1);
    }
    size_t e = header.find_first_of(",}", p);
    return header.substr(p, e - p);
}

std::vector<int64_t> parse_shape(const std::string& text, const std::string& path) {
    std::vector<int64_t> shape;
    std::string inner = text.substr(1, text.size() - 2);
    std::stringstream ss(inner);
    std::string item;
    while (std::getline(ss, item, ',')) {
        size_t a = item.find_first_not_of(' ');
        if (a == std::string::npos) continue;
        item = item.substr(a);
        size_t used = 0;
        long long v = 0;
        try {
            v = std::stoll(item, &used);
        } catch (...) {
            bad(path, "malformed npy shape " + text);
        }
        if (v < 0) bad(path, "negative npy dimension");
        shape.push_back(v);
    }
    return shape;
}

void write_raw(const std::string& path, const std::string& descr, const std::vector<int64_t>& shape,
               const void* data, size_t bytes) {
    std::string dims;
    for (size_t i = 0; i < shape.size(); ++i) dims += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? ", " : "");
    std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
    const size_t unpadded = 10 + header.size() + 1;
    header.append((64 - unpadded % 64) % 64, ' ');
    header.push_back('\n');
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) fail(SURGEON_ERR_IO, "cannot open '" + path + "' for writing");
    const char magic[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
    f.write(magic, 8);
    const uint16_t hlen = static_cast<uint16_t>(header.size());
    f.write(reinterpret_cast<const char*>(&hlen), 2);
    f.write(header.data(), static_cast<std::streamsize>(header.size()));
    f.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
    if (!f) fail(SURGEON_ERR_IO, "cannot write '" + path + "'");
}

int64_t product(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

}  // namespace

int64_t NpyArray::size() const { return product(shape); }

NpyArray read_npy(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail(SURGEON_ERR_IO, "cannot open '" + path + "'");
    std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0) bad(path, "not a .npy file");
    const int major = static_cast<unsigned char>(bytes[6]);
    size_t hlen, hstart;
    if (major == 1) {
        hlen = static_cast<unsigned char>(bytes[8]) | (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (bytes.size() < 12) bad(path, "truncated npy header");
        uint32_t l;
        std::memcpy(&l, bytes.data() + 8, 4);
        hlen = l;
        hstart = 12;
    } else {
        bad(path, "unsupported npy version " + std::to_string(major));
    }
    if (hstart + hlen > bytes.size()) bad(path, "truncated npy header");
    const std::string header(bytes.data() + hstart, hlen);
    const std::string descr = dict_value(header, "descr", path);
    if (dict_value(header, "fortran_order", path).find("False") == std::string::npos)
        bad(path, "Fortran-order arrays are not supported (save with C order)");
    NpyArray a;
    a.shape = parse_shape(dict_value(header, "shape", path), path);
    size_t item;
    if (descr == "<f4" || descr == "=f4") item = 4;
    else if (descr == "<f2" || descr == "=f2") item = 2;
    else if (descr == "<f8" || descr == "=f8") item = 8;
    else bad(path, "unsupported dtype '" + descr + "' (float32, float16 or float64 expected)");
    const int64_t n = a.size();
    const size_t data_start = hstart + hlen;
    if (n < 0 || static_cast<uint64_t>(n) > (bytes.size() - data_start) / item)
        bad(path, "truncated npy data (" + std::to_string(n) + " elements expected)");
    a.data.resize(static_cast<size_t>(n));
    const char* p = bytes.data() + data_start;
    for (int64_t i = 0; i < n; ++i) {
        if (item == 4) {
            std::memcpy(&a.data[i], p + 4 * i, 4);
        } else if (item == 2) {
            uint16_t h;
            std::memcpy(&h, p + 2 * i, 2);
            a.data[i] = f16_to_float(h);
        } else {
            double d;
            std::memcpy(&d, p + 8 * i, 8);
            a.data[i] = static_cast<float>(d);
        }
    }
    return a;
}

void write_npy(const std::string& path, const std::vector<int64_t>& shape, const float* data,
               NpyDtype dtype) {
    const size_t n = static_cast<size_t>(product(shape));
    if (dtype == NpyDtype::f32) {
        write_raw(path, "<f4", shape, data, n * 4);
        return;
    }
    std::vector<uint16_t> h(n);
    for (size_t i = 0; i < n; ++i) h[i] = float_to_f16(data[i]);
    write_raw(path, "<f2", shape, h.data(), n * 2);
}

void write_npy_u8(const std::string& path, const std::vector<int64_t>& shape, const uint8_t* data) {
    write_raw(path, "|u1", shape, data, static_cast<size_t>(product(shape)));
}

void write_npy_i32(const std::string& path, const std::vector<int64_t>& shape, const int32_t* data) {
    write_raw(path, "<i4", shape, data, static_cast<size_t>(product(shape)) * 4);
}

}  // namespace surgeon
