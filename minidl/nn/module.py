"""``Module``: the base class of layers and models.

A module owns parameters (learnable ``Parameter`` tensors), buffers (state that is saved
but not learned, such as running statistics) and child modules, all registered simply by
assigning them as attributes. Everything else — ``parameters()``, ``state_dict()``,
``train()``/``eval()``, ``repr`` — walks that tree.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from minidl import backend
from minidl.autograd import _Anomaly, is_grad_enabled
from minidl.nn import backward_hooks
from minidl.nn.parameter import Parameter
from minidl.tensor import Tensor, _RemovableHandle

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])

_hook_ids = itertools.count()


class Module:
    """Base class of every layer and model; subclasses define ``forward``.

    Examples
    --------
    >>> class TwoLayer(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc1 = nn.Linear(784, 100)   # registered as a child module
    ...         self.fc2 = nn.Linear(100, 10)
    ...     def forward(self, x):
    ...         return self.fc2(F.relu(self.fc1(x)))
    """

    training: bool

    def __init__(self) -> None:
        # Written through object.__setattr__ because our __setattr__ needs these dicts.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_forward_hooks", {})
        object.__setattr__(self, "_forward_pre_hooks", {})
        object.__setattr__(self, "_backward_hooks", {})

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if _Anomaly.enabled:
            return self._call_tracked(*args, **kwargs)
        return self._call(*args, **kwargs)

    def _call_tracked(self, *args: Any, **kwargs: Any) -> Any:
        """``_call`` inside detect_anomaly: keep the stack of running modules for reports."""
        if not _Anomaly.modules:
            _Anomaly.step += 1
        _Anomaly.modules.append(self)
        try:
            return self._call(*args, **kwargs)
        finally:
            _Anomaly.modules.pop()

    def _call(self, *args: Any, **kwargs: Any) -> Any:
        if not (self._forward_pre_hooks or self._forward_hooks or self._backward_hooks):
            return self.forward(*args, **kwargs)
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        if self._backward_hooks and is_grad_enabled():
            output = backward_hooks.wrap_call(self, list(self._backward_hooks.values()), args,
                                              lambda *a: self.forward(*a, **kwargs))
        else:
            output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    # ------------------------------------------------------------- registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() has run; call "
                "super().__init__() first in your module's __init__"
            )
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            self._forget(name, keep=params)
            params[name] = value
        elif isinstance(value, Module):
            self._forget(name, keep=modules)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign a {type(value).__name__} as parameter {name!r} "
                    "(a Parameter or None is expected)"
                )
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign a {type(value).__name__} as child module {name!r} "
                    "(a Module or None is expected)"
                )
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign a {type(value).__name__} as buffer {name!r} "
                    "(a Tensor or None is expected)"
                )
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: dict | None = None) -> None:
        """Drop ``name`` from every registry but ``keep`` (where a reassignment keeps its
        place, so the order of ``state_dict`` does not change)."""
        for store in (self.__dict__, self._parameters, self._buffers, self._modules):
            if store is not keep:
                store.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        # Only reached when ordinary lookup fails: look in the registries.
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or None, an absent optional parameter) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None")
        self._forget(name, keep=self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a tensor that is part of the module's state but is not learned.

        Persistent buffers are saved in ``state_dict``.
        """
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None")
        self._forget(name, keep=self._buffers)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a child module under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module, got {type(module).__name__}")
        self._forget(name, keep=self._modules)
        self._modules[name] = module

    # ------------------------------------------------------------- traversal
    def named_modules(self, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """This module and all its descendants with dotted names; a module reachable by
        several paths is listed once unless ``remove_duplicate=False``."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            if remove_duplicate:
                seen.add(id(module))
            yield name, module
            children = [(f"{name}.{n}" if name else n, m)
                        for n, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, store: str, prefix: str, recurse: bool) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, value in getattr(module, store).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{module_name}.{name}" if module_name else name), value

    def named_parameters(self, prefix: str = "",
                         recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(name, parameter)`` pairs; a parameter shared by two layers appears once."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every descendant (children first), then on this module."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> Module:
        """Put this module and all descendants in training mode (or evaluation mode)."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: dropout off, normalisation layers use running statistics."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for param in self.parameters():
            param.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad`` (to None, or to zeros)."""
        for param in self.parameters():
            if set_to_none or param.grad is None:
                param.grad = None
            else:
                param.grad[...] = 0

    def to(self, *args: Any, dtype: Any = None, device: Any = None) -> Module:
        """Move every parameter and buffer to a device and/or convert the floating-point
        ones to a dtype, in place: ``model.to('cuda')``, ``model.to(minidl.float64)``.

        The parameters stay the same objects (only their data moves), so do it before
        building the optimizer, whose state is created on the parameters' device.
        """
        device, dtype = backend.to_arguments("Module.to", args, dtype, device)
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype.kind != "f":
                raise TypeError(f"Module.to: expected a floating-point dtype, got {dtype}")
        dev = None if device is None else backend.device(device)
        for t in itertools.chain(self.parameters(), self.buffers()):
            if dev is not None:
                t.data = backend.to_device(t.data, dev)
                t.grad = None if t.grad is None else backend.to_device(t.grad, dev)
            if dtype is not None and t.dtype.kind == "f":
                t.data = t.data.astype(dtype)
                t.grad = None if t.grad is None else t.grad.astype(dtype)
        return self

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self, index: int = 0) -> Module:
        return self.to(f"cuda:{index}")

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    # ------------------------------------------------------------- state
    def _state_tensors(self) -> dict[str, Tensor]:
        """Every parameter and persistent buffer, by dotted name (a shared submodule under
        each of its names, as in PyTorch)."""
        tensors = {}
        for module_name, module in self.named_modules(remove_duplicate=False):
            prefix = f"{module_name}." if module_name else ""
            for name, param in module._parameters.items():
                if param is not None:
                    tensors[prefix + name] = param
            for name, buf in module._buffers.items():
                if buf is not None and name not in module._non_persistent:
                    tensors[prefix + name] = buf
        return tensors

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter and persistent buffer, by dotted name."""
        return OrderedDict((k, t.data.copy()) for k, t in self._state_tensors().items())

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into this module's parameters and buffers.

        Everything is checked before anything is copied: with ``strict``, missing and
        unexpected keys are errors; a shape mismatch is always an error. The error lists
        every problem at once.
        """
        own = self._state_tensors()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        if strict and missing:
            problems.append("Missing key(s): " + ", ".join(repr(k) for k in missing))
        if strict and unexpected:
            problems.append("Unexpected key(s): " + ", ".join(repr(k) for k in unexpected))
        values = {}
        for key, tensor in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key].data if isinstance(state_dict[key], Tensor) \
                else state_dict[key]
            value = backend.to_device(value if backend.device_of(value).type == "cuda"
                                      else np.asarray(value), tensor.device)
            if value.shape != tensor.shape:
                problems.append(
                    f"size mismatch for {key!r}: the checkpoint has shape {value.shape}, "
                    f"the model has shape {tensor.shape}"
                )
            values[key] = value
        if problems:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n  "
                + "\n  ".join(problems)
            )
        for key, value in values.items():
            own[key].data[...] = value
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------- hooks
    def register_forward_hook(self, hook: Callable[[Module, tuple, Any], Any]) -> _RemovableHandle:
        """Call ``hook(module, inputs, output)`` after every forward.

        A hook that returns a value replaces the output. Returns a handle; ``remove()``
        unregisters the hook.
        """
        key = next(_hook_ids)
        self._forward_hooks[key] = hook
        return _RemovableHandle(self._forward_hooks, key)

    def register_forward_pre_hook(self, hook: Callable[[Module, tuple], Any]) -> _RemovableHandle:
        """Call ``hook(module, inputs)`` before every forward; it may return new inputs."""
        key = next(_hook_ids)
        self._forward_pre_hooks[key] = hook
        return _RemovableHandle(self._forward_pre_hooks, key)

    def register_full_backward_hook(
            self, hook: Callable[[Module, tuple, tuple], Any]) -> _RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` when backward passes this module.

        ``grad_input`` holds the gradients with respect to the module's positional inputs
        (None for an input that does not require grad, such as the data fed to the first
        layer) and ``grad_output`` the gradient with respect to its output, as tensors. A
        hook may return a tuple of new ``grad_input`` to pass on instead (for modules with
        one input that requires grad). The module must return one Tensor. Returns a handle;
        ``remove()`` unregisters the hook.
        """
        key = next(_hook_ids)
        self._backward_hooks[key] = hook
        return _RemovableHandle(self._backward_hooks, key)

    # ------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (e.g. layer sizes)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + repr(m).replace("\n", "\n  ")
                       for name, m in self._modules.items()]
        if not child_lines and len(extra_lines) <= 1:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(extra_lines + child_lines) + "\n)"

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))
