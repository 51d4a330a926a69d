// The .npy reader against hand-written files: well-formed headers read back, malformed
// shape entries are one clear SURGEON_ERR_IO naming the file.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "core/npy.hpp"
#include "hf_util.hpp"

namespace {

using hfio_test::expect_error;
using hfio_test::TempDir;

// A version-1 .npy file with `dict` as its header and `payload` as its data.
std::string npy_bytes(const std::string& dict, const std::string& payload) {
    std::string header = dict;
    const size_t unpadded = 10 + header.size() + 1;
    header.append((64 - unpadded % 64) % 64, ' ');
    header.push_back('\n');
    std::string out("\x93NUMPY\x01\x00", 8);
    out.push_back(static_cast<char>(header.size() & 0xff));
    out.push_back(static_cast<char>(header.size() >> 8));
    return out + header + payload;
}

std::string floats(std::initializer_list<float> values) {
    std::string bytes;
    for (float v : values) bytes.append(reinterpret_cast<const char*>(&v), 4);
    return bytes;
}

std::string with_shape(const std::string& shape) {
    return "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
}

TEST(Npy, WellFormedShapesReadBack) {
    TempDir dir;
    const std::string path = dir.file("a.npy");
    hfio_test::write_bytes(path, npy_bytes(with_shape("(2, 3)"), floats({1, 2, 3, 4, 5, 6})));
    const surgeon::NpyArray a = surgeon::read_npy(path);
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(a.data, (std::vector<float>{1, 2, 3, 4, 5, 6}));
    hfio_test::write_bytes(path, npy_bytes(with_shape("(4,)"), floats({1, 2, 3, 4})));
    EXPECT_EQ(surgeon::read_npy(path).shape, (std::vector<int64_t>{4}));
    hfio_test::write_bytes(path, npy_bytes(with_shape("()"), floats({7})));
    const surgeon::NpyArray scalar = surgeon::read_npy(path);
    EXPECT_TRUE(scalar.shape.empty());
    EXPECT_EQ(scalar.data, std::vector<float>{7});
}

// A shape that is not a tuple: empty, a bare number, an unclosed or unopened tuple.
TEST(Npy, ShapeThatIsNotATupleIsAnIoError) {
    TempDir dir;
    const std::string path = dir.file("bad.npy");
    for (const std::string shape : {"", "4", "4)", "(4", "[4]", "'4'"}) {
        SCOPED_TRACE("shape: '" + shape + "'");
        hfio_test::write_bytes(path, npy_bytes(with_shape(shape), floats({1, 2, 3, 4})));
        expect_error([&] { surgeon::read_npy(path); }, SURGEON_ERR_IO, path + ": malformed npy shape");
    }
}

}  // namespace
