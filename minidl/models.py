"""Ready-made models, built from ``minidl.nn`` layers."""

from __future__ import annotations

from collections.abc import Sequence

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


def mlp(in_features: int = 784, hidden: Sequence[int] = (256, 256), out_features: int = 10,
        activation_name: str = "relu", dropout: float = 0.0) -> nn.Sequential:
    """A multilayer perceptron: Flatten → [Linear → activation → Dropout?] × len(hidden) → Linear.

    Inputs of any shape (N, ...) are flattened to (N, in_features) first, so MNIST images
    (N, 1, 28, 28) can be fed directly. Layers use PyTorch's default initialisation.
    """
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), activation(activation_name)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)
