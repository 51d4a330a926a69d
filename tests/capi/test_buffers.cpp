// The one convention of every variable-length output, (T* buf, size_t cap, size_t* needed),
// checked on each function that has one: a size query, a buffer one element short
// (SURGEON_ERR_BUFFER_TOO_SMALL, *needed set, the buffer untouched), an exact fit, a
// larger buffer, and the argument errors (needed NULL, buf NULL with cap > 0).
#include <functional>
#include <string>

#include "capi_helpers.hpp"

namespace capi_test {
namespace {

template <typename T>
using Call = std::function<surgeon_status(T* buf, size_t cap, size_t* needed)>;

// Runs the convention's cases on `call` and returns the full output.
template <typename T>
std::vector<T> check_convention(const Call<T>& call, const T fill, const std::string& what) {
    size_t needed = 0;
    EXPECT_EQ(call(nullptr, 0, &needed), SURGEON_OK) << what << ": " << last_error();
    EXPECT_GT(needed, 0u) << what;
    if (needed == 0) return {};

    std::vector<T> shorter(needed - 1, fill);
    size_t reported = 0;
    EXPECT_EQ(call(shorter.data(), shorter.size(), &reported), SURGEON_ERR_BUFFER_TOO_SMALL) << what;
    EXPECT_EQ(reported, needed) << what;
    EXPECT_NE(last_error().find("needed"), std::string::npos) << last_error();
    for (const T& v : shorter) EXPECT_EQ(v, fill) << what << ": a short buffer was written";

    std::vector<T> exact(needed, fill);
    reported = 0;
    EXPECT_EQ(call(exact.data(), exact.size(), &reported), SURGEON_OK) << what << ": " << last_error();
    EXPECT_EQ(reported, needed) << what;

    std::vector<T> larger(needed + 5, fill);
    EXPECT_EQ(call(larger.data(), larger.size(), &reported), SURGEON_OK) << what;
    EXPECT_EQ(std::vector<T>(larger.begin(), larger.begin() + static_cast<long>(needed)), exact) << what;
    for (size_t i = needed; i < larger.size(); ++i) EXPECT_EQ(larger[i], fill) << what << ": written past the output";

    size_t untouched = 777;
    EXPECT_EQ(call(nullptr, 4, &untouched), SURGEON_ERR_INVALID_ARGUMENT) << what;
    EXPECT_EQ(untouched, 777u) << what;
    EXPECT_EQ(call(exact.data(), exact.size(), nullptr), SURGEON_ERR_INVALID_ARGUMENT) << what;
    return exact;
}

TEST(CapiBuffers, ModelEncodeGenerateReport) {
    ModelPtr m = load_model();
    const std::vector<int32_t> ids = check_convention<int32_t>(
        [&](int32_t* buf, size_t cap, size_t* needed) {
            return surgeon_model_encode(m.get(), "Once upon a time", 1, buf, cap, needed);
        },
        -7, "encode");
    ASSERT_GE(ids.size(), 2u);
    EXPECT_EQ(ids[0], 1);  // BOS

    // Text: bytes including the NUL; the same seed gives the same text on every call.
    surgeon_generate_options* raw = nullptr;
    CAPI_OK(surgeon_generate_options_new(&raw));
    GenerateOptionsPtr sampled(raw);
    CAPI_OK(surgeon_generate_options_set_steps(sampled.get(), 12));
    CAPI_OK(surgeon_generate_options_set_temperature(sampled.get(), 0.8));
    const std::vector<char> text = check_convention<char>(
        [&](char* buf, size_t cap, size_t* needed) {
            return surgeon_model_generate(nullptr, m.get(), "Once", sampled.get(), buf, cap, needed);
        },
        'x', "generate");
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\0');
    EXPECT_EQ(std::string(text.data()).size() + 1, text.size());
    EXPECT_EQ(std::string(text.data()).rfind("Once", 0), 0u) << text.data();

    const std::vector<char> report = check_convention<char>(
        [&](char* buf, size_t cap, size_t* needed) { return surgeon_model_report(m.get(), buf, cap, needed); },
        'x', "report");
    EXPECT_EQ(std::string(report.data()), "{}");
}

TEST(CapiBuffers, QuantizerRowBitsAndMixedOptions) {
    auto q = new_quantizer(4);
    const std::vector<int32_t> widths = {3, 4, 2, 8, 1, 6};
    CAPI_OK(surgeon_quantizer_set_row_bits(q.get(), widths.data(), static_cast<int64_t>(widths.size())));
    EXPECT_EQ(check_convention<int32_t>(
                  [&](int32_t* buf, size_t cap, size_t* needed) {
                      return surgeon_quantizer_get_row_bits(q.get(), buf, cap, needed);
                  },
                  -1, "quantizer_get_row_bits"),
              widths);

    surgeon_mixed_options* raw = nullptr;
    CAPI_OK(surgeon_mixed_options_new(&raw));
    std::unique_ptr<surgeon_mixed_options, Deleter<surgeon_mixed_options, surgeon_mixed_options_free>> mo(raw);
    EXPECT_EQ(check_convention<int32_t>(
                  [&](int32_t* buf, size_t cap, size_t* needed) {
                      return surgeon_mixed_options_get_bits(mo.get(), buf, cap, needed);
                  },
                  -1, "mixed_options_get_bits"),
              (std::vector<int32_t>{2, 3, 4}));  // the defaults
}

TEST(CapiBuffers, MixedStatsJsonAndFfnSelect) {
    const int32_t bits[] = {2, 4, 4, 8};
    surgeon_mixed_stats stats = SURGEON_MIXED_STATS_INIT;
    CAPI_OK(surgeon_mixed_stats_compute(bits, 4, 32, 16, 16, 0, nullptr, &stats));
    const std::vector<char> json = check_convention<char>(
        [&](char* buf, size_t cap, size_t* needed) { return surgeon_mixed_stats_json(&stats, buf, cap, needed); },
        'x', "mixed_stats_json");
    const std::string text(json.data());
    EXPECT_NE(text.find("\"channels\":4"), std::string::npos) << text;
    EXPECT_NE(text.find("\"avg_bits\":4.5"), std::string::npos) << text;

    const std::vector<float> scores = {0.5f, 3.0f, -1.0f, 2.0f, 2.0f, 0.0f, 7.0f, 1.0f};
    // Remove round(0.5 · 8) = 4: keep 7, 3, 2, 2 (ties to the lower index) = indices 1, 3, 4, 6.
    EXPECT_EQ(check_convention<int64_t>(
                  [&](int64_t* buf, size_t cap, size_t* needed) {
                      return surgeon_ffn_select(scores.data(), 8, 0.5, buf, cap, needed);
                  },
                  -1, "ffn_select"),
              (std::vector<int64_t>{1, 3, 4, 6}));
}

}  // namespace
}  // namespace capi_test
