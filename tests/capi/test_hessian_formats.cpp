// Half-precision inputs: an accumulator fed IEEE binary16 / bfloat16 bit patterns equals
// one fed the same values as float32. The values are decoded here independently of the
// library (ldexp on the fields), so a wrong decoder in the library cannot hide.
#include <cstring>

#include "hessian_helpers.hpp"

namespace hessian_test {
namespace {

float decode_f16(uint16_t bits) {
    const int sign = bits >> 15, exponent = (bits >> 10) & 0x1f, mantissa = bits & 0x3ff;
    const double magnitude = exponent == 0 ? std::ldexp(mantissa, -24)
                                           : std::ldexp(1024 + mantissa, exponent - 25);
    return static_cast<float>(sign ? -magnitude : magnitude);
}

float decode_bf16(uint16_t bits) {
    const uint32_t word = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &word, sizeof f);
    return f;
}

TEST(HessianFormats, IndependentDecodersAgreeOnKnownValues) {
    EXPECT_EQ(decode_f16(0x3c00), 1.0f);
    EXPECT_EQ(decode_f16(0xc000), -2.0f);
    EXPECT_EQ(decode_f16(0x7bff), 65504.0f);
    EXPECT_EQ(decode_f16(0x0001), std::ldexp(1.0f, -24));
    EXPECT_EQ(decode_f16(0x3555), 0.333251953125f);
    EXPECT_EQ(decode_bf16(0x3f80), 1.0f);
    EXPECT_EQ(decode_bf16(0xc0a0), -5.0f);
}

// Random finite bit patterns: every exponent of binary16 (subnormals included), and
// bfloat16 exponents within ±16 of 1 (so that squares stay well inside float32).
std::vector<uint16_t> random_f16(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<uint16_t> v(n);
    for (auto& b : v) {
        do b = static_cast<uint16_t>(rng());
        while (((b >> 10) & 0x1f) == 0x1f);
    }
    return v;
}

std::vector<uint16_t> random_bf16(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> exponent(127 - 16, 127 + 16);
    std::vector<uint16_t> v(n);
    for (auto& b : v)
        b = static_cast<uint16_t>((rng() & 0x8000u) | (exponent(rng) << 7) | (rng() & 0x7fu));
    return v;
}

template <typename Add, typename Decode>
void expect_same_as_f32(const std::vector<uint16_t>& bits, int64_t rows, int64_t cols,
                        int64_t ld, Add add, Decode decode) {
    std::vector<float> values(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) values[r * cols + c] = decode(bits[r * ld + c]);
    auto half = new_hessian(cols), single = new_hessian(cols);
    ASSERT_EQ(add(half.get(), bits.data(), rows, cols, ld), SURGEON_OK) << surgeon_last_error();
    ASSERT_EQ(surgeon_hessian_add_f32(single.get(), values.data(), rows, cols, 0), SURGEON_OK);
    EXPECT_EQ(samples_of(half.get()), rows);
    // Same float32 rows in the same order: the same arithmetic, hence the same bits.
    EXPECT_EQ(copy_h(half.get()), copy_h(single.get()));
    const Stats a = stats_of(half.get(), cols), b = stats_of(single.get(), cols);
    EXPECT_EQ(a.abs_mean, b.abs_mean);
    EXPECT_EQ(a.mean, b.mean);
    EXPECT_EQ(a.sq_mean, b.sq_mean);
}

TEST(HessianFormats, Float16EqualsFloat32OfTheSameValues) {
    const int64_t rows = 300, cols = 33;
    expect_same_as_f32(random_f16(rows * cols, 1), rows, cols, cols, surgeon_hessian_add_f16,
                       decode_f16);
    // Strided: the padding holds Inf / NaN patterns that must never be read.
    const int64_t ld = 40;
    auto strided = random_f16(rows * ld, 2);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = cols; c < ld; ++c) strided[r * ld + c] = (c % 2) ? 0x7c00 : 0x7e00;
    expect_same_as_f32(strided, rows, cols, ld, surgeon_hessian_add_f16, decode_f16);
}

TEST(HessianFormats, BFloat16EqualsFloat32OfTheSameValues) {
    const int64_t rows = 257, cols = 31;
    expect_same_as_f32(random_bf16(rows * cols, 3), rows, cols, cols, surgeon_hessian_add_bf16,
                       decode_bf16);
    const int64_t ld = 35;
    auto strided = random_bf16(rows * ld, 4);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = cols; c < ld; ++c) strided[r * ld + c] = 0x7fc0;  // NaN
    expect_same_as_f32(strided, rows, cols, ld, surgeon_hessian_add_bf16, decode_bf16);
}

TEST(HessianFormats, NonFiniteHalvesAreRejectedWithoutChange) {
    const int64_t rows = 20, cols = 6;
    auto f16 = random_f16(rows * cols, 5);
    auto bf16 = random_bf16(rows * cols, 6);
    auto h = new_hessian(cols);
    ASSERT_EQ(surgeon_hessian_add_f16(h.get(), f16.data(), rows, cols, 0), SURGEON_OK);
    const auto before = copy_h(h.get());
    for (uint16_t bad : {uint16_t{0x7c00}, uint16_t{0xfc00}, uint16_t{0x7e00}}) {
        auto poisoned = f16;
        poisoned[rows * cols - 1] = bad;
        EXPECT_EQ(surgeon_hessian_add_f16(h.get(), poisoned.data(), rows, cols, 0),
                  SURGEON_ERR_NUMERIC);
    }
    for (uint16_t bad : {uint16_t{0x7f80}, uint16_t{0xff80}, uint16_t{0x7fc1}}) {
        auto poisoned = bf16;
        poisoned[rows * cols - 1] = bad;
        EXPECT_EQ(surgeon_hessian_add_bf16(h.get(), poisoned.data(), rows, cols, 0),
                  SURGEON_ERR_NUMERIC);
    }
    EXPECT_EQ(samples_of(h.get()), rows);
    EXPECT_EQ(copy_h(h.get()), before);
    EXPECT_EQ(surgeon_hessian_add_f16(h.get(), f16.data(), rows, cols + 1, 0), SURGEON_ERR_SHAPE);
    EXPECT_EQ(surgeon_hessian_add_bf16(h.get(), nullptr, rows, cols, 0),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(samples_of(h.get()), rows);
}

}  // namespace
}  // namespace hessian_test
