// Saved accumulators: bit-exact round trips, and every kind of damaged or foreign file
// gives SURGEON_ERR_IO (SURGEON_ERR_NUMERIC for values no accumulator holds) without
// touching the output handle.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>

#include <unistd.h>

#include "hessian_helpers.hpp"

namespace hessian_test {
namespace {

using Bytes = std::vector<unsigned char>;

std::string temp_path(const std::string& name) {
    return ::testing::TempDir() + "surgeon_hessian_" + name + "_" +
           std::to_string(static_cast<long>(::getpid())) + ".bin";
}

Bytes read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return Bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const Bytes& b) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// The documented trailer: FNV-1a 64 over every byte before it, little-endian. Used to
// re-seal deliberately edited headers so the test reaches the check it aims at.
void reseal(Bytes& b) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i + 8 < b.size(); ++i) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    for (int k = 0; k < 8; ++k) b[b.size() - 8 + k] = static_cast<unsigned char>(h >> (8 * k));
}

template <typename T>
void poke(Bytes& b, size_t offset, T value) {
    for (size_t k = 0; k < sizeof(T); ++k)
        b[offset + k] = static_cast<unsigned char>(static_cast<uint64_t>(value) >> (8 * k));
}

class HessianFile : public ::testing::Test {
protected:
    static constexpr int64_t kCols = 37;
    void SetUp() override {
        x_ = random_activations(150, kCols, 11);
        h_ = new_hessian(kCols);
        ASSERT_EQ(surgeon_hessian_add_f32(h_.get(), x_.data(), 150, kCols, 0), SURGEON_OK);
        path_ = temp_path(::testing::UnitTest::GetInstance()->current_test_info()->name());
        ASSERT_EQ(surgeon_hessian_save(h_.get(), path_.c_str()), SURGEON_OK) << surgeon_last_error();
        good_ = read_bytes(path_);
    }
    void TearDown() override { std::remove(path_.c_str()); }

    // Loading `bytes` fails with SURGEON_ERR_IO, a message naming the function and the
    // output pointer untouched.
    void expect_rejected(const Bytes& bytes, const std::string& what, surgeon_status status = SURGEON_ERR_IO) {
        write_bytes(path_, bytes);
        surgeon_hessian* out = reinterpret_cast<surgeon_hessian*>(this);
        EXPECT_EQ(surgeon_hessian_load(&out, nullptr, path_.c_str()), status) << what << ": " << surgeon_last_error();
        EXPECT_EQ(out, reinterpret_cast<surgeon_hessian*>(this)) << what;
        EXPECT_EQ(std::string(surgeon_last_error()).rfind("surgeon_hessian_load: ", 0), 0u)
            << surgeon_last_error();
    }

    std::vector<float> x_;
    HessianPtr h_;
    std::string path_;
    Bytes good_;
};

TEST_F(HessianFile, LayoutMatchesTheDocumentedSize) {
    const size_t c = kCols;
    EXPECT_EQ(good_.size(), 32 + 4 * c * (c + 1) / 2 + 3 * 8 * c + 8);
    EXPECT_EQ(std::string(good_.begin(), good_.begin() + 8), "SRGNHESS");
}

TEST_F(HessianFile, RoundTripIsBitExact) {
    surgeon_hessian* raw = nullptr;
    ASSERT_EQ(surgeon_hessian_load(&raw, nullptr, path_.c_str()), SURGEON_OK) << surgeon_last_error();
    HessianPtr loaded(raw);
    int64_t cols = 0;
    ASSERT_EQ(surgeon_hessian_cols(loaded.get(), &cols), SURGEON_OK);
    EXPECT_EQ(cols, kCols);
    EXPECT_EQ(samples_of(loaded.get()), 150);
    const auto a = copy_h(loaded.get()), b = copy_h(h_.get());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), sizeof(float) * a.size()), 0);
    const Stats sa = stats_of(loaded.get(), kCols), sb = stats_of(h_.get(), kCols);
    EXPECT_EQ(sa.abs_mean, sb.abs_mean);
    EXPECT_EQ(sa.mean, sb.mean);
    EXPECT_EQ(sa.sq_mean, sb.sq_mean);
    // Saving the loaded accumulator reproduces the file byte for byte.
    const std::string again = path_ + ".again";
    ASSERT_EQ(surgeon_hessian_save(loaded.get(), again.c_str()), SURGEON_OK);
    EXPECT_EQ(read_bytes(again), good_);
    std::remove(again.c_str());
    // A loaded accumulator keeps accumulating exactly like the original.
    ASSERT_EQ(surgeon_hessian_add_f32(loaded.get(), x_.data(), 40, kCols, 0), SURGEON_OK);
    ASSERT_EQ(surgeon_hessian_add_f32(h_.get(), x_.data(), 40, kCols, 0), SURGEON_OK);
    EXPECT_EQ(copy_h(loaded.get()), copy_h(h_.get()));
}

TEST_F(HessianFile, EmptyAccumulatorRoundTrips) {
    auto empty = new_hessian(3);
    ASSERT_EQ(surgeon_hessian_save(empty.get(), path_.c_str()), SURGEON_OK);
    surgeon_hessian* raw = nullptr;
    ASSERT_EQ(surgeon_hessian_load(&raw, nullptr, path_.c_str()), SURGEON_OK);
    HessianPtr loaded(raw);
    EXPECT_EQ(samples_of(loaded.get()), 0);
    for (float v : copy_h(loaded.get())) EXPECT_EQ(v, 0.0f);
}

TEST_F(HessianFile, TruncatedFileIsAnIoError) {
    for (size_t keep : {size_t{0}, size_t{5}, size_t{8}, size_t{20}, size_t{32}, size_t{40},
                        good_.size() / 2, good_.size() - 8, good_.size() - 1})
        expect_rejected(Bytes(good_.begin(), good_.begin() + static_cast<long>(keep)),
                        "truncated to " + std::to_string(keep));
    Bytes longer = good_;
    longer.push_back(0);
    expect_rejected(longer, "one extra byte");
}

TEST_F(HessianFile, FlippedByteFailsTheChecksum) {
    const size_t c = kCols;
    const size_t upper = 32, stats = 32 + 4 * c * (c + 1) / 2;
    for (size_t offset : {size_t{13}, size_t{28}, upper, upper + 101, stats + 3,
                          stats + 3 * 8 * c - 1, good_.size() - 8, good_.size() - 1}) {
        Bytes bad = good_;
        bad[offset] ^= 0x10;
        expect_rejected(bad, "flipped byte at " + std::to_string(offset));
    }
    // A flipped data byte reports the checksum, not some other symptom.
    Bytes bad = good_;
    bad[upper + 50] ^= 0x01;
    expect_rejected(bad, "flipped data byte");
    EXPECT_NE(std::string(surgeon_last_error()).find("checksum"), std::string::npos)
        << surgeon_last_error();
}

TEST_F(HessianFile, WrongMagicIsAnIoError) {
    Bytes bad = good_;
    bad[0] = 'X';
    reseal(bad);
    expect_rejected(bad, "wrong magic");
    // A .npy file (a plausible mix-up) is foreign too.
    Bytes npy = good_;
    const char header[] = "\x93NUMPY\x01\x00";
    std::copy(header, header + 8, npy.begin());
    expect_rejected(npy, "npy magic");
}

TEST_F(HessianFile, WrongVersionIsAnIoError) {
    for (uint32_t version : {0u, 2u, 0x01000000u}) {
        Bytes bad = good_;
        poke(bad, 8, version);
        reseal(bad);
        expect_rejected(bad, "version " + std::to_string(version));
        EXPECT_NE(std::string(surgeon_last_error()).find("version"), std::string::npos)
            << surgeon_last_error();
    }
}

// Sealed files with impossible headers: rejected before any allocation they would drive.
TEST_F(HessianFile, CorruptHeaderIsAnIoError) {
    for (int64_t cols : {int64_t{0}, int64_t{-1}, int64_t{kCols + 1}, int64_t{1} << 40,
                         INT64_MAX}) {
        Bytes bad = good_;
        poke(bad, 16, cols);
        reseal(bad);
        expect_rejected(bad, "cols " + std::to_string(cols));
    }
    Bytes bad = good_;
    poke(bad, 24, int64_t{-5});
    reseal(bad);
    expect_rejected(bad, "negative samples");
}

template <typename T>
void poke_value(Bytes& b, size_t offset, T value) {
    std::memcpy(&b[offset], &value, sizeof value);
}

// Sealed files holding values no accumulator produces: NaN/Inf in Σxᵀx or the column
// statistics, a negative diagonal, a negative Σ|x| or Σx².
TEST_F(HessianFile, NonFiniteOrNegativeValuesAreNumericErrors) {
    const size_t upper = 32, n_upper = kCols * (kCols + 1) / 2;
    const size_t sum_abs = upper + 4 * n_upper, sum = sum_abs + 8 * kCols, sum_sq = sum + 8 * kCols;
    auto diagonal = [](size_t i) { return upper + 4 * (i * kCols - i * (i - 1) / 2); };
    const float nan = std::nanf(""), inf = HUGE_VALF;
    struct Case {
        const char* what;
        std::function<void(Bytes&)> edit;
        const char* needle;
    };
    const Case cases[] = {
        {"NaN off the diagonal", [&](Bytes& b) { poke_value(b, upper + 4 * 5, nan); }, "non-finite value (nan) at element 5"},
        {"Inf on the diagonal", [&](Bytes& b) { poke_value(b, diagonal(3), inf); }, "non-finite"},
        {"negative diagonal", [&](Bytes& b) { poke_value(b, diagonal(7), -0.5f); }, "negative diagonal entry"},
        {"NaN in sum x", [&](Bytes& b) { poke_value(b, sum + 8 * 4, std::nan("")); }, "sum x of column 4"},
        {"Inf in sum |x|", [&](Bytes& b) { poke_value(b, sum_abs, HUGE_VAL); }, "sum |x| of column 0"},
        {"negative sum x^2", [&](Bytes& b) { poke_value(b, sum_sq + 8 * 2, -1.0); }, "sum x^2 of column 2"},
    };
    for (const Case& c : cases) {
        Bytes bad = good_;
        c.edit(bad);
        reseal(bad);
        expect_rejected(bad, c.what, SURGEON_ERR_NUMERIC);
        const std::string message = surgeon_last_error();
        EXPECT_NE(message.find(c.needle), std::string::npos) << c.what << ": " << message;
        EXPECT_NE(message.find(path_), std::string::npos) << c.what << ": " << message;
    }
    // A negative Σx (mean below zero) is an ordinary value.
    Bytes fine = good_;
    poke_value(fine, sum + 8 * 4, -3.0);
    reseal(fine);
    write_bytes(path_, fine);
    surgeon_hessian* out = nullptr;
    EXPECT_EQ(surgeon_hessian_load(&out, nullptr, path_.c_str()), SURGEON_OK) << surgeon_last_error();
    surgeon_hessian_free(out);
}

TEST_F(HessianFile, MissingOrUnwritablePathsAreIoErrors) {
    surgeon_hessian* out = nullptr;
    EXPECT_EQ(surgeon_hessian_load(&out, nullptr, "/nonexistent/dir/h.bin"), SURGEON_ERR_IO);
    EXPECT_EQ(out, nullptr);
    EXPECT_EQ(surgeon_hessian_load(&out, nullptr, ::testing::TempDir().c_str()), SURGEON_ERR_IO);
    EXPECT_EQ(out, nullptr);
    EXPECT_EQ(surgeon_hessian_save(h_.get(), "/nonexistent/dir/h.bin"), SURGEON_ERR_IO);
    EXPECT_EQ(surgeon_hessian_load(&out, nullptr, nullptr), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_hessian_save(h_.get(), nullptr), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_hessian_load(nullptr, nullptr, path_.c_str()), SURGEON_ERR_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace hessian_test
