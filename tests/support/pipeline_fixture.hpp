// Shared setup of the pipeline tests: the bundled stories260K, 16 short calibration
// paragraphs (non-empty paragraphs 2000:2016, 96 tokens), a two-thread context.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "core/context.hpp"
#include "io/llama2c.hpp"
#include "nn/perplexity.hpp"
#include "compress/recipe.hpp"
#include "io/tokenizer.hpp"
#include "llama2c_data.hpp"

namespace pipeline_test {

inline const surgeon::model::Model& original() {
    static const surgeon::model::Model m = surgeon::model::read_llama2c(surgeon_test::model_file());
    return m;
}

inline const std::vector<std::vector<int>>& calibration() {
    static const auto seqs = [] {
        const auto tok = surgeon::model::Tokenizer::load(surgeon_test::tokenizer_file(), 512);
        return surgeon::model::paragraph_sequences(tok, surgeon_test::read_text(surgeon_test::stories_file()),
                                                   surgeon::model::Range{2000, 2016}, 96);
    }();
    return seqs;
}

inline surgeon::ContextPtr two_threads() {
    auto c = std::make_shared<surgeon::Context>();
    c->threads = 2;
    return c;
}

inline surgeon::model::Recipe recipe(const char* json) {
    return surgeon::model::Recipe::from_json(nlohmann::json::parse(json));
}

}  // namespace pipeline_test
