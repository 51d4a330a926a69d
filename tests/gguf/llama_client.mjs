// Test helper (not part of the product): a GGUF read by llama.cpp through node-llama-cpp.
//   node llama_client.mjs generate MODEL.gguf PROMPT N   greedy continuation (N tokens at
//        most, stopping at BOS or EOS like `surgeon generate`); prints one JSON line
//        {prompt_tokens (BOS included), generated, text: the prompt and its continuation}
//   node llama_client.mjs ppl MODEL.gguf TEXT a:b         perplexity, paragraphs protocol of
//        `surgeon eval`: the text split on "\n\n", stripped, empty ones dropped; paragraphs
//        a..b-1, each [BOS] + tokens truncated to the context; mean NLL of every token but
//        the first. Prints one JSON line {sequences, tokens, nll, ppl}.
// LLAMA_CLIENT_DIR names the folder node-llama-cpp is installed in (install_client.sh).
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const clientDir = process.env.LLAMA_CLIENT_DIR;
const require = createRequire(path.join(clientDir ?? process.cwd(), "package.json"));
const { getLlama, LlamaLogLevel } = await import(require.resolve("node-llama-cpp"));

const [mode, modelPath, arg1, arg2] = process.argv.slice(2);
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath });
const contextSize = model.trainContextSize;
// One thread: the model is tiny, and idle workers spinning on a shared machine cost more.
const context = await model.createContext({ contextSize, sequences: 1, threads: 1 });
const sequence = context.getSequence();
const bos = model.tokens.bos, eos = model.tokens.eos;

if (mode === "generate") {
    const prompt = arg1, steps = Number(arg2);
    const promptTokens = model.tokenize(prompt);
    const generated = [];
    if (steps > 0) {
        for await (const token of sequence.evaluate([bos, ...promptTokens], { temperature: 0 })) {
            if (token === bos || token === eos) break;
            generated.push(token);
            if (generated.length >= steps) break;
        }
    }
    // The space SentencePiece puts before the first word is not printed (as after BOS).
    const text = model.detokenize([...promptTokens, ...generated]).replace(/^ /, "");
    process.stdout.write(JSON.stringify({ prompt_tokens: promptTokens.length + 1, generated: generated.length, text }) + "\n");
} else if (mode === "ppl") {
    const text = fs.readFileSync(arg1, "utf8");
    const paragraphs = [];
    for (const part of text.split("\n\n")) {
        const p = part.replace(/^[ \t\n\r\v\f]+|[ \t\n\r\v\f]+$/g, "");
        if (p.length > 0) paragraphs.push(p);
    }
    const [a, b] = (arg2 ?? ":").split(":");
    const begin = a === "" ? 0 : Number(a);
    const end = b === "" || b === undefined ? paragraphs.length : Math.min(Number(b), paragraphs.length);
    let nll = 0, count = 0, sequences = 0;
    for (let i = begin; i < end; ++i) {
        const tokens = [bos, ...model.tokenize(paragraphs[i])].slice(0, contextSize);
        sequences += 1;
        if (tokens.length < 2) continue;
        await sequence.clearHistory();
        // Per position: the true next token's logit, the largest logit and Σ exp(logit − max),
        // so -log p(next) = max + log Σ − logit(next).
        const input = tokens.map((t, k) =>
            k + 1 < tokens.length
                ? [t, { generateNext: { logits: { filter: { tokens: [tokens[k + 1]], includeTop: 1 } }, totalLogitWeight: true } }]
                : t);
        const out = await sequence.controlledEvaluate(input);
        for (let k = 0; k + 1 < tokens.length; ++k) {
            const { logits, totalLogitWeight } = out[k].next;
            const max = Math.max(...logits.values());
            nll += max + Math.log(totalLogitWeight) - logits.get(tokens[k + 1]);
            count += 1;
        }
    }
    nll /= count;
    process.stdout.write(JSON.stringify({ sequences, tokens: count, nll, ppl: Math.exp(nll) }) + "\n");
} else {
    process.stderr.write("usage: llama_client.mjs generate MODEL PROMPT N | ppl MODEL TEXT a:b\n");
    process.exit(2);
}
await context.dispose();
await model.dispose();
await llama.dispose();
