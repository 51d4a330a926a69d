// Enums that users name (recipe keys, CLI flags, C API strings): one table per enum gives
// both directions, parse_X and X_name, so the two cannot disagree.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>

#include "core/error.hpp"

namespace surgeon {

template <typename E>
struct EnumName {
    E value;
    const char* name;
};

// The value `name` stands for (exact match). Otherwise SURGEON_ERR_INVALID_ARGUMENT:
// "unknown <what> '<name>' (<every name of the table>)".
template <typename E, size_t N>
E parse_enum(const EnumName<E> (&table)[N], const std::string& name, const char* what) {
    std::string known;
    for (const EnumName<E>& e : table) {
        if (name == e.name) return e.value;
        known += (known.empty() ? "" : ", ") + std::string(e.name);
    }
    fail(SURGEON_ERR_INVALID_ARGUMENT, "unknown " + std::string(what) + " '" + name + "' (" + known + ")");
}

// The first name the table gives `value`; `fallback` for a value outside it.
template <typename E, size_t N>
const char* enum_name(const EnumName<E> (&table)[N], E value, const char* fallback = "?") {
    for (const EnumName<E>& e : table)
        if (e.value == value) return e.name;
    return fallback;
}

// "N:M" as two decimal integers (digits only, nothing before, between or after) with
// 0 < N < M <= 256 (the limits of layer/prune's N:M masks); nullopt for anything else.
inline std::optional<std::pair<int, int>> parse_nm(const std::string& text) {
    // Digits only, at most four: no sign, blank, exponent or wrap-around reaches the check.
    auto part = [](const std::string& s) -> int {
        if (s.empty() || s.size() > 4) return -1;
        int v = 0;
        for (char c : s) {
            if (c < '0' || c > '9') return -1;
            v = v * 10 + (c - '0');
        }
        return v;
    };
    const size_t colon = text.find(':');
    if (colon == std::string::npos) return std::nullopt;
    const int n = part(text.substr(0, colon)), m = part(text.substr(colon + 1));
    if (!(n > 0 && m > n && m <= 256)) return std::nullopt;
    return std::make_pair(n, m);
}

}  // namespace surgeon
