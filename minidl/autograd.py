"""Reverse-mode automatic differentiation: grad mode, ``Function`` and the backward pass.

Every differentiable op is a ``Function`` with two static methods that work on plain
NumPy arrays::

    class Mul(Function):
        @staticmethod
        def forward(ctx, a, b):           # y = a * b
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx, grad):          # dy/da = b, dy/db = a
            a, b = ctx.saved_tensors
            return grad * b, grad * a

``Mul.apply(x, w)`` runs ``forward`` on the tensors' arrays and, when gradients are
needed, records a graph node (the ``Context``) on the output. ``Tensor.backward``
walks those nodes in reverse topological order, calling each ``backward`` exactly once
with the total gradient of its output.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from minidl.tensor import Tensor


class _GradMode:
    enabled = True


def is_grad_enabled() -> bool:
    """Return True when new operations are being recorded for backward."""
    return _GradMode.enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Context manager and decorator that turns graph recording on or off."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        # A stack, not one slot: a decorated function may be re-entered (recursion).
        self._previous: list[bool] = []

    def __enter__(self) -> None:
        self._previous.append(_GradMode.enabled)
        _GradMode.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _GradMode.enabled = self._previous.pop()


class no_grad(set_grad_enabled):
    """Disable graph recording, e.g. for evaluation and parameter updates.

    Examples
    --------
    >>> with minidl.no_grad():
    ...     y = model(x)          # y.requires_grad is False
    """

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Re-enable graph recording inside a ``no_grad`` block."""

    def __init__(self) -> None:
        super().__init__(True)


class Context:
    """One node of the graph: what ``Function.forward`` saved for its ``backward``.

    Attributes
    ----------
    fn : type[Function]
        The function whose ``backward`` this node calls.
    inputs : tuple
        The positional arguments of the forward call (tensors and constants).
    needs_input_grad : tuple[bool, ...]
        For each input, whether a gradient must be computed for it.
    """

    def __init__(self, fn: type[Function], inputs: tuple, needs_input_grad: tuple[bool, ...]):
        self.fn = fn
        self.inputs = inputs
        self.needs_input_grad = needs_input_grad
        self.tensor_hooks: list[Callable] = []
        self._saved: tuple = ()
        self._released = False

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep arrays for ``backward``; they are freed after it unless ``retain_graph``."""
        self._saved = arrays

    @property
    def saved_tensors(self) -> tuple:
        return self._saved

    @property
    def name(self) -> str:
        return f"{self.fn.__name__}Backward"

    def next_nodes(self) -> list[Context]:
        """The nodes that produced this node's inputs (only those needing gradients)."""
        return [
            t.grad_fn
            for t, need in zip(self.inputs, self.needs_input_grad, strict=False)
            if need and t.grad_fn is not None
        ]

    def release(self) -> None:
        """Free what forward saved, and the references to the inputs."""
        self._saved = ()
        self.inputs = ()
        self._released = True

    def __repr__(self) -> str:
        return f"<{self.name}>"


class Function:
    """Base class of differentiable operations (see the module docstring)."""

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> Any:
        """Return one gradient (or None) per positional input of ``forward``."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        raw = []
        needs = []
        track = False
        kind = None
        for a in args:
            if isinstance(a, Tensor):
                raw.append(a.data)
                needs.append(a.requires_grad)
                track = track or a.requires_grad
                if kind is None:
                    kind = type(a.data)
                elif type(a.data) is not kind:
                    _check_one_device(cls, args)
            else:
                raw.append(a)
                needs.append(False)
        if kind is not None and kind is not np.ndarray:
            # Constant arrays an op is given (dropout masks, one-hot targets) are made on
            # the host; they follow the tensors to their device.
            device = backend.device_of(next(a.data for a in args if isinstance(a, Tensor)))
            raw = [backend.to_device(r, device) if type(r) is np.ndarray else r for r in raw]
        track = track and _GradMode.enabled
        ctx = Context(cls, args, tuple(needs)) if track else Context(cls, (), ())
        out = cls.forward(ctx, *raw, **kwargs)
        if _Anomaly.enabled:  # also for ops that record no graph (e.g. log of a constant)
            _Anomaly.check_forward(ctx, out)
            ctx.anomaly_where = (tuple(_Anomaly.modules), _Anomaly.step)
        return Tensor._make(out, ctx) if track else Tensor._make(out)


def _check_one_device(fn: type[Function], args: tuple) -> None:
    """Raise if the tensors among ``args`` live on more than one device."""
    devices = list(dict.fromkeys(a.device for a in args if isinstance(a, Tensor)))
    if len(devices) > 1:
        raise RuntimeError(
            f"{fn.__name__}: expected all tensors on one device, but found {devices[0]} and "
            f"{devices[1]}; move them with .to(device) (a model with model.to(device))"
        )


class _Anomaly:
    """State of ``detect_anomaly``: check every op's output and gradients for NaN/Inf.

    ``Module.__call__`` keeps ``modules`` (the modules whose forward is running, outermost
    first) and counts ``step`` (forward passes of an outermost module since anomaly
    detection began), so that a report can say where in the model and when.
    """

    enabled = False
    modules: list = []
    step = 0

    @staticmethod
    def where(modules: tuple | list, step: int) -> str:
        """``"module 'features.3' (Conv2d), step 12"``, or ``""`` outside any module."""
        if not modules:
            return ""
        root, inner = modules[0], modules[-1]
        name = next((n for n, m in root.named_modules() if m is inner), "")
        label = (f"module '{name}' ({type(inner).__name__})" if name
                 else f"the model ({type(root).__name__})")
        return f"{label}, step {step}"

    @staticmethod
    def check_forward(ctx: Context, out: np.ndarray) -> None:
        if np.issubdtype(out.dtype, np.floating) and not np.isfinite(out).all():
            where = _Anomaly.where(_Anomaly.modules, _Anomaly.step)
            raise FloatingPointError(
                f"detect_anomaly: {ctx.fn.__name__} produced {_describe_nonfinite(out)} "
                f"in its forward output{f' in {where}' if where else ''}"
            )

    @staticmethod
    def check_backward(ctx: Context, grads: tuple) -> None:
        for i, g in enumerate(grads):
            if g is not None and not np.isfinite(g).all():
                where = _Anomaly.where(*getattr(ctx, "anomaly_where", ((), 0)))
                raise FloatingPointError(
                    f"detect_anomaly: {ctx.name} produced {_describe_nonfinite(g)} "
                    f"in the gradient of its input {i}"
                    + (f" (its forward ran in {where})" if where else "")
                )


def _describe_nonfinite(a: np.ndarray) -> str:
    n_nan = int(np.isnan(a).sum())
    n_inf = int(np.isinf(a).sum())
    return f"{n_nan} NaN and {n_inf} Inf values (of {a.size})"


class detect_anomaly(contextlib.ContextDecorator):
    """Raise ``FloatingPointError`` at the first op whose output or gradient is NaN/Inf.

    The message names the op, the module it ran in (by its name in the outermost model,
    e.g. ``module '3' (Linear)``) and the step: the number of forward passes of the
    outermost model since detection began (for a backward error, the step whose forward
    built that part of the graph). Slows every op down (each result is scanned), so use it
    for debugging only.
    """

    def __init__(self) -> None:
        self._previous: list[bool] = []

    def __enter__(self) -> None:
        self._previous.append(_Anomaly.enabled)
        if not _Anomaly.enabled:
            _Anomaly.step = 0
        _Anomaly.enabled = True

    def __exit__(self, *exc: object) -> None:
        _Anomaly.enabled = self._previous.pop()


def _topological_order(root: Context) -> list[Context]:
    """Nodes reachable from ``root``, each before all the nodes it depends on.

    An explicit stack replaces recursion so that graphs thousands of ops deep work.
    """
    order: list[Context] = []
    seen = {root}
    stack = [(root, iter(root.next_nodes()))]
    while stack:
        node, parents = stack[-1]
        for parent in parents:
            if parent not in seen:
                seen.add(parent)
                stack.append((parent, iter(parent.next_nodes())))
                break
        else:
            stack.pop()
            order.append(node)
    order.reverse()
    return order


def _run_hooks(hooks: list[Callable], grad: np.ndarray) -> np.ndarray:
    for hook in hooks:
        result = hook(Tensor._make(grad))
        if result is not None:
            grad = result.data if isinstance(result, Tensor) else np.asarray(result)
    return grad


def run_backward(tensor: Tensor, grad: np.ndarray, retain_graph: bool) -> None:
    """Accumulate d(tensor)/d(leaf) * grad into ``.grad`` of every leaf that requires it."""
    leaf_grads: dict[int, list] = {}

    def send(t: Tensor, g: np.ndarray, source: str) -> None:
        if g.shape != t.data.shape:
            raise RuntimeError(
                f"{source} returned a gradient of shape {g.shape} for an input of shape "
                f"{t.data.shape}; a backward must return one gradient per input, "
                "shaped like that input"
            )
        if g.dtype != t.data.dtype:
            g = g.astype(t.data.dtype)
        if t.grad_fn is not None:
            key = t.grad_fn
            pending[key] = pending[key] + g if key in pending else g
        elif id(t) in leaf_grads:
            leaf_grads[id(t)][1] = leaf_grads[id(t)][1] + g
        else:
            leaf_grads[id(t)] = [t, g]

    pending: dict[Context, np.ndarray] = {}
    send(tensor, grad, "backward's gradient argument")
    if tensor.grad_fn is not None:
        for node in _topological_order(tensor.grad_fn):
            if node._released:
                raise RuntimeError(
                    f"backward through {node.name} a second time: its saved values were "
                    "freed by the first backward. Pass retain_graph=True to the first "
                    "backward() if you need to backpropagate through the graph again."
                )
            g = pending.pop(node, None)
            if g is None:
                continue
            if node.tensor_hooks:
                g = _run_hooks(node.tensor_hooks, g)
            grads = node.fn.backward(node, g)
            if not isinstance(grads, tuple):
                grads = (grads,)
            if _Anomaly.enabled:
                _Anomaly.check_backward(node, grads)
            for inp, gi, need in zip(node.inputs, grads, node.needs_input_grad, strict=False):
                if need and gi is not None:
                    send(inp, gi, node.name)
            if not retain_graph:
                node.release()

    given: set[int] = set()
    for leaf, g in leaf_grads.values():
        if leaf._hooks:
            g = _run_hooks(leaf._hooks, g)
            if g.shape != leaf.data.shape:
                raise RuntimeError(
                    f"a hook returned a gradient of shape {g.shape} for a tensor of shape "
                    f"{leaf.data.shape}; hooks must keep the gradient's shape"
                )
            g = g.astype(leaf.data.dtype, copy=False)
        if leaf.grad is None:
            # The same array can reach several leaves (e.g. both inputs of an add);
            # each .grad must own its memory because optimisers update it in place.
            if id(g) in given or not g.flags.owndata or not g.flags.writeable:
                g = g.copy()
            given.add(id(g))
            leaf.grad = g
        else:
            leaf.grad += g


# Function.apply wraps results in Tensor, and tensor.py builds on this module, so the
# import comes last: minidl/__init__ imports this module first.
from minidl import backend  # noqa: E402
from minidl.tensor import Tensor  # noqa: E402
