package dev.surgeon;

import dev.surgeon.jni.surgeon;

/**
 * What a pruning produced (surgeon_prune_result): the mask, the codes when the options had
 * a quantizer (else null) and the OBS loss. close() frees the mask and the codes.
 */
public final class PruneResult implements AutoCloseable {
    private final Mask mask;
    private final QuantResult quantResult;
    private final double loss;

    private PruneResult(Mask mask, QuantResult quantResult, double loss) {
        this.mask = mask;
        this.quantResult = quantResult;
        this.loss = loss;
    }

    /**
     * Runs call on a new empty surgeon_prune_result (its address) and takes the loss, the
     * mask and the codes it then holds; the C result itself is freed.
     */
    static PruneResult create(NativeHandle.Call call) {
        long r = surgeon.surgeon_prune_result_new();
        try {
            call.run(r);
            double[] loss = new double[1];
            surgeon.surgeon_prune_result_loss(r, loss);
            Mask mask = new Mask(surgeon.surgeon_prune_result_mask(r));
            try {
                long codes = surgeon.surgeon_prune_result_qresult(r);
                return new PruneResult(mask, codes == 0 ? null : new QuantResult(codes, loss[0]), loss[0]);
            } catch (RuntimeException e) {
                mask.close();
                throw e;
            }
        } finally {
            surgeon.surgeon_prune_result_free(r);
        }
    }

    public Mask mask() {
        return mask;
    }

    /** The codes of joint pruning and quantization; null without a quantizer. */
    public QuantResult quantResult() {
        return quantResult;
    }

    /** The OBS loss Σ (w − q)² / (2 [U]jj²). */
    public double loss() {
        return loss;
    }

    @Override
    public void close() {
        mask.close();
        if (quantResult != null) quantResult.close();
    }
}
