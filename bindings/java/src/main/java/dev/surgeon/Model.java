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

    /** Loads a llama2.c .bin file or a Hugging Face directory; Status.IO when unreadable. ctx nullable. */
    public static Model load(Context ctx, Path path) {
        String p = Hessian.cPath("surgeon_model_load", path);
        return new Model(alive(() -> surgeon.surgeon_model_load(Context.raw(ctx), p), ctx));
    }

    /** A deep copy (weights and tokenizer). */
    public Model copy() {
        return new Model(alive(() -> surgeon.surgeon_model_clone(address()), this));
    }

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
     * or a llama2.c tokenizer (logged to ctx's log callback; ctx nullable).
     */
    public void setTokenizer(Context ctx, Path path) {
        String p = Hessian.cPath("surgeon_model_set_tokenizer", path);
        alive(() -> surgeon.surgeon_model_set_tokenizer(Context.raw(ctx), address(), p), this, ctx);
    }

    /** Token ids of text, with BOS first when bos. */
    public int[] encode(String text, boolean bos) {
        Checks.notNull("surgeon_model_encode", "text", text);
        return get(a -> Sized.ints((buf, cap, needed) -> surgeon.surgeon_model_encode(a, text, bos ? 1 : 0, buf, cap, needed)));
    }

    /** Perplexity on text: paragraphs or windows [begin, end) (end < 0: all); seqLen 0 = the context. */
    public Perplexity perplexity(Context ctx, String text, EvalMode mode, long begin, long end, long seqLen) {
        Checks.notNull("surgeon_model_perplexity", "text", text);
        Checks.notNull("surgeon_model_perplexity", "mode", mode);
        return perplexity(ctx, (c, a, p) -> surgeon.surgeon_model_perplexity(c, a, text, mode.value, begin, end, seqLen, p));
    }

    /** Perplexity on a token stream (windows protocol). */
    public Perplexity perplexity(Context ctx, int[] tokens, long seqLen) {
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
     * Compresses every linear layer, block by block, calibrating on non-empty paragraphs
     * [begin, end) of calibText, as the JSON recipe says (e.g.
     * {"default": {"method": "sparsegpt", "nm": "2:4"}}). The model is unchanged on failure.
     * Returns the JSON report.
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
     */
    public String pruneStructured(Context ctx, StructuredOptions opts) {
        alive(() -> surgeon.surgeon_model_prune_structured(Context.raw(ctx), address(), addressOf(opts)), this, ctx, opts);
        return report();
    }

    /** JSON report of the last compress or structured pruning ("{}" before any). */
    public String report() {
        return get(a -> Sized.text((buf, cap, needed) -> surgeon.surgeon_model_report(a, buf, cap, needed)));
    }

    /** Saves as "hf" (directory; dtype "f32", "f16" or "bf16") or "llama2c" (file, f32); ctx nullable. */
    public void save(Context ctx, Path path, String format, String dtype) {
        String p = Hessian.cPath("surgeon_model_save", path);
        alive(() -> surgeon.surgeon_model_save(Context.raw(ctx), address(), p, format, dtype), this, ctx);
    }

    /** Writes the packed GPTQ checkpoint of the last compress; ctx nullable. */
    public void saveGptq(Context ctx, Path dir) {
        String p = Hessian.cPath("surgeon_model_save_gptq", dir);
        alive(() -> surgeon.surgeon_model_save_gptq(Context.raw(ctx), address(), p), this, ctx);
    }

    /** {rows, cols} of a linear ("wq".."w3" or the Hugging Face projection names). */
    public long[] linearShape(long block, String name) {
        long[][] s = fill(new long[2][1], (a, o) -> surgeon.surgeon_model_linear_shape(a, block, name, o[0], o[1]));
        return new long[] {s[0][0], s[1][0]};
    }

    /** A copy of a linear's weights, row-major. */
    public float[] getLinear(long block, String name) {
        long[] shape = linearShape(block, name);
        float[] w = new float[Math.toIntExact(Checks.elements("surgeon_model_get_linear", shape[0], shape[1]))];
        return fill(w, (a, o) -> surgeon.surgeon_model_get_linear(a, block, name, o, shape[0], shape[1]));
    }

    /** Replaces a linear's weights (rows × cols must match; finite values only). */
    public void setLinear(long block, String name, float[] w, long rows, long cols) {
        Checks.notNull("surgeon_model_set_linear", "w", w);
        Checks.holds("surgeon_model_set_linear", "w", w.length, Checks.elements("surgeon_model_set_linear", rows, cols));
        call(a -> surgeon.surgeon_model_set_linear(a, block, name, w, rows, cols));
    }

    /**
     * Continues prompt with opts (null: the defaults) on ctx's backend (ctx nullable);
     * deterministic for the options: the size query and the fill give the same text.
     */
    public String generate(Context ctx, String prompt, GenerateOptions opts) {
        Checks.notNull("surgeon_model_generate", "prompt", prompt);
        return alive(() -> Sized.text((buf, cap, needed) -> surgeon.surgeon_model_generate(Context.raw(ctx), address(), prompt,
                                                                                          addressOf(opts), buf, cap, needed)),
                     this, ctx, opts);
    }
}
