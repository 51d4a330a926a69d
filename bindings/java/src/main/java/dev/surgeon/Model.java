package dev.surgeon;

import dev.surgeon.jni.surgeon;
import dev.surgeon.jni.surgeon_eval_mode;
import dev.surgeon.jni.surgeon_model_config;
import dev.surgeon.jni.surgeon_perplexity;
import java.nio.file.Path;

/**
 * A whole Llama-family model in memory (llama2.c checkpoint or Hugging Face directory),
 * with its tokenizer when one lies beside it: perplexity, true-sequential compression by
 * a JSON recipe, saving, and weights in and out to combine with the layer API.
 *
 * <p>Reading calls (config, encode, perplexity, getLinear, generate, save) may run
 * concurrently; compress, setLinear and setTokenizer need exclusive use.
 */
public final class Model extends NativeHandle {
    /** The model's dimensions. */
    public record Config(long dim, long hiddenDim, long layers, long heads, long kvHeads, long vocabSize,
                         long seqLen, long parameters, long headDim) {}

    /** Perplexity over `sequences` sequences and `tokens` predicted tokens. */
    public record Perplexity(long sequences, long tokens, double nll, double ppl) {}

    /** The two evaluation protocols. */
    public enum EvalMode {
        /** Each "\n\n" paragraph scored as [BOS] + tokens, truncated to the context. */
        PARAGRAPHS(surgeon_eval_mode.SURGEON_EVAL_PARAGRAPHS),
        /** The whole text in non-overlapping context-sized windows, no BOS. */
        WINDOWS(surgeon_eval_mode.SURGEON_EVAL_WINDOWS);

        final int value;

        EvalMode(int value) {
            this.value = value;
        }
    }

    private Model(long address) {
        super(address, surgeon::surgeon_model_free, null);
    }

    /**
     * Loads a llama2.c checkpoint file or a Hugging Face directory (config.json + safetensors,
     * sharded or not, f32/f16/bf16; GPTQ-packed linears are dequantized), with the llama2.c
     * tokenizer beside it when there is one; what was loaded goes to the context's log
     * callback.
     *
     * @param ctx threads and callbacks of the call; null: the library defaults
     * @param path the checkpoint file or directory
     * @return the model (close it, or let the cleaner free it)
     * @throws SurgeonException {@link Status#IO} for a missing, malformed or inconsistent
     *     checkpoint, {@link Status#NUMERIC} for a NaN/Inf weight
     */
    public static Model load(Context ctx, Path path) {
        String p = Hessian.cPath("surgeon_model_load", path);
        return new Model(alive(() -> surgeon.surgeon_model_load(Context.raw(ctx), p), ctx));
    }

    /**
     * A deep copy (weights and tokenizer, not the last report).
     *
     * @return the copy, an independent model
     */
    public Model copy() {
        return new Model(alive(() -> surgeon.surgeon_model_clone(address()), this));
    }

    /**
     * The model's dimensions.
     *
     * @return dim, FFN size of block 0, blocks, heads, kv heads, vocabulary, context length,
     *     number of weights, head dimension
     */
    public Config config() {
        surgeon_model_config c = new surgeon_model_config();
        try {
            surgeon.surgeon_model_config_init(c, surgeon.SURGEON_MODEL_CONFIG_VERSION);
            call(a -> surgeon.surgeon_model_get_config(a, c));
            return new Config(c.getDim(), c.getHidden_dim(), c.getN_layers(), c.getN_heads(), c.getN_kv_heads(),
                              c.getVocab_size(), c.getSeq_len(), c.getParameters(), c.getHead_dim());
        } finally {
            c.delete();
        }
    }

    /**
     * Loads (or replaces) the tokenizer: a Hugging Face tokenizer.json (a path ending in .json)
     * or a llama2.c tokenizer; its vocabulary must match the model's.
     *
     * @param ctx threads and callbacks of the call; null: the library defaults
     * @param path the tokenizer file ({@code tokenizer.json}, {@code tok512.bin}, {@code tokenizer.bin})
     */
    public void setTokenizer(Context ctx, Path path) {
        String p = Hessian.cPath("surgeon_model_set_tokenizer", path);
        alive(() -> surgeon.surgeon_model_set_tokenizer(Context.raw(ctx), address(), p), this, ctx);
    }

    /**
     * Token ids of a text.
     *
     * @param text the text
     * @param bos whether BOS comes first
     * @return the token ids
     */
    public int[] encode(String text, boolean bos) {
        Checks.notNull("surgeon_model_encode", "text", text);
        return get(a -> Sized.ints((buf, cap, needed) -> surgeon.surgeon_model_encode(a, text, bos ? 1 : 0, buf, cap, needed)));
    }

    /**
     * Perplexity on text, the text itself ({@link #perplexityOfFile} reads a file).
     *
     * @param ctx threads and callbacks of the call; null: the library defaults
     * @param text the text (UTF-8 on the C side)
     * @param mode {@link EvalMode#PARAGRAPHS}: each "\n\n" paragraph scored on its own as [BOS] +
     *     tokens; {@link EvalMode#WINDOWS}: the whole text in non-overlapping windows, no BOS
     * @param begin the first paragraph or window scored (from 0)
     * @param end one past the last paragraph or window scored; negative: to the last one
     * @param seqLen tokens per sequence (longer paragraphs are cut); 0: the model's context
     * @return the sequences and tokens scored, their mean negative log-likelihood and its exp
     * @throws SurgeonException {@link Status#INVALID_ARGUMENT} when begin is past the last
     *     paragraph or window ("paragraphs 2000:2128 requested, the text has 1") or nothing
     *     is left to predict, or the model has no tokenizer
     */
    public Perplexity perplexityOfText(Context ctx, String text, EvalMode mode, long begin, long end, long seqLen) {
        Checks.notNull("surgeon_model_perplexity", "text", text);
        Checks.notNull("surgeon_model_perplexity", "mode", mode);
        return perplexity(ctx, (c, a, p) -> surgeon.surgeon_model_perplexity(c, a, text, mode.value, begin, end, seqLen, p));
    }

    /**
     * Perplexity on the contents of a text file: {@link #perplexityOfText} on what it reads.
     *
     * @param ctx threads and callbacks of the call; null: the library defaults
     * @param path the text file
     * @param mode paragraphs or windows, as in {@link #perplexityOfText}
     * @param begin the first paragraph or window scored (from 0)
     * @param end one past the last paragraph or window scored; negative: to the last one
     * @param seqLen tokens per sequence; 0: the model's context
     * @return the sequences and tokens scored, their mean negative log-likelihood and its exp
     * @throws SurgeonException {@link Status#IO} when the file cannot be read (or is a
     *     directory), else as {@link #perplexityOfText}
     */
    public Perplexity perplexityOfFile(Context ctx, Path path, EvalMode mode, long begin, long end, long seqLen) {
        String file = Hessian.cPath("surgeon_model_perplexity_file", path);
        Checks.notNull("surgeon_model_perplexity_file", "mode", mode);
        return perplexity(ctx, (c, a, p) -> surgeon.surgeon_model_perplexity_file(c, a, file, mode.value, begin, end, seqLen, p));
    }

    /**
     * Perplexity on a token stream (windows protocol): non-overlapping windows of seqLen
     * tokens, a last partial window dropped.
     *
     * @param ctx threads and callbacks of the call; null: the library defaults
     * @param tokens token ids, each in [0, vocabulary size)
     * @param seqLen tokens per window; 0: the model's context
     * @return the windows and tokens scored, their mean negative log-likelihood and its exp
     * @throws SurgeonException {@link Status#INVALID_ARGUMENT} for fewer than two tokens per
     *     window or an id outside the vocabulary
     */
    public Perplexity perplexityOfTokens(Context ctx, int[] tokens, long seqLen) {
        Checks.notNull("surgeon_model_perplexity_tokens", "tokens", tokens);
        return perplexity(ctx, (c, a, p) -> surgeon.surgeon_model_perplexity_tokens(c, a, tokens, tokens.length, seqLen, p));
    }

    private interface PerplexityCall {
        void run(long ctx, long model, surgeon_perplexity out);
    }

    private Perplexity perplexity(Context ctx, PerplexityCall call) {
        surgeon_perplexity p = new surgeon_perplexity();
        try {
            surgeon.surgeon_perplexity_init(p, surgeon.SURGEON_PERPLEXITY_VERSION);
            alive(() -> {
                call.run(Context.raw(ctx), address(), p);
                return null;
            }, this, ctx);
            return new Perplexity(p.getSequences(), p.getTokens(), p.getNll(), p.getPpl());
        } finally {
            p.delete();
        }
    }

    /**
     * Compresses every linear layer, block by block (true-sequential), calibrating on
     * non-empty paragraphs [begin, end) of calibText, as the JSON recipe says (e.g.
     * {@code {"default": {"method": "sparsegpt", "nm": "2:4"}}}, docs/recipes.md). Progress
     * goes to the context's callback. The model is unchanged on failure.
     *
     * @param ctx threads and callbacks of the call; null: the library defaults
     * @param calibText the calibration text itself
     * @param begin the first paragraph used (from 0)
     * @param end one past the last paragraph used; negative: to the last one
     * @param recipeJson the recipe, JSON text
     * @return the JSON report (per layer: method, sparsity, bits, loss, relative error)
     */
    public String compress(Context ctx, String calibText, long begin, long end, String recipeJson) {
        Checks.notNull("surgeon_model_compress", "calibText", calibText);
        Checks.notNull("surgeon_model_compress", "recipeJson", recipeJson);
        alive(() -> surgeon.surgeon_model_compress(Context.raw(ctx), address(), calibText, begin, end, recipeJson), this, ctx);
        return report();
    }

    /**
     * Removes FFN neurons (and kv-head groups when the options' head ratio > 0) from every
     * block, in place, as the experimental surgeon_model_prune_structured; opts null = the
     * defaults. {@link #config()} then gives the new sizes. Returns the JSON report
     * (parameters before and after, per-block ratios, FFN sizes, kv groups removed), which
     * replaces the model's report; the quantization results of an earlier compress are
     * dropped. The model is unchanged on failure.
     *
     * @param ctx threads and callbacks of the call; null: the library defaults
     * @param opts ratio, method or policy, head ratio; null: the defaults
     * @return the JSON report
     */
    public String pruneStructured(Context ctx, StructuredOptions opts) {
        alive(() -> surgeon.surgeon_model_prune_structured(Context.raw(ctx), address(), addressOf(opts)), this, ctx, opts);
        return report();
    }

    /**
     * The report of the last compress or structured pruning.
     *
     * @return JSON text, "{}" before either
     */
    public String report() {
        return get(a -> Sized.text((buf, cap, needed) -> surgeon.surgeon_model_report(a, buf, cap, needed)));
    }

    /**
     * Saves the model (what was written goes to the context's log callback).
     *
     * @param ctx threads and callbacks of the call; null: the library defaults
     * @param path the directory ("hf") or file ("llama2c")
     * @param format "hf" (config.json + model.safetensors, the tokenizer copied beside) or
     *     "llama2c"
     * @param dtype "f32", "f16" or "bf16" for "hf"; "f32" or null for "llama2c"; null: f32
     */
    public void save(Context ctx, Path path, String format, String dtype) {
        String p = Hessian.cPath("surgeon_model_save", path);
        alive(() -> surgeon.surgeon_model_save(Context.raw(ctx), address(), p, format, dtype), this, ctx);
    }

    /**
     * Writes the packed GPTQ checkpoint (qweight, qzeros, scales, g_idx,
     * quantize_config.json) of the last compress; every quantized layer must share bits and
     * group size, and have in and out features that are multiples of 32.
     *
     * @param ctx threads and callbacks of the call; null: the library defaults
     * @param dir the output directory
     */
    public void saveGptq(Context ctx, Path dir) {
        String p = Hessian.cPath("surgeon_model_save_gptq", dir);
        alive(() -> surgeon.surgeon_model_save_gptq(Context.raw(ctx), address(), p), this, ctx);
    }

    /**
     * The shape of one linear.
     *
     * @param block the block, in [0, layers)
     * @param name "wq", "wk", "wv", "wo", "w1", "w2", "w3" or the Hugging Face projection names
     * @return {rows, cols}
     */
    public long[] linearShape(long block, String name) {
        long[][] s = fill(new long[2][1], (a, o) -> surgeon.surgeon_model_linear_shape(a, block, name, o[0], o[1]));
        return new long[] {s[0][0], s[1][0]};
    }

    /**
     * A copy of one linear's weights.
     *
     * @param block the block, in [0, layers)
     * @param name the linear, as in {@link #linearShape}
     * @return rows × cols weights, row-major
     */
    public float[] getLinear(long block, String name) {
        long[] shape = linearShape(block, name);
        float[] w = new float[Math.toIntExact(Checks.elements("surgeon_model_get_linear", shape[0], shape[1]))];
        return fill(w, (a, o) -> surgeon.surgeon_model_get_linear(a, block, name, o, shape[0], shape[1]));
    }

    /**
     * Replaces one linear's weights.
     *
     * @param block the block, in [0, layers)
     * @param name the linear, as in {@link #linearShape}
     * @param w rows × cols finite weights, row-major
     * @param rows must match the linear's
     * @param cols must match the linear's
     */
    public void setLinear(long block, String name, float[] w, long rows, long cols) {
        Checks.notNull("surgeon_model_set_linear", "w", w);
        Checks.holds("surgeon_model_set_linear", "w", w.length, Checks.elements("surgeon_model_set_linear", rows, cols));
        call(a -> surgeon.surgeon_model_set_linear(a, block, name, w, rows, cols));
    }

    /**
     * Continues a prompt on the context's backend; the text is a function of the model, the
     * prompt and the options.
     *
     * @param ctx threads and callbacks of the call; null: the library defaults
     * @param prompt the start of the text (may be empty)
     * @param opts steps, temperature, seed; null: 256 steps, greedy, seed 42
     * @return the generated text, prompt included
     */
    public String generate(Context ctx, String prompt, GenerateOptions opts) {
        Checks.notNull("surgeon_model_generate", "prompt", prompt);
        return alive(() -> Sized.text((buf, cap, needed) -> surgeon.surgeon_model_generate(Context.raw(ctx), address(), prompt,
                                                                                          addressOf(opts), buf, cap, needed)),
                     this, ctx, opts);
    }
}
