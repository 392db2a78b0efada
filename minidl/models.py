"""Ready-made models, built from ``minidl.nn`` layers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from minidl import nn


def activation_names() -> list[str]:
    """The lower-case names ``activation`` accepts: every activation module's name."""
    return sorted(name.lower() for name in nn.activation.ACTIVATION_MODULES)


def activation(name: str, **params: object) -> nn.Module:
    """A new activation module from its name in any case (``"relu"``, ``"LeakyReLU"``),
    with optional parameters (``activation("leaky_relu", negative_slope=0.2)``; underscores
    are ignored in the name)."""
    wanted = name.lower().replace("_", "")
    for module in nn.activation.ACTIVATION_MODULES:
        if module.lower() == wanted:
            return nn.build_activation({"type": module, **params})
    raise KeyError(f"unknown activation {name!r}; known: {', '.join(activation_names())}")


ActivationSpec = str | Mapping[str, Any]
INITS = ("pytorch", "lecun_normal", "xavier_uniform", "xavier_normal", "kaiming_uniform",
         "kaiming_normal")


def _activation(spec: ActivationSpec) -> nn.Module:
    """A fresh activation module from a name or a ``build_activation`` config dict."""
    if isinstance(spec, str):
        return activation(spec)
    if isinstance(spec, Mapping):
        return nn.build_activation(dict(spec))
    raise TypeError(f"activation must be a name such as 'relu' or a config dict such as "
                    f"{{'type': 'LeakyReLU', 'negative_slope': 0.2}}, got {spec!r}")


def _self_normalizing(act: nn.Module) -> bool:
    return type(act).__name__ == "SELU"


def _dropout(p: float, self_normalizing: bool) -> nn.Module:
    # Plain dropout breaks SELU's fixed point (mean 0, variance 1); AlphaDropout keeps it.
    return nn.AlphaDropout(p) if self_normalizing else nn.Dropout(p)


def initialize(model: nn.Module, init: str) -> nn.Module:
    """Re-initialise every ``Linear`` and ``Conv2d`` weight of ``model`` in place.

    Parameters
    ----------
    model : Module
    init : str
        ``'pytorch'`` keeps the layers' own (PyTorch's default) initialisation; the others
        fill weights with the ``nn.init`` function of that name (Kaiming with the ReLU gain,
        LeCun ``N(0, 1/fan_in)`` for SELU networks) and set biases to zero.

    Returns
    -------
    Module
        ``model`` itself.
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
    if init == "pytorch":
        return model
    fill = getattr(nn.init, init + "_")
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            fill(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def _default_init(init: str | None, act: nn.Module) -> str:
    return init if init is not None else "lecun_normal" if _self_normalizing(act) else "pytorch"


def mlp(in_features: int = 784, hidden: Sequence[int] = (256, 256), out_features: int = 10,
        activation: ActivationSpec = "relu", dropout: float = 0.0,
        init: str | None = None) -> nn.Sequential:
    """A multilayer perceptron: Flatten → [Linear → activation → Dropout?] × len(hidden) → Linear.

    Parameters
    ----------
    in_features, hidden, out_features : int, sequence of int, int
        Layer widths. Inputs of any shape (N, ...) are flattened to (N, in_features) first,
        so MNIST images (N, 1, 28, 28) can be fed directly.
    activation : str or dict
        Any registered activation by name in any case (``"relu"``, ``"LeakyReLU"``) or a
        config dict for ``nn.build_activation`` (``{"type": "ELU", "alpha": 0.5}``); every
        hidden layer gets its own module (so each PReLU learns its own slope).
    dropout : float
        Dropout probability after each hidden activation (0: none). SELU networks get
        ``AlphaDropout``, which keeps their self-normalisation.
    init : str, optional
        One of ``INITS`` (see :func:`initialize`). Default: ``'lecun_normal'`` for SELU, as
        the SELU paper prescribes, else ``'pytorch'``.
    """
    acts = [_activation(activation) for _ in hidden]
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for h, act in zip(hidden, acts, strict=True):
        layers += [nn.Linear(width, h), act]
        if dropout:
            layers.append(_dropout(dropout, _self_normalizing(act)))
        width = h
    layers.append(nn.Linear(width, out_features))
    probe = acts[0] if acts else _activation(activation)
    return initialize(nn.Sequential(*layers), _default_init(init, probe))


def mnist_cnn(activation: ActivationSpec = "relu",
              dropout: float | tuple[float, float] = (0.25, 0.5), init: str | None = None,
              in_channels: int = 1, num_classes: int = 10,
              image_size: int = 28) -> nn.Sequential:
    """The classic Keras MNIST CNN::

        Conv2d(1, 32, 3) → act → Conv2d(32, 64, 3) → act → MaxPool2d(2) → Dropout(0.25)
        → Flatten → Linear(9216, 128) → act → Dropout(0.5) → Linear(128, 10)

    Parameters
    ----------
    activation : str or dict
        As for :func:`mlp`; each of the three places gets its own module.
    dropout : float or (float, float)
        The two dropout probabilities (after the pooling, after the hidden Linear); one
        number sets both, 0 removes them. SELU networks get ``AlphaDropout``.
    init : str, optional
        As for :func:`mlp` (``'lecun_normal'`` for SELU, else PyTorch's default).
    in_channels, num_classes, image_size : int
        For other square images (Fashion-MNIST has the MNIST sizes).
    """
    p_conv, p_fc = (dropout, dropout) if isinstance(dropout, (int, float)) else dropout
    side = (image_size - 4) // 2
    if side < 1:
        raise ValueError(f"mnist_cnn: image_size {image_size} is too small; two 3x3 "
                         "convolutions and a 2x2 pooling need at least 6")
    acts = [_activation(activation) for _ in range(3)]
    selu = _self_normalizing(acts[0])
    layers: list[nn.Module] = [nn.Conv2d(in_channels, 32, 3), acts[0], nn.Conv2d(32, 64, 3),
                               acts[1], nn.MaxPool2d(2)]
    if p_conv:
        layers.append(_dropout(p_conv, selu))
    layers += [nn.Flatten(), nn.Linear(64 * side * side, 128), acts[2]]
    if p_fc:
        layers.append(_dropout(p_fc, selu))
    layers.append(nn.Linear(128, num_classes))
    return initialize(nn.Sequential(*layers), _default_init(init, acts[0]))
