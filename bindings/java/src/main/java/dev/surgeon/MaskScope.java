package dev.surgeon;

/** Where SparseGPT compares scores for unstructured sparsity. */
public enum MaskScope {
    /** One threshold over each block of columns (all rows): the reference behaviour. */
    BLOCK,
    /** The same sparsity in every row of each block of columns. */
    ROW
}
