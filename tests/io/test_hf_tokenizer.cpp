// The Hugging Face tokenizer.json reader against the reference ids of the `tokenizers`
// library (../shared/data/tokenizers/*/expected.jsonl, see its SOURCES.md), and on
// constructed tokenizers whose results follow by hand.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <unordered_map>

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

// ---------------------------------------------------------------------------------------
// Llama 3's pre-tokenizer regex (Meta's llama3 tokenizer and its tokenizer.json Split), on
// cases whose splits follow from the alternatives by hand.

namespace {

constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// The matched pieces; the matches must cover the text without gaps (true of this pattern).
std::vector<std::string> llama3_split(const std::string& text) {
    static const Regex re(kLlama3Pattern);
    std::vector<std::string> out;
    size_t at = 0;
    for (const auto& [b, e] : re.find_all(text)) {
        EXPECT_EQ(b, at) << "gap before a match in " << nlohmann::json(text).dump();
        out.push_back(text.substr(b, e - b));
        at = e;
    }
    EXPECT_EQ(at, text.size());
    return out;
}

using Pieces = std::vector<std::string>;

}  // namespace

TEST(Llama3Regex, WordsAndLeadingSpaces) {
    EXPECT_EQ(llama3_split("Hello world"), (Pieces{"Hello", " world"}));
    // Spaces before a word: the run minus one (\s+(?!\S)), then the space joins the word.
    EXPECT_EQ(llama3_split("a   b"), (Pieces{"a", "  ", " b"}));
    // Trailing spaces stay one piece.
    EXPECT_EQ(llama3_split("hi   "), (Pieces{"hi", "   "}));
    EXPECT_EQ(llama3_split("ab12cd"), (Pieces{"ab", "12", "cd"}));
}

TEST(Llama3Regex, ContractionsAnyCase) {
    EXPECT_EQ(llama3_split("I'm"), (Pieces{"I", "'m"}));
    EXPECT_EQ(llama3_split(" don't"), (Pieces{" don", "'t"}));
    EXPECT_EQ(llama3_split("IT'S"), (Pieces{"IT", "'S"}));
    EXPECT_EQ(llama3_split("DON'T"), (Pieces{"DON", "'T"}));
    EXPECT_EQ(llama3_split("'ll've"), (Pieces{"'ll", "'ve"}));
    // Not a contraction: the apostrophe is the optional non-letter before "all".
    EXPECT_EQ(llama3_split("y'all"), (Pieces{"y", "'all"}));
}

TEST(Llama3Regex, DigitsInGroupsOfThree) {
    EXPECT_EQ(llama3_split("1234567"), (Pieces{"123", "456", "7"}));
    // A space before digits is its own piece (no alternative takes " 1").
    EXPECT_EQ(llama3_split("x 12345"), (Pieces{"x", " ", "123", "45"}));
    EXPECT_EQ(llama3_split("$1,000.50"), (Pieces{"$", "1", ",", "000", ".", "50"}));
}

TEST(Llama3Regex, UnicodeLettersAndSpaces) {
    EXPECT_EQ(llama3_split("naïve café"), (Pieces{"naïve", " café"}));
    EXPECT_EQ(llama3_split("日本語のテキスト"), (Pieces{"日本語のテキスト"}));
    EXPECT_EQ(llama3_split("Ελληνικά κείμενο"), (Pieces{"Ελληνικά", " κείμενο"}));
    // U+00A0 is neither letter nor newline: it leads the next word.
    EXPECT_EQ(llama3_split("a\u00A0b"), (Pieces{"a", "\u00A0b"}));
    // U+0085 is whitespace to Oniguruma (as in `tokenizers`): \s+(?!\S) takes one, the other
    // leads the word. Without the widened \s, PCRE2 would give "\u0085\u0085" as punctuation.
    EXPECT_EQ(llama3_split("a\u0085\u0085b"), (Pieces{"a", "\u0085", "\u0085b"}));
}

TEST(Llama3Regex, NewlinesAndPunctuation) {
    EXPECT_EQ(llama3_split("a\n\nb"), (Pieces{"a", "\n\n", "b"}));
    EXPECT_EQ(llama3_split("Hello, world!!\n"), (Pieces{"Hello", ",", " world", "!!\n"}));
    EXPECT_EQ(llama3_split("x \t\n y"), (Pieces{"x", " \t\n", " y"}));
    EXPECT_EQ(llama3_split("a\r\nb"), (Pieces{"a", "\r\n", "b"}));
}

TEST(Regex, OnigCompatibleWhitespaceAndEmptyMatches) {
    EXPECT_EQ(onig_compatible_pattern(R"(\s+(?!\S)|[^\s\p{L}])"), R"([\s\x{85}]+(?![^\s\x{85}])|[^\s\x{85}\p{L}])");
    EXPECT_EQ(onig_compatible_pattern(R"([\]\s]\\s)"), R"([\]\s\x{85}]\\s)");
    // Empty matches right after a match are skipped (Rust / Oniguruma iteration).
    const Regex star("a*");
    const auto m = star.find_all("baab");
    const std::vector<std::pair<size_t, size_t>> expected{{0, 0}, {1, 3}, {4, 4}};
    EXPECT_EQ(m, expected);
    EXPECT_THROW(Regex("(unclosed"), Error);
    EXPECT_EQ(invalid_utf8_at("ok \xC3\xA9"), std::string_view::npos);
    EXPECT_EQ(invalid_utf8_at("ab\xC3"), 2u);
    EXPECT_EQ(invalid_utf8_at("\xED\xA0\x80"), 0u);  // a surrogate
}

// ---------------------------------------------------------------------------------------
// Constructed tokenizer.json files.

namespace {

// A byte-level BPE in Llama 3's layout: Split(regex) + ByteLevel(no regex), template
// <|begin_of_text|> $A, ByteLevel decoder.
nlohmann::json llama3_like(bool ignore_merges) {
    using nlohmann::json;
    json vocab = {{"a", 0}, {"b", 1}, {"c", 2}, {"\u0120", 3}, {"ab", 4}, {"abc", 5}, {"\u0120ab", 6}, {"1", 7}, {"2", 8}, {"12", 9}};
    return {
        {"version", "1.0"},
        {"added_tokens",
         json::array({{{"id", 100}, {"content", "<|begin_of_text|>"}, {"special", true}, {"normalized", false}},
                      {{"id", 101}, {"content", "<|end_of_text|>"}, {"special", true}, {"normalized", false}}})},
        {"normalizer", nullptr},
        {"pre_tokenizer",
         {{"type", "Sequence"},
          {"pretokenizers",
           json::array({{{"type", "Split"}, {"pattern", {{"Regex", kLlama3Pattern}}}, {"behavior", "Isolated"}, {"invert", false}},
                        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}})}}},
        {"post_processor",
         {{"type", "Sequence"},
          {"processors",
           json::array({{{"type", "ByteLevel"}, {"trim_offsets", false}},
                        {{"type", "TemplateProcessing"},
                         {"single", json::array({{{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}},
                                                 {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                         {"pair", json::array()},
                         {"special_tokens", {{"<|begin_of_text|>", {{"id", "<|begin_of_text|>"}, {"ids", {100}}, {"tokens", {"<|begin_of_text|>"}}}}}}}})}}},
        {"decoder", {{"type", "ByteLevel"}}},
        {"model",
         {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"fuse_unk", false}, {"byte_fallback", false},
          {"ignore_merges", ignore_merges}, {"vocab", vocab},
          {"merges", json::array({json::array({"a", "b"}), json::array({"\u0120", "ab"}), json::array({"1", "2"})})}}}};
}

HfTokenizer from_json(const nlohmann::json& j, const std::string& config = "") {
    return HfTokenizer::parse(j.dump(), config, "constructed");
}

}  // namespace

TEST(HfTokenizer, IgnoreMergesTakesWholeVocabularyWords) {
    // "abc abc" splits into "abc" and " abc" -> byte level "abc", "Ġabc".
    // With ignore_merges "abc" is one vocabulary entry; "Ġabc" is not, so merges apply:
    // Ġ a b c -> (a b) -> Ġ ab c -> (Ġ ab) -> Ġab c.
    const HfTokenizer with = from_json(llama3_like(true));
    EXPECT_EQ(with.encode("abc abc", true), (std::vector<int>{100, 5, 6, 2}));
    EXPECT_EQ(with.encode("abc abc", false), (std::vector<int>{5, 6, 2}));
    const HfTokenizer without = from_json(llama3_like(false));
    EXPECT_EQ(without.encode("abc abc", true), (std::vector<int>{100, 4, 2, 6, 2}));
    // Digits split in threes before BPE: "121" -> 12 1 and "2"; "3" is not in the
    // vocabulary and (no unk, no byte fallback) gives nothing, as in `tokenizers`.
    EXPECT_EQ(with.encode("1212", false), (std::vector<int>{9, 7, 8}));
    EXPECT_EQ(with.encode("1213", false), (std::vector<int>{9, 7}));
    EXPECT_EQ(with.encode("<|end_of_text|>abc", false), (std::vector<int>{101, 5}));
    EXPECT_EQ(with.decode({100, 5, 6, 2}), "<|begin_of_text|>abc abc");
    EXPECT_EQ(with.bos_id(), 100);
    EXPECT_EQ(with.eos_id(), -1);
    EXPECT_EQ(with.vocab_size(), 102);
    EXPECT_EQ(with.token_id("<|end_of_text|>"), 101);
    EXPECT_THROW(with.decode({50}), Error);
    EXPECT_THROW(with.encode("\xFF", false), Error);
}

TEST(HfTokenizer, ConfigAddBosAndEosRebuildTheTemplate) {
    const auto j = llama3_like(true);
    const std::string both = R"({"add_bos_token": true, "add_eos_token": true,
                                 "bos_token": "<|begin_of_text|>", "eos_token": {"content": "<|end_of_text|>"}})";
    const HfTokenizer t = from_json(j, both);
    EXPECT_EQ(t.encode("abc", true), (std::vector<int>{100, 5, 101}));
    EXPECT_EQ(t.encode("abc", false), (std::vector<int>{5}));
    EXPECT_EQ(t.eos_id(), 101);
    const HfTokenizer none = from_json(j, R"({"add_bos_token": false})");
    EXPECT_EQ(none.encode("abc", true), (std::vector<int>{5}));
    // Keys absent: the tokenizer.json template stands.
    EXPECT_EQ(from_json(j, R"({"eos_token": "<|end_of_text|>"})").encode("abc", true), (std::vector<int>{100, 5}));
    try {
        from_json(j, R"({"add_eos_token": true})");
        ADD_FAILURE() << "an EOS switch without an EOS token was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SURGEON_ERR_IO);
    }
}

TEST(HfTokenizer, SplitBehaviours) {
    // Every piece of "a-b--c" cut by '-' is a vocabulary word (ignore_merges), so the ids
    // show the pieces each behaviour makes.
    using nlohmann::json;
    auto with = [](const std::string& behavior, bool invert) {
        json j = {{"added_tokens", json::array()},
                  {"pre_tokenizer", {{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}}},
                  {"model",
                   {{"type", "BPE"}, {"ignore_merges", true}, {"merges", json::array()},
                    {"vocab", {{"a", 0}, {"b", 1}, {"c", 2}, {"-", 3}, {"a-", 4}, {"b-", 5}, {"-b", 6}, {"-c", 7}, {"--", 8}}}}}};
        return from_json(j).encode("a-b--c", false);
    };
    using V = std::vector<int>;
    EXPECT_EQ(with("Removed", false), (V{0, 1, 2}));
    EXPECT_EQ(with("Isolated", false), (V{0, 3, 1, 3, 3, 2}));
    EXPECT_EQ(with("MergedWithPrevious", false), (V{4, 5, 3, 2}));
    EXPECT_EQ(with("MergedWithNext", false), (V{0, 6, 3, 7}));
    EXPECT_EQ(with("Contiguous", false), (V{0, 3, 1, 8, 2}));
    EXPECT_EQ(with("Removed", true), (V{3, 3, 3}));
}

TEST(HfTokenizer, UnicodeNormalizers) {
    using nlohmann::json;
    auto with = [](const json& normalizer) {
        json j = {{"normalizer", normalizer},
                  {"model", {{"type", "BPE"}, {"merges", json::array()},
                             {"vocab", {{"\u00e9", 0}, {"e", 1}, {"\u0301", 2}, {"a", 3}, {"A", 4}}}}}};
        return from_json(j);
    };
    using V = std::vector<int>;
    EXPECT_EQ(with({{"type", "NFC"}}).encode("e\u0301", false), (V{0}));
    EXPECT_EQ(with({{"type", "NFD"}}).encode("\u00e9", false), (V{1, 2}));
    EXPECT_EQ(with({{"type", "NFKC"}}).encode("e\u0301", false), (V{0}));
    EXPECT_EQ(with({{"type", "Lowercase"}}).encode("A\u00c9", false), (V{3, 0}));
    EXPECT_EQ(with({{"type", "Sequence"}, {"normalizers", json::array({{{"type", "NFD"}}, {{"type", "StripAccents"}}})}})
                  .encode("\u00e9", false),
              (V{1}));
    EXPECT_EQ(with(nullptr).encode("e\u0301", false), (V{1, 2}));
}

TEST(HfTokenizer, UnsupportedComponentsAreNamed) {
    using nlohmann::json;
    auto status_of = [](const json& j, std::string& message) {
        try {
            from_json(j);
        } catch (const Error& e) {
            message = e.what();
            return e.status();
        }
        return SURGEON_OK;
    };
    const json bpe = {{"type", "BPE"}, {"merges", json::array()}, {"vocab", {{"a", 0}}}};
    const std::vector<std::pair<json, std::string>> cases = {
        {{{"model", {{"type", "WordPiece"}, {"vocab", {{"a", 0}}}}}}, "model type 'WordPiece'"},
        {{{"model", bpe}, {"normalizer", {{"type", "BertNormalizer"}}}}, "normalizer type 'BertNormalizer'"},
        {{{"model", bpe}, {"pre_tokenizer", {{"type", "BertPreTokenizer"}}}}, "pre_tokenizer type 'BertPreTokenizer'"},
        {{{"model", bpe}, {"decoder", {{"type", "WordPiece"}}}}, "decoder type 'WordPiece'"},
        {{{"model", bpe}, {"post_processor", {{"type", "Custom"}}}}, "post_processor type 'Custom'"},
    };
    for (const auto& [j, name] : cases) {
        std::string message;
        EXPECT_EQ(status_of(j, message), SURGEON_ERR_UNSUPPORTED) << name;
        EXPECT_NE(message.find("UNSUPPORTED tokenizer " + name), std::string::npos) << message;
    }
    std::string message;
    EXPECT_EQ(status_of(json::parse(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})"), message),
              SURGEON_ERR_IO);
    EXPECT_NE(message.find("outside the vocabulary"), std::string::npos) << message;
    EXPECT_THROW(HfTokenizer::parse("{not json", "", "broken"), Error);
    // Ids that are not integers in [0, 2^24) (they size the id table) are refused, not converted.
    for (const char* id : {"1.5", "9.2e20", "-1", "16777216", "18446744073709551615", "\"3\""}) {
        EXPECT_EQ(status_of(json::parse(std::string(R"({"model": {"type": "BPE", "vocab": {"a": )") + id + R"(}, "merges": []}})"),
                            message),
                  SURGEON_ERR_IO)
            << id;
        EXPECT_NE(message.find("model.vocab id of 'a'"), std::string::npos) << message;
    }
}

TEST(HfTokenizer, OpenTokenizerPicksTheFormat) {
    const auto hf = open_tokenizer(tokenizers_dir() + "/phi-3-mini/tokenizer.json", 32064);
    EXPECT_EQ(hf->vocab_size(), 32011);
    // tokenizer_config.json beside it: add_bos_token false, eos_token <|endoftext|>.
    EXPECT_EQ(hf->encode("Hi", true), hf->encode("Hi", false));
    EXPECT_EQ(hf->eos_id(), 32000);
    EXPECT_EQ(hf->bos_id(), 1);
    try {
        open_tokenizer(tokenizers_dir() + "/phi-3-mini/tokenizer.json", 32000);
        ADD_FAILURE() << "a tokenizer larger than the model's vocabulary was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SURGEON_ERR_IO);
        EXPECT_NE(std::string(e.what()).find("ids up to 32010"), std::string::npos) << e.what();
    }
    const auto mistral = open_tokenizer(tokenizers_dir() + "/mistral-7b-v0.1/tokenizer.json");
    EXPECT_EQ(mistral->encode("Hi", true).front(), 1);
    EXPECT_EQ(mistral->bos_id(), 1);
    EXPECT_EQ(mistral->eos_id(), 2);
}

TEST(HfTokenizer, LongWordsMergeAsTheQuadraticDefinition) {
    // Mistral has no pre-tokenizer split, so a whole text is one word: words past 4096
    // symbols take the rank-bucket path, shorter ones the heap. Both must equal BPE by its
    // definition: merge the lowest-rank adjacent pair, leftmost first, until none is left.
    const std::string dir = tokenizers_dir() + "/mistral-7b-v0.1";
    std::ifstream in(dir + "/tokenizer.json");
    const auto j = nlohmann::json::parse(in);
    std::unordered_map<std::string, int> vocab;
    for (auto it = j["model"]["vocab"].begin(); it != j["model"]["vocab"].end(); ++it) vocab[it.key()] = it.value();
    std::unordered_map<uint64_t, std::pair<int, int>> rank_of;  // (left, right) -> (rank, merged)
    int rank = 0;
    for (const auto& m : j["model"]["merges"]) {
        const std::string line = m.get<std::string>();
        const size_t space = line.find(' ');
        const std::string a = line.substr(0, space), b = line.substr(space + 1);
        rank_of[(uint64_t(uint32_t(vocab.at(a))) << 32) | uint32_t(vocab.at(b))] = {rank++, vocab.at(a + b)};
    }
    auto reference = [&](const std::string& text) {
        // Metaspace (prepend "first", no split): spaces become U+2581, one is prepended.
        std::string word = "\u2581";
        for (char c : text) word += c == ' ' ? std::string("\u2581") : std::string(1, c);
        std::vector<int> ids;
        for (size_t i = 0; i < word.size();) {
            size_t len = 1;
            while (i + len < word.size() && (static_cast<unsigned char>(word[i + len]) & 0xC0) == 0x80) ++len;
            auto it = vocab.find(word.substr(i, len));
            if (it != vocab.end()) {
                ids.push_back(it->second);
            } else {
                for (size_t k = i; k < i + len; ++k) {
                    char name[8];
                    std::snprintf(name, sizeof name, "<0x%02X>", static_cast<unsigned char>(word[k]));
                    ids.push_back(vocab.at(name));
                }
            }
            i += len;
        }
        while (true) {
            int best = -1, merged = -1;
            size_t at = 0;
            for (size_t i = 0; i + 1 < ids.size(); ++i) {
                auto it = rank_of.find((uint64_t(uint32_t(ids[i])) << 32) | uint32_t(ids[i + 1]));
                if (it != rank_of.end() && (best < 0 || it->second.first < best)) {
                    best = it->second.first;
                    merged = it->second.second;
                    at = i;
                }
            }
            if (best < 0) return ids;
            ids[at] = merged;
            ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(at) + 1);
        }
    };
    std::ifstream text_in(std::string(SURGEON_SHARED_DIR) + "/data/wikitext-2-raw-v1.test.joined.txt");
    std::string text(5000, '\0');
    text_in.read(text.data(), static_cast<std::streamsize>(text.size()));
    while ((static_cast<unsigned char>(text.back()) & 0xC0) == 0x80) text.pop_back();  // whole characters
    text.pop_back();
    ASSERT_EQ(text.find('\n') != std::string::npos, true);
    const HfTokenizer tok = HfTokenizer::load(dir + "/tokenizer.json");
    for (const size_t length : {size_t{300}, size_t{3000}, text.size()}) {
        const std::string part = text.substr(0, length);
        EXPECT_EQ(tok.encode(part, false), reference(part)) << length << " bytes";
    }
}

TEST(HfTokenizer, WhitespaceAndDigitsPreTokenizers) {
    using nlohmann::json;
    auto with = [](const json& pre) {
        json j = {{"pre_tokenizer", pre},
                  {"model", {{"type", "BPE"}, {"ignore_merges", true}, {"merges", json::array()},
                             {"vocab", {{"a", 0}, {"b", 1}, {"!", 2}, {"1", 3}, {"2", 4}, {"12", 5}, {"ab", 6}, {" ", 7}}}}}};
        return from_json(j).encode("ab !! 12", false);
    };
    using V = std::vector<int>;
    // \w+|[^\w\s]+ kept, whitespace dropped: "ab", "!!", "12".
    EXPECT_EQ(with({{"type", "Whitespace"}}), (V{6, 2, 2, 5}));
    EXPECT_EQ(with({{"type", "WhitespaceSplit"}}), (V{6, 2, 2, 5}));
    // Pieces not in the vocabulary fall to characters (no merges): "ab !! " -> a b ␣ ! ! ␣.
    EXPECT_EQ(with({{"type", "Digits"}, {"individual_digits", true}}), (V{0, 1, 7, 2, 2, 7, 3, 4}));
    EXPECT_EQ(with({{"type", "Digits"}, {"individual_digits", false}}), (V{0, 1, 7, 2, 2, 7, 5}));
    // "ab ", "!", "!", " 12".
    EXPECT_EQ(with({{"type", "Punctuation"}, {"behavior", "Isolated"}}), (V{0, 1, 7, 2, 2, 7, 3, 4}));
    EXPECT_EQ(with({{"type", "Punctuation"}, {"behavior", "Contiguous"}}), (V{0, 1, 7, 2, 2, 7, 3, 4}));
}

TEST(HfTokenizer, RandomTextRoundTrips) {
    // Byte-level BPE (Phi-2) and byte-fallback BPE (Mistral) lose nothing: any text decodes
    // back from its ids. (Mistral's decoder strips one leading space and turns a literal
    // U+2581 into a space, so the texts start with a letter and avoid U+2581.)
    const std::vector<std::string> alphabet = {"a", "b", "Z", "0", "7", " ", "  ", "\t", "\n", "\r\n", ".", "'s", "'",
                                               "\u00e9", "e\u0301", "\u00a0", "\u0085", "\u3000", "\u65e5", "\u672c",
                                               "\U0001F600", "\u200d", "\U0001F1EF", "\uFEFF", "\uFFFD", "<s>", "</s>",
                                               "<|endoftext|>", "\u0120", "\u010a", "\x01", std::string(1, '\0')};
    const HfTokenizer phi2 = load_shared("phi-2"), mistral = load_shared("mistral-7b-v0.1");
    uint64_t state = 12345;
    auto next = [&] {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return static_cast<size_t>(state >> 33);
    };
    for (int trial = 0; trial < 300; ++trial) {
        std::string text = "w";
        const size_t n = next() % 40;
        for (size_t k = 0; k < n; ++k) text += alphabet[next() % alphabet.size()];
        EXPECT_EQ(phi2.decode(phi2.encode(text, false)), text) << nlohmann::json(text).dump();
        EXPECT_EQ(mistral.decode(mistral.encode(text, false)), text) << nlohmann::json(text).dump();
    }
}

TEST(HfTokenizer, ConcurrentEncodesAgree) {
    // One tokenizer shared by threads (the word cache is locked, regex stacks are per thread).
    const HfTokenizer tok = load_shared("phi-2");
    const std::vector<Record> records = read_expected("phi-2");
    std::vector<std::vector<int>> results[4];
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (const Record& r : records) results[t].push_back(tok.encode(r.text, r.add_special));
        });
    for (auto& th : threads) th.join();
    for (int t = 0; t < 4; ++t)
        for (size_t i = 0; i < records.size(); ++i) ASSERT_EQ(results[t][i], records[i].ids) << t << " " << i;
}
