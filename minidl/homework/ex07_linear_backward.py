"""ex07_linear_backward: the backward pass of a Linear layer.

A Linear layer computes ``y = x Wᵀ + b`` for a batch ``x`` of shape ``(N, in)``, a weight
``W`` of shape ``(out, in)`` and a bias ``b`` of shape ``(out,)``. The student writes
``linear_backward(grad_output, x, weight)``, returning the gradients of the loss with respect
to ``x``, ``W`` and ``b`` from ``grad_output = ∂L/∂y`` of shape ``(N, out)``. The cases check
the shapes, the values against minidl's own Linear backward, the bias summing over the batch,
that the inputs are left alone, and run the function as the backward of a minidl
``Function`` through ``minidl.gradcheck``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from minidl import functional as F
from minidl.autograd import Context, Function
from minidl.gradcheck import GradcheckError, gradcheck
from minidl.homework._check import (
    Case,
    CaseFailure,
    Exercise,
    FunctionSpec,
    as_array,
    expect_array,
    returned,
)
from minidl.tensor import Tensor, float64

NAMES = ("grad_x", "grad_weight", "grad_bias")
SHAPE_HINT = ("A gradient has the shape of what it is the gradient of: grad_x that of x "
              "(N, in), grad_weight that of the weight (out, in), grad_bias that of the bias "
              "(out,). Let the shapes tell you which matrix to transpose and in which order to "
              "multiply.")
VALUE_HINT = ("y[n, o] = Σ_i x[n, i]·W[o, i] + b[o]. Then ∂L/∂x[n, i] = Σ_o grad_output[n, o]·"
              "W[o, i] and ∂L/∂W[o, i] = Σ_n grad_output[n, o]·x[n, i]: write each sum as a "
              "matrix product.")
BIAS_HINT = ("b[o] is added to y[n, o] for every example n of the batch, so its gradient adds "
             "up grad_output over the batch (a sum, not a mean).")


def _reference(grad: np.ndarray, x: np.ndarray, weight: np.ndarray) -> tuple:
    """minidl's own Linear backward."""
    xt = Tensor(x, requires_grad=True)
    wt = Tensor(weight, requires_grad=True)
    bt = Tensor(np.zeros(weight.shape[0]), requires_grad=True)
    F.linear(xt, wt, bt).backward(grad)
    return xt.grad, wt.grad, bt.grad


def _call(s: SimpleNamespace, grad: np.ndarray, x: np.ndarray, weight: np.ndarray,
          inputs: str) -> list[Any]:
    result = returned(s.linear_backward(grad, x, weight), "linear_backward", inputs)
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise CaseFailure(inputs, problem="linear_backward should return three arrays: "
                                          "(grad_x, grad_weight, grad_bias)",
                          got=repr(result)[:200])
    return list(result)


def _arrays(n: int, n_in: int, n_out: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, n_out)), rng.normal(size=(n, n_in)),
            rng.normal(size=(n_out, n_in)))


def _describe(n: int, n_in: int, n_out: int) -> str:
    return (f"linear_backward(grad_output, x, weight) with x of shape ({n}, {n_in}), weight "
            f"({n_out}, {n_in}), grad_output ({n}, {n_out})")


def _values_case(n: int, n_in: int, n_out: int, check: tuple[str, ...],
                 hint: str) -> Callable[[SimpleNamespace], None]:
    def run(s: SimpleNamespace) -> None:
        grad, x, weight = _arrays(n, n_in, n_out, seed=n * 100 + n_in)
        inputs = _describe(n, n_in, n_out)
        got = _call(s, grad, x, weight, inputs)
        for name, value, expected in zip(NAMES, got, _reference(grad, x, weight), strict=True):
            if name in check:
                value = as_array(value, name, inputs)
                expect_array(value, expected, name, inputs, rtol=1e-10, atol=1e-12,
                             hint=hint if value.shape == expected.shape else SHAPE_HINT)
    return run


def _inputs_unchanged(s: SimpleNamespace) -> None:
    grad, x, weight = _arrays(4, 3, 2, seed=11)
    before = [a.copy() for a in (grad, x, weight)]
    inputs = _describe(4, 3, 2)
    _call(s, grad, x, weight, inputs)
    for label, now, old in zip(("grad_output", "x", "weight"), (grad, x, weight), before,
                               strict=True):
        if not np.array_equal(now, old):
            raise CaseFailure(inputs, problem=f"linear_backward changed its argument {label} "
                                              "in place",
                              hint="Compute new arrays: the optimiser still needs the weight, "
                                   "and other layers may share grad_output.")


def _as_function(backward: Callable) -> Callable[..., Tensor]:
    """y = x Wᵀ + b as a minidl op whose backward is the student's function."""

    class StudentLinear(Function):
        @staticmethod
        def forward(ctx: Context, x: np.ndarray, weight: np.ndarray,
                    bias: np.ndarray) -> np.ndarray:
            ctx.save_for_backward(x, weight)
            return x @ weight.T + bias

        @staticmethod
        def backward(ctx: Context, grad: np.ndarray) -> tuple:
            x, weight = ctx.saved_tensors
            result = backward(grad, x, weight)
            return tuple(as_array(g, name, "the backward pass inside gradcheck")
                         for g, name in zip(result, NAMES, strict=True))

    return StudentLinear.apply


def _gradcheck(s: SimpleNamespace) -> None:
    rng = np.random.default_rng(13)
    tensors = [Tensor(rng.normal(size=shape), dtype=float64, requires_grad=True)
               for shape in ((3, 4), (2, 4), (2,))]
    try:
        gradcheck(_as_function(s.linear_backward), tensors)
    except GradcheckError as e:
        raise CaseFailure("minidl.gradcheck of y = x Wᵀ + b with x (3, 4), W (2, 4), b (2,), "
                          "with linear_backward as its backward pass",
                          problem=f"the gradients disagree with finite differences: {e}",
                          hint=VALUE_HINT) from None


EXERCISE = Exercise(
    id="ex07_linear_backward",
    title="the backward pass of a Linear layer",
    functions=(FunctionSpec("linear_backward", "(grad_output, x, weight)", 3),),
    cases=(
        Case("grad_x", _values_case(4, 3, 2, ("grad_x",), VALUE_HINT), VALUE_HINT),
        Case("grad_weight", _values_case(4, 3, 2, ("grad_weight",), VALUE_HINT), VALUE_HINT),
        Case("grad_bias sums over the batch", _values_case(5, 3, 2, ("grad_bias",), BIAS_HINT),
             BIAS_HINT),
        Case("a batch of one example", _values_case(1, 5, 3, NAMES, VALUE_HINT), VALUE_HINT),
        Case("leaves grad_output, x and weight unchanged", _inputs_unchanged),
        Case("gradcheck of the op it is the backward of", _gradcheck, VALUE_HINT),
    ),
)
