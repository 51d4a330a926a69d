#!/usr/bin/env bash
# `surgeon compress` under mpirun (a SURGEON_MPI build), driven by ctest (tests/dist):
#
#   mpi_compress.sh identical SURGEON MPIEXEC WORK_DIR [--gptq] -- COMPRESS_ARGS...
#       runs the plain command once and under `mpirun -np 1`, `-np 2` and `-np 3`; every
#       output (the model, the packed GPTQ checkpoint with --gptq) must be byte-identical
#       to the plain run's, and each report must state its rank count and per-rank seconds.
#   mpi_compress.sh killed SURGEON MPIEXEC WORK_DIR -- COMPRESS_ARGS...
#       kills rank 1 of a 2-rank run once the first block is done: the job must end with a
#       non-zero status, a message naming the dead rank, and no finished-looking output;
#       the same command with --resume must then finish with the plain run's bytes.
#
# COMPRESS_ARGS must include --format; --out (and --gptq-out) are added here.
set -euo pipefail

mode=$1 surgeon=$2 mpiexec=$3 work=$4
shift 4
gptq=0
if [[ ${1:-} == --gptq ]]; then
    gptq=1
    shift
fi
[[ ${1:-} == -- ]] || { echo "usage: mpi_compress.sh identical|killed SURGEON MPIEXEC WORK_DIR [--gptq] -- ARGS" >&2; exit 2; }
shift
args=("$@")
ext=""
[[ " ${args[*]} " == *" --format llama2c "* ]] && ext=".bin"

rm -rf "$work"
mkdir -p "$work"
cd "$work"
mpirun=("$mpiexec" --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader)

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

outputs() {  # $1: run name
    local o=(--out "$1.out$ext")
    ((gptq)) && o+=(--gptq-out "$1.gptq")
    echo "${o[@]}"
}

same_output() {  # $1, $2: run names
    if [[ -n $ext ]]; then
        cmp "$1.out$ext" "$2.out$ext" || fail "$2: the model differs from $1's"
    else
        diff -r "$1.out" "$2.out" >/dev/null || fail "$2: the model differs from $1's ($(diff -rq "$1.out" "$2.out" | head -3))"
    fi
    if ((gptq)); then
        diff -r "$1.gptq" "$2.gptq" >/dev/null || fail "$2: the GPTQ checkpoint differs from $1's"
    fi
    echo "$2: identical to $1"
}

check_report() {  # $1: report file, $2: ranks
    grep -q "\"ranks\":$2[,}]" "$1" || fail "$1 does not say ranks $2"
    local seconds
    seconds=$(grep -o '"rank_seconds":\[[^]]*\]' "$1" | tr -cd ',' | wc -c)
    [[ $((seconds + 1)) == "$2" ]] || fail "$1: rank_seconds has $((seconds + 1)) entries, expected $2"
}

elapsed() {  # seconds since $1 (date +%s%N)
    local ms=$((($(date +%s%N) - $1) / 1000000))
    printf '%d.%03d' $((ms / 1000)) $((ms % 1000))
}

plain_start=$(date +%s%N)
# shellcheck disable=SC2046
"$surgeon" compress "${args[@]}" $(outputs plain) --quiet >plain.json
echo "plain run: $(elapsed "$plain_start") s"
check_report plain.json 1

if [[ $mode == identical ]]; then
    for n in 1 2 3; do
        start=$(date +%s%N)
        # shellcheck disable=SC2046
        "${mpirun[@]}" -np "$n" "$surgeon" compress "${args[@]}" $(outputs "np$n") --quiet >"np$n.json" 2>"np$n.err" ||
            { cat "np$n.err" >&2; fail "mpirun -np $n failed"; }
        echo "mpirun -np $n: $(elapsed "$start") s"
        check_report "np$n.json" "$n"
        same_output plain "np$n"
        if [[ -d spill ]]; then
            [[ -z $(ls -A spill) ]] || fail "np$n left files in the offload folder: $(ls -A spill)"
        fi
    done
    exit 0
fi

[[ $mode == killed ]] || fail "unknown mode $mode"
# The run state lives beside the output's staging name (OUT.partial) until it is complete.
run_dir="killed.out$ext.partial.surgeon-run"
[[ -z $ext ]] && run_dir="killed.out.partial/.surgeon-run"
# shellcheck disable=SC2046
"${mpirun[@]}" -np 2 "$surgeon" compress "${args[@]}" $(outputs killed) --quiet >killed.json 2>killed.err &
job=$!
victim=""
for _ in $(seq 600); do
    # Rank 1: the process of this job whose environment says so.
    if [[ -z $victim ]]; then
        for pid in $(pgrep -P "$job" || true); do
            if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then
                victim=$pid
            fi
        done
    fi
    # Killed once the first block's state is saved by both ranks.
    if [[ -n $victim && -f $run_dir/state.json && -f $run_dir/rank-1/state.json ]] &&
        grep -q '"blocks_done": [1-9]' "$run_dir/rank-1/state.json"; then
        kill -9 "$victim"
        break
    fi
    kill -0 "$job" 2>/dev/null || break
    sleep 0.05
done
[[ -n $victim ]] || fail "rank 1 was never found"
status=0
wait "$job" || status=$?
cat killed.err >&2
((status != 0)) || fail "the job whose rank 1 was killed exited with status 0 (it finished before the kill?)"
grep -q "rank 1" killed.err || fail "no message names rank 1"
if [[ -n $ext ]]; then
    [[ ! -e killed.out$ext ]] || fail "a finished-looking killed.out$ext exists"
else
    [[ ! -e killed.out/config.json ]] || fail "a finished-looking killed.out/config.json exists"
fi
[[ -d $run_dir ]] || fail "no resume state in $run_dir"
echo "killed: status $status, no finished output, resume state kept"

# shellcheck disable=SC2046
"${mpirun[@]}" -np 2 "$surgeon" compress "${args[@]}" $(outputs killed) --resume --quiet >resumed.json 2>resumed.err ||
    { cat resumed.err >&2; fail "the resumed run failed"; }
grep -q '"resumed_at_block":[1-9]' resumed.json || fail "the resumed run did not resume"
same_output plain killed
[[ ! -e $run_dir ]] || fail "the resume state was left behind"
