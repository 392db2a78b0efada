"""Reference solution of ex02_sigmoid_tanh_backward."""


def sigmoid_backward(grad_output, y):
    """Gradient with respect to the input of sigmoid, from its output y."""
    local = y * (1.0 - y)
    return grad_output * local


def tanh_backward(grad_output, y):
    """Gradient with respect to the input of tanh, from its output y."""
    local = 1.0 - y**2
    return grad_output * local
