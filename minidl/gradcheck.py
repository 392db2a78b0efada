"""Gradient checking: compare backward's gradients with central finite differences.

For every input element x_j the numerical derivative of every output element y_i is

    dy_i/dx_j ≈ (y_i(x + eps e_j) - y_i(x - eps e_j)) / (2 eps),

and the analytical one comes from backward with a one-hot gradient on y_i. The two full
Jacobians must agree within ``|analytic - numeric| <= atol + rtol |numeric|``. Run it in
float64: in float32 the rounding error of the differences swamps the comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from minidl.autograd import no_grad
from minidl.tensor import Tensor


class GradcheckError(AssertionError):
    """Raised by ``gradcheck`` when analytical and numerical gradients disagree."""


def _outputs(fn: Callable, inputs: Sequence[Tensor]) -> list[Tensor]:
    out = fn(*inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    tensors = [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]
    if not tensors:
        raise TypeError(
            f"gradcheck: fn must return a floating-point Tensor (or a tuple of them), got "
            f"{type(out).__name__}; returning .item() or .numpy() cuts the graph"
        )
    return tensors


def _numerical_jacobian(fn: Callable, inputs: Sequence[Tensor], x: Tensor,
                        eps: float) -> np.ndarray:
    """(n_outputs, x.size): each column from two forward evaluations."""
    flat = x.data.reshape(-1)  # x.data is contiguous (gradcheck copies its inputs)
    columns = []
    with no_grad():
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            plus = np.concatenate([o.data.ravel() for o in _outputs(fn, inputs)])
            flat[j] = orig - eps
            minus = np.concatenate([o.data.ravel() for o in _outputs(fn, inputs)])
            flat[j] = orig
            columns.append((plus - minus) / (2 * eps))
    return np.stack(columns, axis=1) if columns else np.zeros((0, 0))


def _analytical_jacobians(fn: Callable, inputs: Sequence[Tensor],
                          wrt: Sequence[Tensor]) -> list[np.ndarray]:
    outs = _outputs(fn, inputs)
    n_out = int(sum(o.data.size for o in outs))
    jacobians = [np.zeros((n_out, x.data.size)) for x in wrt]
    row = 0
    for o in outs:
        for i in range(o.data.size):
            for x in wrt:
                x.grad = None
            if o.requires_grad:
                seed = np.zeros(o.shape)
                seed.reshape(-1)[i] = 1.0
                o.backward(seed, retain_graph=True)
            for jac, x in zip(jacobians, wrt, strict=False):
                if x.grad is not None:
                    jac[row] = x.grad.reshape(-1)
            row += 1
    for x in wrt:
        x.grad = None
    return jacobians


def gradcheck(fn: Callable, inputs: Tensor | Sequence[Tensor], eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """Check ``fn``'s gradients against central finite differences.

    Parameters
    ----------
    fn : callable
        Takes the ``inputs`` and returns a tensor (or a tuple of tensors).
    inputs : Tensor or sequence of Tensor
        Gradients are checked for each input with ``requires_grad=True``; those must be
        float64. They are copied, so ``fn`` may not rely on their identity.
    eps : float
        Finite-difference step.
    atol, rtol : float
        Each Jacobian entry must satisfy ``|analytic - numeric| <= atol + rtol |numeric|``.
    raise_exception : bool
        Raise ``GradcheckError`` on failure (default) instead of returning False.

    Returns
    -------
    bool
        True when every entry agrees.

    Raises
    ------
    GradcheckError
        Naming the input, the worst element, its analytical and numerical values and
        their relative error.
    """
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    checked = []
    for k, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            continue
        if x.requires_grad and x.dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {k} has dtype {x.dtype}; use float64 inputs (x.double()), "
                "float32 rounding makes finite differences meaningless"
            )
        copy = Tensor(np.ascontiguousarray(x.data).copy(), requires_grad=x.requires_grad)
        inputs[k] = copy
        if x.requires_grad:
            checked.append((k, copy))
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True; nothing to check")

    analytic = _analytical_jacobians(fn, inputs, [x for _, x in checked])
    for (k, x), a in zip(checked, analytic, strict=False):
        if a.size == 0:  # an empty input or output: nothing to compare
            continue
        n = _numerical_jacobian(fn, inputs, x, eps)
        err = np.abs(a - n) - (atol + rtol * np.abs(n))
        if not (err > 0).any() and (np.isfinite(a) == np.isfinite(n)).all():
            continue
        worst = np.unravel_index(np.nanargmax(np.where(np.isnan(err), np.inf, err)), err.shape)
        out_i, in_j = (int(i) for i in worst)
        av, nv = a[worst], n[worst]
        rel = abs(av - nv) / max(abs(nv), 1e-300)
        where = np.unravel_index(in_j, x.shape) if x.ndim else ()
        message = (
            f"gradcheck: gradient of input {k} (shape {x.shape}) is wrong at element "
            f"{tuple(int(w) for w in where)} for output element {out_i}: analytical "
            f"{av:.6g}, numerical {nv:.6g} (relative error {rel:.3g}; "
            f"atol={atol}, rtol={rtol})"
        )
        if raise_exception:
            raise GradcheckError(message)
        return False
    return True
