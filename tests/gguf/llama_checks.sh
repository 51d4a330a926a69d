#!/usr/bin/env bash
# The GGUF exports of the bundled stories260K loaded by llama.cpp (node-llama-cpp, through
# llama_client.mjs), against `surgeon` on the same models.
#   llama_checks.sh SURGEON CLIENT_DIR DATA_DIR WORK CHECK
# CHECK: exports (writes every file under WORK; the others need it)
#        greedy-f32 | greedy-f16  greedy 60-token continuation of "Once upon a time" equal
#                                 to `surgeon generate` of the same model
#        ppl-q8_0 | ppl-gptq-q4_0 llama.cpp perplexity on paragraphs 0:200 within 1% of
#        | ppl-sliced             `surgeon eval` of the compressed (dequantized) model; sliced:
#                                 FFN sliced per layer (zero-padded in the GGUF) and half the
#                                 kv-head groups removed (head_dim ≠ dim / heads), in F32
#        gptq-below-rtn           GPTQ-Q4_0 perplexity below round-to-nearest Q4_0 (both
#                                 surgeon's RTN on the same grid and llama-quantize's RTN)
set -euo pipefail
surgeon=$1 client=$2 data=$3 work=$4 check=$5
here=$(cd "$(dirname "$0")" && pwd)
text=$data/tinystories-valid.txt
range=0:200
prompt="Once upon a time"
steps=60
export LLAMA_CLIENT_DIR=$client

llama() { node "$here/llama_client.mjs" "$@"; }
field() { node -e 'const j = JSON.parse(require("fs").readFileSync(0, "utf8").trim().split("\n").pop()); console.log(j[process.argv[1]])' "$1"; }

case $check in
exports)
  rm -rf "$work" && mkdir -p "$work"
  m=$data/stories260K.bin
  "$surgeon" convert --model "$m" --out "$work/f32.gguf"
  "$surgeon" convert --model "$m" --out "$work/f16.gguf" --dtype f16
  "$surgeon" convert --model "$m" --out "$work/f16-hf" --format hf --dtype f16
  "$surgeon" convert --model "$m" --out "$work/rtn-llama-q4_0.gguf" --dtype q4_0
  "$surgeon" structured --model "$m" --method l2 --ratio 0.3 --layer-ratios spectral --heads 0.5 \
    --out "$work/sliced" >"$work/sliced.json"
  "$surgeon" convert --model "$work/sliced" --out "$work/sliced.gguf" --tokenizer "$data/tok512.bin"
  for q in "gptq 8 q8_0" "gptq 4 q4_0" "rtn 4 q4_0"; do
    set -- $q
    "$surgeon" compress --model "$m" --method "$1" --bits "$2" --group 32 --out "$work/$1-$3" \
      --gguf-out "$work/$1-$3.gguf" --quiet >"$work/$1-$3.json"
  done
  ;;
greedy-f32 | greedy-f16)
  gguf=$work/${check#greedy-}.gguf
  model=$data/stories260K.bin
  [ "$check" = greedy-f16 ] && model=$work/f16-hf
  got=$(llama generate "$gguf" "$prompt" "$steps")
  # surgeon generate runs `--steps` positions: the prompt's tokens (BOS included) − 1 + 60.
  positions=$(( $(echo "$got" | field prompt_tokens) - 1 + steps ))
  want=$("$surgeon" generate --model "$model" --tokenizer "$data/tok512.bin" --prompt "$prompt" --steps "$positions")
  text_got=$(echo "$got" | field text)
  echo "llama.cpp ($(echo "$got" | field generated) tokens): $text_got"
  echo "surgeon:                 $want"
  [ "$text_got" = "$want" ] || { echo "FAIL: the continuations differ"; exit 1; }
  ;;
ppl-q8_0 | ppl-gptq-q4_0 | ppl-sliced)
  name=${check#ppl-}
  [ "$name" = q8_0 ] && name=gptq-q8_0
  ours=$("$surgeon" eval --model "$work/$name" --tokenizer "$data/tok512.bin" --range "$range")
  theirs=$(llama ppl "$work/$name.gguf" "$text" "$range")
  echo "surgeon eval:  $ours"
  echo "llama.cpp:     $theirs"
  [ "$(echo "$ours" | field tokens)" = "$(echo "$theirs" | field tokens)" ] ||
    { echo "FAIL: the two tokenizations differ in length"; exit 1; }
  node -e 'const [a, b] = process.argv.slice(1).map(Number); const r = Math.abs(a - b) / b;
           console.log(`relative difference ${r.toExponential(3)}`); process.exit(r < 0.01 ? 0 : 1)' \
    "$(echo "$theirs" | field ppl)" "$(echo "$ours" | field ppl)"
  ;;
gptq-below-rtn)
  gptq=$(llama ppl "$work/gptq-q4_0.gguf" "$text" "$range" | field ppl)
  rtn=$(llama ppl "$work/rtn-q4_0.gguf" "$text" "$range" | field ppl)
  llama_rtn=$(llama ppl "$work/rtn-llama-q4_0.gguf" "$text" "$range" | field ppl)
  echo "llama.cpp perplexity, paragraphs $range: GPTQ-Q4_0 $gptq, RTN-Q4_0 $rtn (surgeon compress --method rtn), $llama_rtn (surgeon convert --dtype q4_0, llama-quantize's RTN)"
  node -e 'const [g, r, l] = process.argv.slice(1).map(Number); process.exit(g < r && g < l ? 0 : 1)' "$gptq" "$rtn" "$llama_rtn" ||
    { echo "FAIL: GPTQ-Q4_0 is not below RTN-Q4_0"; exit 1; }
  ;;
*)
  echo "llama_checks.sh: unknown check '$check'" >&2
  exit 2
  ;;
esac
