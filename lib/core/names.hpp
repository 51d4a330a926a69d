// Enums that users name (recipe keys, CLI flags, C API strings): one table per enum gives
// both directions, parse_X and X_name, so the two cannot disagree.
#pragma once

#include <cstddef>
#include <string>

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

}  // namespace surgeon
