"""Reference solution of ex07_linear_backward."""


def linear_backward(grad_output, x, weight):
    """Gradients of y = x W^T + b with respect to x, W and b."""
    dx = grad_output @ weight
    dw = grad_output.T @ x
    db = grad_output.sum(axis=0)
    return dx, dw, db
