"""Differentiable ops grouped by topic (convolution, pooling, dropout, normalisation)."""
