#!/usr/bin/env bash
# Regenerates surgeon-sys/src/bindings.rs from include/surgeon/surgeon_experimental.h (which
# includes surgeon.h and its companion headers) with SURGEON_EXPERIMENTAL_API defined, so the
# experimental declarations are generated too, with the bindgen CLI (Debian package
# `bindgen`); run it after changing a header and check the result in.
#   regenerate.sh          rewrite the checked-in file (formatted by rustfmt when found)
#   regenerate.sh --check  exit 1 when the checked-in file is stale (used by ctest)
# The check compares token streams (all whitespace and trailing commas dropped), so it does
# not depend on whether or which rustfmt formatted either file.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
header="$root/include/surgeon/surgeon_experimental.h"
checked_in="$here/surgeon-sys/src/bindings.rs"
bindgen="${BINDGEN:-bindgen}"

generate() {  # $1: output file, $2: --rustfmt-bindings or --no-rustfmt-bindings
    "$bindgen" "$header" "$2" \
        --allowlist-function 'surgeon_.*' \
        --allowlist-type 'surgeon_.*' \
        --allowlist-var 'SURGEON_.*' \
        --size_t-is-usize \
        --output "$1" \
        -- -I"$root/include" -DSURGEON_EXPERIMENTAL_API
}

tokens() {  # a file's token stream, independent of formatting
    tr -d ' \t\n\r' <"$1" | sed -E 's/,([])}>])/\1/g'
}

case "${1:-}" in
--check)
    fresh="$(mktemp "${TMPDIR:-/tmp}/surgeon-bindings.XXXXXX.rs")"
    trap 'rm -f "$fresh"' EXIT
    generate "$fresh" --no-rustfmt-bindings
    if [ "$(tokens "$fresh")" != "$(tokens "$checked_in")" ]; then
        echo "STALE: $checked_in does not match $header (and the headers it includes);" \
             "run bindings/rust/regenerate.sh and check the result in" >&2
        exit 1
    fi
    echo "bindings.rs is up to date with the headers"
    ;;
"")
    if command -v rustfmt >/dev/null; then
        generate "$checked_in" --rustfmt-bindings
    else
        echo "rustfmt not found: writing unformatted bindings" >&2
        generate "$checked_in" --no-rustfmt-bindings
    fi
    echo "wrote $checked_in"
    ;;
*)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac
