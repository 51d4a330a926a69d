// Recipe values are parsed strictly: integers must be exact JSON integers in range (no
// wrap of 4294967300 to 4, no truncation of 4.9), "nm" must be N:M digits with
// 0 < N < M <= 256, and one entry cannot give both "sparsity" and "nm".
#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "compress/recipe.hpp"
#include "core/error.hpp"

using namespace surgeon;
using namespace surgeon::model;

namespace {

// The status of building a recipe whose default is `entry` (SURGEON_OK when accepted).
surgeon_status status_of_default(const std::string& entry) {
    try {
        Recipe::from_json(nlohmann::json::parse(R"({"default": )" + entry + "}"));
        return SURGEON_OK;
    } catch (const Error& e) {
        return e.status();
    } catch (const nlohmann::json::exception&) {
        return SURGEON_ERR_INTERNAL;  // a raw JSON type error: not a clear message
    }
}

std::string with(const std::string& base, const std::string& key, const std::string& value) {
    return "{" + base + ", \"" + key + "\": " + value + "}";
}

}  // namespace

TEST(RecipeOptions, IntegerKeysRejectHugeNegativeZeroFractionalAndNonNumeric) {
    struct Case {
        const char* key;
        const char* base;
        std::vector<const char*> bad;
        std::vector<const char*> good;
    };
    const Case cases[] = {
        {"bits", R"("method": "gptq")",
         {"4294967300", "4294967297", "-4", "0", "1", "9", "4.9", "4.5e0", "1e300", R"("4")", "true",
          "18446744073709551615", "-9223372036854775808"},
         {"2", "4", "4.0", "8"}},
        {"group", R"("method": "gptq", "bits": 4)",
         {"-1", "-9223372036854775808", "12.5", "9.3e18", "1e300", R"("128")", "false", "18446744073709551615"},
         {"0", "128", "128.0", "9223372036854775807"}},
        {"blocksize", R"("method": "sparsegpt", "sparsity": 0.5)",
         {"0", "-128", "127.5", "1e19", "18446744073709551615", R"("128")", "[]"},
         {"1", "128", "2147483648", "9223372036854775807"}},
    };
    for (const Case& c : cases) {
        for (const char* v : c.bad)
            EXPECT_EQ(status_of_default(with(c.base, c.key, v)), SURGEON_ERR_INVALID_ARGUMENT) << c.key << " " << v;
        for (const char* v : c.good)
            EXPECT_EQ(status_of_default(with(c.base, c.key, v)), SURGEON_OK) << c.key << " " << v;
    }
    // Accepted values read back exactly.
    const Recipe r = Recipe::from_json(nlohmann::json::parse(
        R"({"default": {"method": "gptq", "bits": 3.0, "group": 9223372036854775807, "blocksize": 2147483648}})"));
    EXPECT_EQ(r.defaults().quant.bits, 3);
    EXPECT_EQ(r.defaults().quant.group_size, std::numeric_limits<int64_t>::max());
    EXPECT_EQ(r.defaults().block_size, int64_t{2147483648});
}

TEST(RecipeOptions, NmIsStrict) {
    const std::string base = R"("method": "sparsegpt")";
    for (const char* v : {"a:4", "2:4xyz", " 2:4", "2 :4", "2:+4", "+2:4", "-2:4", "2:-4", "2:4:8", "24", ":4", "2:",
                          "4:4", "4:2", "0:4", "2:257", "2:4294967300", "00002:4", "2.0:4", ""})
        EXPECT_EQ(status_of_default(with(base, "nm", "\"" + std::string(v) + "\"")), SURGEON_ERR_INVALID_ARGUMENT) << v;
    for (const char* v : {"1:2", "2:4", "4:8", "255:256", "02:04"}) {
        EXPECT_EQ(status_of_default(with(base, "nm", "\"" + std::string(v) + "\"")), SURGEON_OK) << v;
    }
    const Recipe r = Recipe::from_json(nlohmann::json::parse(R"({"default": {"method": "sparsegpt", "nm": "3:16"}})"));
    EXPECT_EQ(r.defaults().n, 3);
    EXPECT_EQ(r.defaults().m, 16);
    // The message names the value.
    try {
        Recipe::from_json(nlohmann::json::parse(R"({"default": {"method": "sparsegpt", "nm": "a:4"}})"));
        ADD_FAILURE() << "a:4 accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'a:4'"), std::string::npos) << e.what();
    }
}

TEST(RecipeOptions, SparsityAndNmInOneEntryIsAnError) {
    EXPECT_EQ(status_of_default(R"({"method": "sparsegpt", "nm": "2:4", "sparsity": 0.5})"),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(status_of_default(R"({"method": "sparsegpt", "nm": "2:4", "sparsity": 0})"),
              SURGEON_ERR_INVALID_ARGUMENT);
    // Across entries each still replaces the other: a rule's nm over a default sparsity.
    const Recipe r = Recipe::from_json(nlohmann::json::parse(
        R"({"default": {"method": "sparsegpt", "sparsity": 0.5},
            "rules": [{"match": "*.w2", "nm": "2:4"}, {"match": "layers.0.*", "sparsity": 0.25}]})"));
    EXPECT_EQ(r.plan_for("layers.1.w2").n, 2);
    EXPECT_EQ(r.plan_for("layers.1.w2").sparsity, 0.0);
    EXPECT_EQ(r.plan_for("layers.0.w2").n, 0);
    EXPECT_EQ(r.plan_for("layers.0.w2").sparsity, 0.25);
    EXPECT_EQ(r.plan_for("layers.1.wq").sparsity, 0.5);
}
