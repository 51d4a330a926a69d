#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz for a bounded time over its seed corpus:
#   tests/fuzz/run.sh [seconds per target, default 30] [fuzz build dir, default build-fuzz]
# Builds nothing: configure and build the targets first (docs/reliability.md, "Fuzzing").
# The committed seeds (corpus/<target>) are only read; inputs libFuzzer finds along the
# way go to a scratch directory. A crash, a sanitizer report, an escaped non-library
# exception, a timeout or an out-of-memory stops that target; its input is copied to
# crashes/<target>/ and the script exits 1 after running the other targets. The inputs
# kept under crashes/<target>/ are replayed first, as regression inputs.
set -uo pipefail

seconds=${1:-30}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${2:-$root/build-fuzz}

# target:max_len (bytes; each a few times its largest seed)[:dictionary].
targets="safetensors:16384 hf_config:4096:json.dict llama2c:16384 npy:4096 tokenizer:16384
         hf_tokenizer:8192:json.dict
         tokens:4096 hessian:4096 recipe:4096:json.dict prunenet:8192:json.dict"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/surgeon-fuzz-run-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=""
printf '%-12s %10s %8s %s\n' target runs exec/s result
for entry in $targets; do
  IFS=: read -r name max_len dict <<<"$entry"
  dict_arg=()
  [ -n "$dict" ] && dict_arg=(-dict="$here/$dict")
  bin=$build/bin/fuzz_$name
  if [ ! -x "$bin" ]; then
    echo "missing $bin: build the target surgeon_fuzz first (docs/reliability.md)" >&2
    exit 2
  fi
  mkdir -p "$scratch/$name/new" "$scratch/$name/artifacts"
  # Kept reproducers (crashes/<target>/) are regression inputs: each must now pass.
  kept=$(find "$here/crashes/$name" -type f 2>/dev/null | sort)
  if [ -n "$kept" ]; then
    # shellcheck disable=SC2086
    if ! "$bin" -rss_limit_mb=2048 -timeout=10 $kept >"$scratch/$name/replay.log" 2>&1; then
      failed="$failed $name"
      printf '%-12s %10s %8s %s\n' "$name" - - "FAILED: a kept input under crashes/$name/ still fails"
      tail -n 60 "$scratch/$name/replay.log" >&2
      continue
    fi
  fi
  log=$scratch/$name/log
  "$bin" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$scratch/$name/artifacts/" "${dict_arg[@]}" \
    "$scratch/$name/new" "$here/corpus/$name" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [ "$rc" -eq 0 ]; then
    printf '%-12s %10s %8s %s\n' "$name" "${runs:-?}" "${rate:-?}" ok
    continue
  fi
  failed="$failed $name"
  mkdir -p "$here/crashes/$name"
  found=""
  for f in "$scratch/$name/artifacts"/*; do
    [ -e "$f" ] || continue
    cp "$f" "$here/crashes/$name/"
    found="$found crashes/$name/$(basename "$f")"
  done
  printf '%-12s %10s %8s %s\n' "$name" "${runs:-?}" "${rate:-?}" "FAILED (exit $rc):${found:- no input saved}"
  echo "---- $name: end of the libFuzzer log" >&2
  tail -n 60 "$log" >&2
done

if [ -n "$failed" ]; then
  echo "fuzzing found problems in:$failed (inputs under tests/fuzz/crashes/)" >&2
  echo "reproduce: $build/bin/fuzz_<target> tests/fuzz/crashes/<target>/<file>" >&2
  exit 1
fi
