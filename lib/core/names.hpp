// Enumerators with names (recipes, reports, the CLI): one table per enum gives the name of
// a value and the value of a name.
#pragma once

#include <cstddef>
#include <string>

#include "core/error.hpp"

namespace surgeon {

template <typename E>
struct Named {
    E value;
    const char* name;
};

template <typename E, size_t N>
const char* name_of(const Named<E> (&table)[N], E value) {
    for (const Named<E>& n : table)
        if (n.value == value) return n.name;
    return "?";
}

// Throws SURGEON_ERR_INVALID_ARGUMENT naming `what` and the known names for an unknown one.
template <typename E, size_t N>
E parse_name(const Named<E> (&table)[N], const std::string& text, const char* what) {
    for (const Named<E>& n : table)
        if (text == n.name) return n.value;
    std::string known;
    for (size_t i = 0; i < N; ++i) known += std::string(i == 0 ? "" : i + 1 == N ? " or " : ", ") + table[i].name;
    fail(SURGEON_ERR_INVALID_ARGUMENT, "unknown " + std::string(what) + " '" + text + "' (" + known + ")");
}

}  // namespace surgeon
