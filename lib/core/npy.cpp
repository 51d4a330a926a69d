#include "core/npy.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/error.hpp"
#include "core/half.hpp"
#include "core/output_file.hpp"

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
    if (text.size() < 2 || text.front() != '(' || text.back() != ')')
        bad(path, "malformed npy shape '" + text + "' (a tuple expected)");
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
        if (item.find_first_not_of(' ', used) != std::string::npos) bad(path, "malformed npy shape " + text);
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
    AtomicFile f(path);
    const char magic[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
    f.write(magic, 8);
    const uint16_t hlen = static_cast<uint16_t>(header.size());
    f.write(&hlen, 2);
    f.write(header);
    f.write(data, bytes);
    f.commit();
}

// Bytes in a seekable file, or the largest value when the size cannot be told (a pipe):
// the reads below still detect truncation then.
uint64_t stream_size(std::ifstream& f) {
    f.seekg(0, std::ios::end);
    const std::streamoff end = f.tellg();
    f.clear();
    f.seekg(0, std::ios::beg);
    return end >= 0 ? static_cast<uint64_t>(end) : std::numeric_limits<uint64_t>::max();
}

std::string read_header(std::ifstream& f, const std::string& path, uint64_t file_size) {
    char prefix[12];
    if (!f.read(prefix, 10) || std::memcmp(prefix, "\x93NUMPY", 6) != 0) bad(path, "not a .npy file");
    const int major = static_cast<unsigned char>(prefix[6]);
    uint64_t hlen;
    if (major == 1) {
        hlen = static_cast<unsigned char>(prefix[8]) |
               (static_cast<uint64_t>(static_cast<unsigned char>(prefix[9])) << 8);
    } else if (major == 2 || major == 3) {
        if (!f.read(prefix + 10, 2)) bad(path, "truncated npy header");
        uint32_t l;
        std::memcpy(&l, prefix + 8, 4);
        hlen = l;
    } else {
        bad(path, "unsupported npy version " + std::to_string(major));
    }
    const uint64_t hstart = major == 1 ? 10 : 12;
    if (hlen > file_size - hstart) bad(path, "truncated npy header");
    std::string header(static_cast<size_t>(hlen), '\0');
    if (!f.read(header.data(), static_cast<std::streamsize>(hlen))) bad(path, "truncated npy header");
    if (header.find('{') == std::string::npos || header.find('}') == std::string::npos)
        bad(path, "malformed npy header");
    return header;
}

// Product of the dimensions, refusing shapes whose byte size overflows.
uint64_t element_count(const std::vector<int64_t>& shape, size_t item, const std::string& path) {
    const uint64_t limit = std::numeric_limits<uint64_t>::max() / item;
    uint64_t n = 1;
    for (int64_t d : shape) {
        const uint64_t u = static_cast<uint64_t>(d);
        if (u != 0 && n > limit / u) bad(path, "npy shape is too large");
        n *= u;
    }
    return n;
}

void read_exact(std::ifstream& f, void* dst, uint64_t bytes, const std::string& path, uint64_t n) {
    f.read(static_cast<char*>(dst), static_cast<std::streamsize>(bytes));
    if (static_cast<uint64_t>(f.gcount()) != bytes)
        bad(path, "truncated npy data (" + std::to_string(n) + " elements expected)");
}

// float16 / float64 files: read in chunks and widen/narrow to float32.
template <typename Stored, typename Convert>
void read_converted(std::ifstream& f, float* out, uint64_t n, Convert convert, const std::string& path) {
    constexpr uint64_t kChunk = uint64_t{1} << 16;
    std::vector<Stored> buf(static_cast<size_t>(std::min(n, kChunk)));
    for (uint64_t done = 0; done < n;) {
        const uint64_t k = std::min(kChunk, n - done);
        read_exact(f, buf.data(), k * sizeof(Stored), path, n);
        for (uint64_t i = 0; i < k; ++i) out[done + i] = convert(buf[i]);
        done += k;
    }
}

NpyDtype dtype_of(const std::string& descr, const std::string& path) {
    // '=' is native order, little-endian on every supported platform.
    if (descr == "<f4" || descr == "=f4") return NpyDtype::f32;
    if (descr == "<f2" || descr == "=f2") return NpyDtype::f16;
    if (descr == "<f8" || descr == "=f8") return NpyDtype::f64;
    bad(path, "unsupported dtype '" + descr + "' (float32, float16 or float64 expected)");
}

size_t item_size(NpyDtype dtype) {
    return dtype == NpyDtype::f16 ? 2 : dtype == NpyDtype::f64 ? 8 : 4;
}

int64_t product(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

}  // namespace

int64_t NpyArray::size() const { return product(shape); }

const char* npy_dtype_name(NpyDtype dtype) {
    switch (dtype) {
        case NpyDtype::f16: return "float16";
        case NpyDtype::f64: return "float64";
        case NpyDtype::f32: break;
    }
    return "float32";
}

NpyArray read_npy(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail(SURGEON_ERR_IO, "cannot open '" + path + "'");
    const uint64_t file_size = stream_size(f);
    const std::string header = read_header(f, path, file_size);
    const std::string descr = dict_value(header, "descr", path);
    if (dict_value(header, "fortran_order", path).find("False") == std::string::npos)
        bad(path, "Fortran-order arrays are not supported (save with C order)");
    NpyArray a;
    a.shape = parse_shape(dict_value(header, "shape", path), path);
    a.dtype = dtype_of(descr, path);
    const size_t item = item_size(a.dtype);
    const uint64_t n = element_count(a.shape, item, path);
    const uint64_t data_start = static_cast<uint64_t>(f.tellg());
    // Checked before allocating, so a corrupt shape cannot ask for absurd memory.
    if (file_size < data_start || n > (file_size - data_start) / item)
        bad(path, "truncated npy data (" + std::to_string(n) + " elements expected)");
    a.data.resize(static_cast<size_t>(n));
    if (a.dtype == NpyDtype::f32)
        read_exact(f, a.data.data(), n * 4, path, n);
    else if (a.dtype == NpyDtype::f16)
        read_converted<uint16_t>(f, a.data.data(), n, f16_to_float, path);
    else
        read_converted<double>(f, a.data.data(), n, [](double d) { return static_cast<float>(d); }, path);
    return a;
}

void write_npy(const std::string& path, const std::vector<int64_t>& shape, const float* data,
               NpyDtype dtype) {
    const size_t n = static_cast<size_t>(product(shape));
    if (dtype == NpyDtype::f32) {
        write_raw(path, "<f4", shape, data, n * 4);
        return;
    }
    if (dtype == NpyDtype::f64) {
        std::vector<double> d(data, data + n);
        write_raw(path, "<f8", shape, d.data(), n * 8);
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
