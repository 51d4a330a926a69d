// ModelSource over a Model in memory: every part equals the model's own tensors, embed()
// equals nn embed, materialize() rebuilds the model, and ranges outside the model are
// argument errors.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "hf_util.hpp"
#include "nn/forward.hpp"
#include "nn/model_source.hpp"

namespace {

using namespace surgeon;
using namespace surgeon::model;
using hfio_test::expect_error;
using hfio_test::expect_same_matrix;
using hfio_test::expect_same_vector;
using hfio_test::rows_of;

TEST(ModelSource, InMemoryPartsAreTheModels) {
    for (bool shared : {true, false}) {
        SCOPED_TRACE(shared ? "tied classifier" : "untied classifier");
        const Model m = hfio_test::random_model(32, 48, 3, 4, 2, 30, shared, 3, {48, 20, 36});
        const InMemorySource source(m);
        EXPECT_EQ(source.n_blocks(), 3);
        EXPECT_EQ(source.config().dim, 32);
        EXPECT_EQ(source.ffn_sizes(), std::vector<int64_t>({48, 20, 36}));
        EXPECT_EQ(source.ffn_size(1), 20);
        for (int64_t b = 0; b < 3; ++b) {
            const LayerWeights L = source.block(b);
            const LayerWeights& want = m.layers[static_cast<size_t>(b)];
            expect_same_vector(L.rms_att, want.rms_att, "rms_att");
            expect_same_vector(L.rms_ffn, want.rms_ffn, "rms_ffn");
            for (const char* name : kLinearNames) expect_same_matrix(linear(L, name), linear(want, name), name);
        }
        expect_same_vector(source.final_norm(), m.rms_final, "final norm");
        expect_same_matrix(source.embedding_rows(0, 30), m.tok_emb, "embedding");
        expect_same_matrix(source.embedding_rows(7, 19), rows_of(m.tok_emb, 7, 19), "embedding rows 7..19");
        expect_same_matrix(source.classifier_rows(3, 30), rows_of(m.classifier(), 3, 30), "classifier rows");
        EXPECT_EQ(source.embedding_rows(5, 5).rows, 0);
        EXPECT_EQ(source.fingerprint().rfind("memory:", 0), 0u);
        hfio_test::expect_same_model(materialize(source), m);
    }
}

TEST(ModelSource, EmbedReadsTheRowsOfTheTokens) {
    const Model m = hfio_test::random_model(16, 32, 1, 2, 2, 40, true, 4);
    const InMemorySource source(m);
    // Repeats, runs of consecutive ids, both ends of the vocabulary, and no tokens at all.
    for (const std::vector<int>& tokens : {std::vector<int>{1, 5, 5, 6, 7, 39, 0, 6, 1}, std::vector<int>{3},
                                           std::vector<int>{}}) {
        const Matrix got = source.embed(tokens);
        expect_same_matrix(got, embed(m, tokens), "embed");
        ASSERT_EQ(got.rows, static_cast<int64_t>(tokens.size()));
    }
    expect_error([&] { source.embed({1, 40}); }, SURGEON_ERR_INVALID_ARGUMENT, "token 40 at position 1");
    expect_error([&] { source.embed({-1}); }, SURGEON_ERR_INVALID_ARGUMENT, "outside the vocabulary");
}

// An InMemorySource that records the row ranges embed() asks for.
class CountingSource : public InMemorySource {
public:
    using InMemorySource::InMemorySource;
    Matrix embedding_rows(int64_t r0, int64_t r1) const override {
        reads.emplace_back(r0, r1);
        return InMemorySource::embedding_rows(r0, r1);
    }
    mutable std::vector<std::pair<int64_t, int64_t>> reads;
};

TEST(ModelSource, EmbedReadsWindowsOfAtMost256Rows) {
    const Model m = hfio_test::random_model(8, 8, 1, 2, 2, 1000, true, 6);
    const CountingSource source(m);
    const std::vector<int> tokens = {500, 0, 255, 256, 999, 501, 0, 256};
    expect_same_matrix(source.embed(tokens), embed(m, tokens), "embed");
    // 0 and 255 share a window, 256..501 the next; 999 is alone.
    EXPECT_EQ(source.reads, (std::vector<std::pair<int64_t, int64_t>>{{0, 256}, {256, 502}, {999, 1000}}));
}

TEST(ModelSource, RangesOutsideTheModelAreArgumentErrors) {
    const Model m = hfio_test::random_model(16, 32, 2, 2, 2, 40, false, 5);
    const InMemorySource source(m);
    expect_error([&] { source.block(2); }, SURGEON_ERR_INVALID_ARGUMENT, "block 2");
    expect_error([&] { source.block(-1); }, SURGEON_ERR_INVALID_ARGUMENT, "block -1");
    expect_error([&] { source.ffn_size(5); }, SURGEON_ERR_INVALID_ARGUMENT, "block 5");
    expect_error([&] { source.embedding_rows(0, 41); }, SURGEON_ERR_INVALID_ARGUMENT, "vocabulary");
    expect_error([&] { source.classifier_rows(5, 4); }, SURGEON_ERR_INVALID_ARGUMENT, "vocabulary");
    expect_error([&] { source.embedding_rows(-1, 3); }, SURGEON_ERR_INVALID_ARGUMENT, "vocabulary");
    // A model whose tensors disagree with its config is refused up front.
    Model broken = m;
    broken.layers[1].wk = Matrix(3, 16);
    expect_error([&] { InMemorySource s(broken); }, SURGEON_ERR_SHAPE);
}

}  // namespace
