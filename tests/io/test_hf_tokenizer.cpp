// The Hugging Face tokenizer.json reader against the reference ids of the `tokenizers`
// library (../shared/data/tokenizers/*/expected.jsonl, see its SOURCES.md), and on
// constructed tokenizers whose results follow by hand.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"
#include "io/hf_tokenizer.hpp"
#include "io/regex.hpp"

using namespace surgeon;
using namespace surgeon::model;
namespace fs = std::filesystem;

namespace {

std::string tokenizers_dir() { return std::string(SURGEON_SHARED_DIR) + "/data/tokenizers"; }

struct Record {
    std::string text, decoded;
    bool add_special;
    std::vector<int> ids;
};

std::vector<Record> read_expected(const std::string& name) {
    const std::string path = tokenizers_dir() + "/" + name + "/expected.jsonl";
    std::ifstream in(path);
    EXPECT_TRUE(in.good()) << "missing " << path;
    std::vector<Record> out;
    for (std::string line; std::getline(in, line);) {
        if (line.empty()) continue;
        const auto j = nlohmann::json::parse(line);
        out.push_back({j["text"], j["decoded"], j["add_special_tokens"], j["ids"].get<std::vector<int>>()});
    }
    return out;
}

HfTokenizer load_shared(const std::string& name) {
    return HfTokenizer::load(tokenizers_dir() + "/" + name + "/tokenizer.json");
}

// Every record: encode gives exactly the reference ids, decode the reference text.
void check_all(const std::string& name) {
    const HfTokenizer tok = load_shared(name);
    const std::vector<Record> records = read_expected(name);
    ASSERT_EQ(records.size(), 560u) << name;
    int encoded_ok = 0, decoded_ok = 0;
    for (size_t i = 0; i < records.size(); ++i) {
        const Record& r = records[i];
        const std::vector<int> ids = tok.encode(r.text, r.add_special);
        if (ids == r.ids) ++encoded_ok;
        else ADD_FAILURE() << name << " line " << i + 1 << ": encode differs for " << nlohmann::json(r.text).dump();
        const std::string text = tok.decode(r.ids);
        if (text == r.decoded) ++decoded_ok;
        else ADD_FAILURE() << name << " line " << i + 1 << ": decode gives " << nlohmann::json(text).dump()
                           << ", expected " << nlohmann::json(r.decoded).dump();
    }
    std::printf("%s: %d/%zu lines encode to the reference ids, %d/%zu decode to the reference text\n",
                name.c_str(), encoded_ok, records.size(), decoded_ok, records.size());
    EXPECT_EQ(encoded_ok, 560);
    EXPECT_EQ(decoded_ok, 560);
}

}  // namespace

TEST(HfTokenizer, Mistral7bMatchesEveryReferenceLine) { check_all("mistral-7b-v0.1"); }
TEST(HfTokenizer, Phi3MiniMatchesEveryReferenceLine) { check_all("phi-3-mini"); }
TEST(HfTokenizer, Phi2MatchesEveryReferenceLine) { check_all("phi-2"); }
TEST(HfTokenizer, Falcon7bMatchesEveryReferenceLine) { check_all("falcon-7b"); }
