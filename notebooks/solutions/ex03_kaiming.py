"""Reference solution of ex03_kaiming."""

import math

from minidl import nn


def _fans(tensor):
    receptive_field = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He initialisation from a normal distribution, in place."""
    fan_in, fan_out = _fans(tensor)
    n = fan_in if mode == "fan_in" else fan_out
    gain = nn.init.calculate_gain(nonlinearity, a)
    return nn.init.normal_(tensor, 0.0, gain / math.sqrt(n))


def lecun_normal_(tensor):
    """LeCun initialisation from a normal distribution, in place."""
    fan_in, _ = _fans(tensor)
    return nn.init.normal_(tensor, 0.0, math.sqrt(1.0 / fan_in))
