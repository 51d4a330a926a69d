// A small "--flag value" / "--switch" parser shared by the commands. Unknown flags and
// missing values are errors, reported as one line.
#pragma once

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/context.hpp"

namespace surgeon::cli {

// The number that is the whole of `text` (std::stod / std::stoll syntax); nullopt for an
// empty text, leading blanks, trailing characters or a value out of range.
template <typename T, typename Convert>
std::optional<T> parse_whole(const std::string& text, Convert convert) {
    if (text.empty() || std::isspace(static_cast<unsigned char>(text[0]))) return std::nullopt;
    size_t used = 0;
    T v{};
    try {
        v = convert(text, &used);
    } catch (...) {
        return std::nullopt;
    }
    return used == text.size() ? std::optional<T>(v) : std::nullopt;
}
// A finite number: "nan" and "inf" are not accepted.
inline std::optional<double> parse_double(const std::string& text) {
    const std::optional<double> v =
        parse_whole<double>(text, [](const std::string& s, size_t* used) { return std::stod(s, used); });
    return v && std::isfinite(*v) ? v : std::nullopt;
}
inline std::optional<long long> parse_integer(const std::string& text) {
    return parse_whole<long long>(text, [](const std::string& s, size_t* used) { return std::stoll(s, used); });
}

// True (after printing `usage` on stdout) when argv asks for help (--help or -h).
inline bool help_requested(const std::vector<std::string>& argv, const std::string& usage) {
    for (const std::string& a : argv)
        if (a == "--help" || a == "-h") {
            std::fputs(usage.c_str(), stdout);
            return true;
        }
    return false;
}

// Upper bounds of command-line counts: far above any real use, low enough that the sizes
// computed from them cannot overflow.
inline constexpr long long kMaxSeqLen = 1 << 20;   // tokens per sequence
inline constexpr long long kMaxCount = 1 << 30;    // steps, sequences, tokens to measure

class Args {
public:
    // `with_value`: flags that take a value; `switches`: flags that do not.
    Args(const std::vector<std::string>& argv, const std::set<std::string>& with_value,
         const std::set<std::string>& switches) {
        for (size_t i = 0; i < argv.size(); ++i) {
            const std::string& a = argv[i];
            if (with_value.count(a)) {
                if (i + 1 >= argv.size()) throw std::invalid_argument(a + " needs a value");
                values_[a] = argv[++i];
            } else if (switches.count(a)) {
                switches_.insert(a);
            } else {
                throw std::invalid_argument("unknown argument '" + a + "'");
            }
        }
    }
    bool has(const std::string& flag) const { return values_.count(flag) || switches_.count(flag); }
    std::string get(const std::string& flag, const std::string& fallback = "") const {
        auto it = values_.find(flag);
        return it == values_.end() ? fallback : it->second;
    }
    std::string require(const std::string& flag) const {
        auto it = values_.find(flag);
        if (it == values_.end()) throw std::invalid_argument(flag + " is required");
        return it->second;
    }
    double number(const std::string& flag, double fallback) const {
        return value_of(flag, fallback, parse_double, "a number");
    }
    long long integer(const std::string& flag, long long fallback) const {
        return value_of(flag, fallback, parse_integer, "an integer");
    }
    // An integer in [lo, hi]; anything else (out of range, fractional, non-numeric) is an
    // error naming the flag, the range and the text given.
    long long integer(const std::string& flag, long long fallback, long long lo, long long hi) const {
        auto it = values_.find(flag);
        if (it == values_.end()) return fallback;
        const std::optional<long long> v = parse_integer(it->second);
        if (!v || *v < lo || *v > hi)
            throw std::invalid_argument(flag + " expects an integer in [" + std::to_string(lo) + ", " +
                                        std::to_string(hi) + "], got '" + it->second + "'");
        return *v;
    }
    // --threads: 0 (all hardware threads) up to kMaxThreads.
    int threads(const std::string& flag = "--threads") const {
        return static_cast<int>(integer(flag, 0, 0, kMaxThreads));
    }
    // --seq-len: tokens per sequence, 2 to kMaxSeqLen; 0 when absent (the model's context).
    int64_t seq_len() const { return integer("--seq-len", 0, 2, kMaxSeqLen); }
    // --seed: any non-negative 64-bit integer (0 is a seed like any other).
    uint64_t seed(long long fallback) const {
        return static_cast<uint64_t>(integer("--seed", fallback, 0, std::numeric_limits<long long>::max()));
    }

private:
    template <typename T>
    T value_of(const std::string& flag, T fallback, std::optional<T> (*parse)(const std::string&),
               const char* what) const {
        auto it = values_.find(flag);
        if (it == values_.end()) return fallback;
        const std::optional<T> v = parse(it->second);
        if (!v) throw std::invalid_argument(flag + " expects " + what + ", got '" + it->second + "'");
        return *v;
    }

    std::map<std::string, std::string> values_;
    std::set<std::string> switches_;
};

}  // namespace surgeon::cli
