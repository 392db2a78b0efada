"""Reference solution of ex04_clip_grad_norm."""

import math


def clip_grad_norm_(parameters, max_norm):
    """Rescale the gradients in place so that their joint L2 norm is at most max_norm."""
    grads = [p.grad for p in list(parameters) if p.grad is not None]
    squares = sum(float((g * g).sum()) for g in grads)
    norm_before = math.sqrt(squares)
    coefficient = max_norm / (norm_before + 1e-6)
    if coefficient < 1.0:
        for g in grads:
            g *= coefficient
    return norm_before
