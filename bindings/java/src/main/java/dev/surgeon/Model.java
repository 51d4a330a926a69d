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

    /** Loads a llama2.c .bin file or a Hugging Face directory; Status.IO when unreadable. */
    public static Model load(Path path) {
        return new Model(surgeon.surgeon_model_load(Hessian.cPath("surgeon_model_load", path)));
    }

    /** A deep copy (weights and tokenizer). */
    public Model copy() {
        return new Model(alive(() -> surgeon.surgeon_model_clone(address()), this));
    }

    public Config config() {
        surgeon_model_config c = new surgeon_model_config();
        try {
            call(a -> surgeon.surgeon_model_get_config(a, c));
            return new Config(c.getDim(), c.getHidden_dim(), c.getN_layers(), c.getN_heads(), c.getN_kv_heads(),
                              c.getVocab_size(), c.getSeq_len(), c.getParameters(), c.getHead_dim());
        } finally {
            c.delete();
        }
    }

    /** Loads (or replaces) the llama2.c tokenizer. */
    public void setTokenizer(Path path) {
        String p = Hessian.cPath("surgeon_model_set_tokenizer", path);
        call(a -> surgeon.surgeon_model_set_tokenizer(a, p));
    }

    /** Token ids of text, with BOS first when bos. */
    public int[] encode(String text, boolean bos) {
        Checks.notNull("surgeon_model_encode", "text", text);
        return alive(() -> Sized.ints((buf, cap, needed) -> surgeon.surgeon_model_encode(address(), text, bos ? 1 : 0, buf, cap, needed)),
                     this);
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

    /** JSON report of the last compress ("{}" before any). */
    public String report() {
        String json = alive(() -> surgeon.surgeon_jni_model_report(address()), this);
        if (json == null) throw SurgeonException.of(Status.INTERNAL, "surgeon_model_report", surgeon.surgeon_last_error());
        return json;
    }

    /** Saves as "hf" (directory; dtype "f32", "f16" or "bf16") or "llama2c" (file, f32). */
    public void save(Path path, String format, String dtype) {
        String p = Hessian.cPath("surgeon_model_save", path);
        call(a -> surgeon.surgeon_model_save(a, p, format, dtype));
    }

    /** Writes the packed GPTQ checkpoint of the last compress. */
    public void saveGptq(Path dir) {
        String p = Hessian.cPath("surgeon_model_save_gptq", dir);
        call(a -> surgeon.surgeon_model_save_gptq(a, p));
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

    /** Continues prompt for up to steps positions; greedy when temperature is 0. */
    public String generate(String prompt, long steps, double temperature, long seed) {
        Checks.notNull("surgeon_model_generate", "prompt", prompt);
        long[] length = new long[1];
        return alive(() -> {
            // Room for typical pieces first; generation is deterministic, so a second run
            // with the exact size gives the same text when it was longer.
            byte[] out = new byte[Math.toIntExact(Math.max(steps, 1) * 32 + prompt.length() * 4L + 64)];
            surgeon.surgeon_model_generate(address(), prompt, steps, temperature, seed, out, out.length, length);
            if (length[0] >= out.length) {
                out = new byte[Math.toIntExact(length[0] + 1)];
                surgeon.surgeon_model_generate(address(), prompt, steps, temperature, seed, out, out.length, length);
            }
            return new String(out, 0, Math.toIntExact(length[0]), java.nio.charset.StandardCharsets.UTF_8);
        }, this);
    }
}
