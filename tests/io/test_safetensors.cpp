// safetensors reader/writer: byte layout, dtype round trips, and malformed files that must
// be rejected with SURGEON_ERR_IO (never a crash).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/half.hpp"
#include "io/safetensors.hpp"
#include "hf_util.hpp"

namespace {

using namespace surgeon::model;
using hfio_test::expect_error;
using hfio_test::TempDir;

std::string u64_le(uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
    return s;
}

// A file with the given header text and data bytes; `length` overrides the length field.
std::string st_bytes(const std::string& header, const std::string& data, int64_t length = -1) {
    return u64_le(length >= 0 ? static_cast<uint64_t>(length) : header.size()) + header + data;
}

void expect_bad_file(const std::string& bytes, const std::string& needle) {
    TempDir dir;
    const std::string path = dir.file("bad.safetensors");
    hfio_test::write_bytes(path, bytes);
    expect_error([&] { SafetensorsFile f(path); }, SURGEON_ERR_IO, needle);
}

const std::string kFourFloats(16, '\0');  // data for one F32 [2, 2] tensor
const std::string kOneTensor = R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";

TEST(Safetensors, ByteLayoutMatchesTheSpecification) {
    TempDir dir;
    const std::string path = dir.file("t.safetensors");
    SafetensorsWriter w;
    const float a[3] = {1.0f, -2.0f, 0.5f};
    w.add_float("a", {3}, a, Dtype::F16);
    const int32_t b[2] = {7, -1};
    w.add_i32("b", {2, 1}, b);
    w.set_metadata("format", "pt");
    w.write(path);

    const std::string bytes = hfio_test::read_bytes(path);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
    EXPECT_EQ((8 + n) % 8, 0u) << "data section must start 8-byte aligned";
    ASSERT_EQ(bytes.size(), 8 + n + 3 * 2 + 2 * 4);
    const auto header = nlohmann::json::parse(bytes.substr(8, n));
    EXPECT_EQ(header["__metadata__"]["format"], "pt");
    EXPECT_EQ(header["a"]["dtype"], "F16");
    EXPECT_EQ(header["a"]["shape"], nlohmann::json({3}));
    EXPECT_EQ(header["a"]["data_offsets"], nlohmann::json({0, 6}));
    EXPECT_EQ(header["b"]["dtype"], "I32");
    EXPECT_EQ(header["b"]["data_offsets"], nlohmann::json({6, 14}));
    // binary16 of 1, -2, 0.5 is 0x3C00, 0xC000, 0x3800, little-endian.
    const std::string data = bytes.substr(8 + n);
    EXPECT_EQ(data.substr(0, 6), std::string("\x00\x3c\x00\xc0\x00\x38", 6));
    EXPECT_EQ(data.substr(6), std::string("\x07\x00\x00\x00\xff\xff\xff\xff", 8));

    SafetensorsFile f(path);
    EXPECT_EQ(f.metadata().at("format"), "pt");
    EXPECT_EQ(f.read_f32("a"), std::vector<float>({1.0f, -2.0f, 0.5f}));
    EXPECT_EQ(f.read_i32("b"), std::vector<int32_t>({7, -1}));
    EXPECT_EQ(f.info("b").shape, std::vector<int64_t>({2, 1}));
}

TEST(Safetensors, FloatRoundTripsAreExactForRepresentableValues) {
    TempDir dir;
    const std::string path = dir.file("t.safetensors");
    const float inf = std::numeric_limits<float>::infinity();
    // Each value is exactly representable in the narrow type, so reading back must give it.
    const std::vector<float> f16_exact = {0.0f, -0.0f, 1.0f, -1.5f, 65504.0f, -65504.0f,
                                          0x1p-24f, 0x1p-14f, 1023.0f / 1024.0f, inf, -inf};
    const std::vector<float> bf16_exact = {0.0f, 1.0f, -3.0f, 0x1p100f, 0x1p-126f, 0x1p-133f,
                                           1.0078125f, 3.3895313892515355e38f, inf};
    std::mt19937 rng(5);
    std::normal_distribution<float> d;
    std::vector<float> f32(100);
    for (float& v : f32) v = d(rng);
    f32.push_back(std::numeric_limits<float>::denorm_min());

    SafetensorsWriter w;
    w.add_float("h", {static_cast<int64_t>(f16_exact.size())}, f16_exact.data(), Dtype::F16);
    w.add_float("b", {static_cast<int64_t>(bf16_exact.size())}, bf16_exact.data(), Dtype::BF16);
    w.add_float("f", {static_cast<int64_t>(f32.size())}, f32.data(), Dtype::F32);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    w.add_float("nan16", {1}, &nan, Dtype::F16);
    w.add_float("nanb16", {1}, &nan, Dtype::BF16);
    w.write(path);

    SafetensorsFile file(path);
    const auto h = file.read_f32("h");
    const auto b = file.read_f32("b");
    const auto f = file.read_f32("f");
    for (size_t i = 0; i < f16_exact.size(); ++i) {
        EXPECT_EQ(h[i], f16_exact[i]) << i;
        EXPECT_EQ(std::signbit(h[i]), std::signbit(f16_exact[i])) << i;
    }
    for (size_t i = 0; i < bf16_exact.size(); ++i) EXPECT_EQ(b[i], bf16_exact[i]) << i;
    EXPECT_TRUE(hfio_test::same_bits(f.data(), f32.data(), f32.size()));
    EXPECT_TRUE(std::isnan(file.read_f32("nan16")[0]));
    EXPECT_TRUE(std::isnan(file.read_f32("nanb16")[0]));
}

TEST(Safetensors, NarrowingRoundsToNearestEven) {
    TempDir dir;
    const std::string path = dir.file("t.safetensors");
    // Halfway cases: 1 + 2^-11 lies between binary16 neighbours 1 and 1 + 2^-10 (tie -> 1);
    // 1 + 3·2^-11 lies between 1 + 2^-10 and 1 + 2^-9 (tie -> even mantissa, 1 + 2^-9).
    const float f16_in[4] = {1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 1.0f + 0x1p-11f + 0x1p-20f, 70000.0f};
    const float f16_want[4] = {1.0f, 1.0f + 0x1p-9f, 1.0f + 0x1p-10f, std::numeric_limits<float>::infinity()};
    // bfloat16 keeps 8 mantissa bits: 1 + 2^-8 ties to 1, 1 + 3·2^-8 ties to 1 + 2^-6.
    const float bf_in[2] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f};
    const float bf_want[2] = {1.0f, 1.0f + 0x1p-6f};
    SafetensorsWriter w;
    w.add_float("h", {4}, f16_in, Dtype::F16);
    w.add_float("b", {2}, bf_in, Dtype::BF16);
    w.write(path);
    SafetensorsFile f(path);
    const auto h = f.read_f32("h");
    const auto b = f.read_f32("b");
    for (int i = 0; i < 4; ++i) EXPECT_EQ(h[i], f16_want[i]) << i;
    for (int i = 0; i < 2; ++i) EXPECT_EQ(b[i], bf_want[i]) << i;
}

TEST(Safetensors, ReadsHandWrittenFilesIncludingEmptyTensors) {
    TempDir dir;
    const std::string path = dir.file("t.safetensors");
    // Padded header (trailing spaces are allowed), an empty tensor, and a U8 tensor.
    const std::string header =
        R"({"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},)"
        R"("u":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},)"
        R"("x":{"dtype":"BF16","shape":[1],"data_offsets":[3,5]}}   )";
    hfio_test::write_bytes(path, st_bytes(header, std::string("\x01\x02\x03\x80\x3f", 5)));
    SafetensorsFile f(path);
    EXPECT_EQ(f.tensors().size(), 3u);
    EXPECT_TRUE(f.read_f32("e").empty());
    EXPECT_EQ(f.info("e").numel(), 0);
    EXPECT_EQ(f.read_bytes("u"), std::vector<char>({1, 2, 3}));
    EXPECT_EQ(f.read_f32("x"), std::vector<float>({1.0f}));
    expect_error([&] { f.read_f32("u"); }, SURGEON_ERR_IO, "U8");
    expect_error([&] { f.read_i32("x"); }, SURGEON_ERR_IO, "I32 expected");
    expect_error([&] { f.info("missing"); }, SURGEON_ERR_IO, "no tensor 'missing'");
}

TEST(Safetensors, RejectsBadHeaderLength) {
    expect_bad_file("", "too small");
    expect_bad_file(std::string("\x10\x00\x00", 3), "too small");
    expect_bad_file(st_bytes(kOneTensor, kFourFloats, 5000), "past the end");
    expect_bad_file(st_bytes(kOneTensor, kFourFloats, kOneTensor.size() + 17), "past the end");
    expect_bad_file(st_bytes(kOneTensor, kFourFloats, int64_t{1} << 62), "limit");
    expect_bad_file(st_bytes(kOneTensor, kFourFloats, 0), "too small");
}

TEST(Safetensors, RejectsInvalidJson) {
    expect_bad_file(st_bytes(R"({"a":{"dtype":"F32",)", kFourFloats), "invalid header JSON");
    expect_bad_file(st_bytes(R"({"a" 1})", ""), "invalid header JSON");
    expect_bad_file(st_bytes("[1, 2, 3]", ""), "not a JSON object");
    expect_bad_file(st_bytes(std::string(100000, '['), ""), "not a JSON object");
    expect_bad_file(st_bytes("{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}", ""),
                    "nested too deeply");
    expect_bad_file(st_bytes(R"({"a":[1,2]})", ""), "not an object");
    expect_bad_file(st_bytes(R"({"__metadata__":{"k":1}})", ""), "not a string");
    expect_bad_file(st_bytes(R"({"__metadata__":[]})", ""), "__metadata__");
}

TEST(Safetensors, RejectsBadTensorEntries) {
    auto one = [](const std::string& entry) { return st_bytes("{\"a\":" + entry + "}", kFourFloats); };
    expect_bad_file(one(R"({"dtype":"F32","shape":[2,2]})"), "missing \"data_offsets\"");
    expect_bad_file(one(R"({"shape":[2,2],"data_offsets":[0,16]})"), "missing \"dtype\"");
    expect_bad_file(one(R"({"dtype":"F7","shape":[2,2],"data_offsets":[0,16]})"), "unknown dtype 'F7'");
    expect_bad_file(one(R"({"dtype":7,"shape":[2,2],"data_offsets":[0,16]})"), "dtype is not a string");
    expect_bad_file(one(R"({"dtype":"F32","shape":[-2,-2],"data_offsets":[0,16]})"), "non-negative");
    expect_bad_file(one(R"({"dtype":"F32","shape":[2.0,2],"data_offsets":[0,16]})"), "non-negative integer");
    expect_bad_file(one(R"({"dtype":"F32","shape":"2x2","data_offsets":[0,16]})"), "shape is not an array");
    expect_bad_file(one(R"({"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,16]})"),
                    "overflows");
    expect_bad_file(one(R"({"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,16]})"),
                    "overflows");
    expect_bad_file(one(R"({"dtype":"F32","shape":[2,2],"data_offsets":[0]})"), "[begin, end]");
    expect_bad_file(one(R"({"dtype":"F32","shape":[2,2],"data_offsets":[-4,16]})"), "non-negative");
    expect_bad_file(one(R"({"dtype":"F32","shape":[2,2],"data_offsets":[16,0]})"), "begin 16 > end 0");
}

TEST(Safetensors, RejectsOffsetsOutsideTheDataSection) {
    expect_bad_file(st_bytes(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,32]}})", kFourFloats),
                    "past the data section");
    expect_bad_file(st_bytes(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[18446744073709551600,18446744073709551615]}})",
                             kFourFloats),
                    "past the data section");
}

TEST(Safetensors, RejectsSizeShapeMismatch) {
    expect_bad_file(st_bytes(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})", kFourFloats),
                    "16 bytes for shape [2, 3] of F32 (expected 24)");
    expect_bad_file(st_bytes(R"({"a":{"dtype":"F16","shape":[2,2],"data_offsets":[0,16]}})", kFourFloats),
                    "expected 8");
}

TEST(Safetensors, RejectsOverlapsHolesAndTrailingBytes) {
    const std::string data(24, '\0');
    expect_bad_file(st_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                             R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", data),
                    "overlaps");
    expect_bad_file(st_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                             R"("b":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", kFourFloats),
                    "overlaps");
    expect_bad_file(st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}})", data),
                    "hole");
    expect_bad_file(st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", kFourFloats),
                    "hole");
    expect_bad_file(st_bytes(kOneTensor, kFourFloats + "xx"), "2 bytes after the last tensor");
}

TEST(Safetensors, RejectsTruncatedData) {
    TempDir dir;
    const std::string path = dir.file("t.safetensors");
    std::vector<float> v(64, 1.0f);
    SafetensorsWriter w;
    w.add_float("a", {8, 8}, v.data(), Dtype::F32);
    w.add_float("b", {64}, v.data(), Dtype::F16);
    w.write(path);
    const std::string full = hfio_test::read_bytes(path);
    expect_bad_file(full.substr(0, full.size() - 1), "truncated");
    expect_bad_file(full.substr(0, full.size() - 128), "truncated");
    expect_bad_file(full.substr(0, 20), "past the end");
}

// Every prefix and many single-byte corruptions of a valid file either open cleanly or
// throw surgeon::Error with SURGEON_ERR_IO; nothing else escapes.
TEST(Safetensors, SurvivesTruncationAndCorruption) {
    TempDir dir;
    const std::string path = dir.file("t.safetensors");
    std::vector<float> v(12, 0.25f);
    SafetensorsWriter w;
    w.add_float("weight", {3, 4}, v.data(), Dtype::BF16);
    w.add_float("norm", {4}, v.data(), Dtype::F32);
    w.set_metadata("format", "pt");
    w.write(path);
    const std::string good = hfio_test::read_bytes(path);
    const std::string probe = dir.file("probe.safetensors");
    int opened = 0, rejected = 0;
    auto attempt = [&](const std::string& bytes) {
        hfio_test::write_bytes(probe, bytes);
        try {
            SafetensorsFile f(probe);
            for (const auto& t : f.tensors())
                if (t.dtype == Dtype::F32 || t.dtype == Dtype::BF16 || t.dtype == Dtype::F16) f.read_f32(t.name);
            ++opened;
        } catch (const surgeon::Error& e) {
            EXPECT_EQ(e.status(), SURGEON_ERR_IO) << e.what();
            ++rejected;
        }
    };
    for (size_t n = 0; n < good.size(); ++n) attempt(good.substr(0, n));
    std::mt19937 rng(11);
    for (int trial = 0; trial < 2000; ++trial) {
        std::string bad = good;
        const size_t at = rng() % std::min<size_t>(bad.size(), 8 + 160);
        bad[at] = static_cast<char>(rng());
        attempt(bad);
    }
    EXPECT_GT(rejected, static_cast<int>(good.size()));  // every strict prefix is invalid
    EXPECT_GT(opened, 0);
}

TEST(Safetensors, WriterRejectsBadInput) {
    SafetensorsWriter w;
    const float x[2] = {1, 2};
    w.add_float("a", {2}, x, Dtype::F32);
    expect_error([&] { w.add_float("a", {2}, x, Dtype::F32); }, SURGEON_ERR_INVALID_ARGUMENT, "twice");
    expect_error([&] { w.add_float("__metadata__", {2}, x, Dtype::F32); }, SURGEON_ERR_INVALID_ARGUMENT);
    expect_error([&] { w.add_float("c", {2}, x, Dtype::I32); }, SURGEON_ERR_INVALID_ARGUMENT);
    expect_error([&] { w.add_float("d", {-1}, x, Dtype::F32); }, SURGEON_ERR_SHAPE);
    expect_error([&] { w.write("/nonexistent-dir/x.safetensors"); }, SURGEON_ERR_IO, "cannot create");
}

TEST(Safetensors, ShardedCheckpoints) {
    TempDir dir;
    std::vector<float> a(6), b(4);
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i);
    for (size_t i = 0; i < b.size(); ++i) b[i] = -static_cast<float>(i);
    SafetensorsWriter s1, s2;
    s1.add_float("a", {2, 3}, a.data(), Dtype::F32);
    s2.add_float("b", {4}, b.data(), Dtype::BF16);
    s1.write(dir.file("model-00001-of-00002.safetensors"));
    s2.write(dir.file("model-00002-of-00002.safetensors"));
    auto write_index = [&](const nlohmann::json& map) {
        hfio_test::write_bytes(dir.file("model.safetensors.index.json"),
                               nlohmann::json({{"metadata", {{"total_size", 32}}}, {"weight_map", map}}).dump());
    };
    write_index({{"a", "model-00001-of-00002.safetensors"}, {"b", "model-00002-of-00002.safetensors"}});
    {
        TensorStore store(dir.path().string());
        EXPECT_EQ(store.shard_count(), 2u);
        EXPECT_EQ(store.names(), std::vector<std::string>({"a", "b"}));
        EXPECT_EQ(store.read_f32("a"), a);
        EXPECT_EQ(store.read_f32("b"), b);
        EXPECT_EQ(store.info("a").shape, std::vector<int64_t>({2, 3}));
        expect_error([&] { store.read_f32("c"); }, SURGEON_ERR_IO, "no tensor 'c'");
    }
    write_index({{"a", "model-00002-of-00002.safetensors"}});
    expect_error([&] { TensorStore s(dir.path().string()); }, SURGEON_ERR_IO, "is not in shard");
    write_index({{"a", "../model-00001-of-00002.safetensors"}});
    expect_error([&] { TensorStore s(dir.path().string()); }, SURGEON_ERR_IO, "invalid shard file name");
    write_index({{"a", "missing.safetensors"}});
    expect_error([&] { TensorStore s(dir.path().string()); }, SURGEON_ERR_IO, "cannot open");
    hfio_test::write_bytes(dir.file("model.safetensors.index.json"), "{\"weight_map\": 3}");
    expect_error([&] { TensorStore s(dir.path().string()); }, SURGEON_ERR_IO, "weight_map");
    hfio_test::write_bytes(dir.file("model.safetensors.index.json"), "{nope");
    expect_error([&] { TensorStore s(dir.path().string()); }, SURGEON_ERR_IO, "invalid JSON");
    TempDir empty;
    expect_error([&] { TensorStore s(empty.path().string()); }, SURGEON_ERR_IO, "no model.safetensors");
}

TEST(Safetensors, DtypeNames) {
    Dtype d;
    for (const char* name : {"BOOL", "U8", "I8", "U16", "I16", "F16", "BF16", "U32", "I32", "F32", "U64",
                             "I64", "F64", "F8_E4M3", "F8_E5M2"}) {
        ASSERT_TRUE(parse_dtype(name, &d)) << name;
        EXPECT_STREQ(dtype_name(d), name);
    }
    EXPECT_FALSE(parse_dtype("f32", &d));
    EXPECT_EQ(dtype_size(Dtype::BF16), 2u);
    EXPECT_EQ(dtype_size(Dtype::I64), 8u);
    EXPECT_EQ(parse_float_dtype("BF16"), Dtype::BF16);
    EXPECT_EQ(parse_float_dtype("float16"), Dtype::F16);
    EXPECT_EQ(parse_float_dtype("f32"), Dtype::F32);
    expect_error([] { parse_float_dtype("int8"); }, SURGEON_ERR_INVALID_ARGUMENT, "int8");
}

}  // namespace

TEST(Safetensors, RowRangesOfEveryFloatDtype) {
    TempDir dir;
    std::vector<float> v(5 * 2 * 3);
    for (size_t i = 0; i < v.size(); ++i) v[i] = 0.37f * static_cast<float>(i) - 4.0f;
    SafetensorsWriter w;
    for (Dtype d : {Dtype::F32, Dtype::F16, Dtype::BF16}) w.add_float(dtype_name(d), {5, 2, 3}, v.data(), d);
    w.add_float("flat", {30}, v.data(), Dtype::F32);
    std::vector<int32_t> ints(4, 7);
    w.add_i32("ints", {2, 2}, ints.data());
    const std::string path = dir.file("rows.safetensors");
    w.write(path);
    const SafetensorsFile f(path);
    for (const char* name : {"F32", "F16", "BF16"}) {
        const std::vector<float> all = f.read_f32(name);
        for (int64_t r0 = 0; r0 <= 5; ++r0)
            for (int64_t r1 = r0; r1 <= 5; ++r1) {
                const std::vector<float> want(all.begin() + 6 * r0, all.begin() + 6 * r1);
                EXPECT_EQ(f.read_f32_rows(name, r0, r1), want) << name << " rows " << r0 << ".." << r1;
                std::vector<float> into(want.size() + 1, -1.0f);
                f.read_f32_rows(name, r0, r1, into.data());
                EXPECT_EQ(std::vector<float>(into.begin(), into.end() - 1), want);
                EXPECT_EQ(into.back(), -1.0f) << "wrote past the rows";
            }
    }
    EXPECT_EQ(f.read_f32_rows("flat", 4, 9), std::vector<float>(v.begin() + 4, v.begin() + 9));
    expect_error([&] { f.read_f32_rows("F32", 2, 6); }, SURGEON_ERR_INVALID_ARGUMENT, "outside its 5 rows");
    expect_error([&] { f.read_f32_rows("F32", 3, 2); }, SURGEON_ERR_INVALID_ARGUMENT, "rows [3, 2)");
    expect_error([&] { f.read_f32_rows("F32", -1, 2); }, SURGEON_ERR_INVALID_ARGUMENT, "rows");
    expect_error([&] { f.read_f32_rows("ints", 0, 1); }, SURGEON_ERR_IO, "F32, F16, BF16 or F64 expected");
    expect_error([&] { f.read_f32_rows("nope", 0, 1); }, SURGEON_ERR_IO, "no tensor 'nope'");
    // The same through a TensorStore over the file.
    const TensorStore store(path);
    EXPECT_EQ(store.read_f32_rows("BF16", 1, 3), f.read_f32_rows("BF16", 1, 3));
    EXPECT_EQ(store.stamps().size(), 1u);
    EXPECT_NE(store.stamps()[0].find(path), std::string::npos);
}
