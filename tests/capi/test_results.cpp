// Outputs of the C API: quantized results that reproduce the returned weights exactly,
// grids with at most 2^bits levels, masks whose views agree, exact N:M patterns, and
// progress reports.
#include <algorithm>
#include <map>
#include <numeric>
#include <set>
#include <thread>

#include "capi_helpers.hpp"

namespace capi_test {
namespace {

struct QResultData {
    int64_t rows = 0, cols = 0, groups = 0;
    int bits = 0;
    std::vector<uint8_t> codes;
    std::vector<float> scales, zeros;
    std::vector<int32_t> g_idx, perm;
};

QResultData read_qresult(const surgeon_qresult* r) {
    QResultData d;
    EXPECT_EQ(surgeon_qresult_shape(r, &d.rows, &d.cols, &d.groups, &d.bits), SURGEON_OK);
    d.codes.resize(d.rows * d.cols);
    d.scales.resize(d.rows * d.groups);
    d.zeros.resize(d.rows * d.groups);
    d.g_idx.resize(d.cols);
    d.perm.resize(d.cols);
    EXPECT_EQ(surgeon_qresult_codes(r, d.codes.data()), SURGEON_OK);
    EXPECT_EQ(surgeon_qresult_scales(r, d.scales.data()), SURGEON_OK);
    EXPECT_EQ(surgeon_qresult_zeros(r, d.zeros.data()), SURGEON_OK);
    EXPECT_EQ(surgeon_qresult_g_idx(r, d.g_idx.data()), SURGEON_OK);
    EXPECT_EQ(surgeon_qresult_perm(r, d.perm.data()), SURGEON_OK);
    return d;
}

struct QuantCase {
    const char* name;
    int bits;
    int64_t group;
    bool symmetric, act_order, static_groups, mse;
    int prune_n, prune_m;  // joint pruning when prune_m > 0
};

class QResultConsistency : public ::testing::TestWithParam<QuantCase> {};

TEST_P(QResultConsistency, CodesReproduceTheWeightsExactly) {
    const QuantCase c = GetParam();
    const int64_t rows = 12, cols = 96;
    auto h = random_hessian(cols, 400, 1);
    auto solver = new_solver(h.get(), 32);
    auto q = new_quantizer(c.bits, c.group, c.symmetric);
    CAPI_OK(surgeon_quantizer_set_act_order(q.get(), c.act_order));
    CAPI_OK(surgeon_quantizer_set_static_groups(q.get(), c.static_groups));
    CAPI_OK(surgeon_quantizer_set_mse(q.get(), c.mse, 2.4f, 100, 0.8f));
    auto w = random_matrix(rows, cols, 2);
    auto qr = new_qresult();
    MaskPtr mask;
    if (c.prune_m > 0) {
        auto opts = prune_options(0.0, c.prune_n, c.prune_m, SURGEON_MASK_SCOPE_BLOCK, q.get());
        CAPI_OK(solver_prune(solver.get(), w.data(), rows, cols, 0, opts.get(), &mask, &qr));
    } else
        CAPI_OK(surgeon_solver_quantize(solver.get(), w.data(), rows, cols, 0, q.get(), qr.get(),
                                        nullptr));

    const QResultData d = read_qresult(qr.get());
    const int64_t groups = c.group ? (cols + c.group - 1) / c.group : 1;
    ASSERT_EQ(d.rows, rows);
    ASSERT_EQ(d.cols, cols);
    ASSERT_EQ(d.groups, groups);
    ASSERT_EQ(d.bits, c.bits);

    // perm is a permutation: identity in natural order, else by descending H diagonal.
    std::vector<int32_t> sorted = d.perm;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t j = 0; j < cols; ++j) ASSERT_EQ(sorted[j], j);
    std::vector<float> hm(cols * cols);
    CAPI_OK(surgeon_hessian_copy(h.get(), hm.data(), 0));
    for (int64_t k = 0; k < cols; ++k) {
        if (!c.act_order) ASSERT_EQ(d.perm[k], k);
        if (k > 0 && c.act_order)
            ASSERT_GE(hm[d.perm[k - 1] * (cols + 1)], hm[d.perm[k] * (cols + 1)]);
    }
    // Groups: natural column groups, except dynamic groups under act-order, which follow
    // the processing order.
    for (int64_t k = 0; k < cols; ++k) {
        const int32_t expected_group =
            c.group == 0 ? 0 : static_cast<int32_t>((c.act_order && !c.static_groups ? k : d.perm[k]) / c.group);
        ASSERT_EQ(d.g_idx[d.perm[k]], expected_group) << "k " << k;
    }

    // scale · (code − zero) is the returned weight, bit for bit; codes fit in `bits`.
    std::vector<float> deq(rows * cols, -1.0f);
    CAPI_OK(surgeon_qresult_dequantize(qr.get(), deq.data(), 0));
    EXPECT_TRUE(same_bytes(deq, w));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < cols; ++j) {
            const uint8_t code = d.codes[r * cols + j];
            ASSERT_LT(code, 1 << c.bits);
            const int64_t k = r * groups + d.g_idx[j];
            const float value = d.scales[k] * (static_cast<float>(code) - d.zeros[k]);
            ASSERT_EQ(value, w[r * cols + j]) << "row " << r << " col " << j;
        }
    // At most 2^bits distinct values per row and group.
    for (int64_t r = 0; r < rows; ++r) {
        std::map<int32_t, std::set<float>> levels;
        for (int64_t j = 0; j < cols; ++j) levels[d.g_idx[j]].insert(w[r * cols + j]);
        for (const auto& [g, values] : levels)
            EXPECT_LE(values.size(), size_t{1} << c.bits) << "row " << r << " group " << g;
    }
    // With a leading dimension, the padding is left alone.
    const int64_t ld = cols + 5;
    std::vector<float> strided(rows * ld, 42.0f);
    CAPI_OK(surgeon_qresult_dequantize(qr.get(), strided.data(), ld));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < ld; ++j)
            ASSERT_EQ(strided[r * ld + j], j < cols ? w[r * cols + j] : 42.0f);
    if (c.prune_m > 0) {
        int ok = 0;
        CAPI_OK(surgeon_mask_check_nm(mask.get(), c.prune_n, c.prune_m, &ok));
        EXPECT_EQ(ok, 1);
        const auto keep = mask_bytes(mask.get());
        for (size_t i = 0; i < keep.size(); ++i)
            if (!keep[i]) ASSERT_EQ(w[i], 0.0f);
    }
}

INSTANTIATE_TEST_SUITE_P(
    Configs, QResultConsistency,
    ::testing::Values(QuantCase{"w4", 4, 0, true, false, false, false, 0, 0},
                      QuantCase{"w3_asym", 3, 0, false, false, false, false, 0, 0},
                      QuantCase{"w4_g32", 4, 32, true, false, false, false, 0, 0},
                      QuantCase{"w4_g32_actorder", 4, 32, true, true, false, false, 0, 0},
                      QuantCase{"w3_g32_actorder_static", 3, 32, true, true, true, false, 0, 0},
                      QuantCase{"w2_g16_mse_asym", 2, 16, false, false, false, true, 0, 0},
                      QuantCase{"w8_g40", 8, 40, false, false, false, false, 0, 0},
                      QuantCase{"w4_2of4", 4, 0, true, false, false, false, 2, 4},
                      QuantCase{"w3_g16_4of8_asym", 3, 16, false, false, false, false, 4, 8}),
    [](const ::testing::TestParamInfo<QuantCase>& info) { return std::string(info.param.name); });

TEST(CapiQResult, EmptyResultIsAllZero) {
    auto qr = new_qresult();
    int64_t rows = 9, cols = 9, groups = 9;
    int bits = 9;
    CAPI_OK(surgeon_qresult_shape(qr.get(), &rows, &cols, &groups, &bits));
    EXPECT_EQ(rows + cols + groups + bits, 0);
    CAPI_OK(surgeon_qresult_shape(qr.get(), nullptr, nullptr, nullptr, nullptr));
}

// Naive reference of the documented check_nm rule.
bool naive_check_nm(const std::vector<uint8_t>& keep, int64_t rows, int64_t cols, int n, int m) {
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c0 = 0; c0 < cols; c0 += m) {
            const int64_t len = std::min<int64_t>(m, cols - c0);
            int64_t pruned = 0;
            for (int64_t c = c0; c < c0 + len; ++c) pruned += keep[r * cols + c] == 0;
            if (pruned < std::min<int64_t>(n, len)) return false;
        }
    return true;
}

TEST(CapiMask, ViewsAgree) {
    const int64_t rows = 13, cols = 37;  // 481 entries: the last bit byte is partial
    std::mt19937 rng(3);
    std::vector<uint8_t> raw(rows * cols);
    for (auto& b : raw) b = (rng() % 3 == 0) ? 0 : static_cast<uint8_t>(1 + rng() % 200);
    surgeon_mask* m = nullptr;
    CAPI_OK(surgeon_mask_from_bytes(&m, raw.data(), rows, cols));
    MaskPtr mask(m);
    int64_t r = 0, c = 0;
    CAPI_OK(surgeon_mask_shape(mask.get(), &r, &c));
    EXPECT_EQ(r, rows);
    EXPECT_EQ(c, cols);
    const auto bytes = mask_bytes(mask.get());
    std::vector<uint8_t> bits((rows * cols + 7) / 8 + 1, 0xAB);  // one guard byte
    CAPI_OK(surgeon_mask_to_bits(mask.get(), bits.data()));
    EXPECT_EQ(bits.back(), 0xAB);
    int64_t pruned = 0;
    for (int64_t k = 0; k < rows * cols; ++k) {
        ASSERT_EQ(bytes[k], raw[k] ? 1 : 0);
        ASSERT_EQ((bits[k / 8] >> (k % 8)) & 1, bytes[k]) << "element " << k;
        pruned += bytes[k] == 0;
    }
    EXPECT_EQ(bits[(rows * cols) / 8] >> ((rows * cols) % 8), 0) << "padding bits must be 0";
    double sparsity = 0;
    CAPI_OK(surgeon_mask_sparsity(mask.get(), &sparsity));
    EXPECT_DOUBLE_EQ(sparsity, static_cast<double>(pruned) / (rows * cols));

    // apply: zeros exactly the pruned entries, through a leading dimension.
    const int64_t ld = cols + 3;
    auto w = random_matrix(rows, ld, 4), before = w;
    CAPI_OK(surgeon_mask_apply(mask.get(), w.data(), rows, cols, ld));
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < ld; ++j)
            ASSERT_EQ(w[i * ld + j], j < cols && !bytes[i * cols + j] ? 0.0f : before[i * ld + j]);

    // Round trip through bytes.
    surgeon_mask* again = nullptr;
    CAPI_OK(surgeon_mask_from_bytes(&again, bytes.data(), rows, cols));
    MaskPtr again_owner(again);
    EXPECT_EQ(mask_bytes(again), bytes);

    // A new mask keeps everything.
    auto full = new_mask(3, 4);
    EXPECT_EQ(mask_bytes(full.get()), std::vector<uint8_t>(12, 1));
    CAPI_OK(surgeon_mask_sparsity(full.get(), &sparsity));
    EXPECT_EQ(sparsity, 0.0);
}

TEST(CapiMask, CheckNmMatchesTheDocumentedRule) {
    std::mt19937 rng(5);
    for (int64_t cols : {8, 10, 12, 31}) {
        for (int density = 0; density < 4; ++density) {
            const int64_t rows = 6;
            std::vector<uint8_t> keep(rows * cols);
            for (auto& b : keep) b = (rng() % 4) < static_cast<unsigned>(density) ? 1 : 0;
            surgeon_mask* m = nullptr;
            CAPI_OK(surgeon_mask_from_bytes(&m, keep.data(), rows, cols));
            MaskPtr mask(m);
            for (auto [n, mm] : {std::pair{1, 2}, {2, 4}, {3, 4}, {4, 8}, {1, 3}, {5, 16}}) {
                int ok = -1;
                CAPI_OK(surgeon_mask_check_nm(mask.get(), n, mm, &ok));
                EXPECT_EQ(ok, naive_check_nm(keep, rows, cols, n, mm) ? 1 : 0)
                    << n << ":" << mm << " cols " << cols << " density " << density;
            }
        }
    }
}

// Exactly n of every m weights pruned per row group, in the weight and in the mask.
void expect_exact_nm(const std::vector<float>& w, const std::vector<uint8_t>& keep,
                     int64_t rows, int64_t cols, int n, int m, const std::string& what) {
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c0 = 0; c0 < cols; c0 += m) {
            const int64_t len = std::min<int64_t>(m, cols - c0);
            int pruned = 0;
            for (int64_t c = c0; c < c0 + len; ++c) {
                const bool kept = keep[r * cols + c] != 0;
                pruned += !kept;
                if (!kept) ASSERT_EQ(w[r * cols + c], 0.0f) << what;
                else ASSERT_NE(w[r * cols + c], 0.0f) << what << " row " << r << " col " << c;
            }
            ASSERT_EQ(pruned, std::min<int64_t>(n, len)) << what << " row " << r << " group " << c0;
        }
}

TEST(CapiNM, PatternsAreExact) {
    const int64_t rows = 24, cols = 256;
    auto h = random_hessian(cols, 600, 6);
    auto solver = new_solver(h.get(), 128);
    for (auto [n, m] : {std::pair{2, 4}, {4, 8}}) {
        const std::string nm = std::to_string(n) + ":" + std::to_string(m);
        auto w = random_matrix(rows, cols, 7);
        MaskPtr mask;
        double loss = 0;
        CAPI_OK(solver_prune(solver.get(), w.data(), rows, cols, 0, prune_options(0.9, n, m).get(), &mask,
                             nullptr, &loss));
        expect_exact_nm(w, mask_bytes(mask.get()), rows, cols, n, m, "sparsegpt " + nm);
        int ok = 0;
        CAPI_OK(surgeon_mask_check_nm(mask.get(), n, m, &ok));
        EXPECT_EQ(ok, 1);
        double sparsity = 0;
        CAPI_OK(surgeon_mask_sparsity(mask.get(), &sparsity));
        EXPECT_DOUBLE_EQ(sparsity, static_cast<double>(n) / m);
        EXPECT_GT(loss, 0.0);

        auto wm = random_matrix(rows, cols, 8), ww = wm;
        auto mm = new_mask(), mw = new_mask();
        CAPI_OK(surgeon_prune_magnitude(nullptr, wm.data(), rows, cols, 0, prune_options(0.0, n, m).get(),
                                        mm.get()));
        expect_exact_nm(wm, mask_bytes(mm.get()), rows, cols, n, m, "magnitude " + nm);
        CAPI_OK(surgeon_prune_wanda(nullptr, ww.data(), rows, cols, 0, h.get(), prune_options(0.0, n, m).get(),
                                    mw.get()));
        expect_exact_nm(ww, mask_bytes(mw.get()), rows, cols, n, m, "wanda " + nm);
    }
}

// cols not a multiple of m: the trailing short group prunes min(n, len).
TEST(CapiNM, TrailingShortGroup) {
    const int64_t rows = 10, cols = 134;
    auto h = random_hessian(cols, 500, 9);
    auto solver = new_solver(h.get(), 128);
    auto w = random_matrix(rows, cols, 10);
    MaskPtr mask;
    CAPI_OK(solver_prune(solver.get(), w.data(), rows, cols, 0, prune_options(0.0, 2, 4).get(), &mask));
    expect_exact_nm(w, mask_bytes(mask.get()), rows, cols, 2, 4, "sparsegpt 2:4, 134 cols");
    auto wm = random_matrix(rows, cols, 11);
    auto mm = new_mask();
    CAPI_OK(surgeon_prune_magnitude(nullptr, wm.data(), rows, cols, 0, prune_options(0.0, 2, 4).get(), mm.get()));
    expect_exact_nm(wm, mask_bytes(mm.get()), rows, cols, 2, 4, "magnitude 2:4, 134 cols");
}

struct ProgressLog {
    std::thread::id caller;
    bool wrong_thread = false;
    std::vector<std::pair<std::string, double>> calls;
};

void record_progress(void* user, const char* stage, double fraction) {
    auto* log = static_cast<ProgressLog*>(user);
    if (std::this_thread::get_id() != log->caller) log->wrong_thread = true;
    log->calls.emplace_back(stage, fraction);
}

TEST(CapiProgress, FractionsIncreaseToOneOnTheCallingThread) {
    ProgressLog log;
    log.caller = std::this_thread::get_id();
    surgeon_context* raw = nullptr;
    CAPI_OK(surgeon_context_new(&raw));
    ContextPtr ctx(raw);
    CAPI_OK(surgeon_context_set_threads(ctx.get(), 2));
    CAPI_OK(surgeon_context_set_progress(ctx.get(), record_progress, &log));
    const int64_t rows = 32, cols = 512;
    auto h = random_hessian(cols, 700, 12);
    auto solver = new_solver(h.get(), 128, ctx.get());
    auto q = new_quantizer(4);
    for (const std::string stage : {"prune", "quantize"}) {
        log.calls.clear();
        auto w = random_matrix(rows, cols, 13);
        if (stage == "prune")
            CAPI_OK(surgeon_solver_prune(solver.get(), w.data(), rows, cols, 0, nullptr, nullptr));
        else
            CAPI_OK(surgeon_solver_quantize(solver.get(), w.data(), rows, cols, 0, q.get(), nullptr,
                                            nullptr));
        std::map<std::string, std::vector<double>> by_stage;
        for (const auto& [s, f] : log.calls) {
            EXPECT_GE(f, 0.0);
            EXPECT_LE(f, 1.0);
            by_stage[s].push_back(f);
        }
        ASSERT_EQ(by_stage[stage].size(), static_cast<size_t>(cols / 128)) << stage;
        const auto& fractions = by_stage[stage];
        for (size_t i = 1; i < fractions.size(); ++i) EXPECT_GT(fractions[i], fractions[i - 1]);
        EXPECT_EQ(fractions.back(), 1.0);
        if (by_stage.count("factorize")) EXPECT_EQ(by_stage["factorize"].back(), 1.0);
    }
    EXPECT_FALSE(log.wrong_thread);
    // Removing the callback stops the reports.
    CAPI_OK(surgeon_context_set_progress(ctx.get(), nullptr, nullptr));
    auto solver2 = new_solver(h.get(), 128, ctx.get());
    log.calls.clear();
    auto w = random_matrix(rows, cols, 14);
    CAPI_OK(surgeon_solver_prune(solver2.get(), w.data(), rows, cols, 0, nullptr, nullptr));
    EXPECT_TRUE(log.calls.empty());
}

}  // namespace
}  // namespace capi_test
