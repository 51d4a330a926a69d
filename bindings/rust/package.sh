#!/usr/bin/env bash
# Packages both crates as a registry would get them, offline: `cargo package` (with its
# verification build) of surgeon-sys, then of surgeon with surgeon-sys served from a local
# directory source made of that package (surgeon-sys is not on crates.io, and cargo
# resolves the packaged surgeon's `surgeon-sys = "<version>"` from a registry). Works with
# Debian's cargo (1.63) and newer ones. CARGO_HOME and the target folder are temporary.
#   package.sh [OUT_DIR]   copies surgeon-sys-<v>.crate and surgeon-<v>.crate to OUT_DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cargo="${CARGO:-cargo}"
out="${1:-}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/surgeon-package.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
export CARGO_HOME="$tmp/home" CARGO_TARGET_DIR="$tmp/target"
mkdir -p "$CARGO_HOME" "$tmp/vendor"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/surgeon-sys/Cargo.toml" | head -n1)"

(cd "$here/surgeon-sys" && "$cargo" package --offline --allow-dirty)
sys_crate="$CARGO_TARGET_DIR/package/surgeon-sys-$version.crate"
tar -xzf "$sys_crate" -C "$tmp/vendor"
printf '{"files":{},"package":"%s"}' "$(sha256sum "$sys_crate" | cut -d' ' -f1)" \
    >"$tmp/vendor/surgeon-sys-$version/.cargo-checksum.json"
cat >"$CARGO_HOME/config.toml" <<CONFIG
[source.crates-io]
replace-with = "packaged"
[source.packaged]
directory = "$tmp/vendor"
CONFIG
(cd "$here/surgeon" && "$cargo" package --offline --allow-dirty)

if [ -n "$out" ]; then
    mkdir -p "$out"
    cp "$sys_crate" "$CARGO_TARGET_DIR/package/surgeon-$version.crate" "$out/"
fi
echo "packaged surgeon-sys $version and surgeon $version"
