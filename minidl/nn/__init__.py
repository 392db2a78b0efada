"""Neural-network building blocks: ``Module``, layers, losses, ``init`` and ``utils``.

Every activation module (``nn.ReLU``, ``nn.ELU``, ``nn.PReLU``, ...) is listed in
``nn.activation.ACTIVATION_MODULES``; most are generated from the activation registry.
"""

from minidl.nn import init, utils
from minidl.nn.activation import (
    ACTIVATION_MODULES,
    LogSoftmax,
    Softmax,
    build_activation,
)
from minidl.nn.container import ModuleList, Sequential
from minidl.nn.conv import Conv2d
from minidl.nn.dropout import AlphaDropout, Dropout, Dropout2d, FeatureAlphaDropout
from minidl.nn.linear import Flatten, Identity, Linear
from minidl.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from minidl.nn.module import Module
from minidl.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from minidl.nn.parameter import Parameter
from minidl.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

globals().update(ACTIVATION_MODULES)

__all__ = [
    "BCEWithLogitsLoss", "Conv2d", "CrossEntropyLoss", "Dropout", "Flatten", "Identity", "Linear",
    "LogSoftmax", "MSELoss", "Module", "ModuleList", "NLLLoss", "Parameter", "Sequential",
    "Softmax", "build_activation", "init", "utils", *sorted(ACTIVATION_MODULES),
    "AdaptiveAvgPool2d", "AlphaDropout", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Dropout2d",
    "FeatureAlphaDropout", "LayerNorm", "MaxPool2d",
]
