"""The activation library's public face: list the activations, or add one.

>>> import minidl
>>> minidl.activations.available()["LeakyReLU"]
{'negative_slope': 0.01, 'inplace': False}

Adding an activation (the homework path, see ``docs/adding-an-activation.md``) takes two
scalar functions::

    def swish(x, beta):
        return x * sigmoid(beta * x)

    def swish_grad(x, y, beta):
        s = sigmoid(beta * x)
        return s + beta * x * s * (1.0 - s)

    minidl.activations.register("swish", "Swish", swish, swish_grad, params={"beta": 1.0})

after which ``F.swish``, ``nn.Swish`` and ``build_activation({'type': 'Swish'})`` exist,
with fused CPU and GPU kernels generated from the same two functions.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from minidl import functional as F
from minidl import nn
from minidl.kernels import activations as _scalar
from minidl.kernels.activations import Activation
from minidl.nn import activation as _modules

__all__ = ["Activation", "available", "get", "register", "unregister"]

_BUILTIN = frozenset(_scalar.REGISTRY)


def available() -> dict[str, dict[str, Any]]:
    """Every activation module with its constructor parameters and their defaults."""
    return {
        name: {p.name: p.default for p in inspect.signature(cls).parameters.values()}
        for name, cls in sorted(_modules.ACTIVATION_MODULES.items())
    }


def get(name: str) -> Activation:
    """The registry record of the activation ``F.<name>`` (its scalar functions, params)."""
    try:
        return _scalar.REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown activation {name!r}; registered: "
                       f"{', '.join(sorted(_scalar.REGISTRY))}") from None


def register(name: str, module: str, f: Callable, df: Callable,
             params: dict[str, float] | None = None, *, formula: str = "",
             dparams: dict[str, Callable] | None = None, kinks: tuple[float, ...] = (),
             inplace: bool = False, validate: Callable | None = None) -> Activation:
    """Add an activation from its scalar value ``f(x, *params)`` and derivative
    ``df(x, y, *params)``; creates ``F.<name>`` and ``nn.<module>``.

    The scalar functions follow the rules in ``minidl/kernels/activations.py``: plain
    arithmetic, conditional expressions, and ``fm.exp``-style math (import
    ``from minidl.kernels import fastmath as fm``). See that module's ``Activation`` for
    the other arguments.
    """
    if module in _modules.ACTIVATION_MODULES and \
            getattr(_modules.ACTIVATION_MODULES[module], "activation", None) is None:
        raise ValueError(f"register: nn.{module} is a hand-written module; choose another name")
    if hasattr(F, name) and name not in _scalar.REGISTRY:
        raise ValueError(f"register: F.{name} already exists and is not an activation; "
                         "choose another name")
    act = _scalar.register(Activation(
        name, module, f, df, dict(params or {}), formula or name, dict(dparams or {}),
        tuple(kinks), inplace, validate))
    F.install_activation(act)
    setattr(nn, module, _modules.install_module(act))
    return act


def unregister(name: str) -> None:
    """Remove an activation added with ``register``: ``F.<name>``, its ``nn`` module and its
    compiled kernels. minidl's own activations cannot be removed.
    """
    if name in _BUILTIN:
        raise ValueError(f"unregister: {name!r} is one of minidl's own activations")
    act = get(name)
    del _scalar.REGISTRY[name]
    if getattr(F, name, None) is not None:
        delattr(F, name)
    for namespace in (nn, _modules):
        if getattr(namespace, act.module, None) is not None:
            delattr(namespace, act.module)
    _modules.ACTIVATION_MODULES.pop(act.module, None)
    from minidl.kernels import cpu
    for cache in (cpu._MODULES, cpu._SCALARS):
        for key in [k for k in cache if k[0] == name]:
            del cache[key]
