"""ex04_clip_grad_norm: ``clip_grad_norm_``, as in ``torch.nn.utils``.

The student writes ``clip_grad_norm_(parameters, max_norm)``: the total 2-norm ``N`` of all
gradients together; every gradient multiplied in place by ``min(max_norm / (N + 1e-6), 1)``;
``N`` (the norm *before* clipping) returned. Parameters without a gradient are skipped, and
``parameters`` may be a generator, as ``model.parameters()`` is. The cases compare with
``minidl.nn.utils.clip_grad_norm_`` on float64 gradients, tightly enough to see the 1e-6.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np

from minidl.homework._check import (
    Case,
    CaseFailure,
    Exercise,
    FunctionSpec,
    as_array,
    expect_array,
    expect_close,
    fmt,
)
from minidl.nn.parameter import Parameter
from minidl.nn.utils import clip_grad_norm_ as reference

NORM_HINT = ("The total norm is one norm over all gradients together: the square root of "
             "the sum of the squares of every element of every gradient.")
RETURN_HINT = ("Return the total norm measured before clipping (a number), not the norm "
               "after it.")
SCALE_HINT = ("Multiply every gradient by the same factor min(max_norm / (total_norm + 1e-6), "
              "1): the 1e-6 matters (it keeps the division finite when the norm is 0), and "
              "the factor never exceeds 1.")


def _parameters(grads: list[np.ndarray | None]) -> list[Parameter]:
    params = []
    for g in grads:
        shape = (3,) if g is None else g.shape
        p = Parameter(np.zeros(shape, dtype=np.float64))
        p.grad = None if g is None else np.array(g, dtype=np.float64)
        params.append(p)
    return params


def _describe(grads: list[np.ndarray | None]) -> str:
    return "[" + ", ".join("None" if g is None else repr(g.tolist()) for g in grads) + "]"


def _case(grads: list[list[float] | None], max_norm: float, *, generator: bool = False,
          hint: str = SCALE_HINT) -> Callable[[SimpleNamespace], None]:
    arrays = [None if g is None else np.array(g, dtype=np.float64) for g in grads]

    def run(s: SimpleNamespace) -> None:
        mine, expected = _parameters(arrays), _parameters(arrays)
        total = reference(expected, max_norm)
        passed = (p for p in mine) if generator else mine
        inputs = (f"clip_grad_norm_({'a generator over ' if generator else ''}parameters, "
                  f"max_norm={max_norm:g}) with gradients {_describe(arrays)}")
        got = s.clip_grad_norm_(passed, max_norm)
        # Which parameter went wrong matters more than the returned value when both do.
        for k, (p, q) in enumerate(zip(mine, expected, strict=True)):
            if q.grad is None:
                if p.grad is not None:
                    raise CaseFailure(inputs, problem=f"parameter {k} had no gradient and got "
                                                      "one",
                                      hint="Skip parameters whose .grad is None.")
                continue
            expect_array(p.grad, q.grad, f"the gradient of parameter {k}", inputs,
                         rtol=1e-10, atol=1e-15,
                         hint=("every parameter must be clipped; a generator can be looped "
                               "over only once, so make a list of it first. " + hint)
                         if generator else hint,
                         index_names=lambda i, k=k: f"at gradient {k}, element {i}")
        expect_close(got, total, "clip_grad_norm_", inputs + " (the returned norm)",
                     rtol=1e-10, atol=1e-15, hint=RETURN_HINT + " " + NORM_HINT)
    return run


def _zero(s: SimpleNamespace) -> None:
    params = _parameters([np.zeros(3), np.zeros((2, 2))])
    inputs = "clip_grad_norm_(parameters, max_norm=1) with gradients that are all 0"
    got = s.clip_grad_norm_(params, 1.0)
    for k, p in enumerate(params):
        grad = as_array(p.grad, f"the gradient of parameter {k}", inputs)
        if not np.array_equal(grad, np.zeros(grad.shape)):
            raise CaseFailure(inputs, expected=f"gradient {k} still all 0",
                              got=fmt(grad), hint=SCALE_HINT)
    expect_close(got, 0.0, "clip_grad_norm_", inputs + " (the returned norm)", hint=SCALE_HINT)


EXERCISE = Exercise(
    id="ex04_clip_grad_norm",
    title="clip_grad_norm_",
    functions=(FunctionSpec("clip_grad_norm_", "(parameters, max_norm)", 2),),
    cases=(
        Case("one parameter, norm below max_norm: unchanged, norm returned",
             _case([[3.0, 4.0]], 10.0), RETURN_HINT),
        Case("several parameters: one total norm over all of them",
             _case([[1.0, 2.0], [[2.0, 0.0], [0.0, 4.0]], [2.0]], 100.0, hint=NORM_HINT),
             NORM_HINT),
        Case("clipping: every gradient scaled by the same factor",
             _case([[3.0, 0.0], [[0.0, 4.0], [12.0, 0.0]]], 1.0), SCALE_HINT),
        Case("clipping a small norm: the 1e-6 in the denominator",
             _case([[3e-4, 4e-4], [1.2e-3]], 1e-4), SCALE_HINT),
        Case("norm just below max_norm: nothing is scaled up",
             _case([[0.3, 0.4]], 0.75), SCALE_HINT),
        Case("parameters without a gradient are skipped",
             _case([[6.0, 8.0], None, [0.0, 0.0]], 5.0, hint="Skip parameters whose .grad is "
                                                             "None. " + SCALE_HINT), SCALE_HINT),
        Case("parameters given as a generator, like model.parameters()",
             _case([[3.0, 4.0], [12.0]], 2.0, generator=True), SCALE_HINT),
        Case("all gradients 0: no division by zero", _zero, SCALE_HINT),
    ),
)
