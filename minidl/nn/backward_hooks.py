"""How ``Module.register_full_backward_hook`` sees a module's gradients.

A module is a whole sub-graph, not one node, so its gradients are caught at its borders:
every input that requires grad passes through an identity node (``HookInput``) before
``forward`` and the output through another (``HookOutput``) after it::

    x ─ HookInput ─▶ forward(...) ─▶ y ─ HookOutput ─▶ rest of the graph

Backward reaches ``HookOutput`` first (it records ``grad_output``) and the ``HookInput``
nodes last; when the last of them has its gradient, the hooks run with
``(module, grad_input, grad_output)``, as in PyTorch. When no input requires grad (the
first layer of a network), the hooks run from ``HookOutput`` with ``grad_input`` all None.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minidl import backend
from minidl.autograd import Context, Function
from minidl.tensor import Tensor


class BackwardHookCall:
    """One forward call's gradients, gathered until the module's hooks can run."""

    def __init__(self, module: Any, hooks: list[Callable], n_inputs: int,
                 waiting: set[int]) -> None:
        self.module = module
        self.hooks = hooks
        self.grad_inputs: list[np.ndarray | None] = [None] * n_inputs
        self.grad_output: np.ndarray | None = None
        self.waiting = waiting

    def run_hooks(self) -> list[np.ndarray | None]:
        """Call every hook; a hook that returns gradients replaces ``grad_input``."""
        grads = list(self.grad_inputs)
        for hook in self.hooks:
            result = hook(self.module, tuple(None if g is None else Tensor._make(g)
                                             for g in grads),
                          (None if self.grad_output is None
                           else Tensor._make(self.grad_output),))
            if result is None:
                continue
            result = result if isinstance(result, (tuple, list)) else (result,)
            if len(result) != len(grads):
                raise RuntimeError(
                    f"backward hook of {type(self.module).__name__} returned {len(result)} "
                    f"gradients for a module with {len(grads)} inputs; return one per "
                    "input (None to keep it) or return None")
            for i, new in enumerate(result):
                if new is not None:
                    value = backend.asarray(new.data if isinstance(new, Tensor) else new)
                    if grads[i] is None or value.shape != grads[i].shape:
                        raise RuntimeError(
                            f"backward hook of {type(self.module).__name__} returned a "
                            f"gradient of shape {value.shape} for input {i}, which has "
                            f"{'no gradient' if grads[i] is None else grads[i].shape}")
                    grads[i] = value.astype(grads[i].dtype, copy=False)
        return grads


class HookInput(Function):
    """Identity on one module input; its backward delivers that input's gradient."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, call: BackwardHookCall, index: int) -> np.ndarray:
        ctx.call, ctx.index = call, index
        return x

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        call = ctx.call
        call.grad_inputs[ctx.index] = grad
        call.waiting.discard(ctx.index)
        if call.waiting:
            return grad, None, None
        grads = call.run_hooks()
        # The other inputs' nodes have already passed their gradients on, so only this one's
        # can still be replaced: a new gradient for another input is an error, not ignored.
        for i, (old, new) in enumerate(zip(call.grad_inputs, grads, strict=True)):
            if i != ctx.index and new is not old:
                raise RuntimeError(
                    f"backward hook of {type(call.module).__name__} replaced the gradient of "
                    f"input {i}; minidl can replace grad_input only for modules with one "
                    "input that requires grad")
        return grads[ctx.index], None, None


class HookOutput(Function):
    """Identity on a module's output; its backward records ``grad_output``."""

    @staticmethod
    def forward(ctx: Context, y: np.ndarray, call: BackwardHookCall) -> np.ndarray:
        ctx.call = call
        return y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        call = ctx.call
        call.grad_output = grad
        if not call.waiting:  # no input requires grad: nothing further will arrive
            call.run_hooks()
        return grad, None


def wrap_call(module: Any, hooks: list[Callable], args: tuple,
              forward: Callable[..., Any]) -> Any:
    """Run ``forward(*args)`` with the identity nodes around it (see the module docstring)."""
    waiting = {i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad}
    call = BackwardHookCall(module, hooks, len(args), set(waiting))
    wrapped = tuple(HookInput.apply(a, call, i) if i in waiting else a
                    for i, a in enumerate(args))
    output = forward(*wrapped)
    if not isinstance(output, Tensor):
        raise TypeError(
            f"register_full_backward_hook: {type(module).__name__}.forward returned "
            f"{type(output).__name__}; full backward hooks need a module that returns one "
            "Tensor")
    if not output.requires_grad:
        return output
    return HookOutput.apply(output, call)
