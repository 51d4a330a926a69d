#!/usr/bin/env bash
# Runs every `surgeon ...` command of README.md's shell blocks as written, in order, from
# the repository root with the built CLI first on PATH; a command that exits non-zero fails
# the test. Paths under /tmp/ go to a scratch folder instead (removed at the end), so runs
# do not collide; everything else is verbatim.
#   tests/cli/readme_commands.sh BIN_DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$(cd "${1:?usage: $0 BIN_DIR}" && pwd)"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/surgeon-readme.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
export PATH="$bin:$PATH"
cd "$root"

# The commands: lines of ```sh blocks that start with "surgeon ", continuation lines
# (ending in a backslash) joined, one command per line of the output.
commands="$(awk '
    /^```sh/ { inblock = 1; next }
    /^```/ { inblock = 0; next }
    inblock && (cont || /^surgeon /) {
        line = $0
        cont = sub(/\\$/, "", line)
        printf "%s", line
        if (!cont) printf "\n"
    }' README.md)"
[ -n "$commands" ] || { echo "no surgeon commands found in README.md"; exit 1; }

passed=0 failed=0
while IFS= read -r command; do
    run="${command//\/tmp\//$scratch/}"
    start=$(date +%s)
    if bash -c "$run" >"$scratch/out.log" 2>&1; then
        echo "PASS ($(( $(date +%s) - start )) s): $command"
        passed=$((passed + 1))
    else
        echo "FAIL: $command"
        tail -n 5 "$scratch/out.log"
        failed=$((failed + 1))
    fi
done <<<"$commands"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
