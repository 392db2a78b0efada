"""ex02_sigmoid_tanh_backward: the backward passes of sigmoid and tanh.

The student writes ``sigmoid_backward(grad_output, y)`` and ``tanh_backward(grad_output, y)``:
given the gradient of the loss with respect to the output ``y`` of the activation (and ``y``
itself, saved by the forward pass), return the gradient with respect to its input,
``grad_output·σ'(x) = grad_output·y(1 - y)`` and ``grad_output·(1 - y²)``. The cases compare
with NumPy on a vector and on a batch, check that the inputs are left alone, and run the
function as the backward of a minidl ``Function`` through ``minidl.gradcheck``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np

from minidl.autograd import Context, Function
from minidl.gradcheck import GradcheckError, gradcheck
from minidl.homework._check import (
    Case,
    CaseFailure,
    Exercise,
    FunctionSpec,
    as_array,
    expect_array,
    fmt,
)
from minidl.tensor import Tensor, float64

POINTS = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


# name, forward, derivative in terms of the output y, hint
ACTIVATIONS = {
    "sigmoid_backward": (_sigmoid, lambda y: y * (1.0 - y),
                         "σ'(x) = σ(x)(1 − σ(x)) = y(1 − y) in terms of the output y; then "
                         "multiply by grad_output element by element (the chain rule)."),
    "tanh_backward": (np.tanh, lambda y: 1.0 - y * y,
                      "tanh'(x) = 1 − tanh²(x) = 1 − y² in terms of the output y; then "
                      "multiply by grad_output element by element (the chain rule)."),
}


def _as_function(name: str, backward: Callable) -> Callable[[Tensor], Tensor]:
    """The activation as a minidl op whose backward is the student's function."""
    forward = ACTIVATIONS[name][0]

    class StudentActivation(Function):
        @staticmethod
        def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
            y = forward(x)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
            (y,) = ctx.saved_tensors
            return as_array(backward(grad, y), name, "the backward pass inside gradcheck")

    StudentActivation.__name__ = name.removesuffix("_backward").capitalize()
    return StudentActivation.apply


def _values(name: str) -> Callable[[SimpleNamespace], None]:
    forward, derivative, hint = ACTIVATIONS[name]

    def run(s: SimpleNamespace) -> None:
        y = forward(POINTS)
        grad = np.ones_like(y)
        expect_array(getattr(s, name)(grad, y), grad * derivative(y), name,
                     f"{name}(grad_output, y) with grad_output = ones(7) and y = f(x) for "
                     f"x = {fmt(POINTS)}",
                     hint=hint, index_names=lambda i: f"at x = {fmt(POINTS[i])}")
    return run


def _batch(name: str) -> Callable[[SimpleNamespace], None]:
    forward, derivative, hint = ACTIVATIONS[name]

    def run(s: SimpleNamespace) -> None:
        rng = np.random.default_rng(2)
        y = forward(rng.normal(0.0, 2.0, (3, 4)))
        grad = rng.normal(0.0, 1.0, (3, 4))
        expect_array(getattr(s, name)(grad, y), grad * derivative(y), name,
                     f"{name}(grad_output, y) for a (3, 4) batch, with a grad_output that is "
                     "not all ones",
                     hint=hint + " The result has the shape of y, one value per element.")
    return run


def _inputs_unchanged(name: str) -> Callable[[SimpleNamespace], None]:
    forward = ACTIVATIONS[name][0]

    def run(s: SimpleNamespace) -> None:
        y = forward(POINTS)
        grad = np.linspace(-1.0, 1.0, POINTS.size)
        y_before, grad_before = y.copy(), grad.copy()
        getattr(s, name)(grad, y)
        for label, now, before in (("grad_output", grad, grad_before), ("y", y, y_before)):
            if not np.array_equal(now, before):
                raise CaseFailure(
                    f"{name}(grad_output, y) for 7 values",
                    problem=f"{name} changed its argument {label} in place",
                    expected=f"{label} unchanged: {fmt(before)}", got=fmt(now),
                    hint="Build a new array for the result: the autograd engine may still "
                         "need grad_output and y after this call.")
    return run


def _gradcheck(name: str) -> Callable[[SimpleNamespace], None]:
    def run(s: SimpleNamespace) -> None:
        x = Tensor(np.random.default_rng(3).normal(0.0, 1.5, (2, 3)), dtype=float64,
                   requires_grad=True)
        try:
            gradcheck(_as_function(name, getattr(s, name)), [x])
        except GradcheckError as e:
            raise CaseFailure(f"minidl.gradcheck on a (2, 3) float64 input with {name} as the "
                              "backward pass",
                              problem=f"the gradients disagree with finite differences: {e}",
                              hint=ACTIVATIONS[name][2]) from None
    return run


def _cases(name: str) -> tuple[Case, ...]:
    hint = ACTIVATIONS[name][2]
    return (Case(f"{name}: values", _values(name), hint),
            Case(f"{name}: a batch and an upstream gradient", _batch(name), hint),
            Case(f"{name}: leaves grad_output and y unchanged", _inputs_unchanged(name), hint),
            Case(f"{name}: gradcheck of the op it is the backward of", _gradcheck(name), hint))


EXERCISE = Exercise(
    id="ex02_sigmoid_tanh_backward",
    title="the backward passes of sigmoid and tanh",
    functions=(FunctionSpec("sigmoid_backward", "(grad_output, y)", 2),
               FunctionSpec("tanh_backward", "(grad_output, y)", 2)),
    cases=_cases("sigmoid_backward") + _cases("tanh_backward"),
)
