#!/usr/bin/env bash
# Regenerates the Go binding's SWIG layer, raw/raw.go and raw/raw_wrap.c, from
# bindings/swig/surgeon.i (which %includes the public headers and go.i), with the swig
# command (Debian package `swig`, 4.x). The output is checked in, so users of the Go module
# need only the installed library (cgo finds it through pkg-config), not SWIG; run this
# after changing a header or a .i file and check the result in.
#   regenerate.sh          rewrite the checked-in files
#   regenerate.sh --check  exit 1 when the checked-in files are stale (used by ctest)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
swig="${SWIG:-swig}"

generate() {  # $1: output folder (absolute)
    # Relative input paths: SWIG writes the input's path into raw.go.
    (cd "$root" && "$swig" -go -cgo -intgosize 64 -module raw \
        -Ibindings/swig -Iinclude -outdir "$1" -o "$1/raw_wrap.c" bindings/swig/surgeon.i)
}

case "${1:-}" in
--check)
    fresh="$(mktemp -d "${TMPDIR:-/tmp}/surgeon-go-raw.XXXXXX")"
    trap 'rm -rf "$fresh"' EXIT
    generate "$fresh"
    stale=0
    for f in raw.go raw_wrap.c; do
        if ! cmp -s "$fresh/$f" "$here/raw/$f"; then
            echo "STALE: bindings/go/raw/$f does not match bindings/swig/*.i and include/surgeon/*.h" >&2
            stale=1
        fi
    done
    if [ "$stale" -ne 0 ]; then
        echo "run bindings/go/regenerate.sh and check the result in ($("$swig" -version | grep -o 'SWIG Version [0-9.]*'))" >&2
        exit 1
    fi
    echo "raw/raw.go and raw/raw_wrap.c are up to date with the headers"
    ;;
"")
    generate "$here/raw"
    echo "wrote $here/raw/raw.go and $here/raw/raw_wrap.c"
    ;;
*)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac
