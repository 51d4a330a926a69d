package dev.surgeon;

/**
 * What a pruning produced (surgeon_prune_result): the mask, the codes when the options had
 * a quantizer (else null) and the OBS loss. close() frees the mask and the codes.
 */
public final class PruneResult implements AutoCloseable {
    private final Mask mask;
    private final QuantResult quantResult;
    private final double loss;

    PruneResult(Mask mask, QuantResult quantResult, double loss) {
        this.mask = mask;
        this.quantResult = quantResult;
        this.loss = loss;
    }

    public Mask mask() {
        return mask;
    }

    /** The codes of joint pruning and quantization; null without a quantizer. */
    public QuantResult quantResult() {
        return quantResult;
    }

    public double loss() {
        return loss;
    }

    @Override
    public void close() {
        mask.close();
        if (quantResult != null) quantResult.close();
    }
}
