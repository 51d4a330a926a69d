package dev.surgeon;

import dev.surgeon.jni.surgeon;
import java.lang.ref.Reference;

/**
 * A quantization grid configuration: bits in [2, 8], symmetric per output row by default,
 * optional groups of columns, MSE clipping search, GPTQ act-order and static groups.
 * Read-only once built, so one quantizer may be used from several threads.
 */
public final class Quantizer extends NativeHandle {
    private Quantizer(long address) {
        super(address, surgeon::surgeon_quantizer_free, null);
    }

    /** The defaults with `bits` bits. */
    public static Quantizer of(int bits) {
        return builder(bits).build();
    }

    public static Builder builder(int bits) {
        return new Builder(bits);
    }

    public int bits() {
        int[] out = new int[1];
        try {
            surgeon.surgeon_quantizer_get_bits(address(), out);
        } finally {
            Reference.reachabilityFence(this);
        }
        return out[0];
    }

    /** Columns per group; 0 = one grid per row. */
    public long groupSize() {
        long[] out = new long[1];
        try {
            surgeon.surgeon_quantizer_get_group_size(address(), out);
        } finally {
            Reference.reachabilityFence(this);
        }
        return out[0];
    }

    /** {@code Quantizer.builder(4).groupSize(128).actOrder(true).build()}. */
    public static final class Builder {
        private final int bits;
        private boolean symmetric = true;
        private long groupSize;
        private boolean mse;
        private float norm = 2.4f;
        private int grid = 100;
        private float maxShrink = 0.8f;
        private boolean actOrder;
        private boolean staticGroups;

        private Builder(int bits) {
            this.bits = bits;
        }

        /** false: asymmetric min/max grid. */
        public Builder symmetric(boolean symmetric) {
            this.symmetric = symmetric;
            return this;
        }

        /** One grid per row and per groupSize columns (0 = per row). */
        public Builder groupSize(long groupSize) {
            this.groupSize = groupSize;
            return this;
        }

        /** MSE clipping search with the reference parameters (norm 2.4, grid 100, shrink 0.8). */
        public Builder mse() {
            this.mse = true;
            return this;
        }

        public Builder mse(float norm, int grid, float maxShrink) {
            this.mse = true;
            this.norm = norm;
            this.grid = grid;
            this.maxShrink = maxShrink;
            return this;
        }

        /** GPTQ: process columns by descending Hessian diagonal. */
        public Builder actOrder(boolean actOrder) {
            this.actOrder = actOrder;
            return this;
        }

        /** GPTQ with groups: fix every group's grid up front on the dense weight. */
        public Builder staticGroups(boolean staticGroups) {
            this.staticGroups = staticGroups;
            return this;
        }

        public Quantizer build() {
            Quantizer q = new Quantizer(surgeon.surgeon_quantizer_new(bits));
            try {
                long a = q.address();
                surgeon.surgeon_quantizer_set_symmetric(a, symmetric ? 1 : 0);
                surgeon.surgeon_quantizer_set_group_size(a, groupSize);
                if (mse) surgeon.surgeon_quantizer_set_mse(a, 1, norm, grid, maxShrink);
                surgeon.surgeon_quantizer_set_act_order(a, actOrder ? 1 : 0);
                surgeon.surgeon_quantizer_set_static_groups(a, staticGroups ? 1 : 0);
            } catch (RuntimeException e) {
                q.close();
                throw e;
            } finally {
                Reference.reachabilityFence(q);
            }
            return q;
        }
    }
}
