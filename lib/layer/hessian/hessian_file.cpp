#include "layer/hessian/hessian_file.hpp"

#include <cmath>
#include <limits>
#include <cstring>
#include <utility>
#include <fstream>
#include <iterator>

#include "core/checks.hpp"
#include "core/error.hpp"

namespace surgeon {
namespace {

constexpr char kMagic[8] = {'S', 'R', 'G', 'N', 'H', 'E', 'S', 'S'};
constexpr uint32_t kVersion = 1;
constexpr int64_t kMaxCols = Hessian::kMaxCols;
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8 + 8;

uint64_t fnv1a64(const unsigned char* p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; ++i) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

size_t payload_bytes(int64_t cols) {
    const size_t c = static_cast<size_t>(cols);
    return kHeaderBytes + sizeof(float) * (c * (c + 1) / 2) + 3 * sizeof(double) * c;
}

template <typename T>
void put(std::vector<unsigned char>& out, const T& v) {
    const auto* p = reinterpret_cast<const unsigned char*>(&v);
    out.insert(out.end(), p, p + sizeof(T));
}

template <typename T>
void put_array(std::vector<unsigned char>& out, const std::vector<T>& v) {
    const auto* p = reinterpret_cast<const unsigned char*>(v.data());
    out.insert(out.end(), p, p + sizeof(T) * v.size());
}

class Reader {
public:
    Reader(const std::vector<unsigned char>& b, const std::string& path) : b_(b), path_(path) {}
    template <typename T>
    T get() {
        T v;
        take(&v, sizeof(T));
        return v;
    }
    template <typename T>
    void get_array(std::vector<T>& v, size_t n) {
        v.resize(n);
        take(v.data(), sizeof(T) * n);
    }

private:
    void take(void* dst, size_t n) {
        if (pos_ + n > b_.size()) fail(SURGEON_ERR_IO, path_ + ": truncated Hessian file");
        std::memcpy(dst, b_.data() + pos_, n);
        pos_ += n;
    }
    const std::vector<unsigned char>& b_;
    const std::string& path_;
    size_t pos_ = 0;
};

// libstdc++ reports a read error (e.g. the path is a directory) by throwing from the
// stream buffer even without an exception mask: map it to an I/O error.
std::vector<unsigned char> read_all(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail(SURGEON_ERR_IO, "cannot open '" + path + "'");
    try {
        return std::vector<unsigned char>((std::istreambuf_iterator<char>(f)),
                                          std::istreambuf_iterator<char>());
    } catch (const std::ios_base::failure& e) {
        fail(SURGEON_ERR_IO, "cannot read '" + path + "': " + e.what());
    }
}

}  // namespace

// A well-formed file may still hold values no accumulator produces.
void check_hessian_values(const HessianState& d, const std::string& path) {
    require_all_finite(d.upper.data(), static_cast<int64_t>(d.upper.size()), path + ": the Hessian");
    // H = 2/n · Σxᵀx must stay within float range as well.
    const double scale = d.samples > 0 ? 2.0 / static_cast<double>(d.samples) : 0.0;
    for (size_t i = 0; i < d.upper.size(); ++i)
        if (std::fabs(static_cast<double>(d.upper[i]) * scale) > static_cast<double>(std::numeric_limits<float>::max()))
            fail(SURGEON_ERR_NUMERIC, path + ": the Hessian entry " + std::to_string(i) +
                                          " of the upper triangle overflows float once scaled by 2/n");
    size_t k = 0;  // index of (i, i) in the upper triangle, row by row
    for (int64_t i = 0; i < d.cols; k += static_cast<size_t>(d.cols - i), ++i)
        if (d.upper[k] < 0.0f)
            fail(SURGEON_ERR_NUMERIC, path + ": the Hessian has a negative diagonal entry " +
                                          std::to_string(d.upper[k]) + " at column " + std::to_string(i));
    const std::pair<const std::vector<double>*, const char*> stats[] = {
        {&d.stats.sum_abs, "sum |x|"}, {&d.stats.sum, "sum x"}, {&d.stats.sum_sq, "sum x^2"}};
    for (const auto& [values, name] : stats)
        for (size_t i = 0; i < values->size(); ++i) {
            const double v = (*values)[i];
            // Reported as float means: the mean must fit a float too.
            const double mean = d.samples > 0 ? v / static_cast<double>(d.samples) : 0.0;
            if (!std::isfinite(v) || (values != &d.stats.sum && v < 0.0) ||
                std::fabs(mean) > static_cast<double>(std::numeric_limits<float>::max()))
                fail(SURGEON_ERR_NUMERIC, path + ": the column statistic " + name + " of column " +
                                              std::to_string(i) + " is " + std::to_string(v));
        }
}

void write_hessian_file(const std::string& path, const HessianFileData& d) {
    std::vector<unsigned char> out;
    out.reserve(payload_bytes(d.cols) + 8);
    out.insert(out.end(), kMagic, kMagic + 8);
    put(out, kVersion);
    put(out, uint32_t{0});
    put(out, d.cols);
    put(out, d.samples);
    put_array(out, d.upper);
    put_array(out, d.stats.sum_abs);
    put_array(out, d.stats.sum);
    put_array(out, d.stats.sum_sq);
    put(out, fnv1a64(out.data(), out.size()));
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) fail(SURGEON_ERR_IO, "cannot open '" + path + "' for writing");
    f.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
    f.close();
    if (!f) fail(SURGEON_ERR_IO, "cannot write '" + path + "'");
}

HessianFileData read_hessian_file(const std::string& path) {
    const std::vector<unsigned char> bytes = read_all(path);
    if (bytes.size() < kHeaderBytes + 8 || std::memcmp(bytes.data(), kMagic, 8) != 0)
        fail(SURGEON_ERR_IO, path + ": not a Surgeon Hessian file");
    Reader in(bytes, path);
    char magic[8];
    for (char& c : magic) c = in.get<char>();
    const auto version = in.get<uint32_t>();
    if (version != kVersion)
        fail(SURGEON_ERR_IO, path + ": unsupported Hessian file version " + std::to_string(version));
    in.get<uint32_t>();
    HessianFileData d;
    d.cols = in.get<int64_t>();
    d.samples = in.get<int64_t>();
    if (d.cols < 1 || d.cols > kMaxCols || d.samples < 0)
        fail(SURGEON_ERR_IO, path + ": corrupt Hessian header (cols " + std::to_string(d.cols) +
                                 ", samples " + std::to_string(d.samples) + ")");
    // Size check before any allocation driven by the header.
    if (bytes.size() != payload_bytes(d.cols) + 8)
        fail(SURGEON_ERR_IO, path + ": truncated or oversized Hessian file (" +
                                 std::to_string(bytes.size()) + " bytes, expected " +
                                 std::to_string(payload_bytes(d.cols) + 8) + ")");
    uint64_t stored;
    std::memcpy(&stored, bytes.data() + bytes.size() - 8, 8);
    if (stored != fnv1a64(bytes.data(), bytes.size() - 8))
        fail(SURGEON_ERR_IO, path + ": Hessian file checksum mismatch (corrupt file)");
    const size_t c = static_cast<size_t>(d.cols);
    in.get_array(d.upper, c * (c + 1) / 2);
    in.get_array(d.stats.sum_abs, c);
    in.get_array(d.stats.sum, c);
    in.get_array(d.stats.sum_sq, c);
    check_hessian_values(d, path);
    return d;
}

}  // namespace surgeon
