"""Activation modules: one class per registered activation, plus PReLU, RReLU and GELU.

The elementwise ones are generated from the registry in ``minidl/kernels/activations.py``
(``nn.ELU(alpha=1.0)`` calls ``F.elu``); their constructors take PyTorch's arguments,
``inplace`` included where PyTorch has it. ``build_activation`` makes any of them from a
config dict.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from minidl import functional as F
from minidl.kernels.activations import REGISTRY, Activation
from minidl.nn.module import Module
from minidl.nn.parameter import Parameter
from minidl.tensor import Tensor, get_default_dtype


class ElementwiseActivation(Module):
    """Base of the generated activation modules: holds the parameters, calls ``F.<name>``."""

    activation: Activation
    _signature: inspect.Signature

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        act = self.activation
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{act.module}{self._signature}: {e}") from None
        bound.apply_defaults()
        values = {p: F._number(act.module, p, bound.arguments[p]) for p in act.params}
        if act.validate is not None:
            act.validate(**values)
        for p, v in values.items():
            setattr(self, p, v)
        self.inplace = bool(bound.arguments.get("inplace", False))

    def forward(self, x: Tensor) -> Tensor:
        act = self.activation
        params = tuple(getattr(self, p) for p in act.params)
        return F.apply_activation(act, x, params, self.inplace)

    def extra_repr(self) -> str:
        parts = [f"{p}={getattr(self, p)!r}" for p in self.activation.params]
        if self.inplace:
            parts.append("inplace=True")
        return ", ".join(parts)


def make_module(act: Activation) -> type[ElementwiseActivation]:
    """The ``nn`` class for a registered activation (``ELU(alpha=1.0, inplace=False)``)."""
    parameters = [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d)
                  for p, d in act.params.items()]
    if act.inplace:
        parameters.append(inspect.Parameter("inplace", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                            default=False))
    signature = inspect.Signature(parameters)
    doc = (f"{act.module}, elementwise: ``{act.formula}``.\n\n"
           f"Constructor: ``{act.module}{signature}``; the functional form is "
           f"``F.{act.name}``.")
    return type(act.module, (ElementwiseActivation,), {
        "activation": act, "_signature": signature, "__doc__": doc,
        "__module__": __name__, "__signature__": signature,
    })


class PReLU(Module):
    """``x if x > 0 else a·x`` with a learnable slope ``a``, shared or one per channel.

    Parameters
    ----------
    num_parameters : int, default 1
        1 (one slope for all channels) or the number of channels (axis 1 of the input).
    init : float, default 0.25
        The slopes' starting value. PyTorch's advice holds: don't apply weight decay to
        ``weight`` (it would pull the slope towards a plain ReLU).
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25,
                 dtype: Any = None) -> None:
        super().__init__()
        if isinstance(num_parameters, bool) or not isinstance(num_parameters, (int, np.integer)) \
                or num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be a positive integer, got "
                             f"{num_parameters!r}")
        init = F._number("PReLU", "init", init)
        self.num_parameters = int(num_parameters)
        self.weight = Parameter(np.full(self.num_parameters, init,
                                        dtype=dtype or get_default_dtype()))

    def forward(self, x: Tensor) -> Tensor:
        return F.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class RReLU(Module):
    """Randomized leaky ReLU: a random slope ``a ~ U(lower, upper)`` per element while
    training, the mean slope ``(lower + upper)/2`` in evaluation (see ``F.rrelu``)."""

    def __init__(self, lower: float = 1 / 8, upper: float = 1 / 3, inplace: bool = False) -> None:
        super().__init__()
        self.lower = F._number("RReLU", "lower", lower)
        self.upper = F._number("RReLU", "upper", upper)
        if self.lower > self.upper:
            raise ValueError(f"RReLU: lower ({lower}) must be <= upper ({upper})")
        self.inplace = bool(inplace)

    def forward(self, x: Tensor) -> Tensor:
        return F.rrelu(x, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace
                                                            else "")


class GELU(Module):
    """``x·Φ(x)``; ``approximate='tanh'`` uses ``½x(1 + tanh(√(2/π)(x + 0.044715x³)))``."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """``e^x / Σ e^x`` along ``dim``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """``x - log Σ e^x`` along ``dim``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, self.dim)


ACTIVATION_MODULES: dict[str, type[Module]] = {"PReLU": PReLU, "RReLU": RReLU, "GELU": GELU}


def install_module(act: Activation) -> type[ElementwiseActivation]:
    """Generate ``nn.<act.module>`` and list it for ``build_activation``."""
    cls = make_module(act)
    globals()[act.module] = cls
    ACTIVATION_MODULES[act.module] = cls
    return cls


for _act in REGISTRY.values():
    if _act.module not in ACTIVATION_MODULES:
        install_module(_act)
del _act


def build_activation(config: dict[str, Any]) -> Module:
    """An activation module from a config dict, e.g. ``{'type': 'LeakyReLU',
    'negative_slope': 0.2}``.

    Raises
    ------
    KeyError
        For a missing or unknown ``type`` (the message lists the known ones).
    TypeError
        For a parameter the activation does not take (named in the message).
    """
    if not isinstance(config, dict):
        raise TypeError(f"build_activation: config must be a dict, got {type(config).__name__}")
    params = dict(config)
    kind = params.pop("type", None)
    known = ", ".join(sorted(ACTIVATION_MODULES))
    if kind not in ACTIVATION_MODULES:
        close = [k for k in ACTIVATION_MODULES
                 if isinstance(kind, str) and k.lower() == kind.lower()]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise KeyError(f"build_activation: unknown activation type {kind!r}{hint}; known types: "
                       f"{known}")
    cls = ACTIVATION_MODULES[kind]
    accepted = inspect.signature(cls).parameters
    for name in params:
        if name not in accepted:
            raise TypeError(f"build_activation: {kind} has no parameter {name!r}; its parameters "
                            f"are {', '.join(accepted) or 'none'}")
    return cls(**params)
