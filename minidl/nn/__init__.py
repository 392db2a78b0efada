"""Neural-network building blocks: ``Module``, layers, losses, ``init`` and ``utils``."""

from minidl.nn import init, utils
from minidl.nn.activation import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from minidl.nn.container import ModuleList, Sequential
from minidl.nn.dropout import Dropout
from minidl.nn.linear import Flatten, Identity, Linear
from minidl.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from minidl.nn.module import Module
from minidl.nn.parameter import Parameter

__all__ = [
    "BCEWithLogitsLoss", "CrossEntropyLoss", "Dropout", "Flatten", "Identity", "Linear",
    "LogSoftmax", "MSELoss", "Module", "ModuleList", "NLLLoss", "Parameter", "ReLU",
    "Sequential", "Sigmoid", "Softmax", "Tanh", "init", "utils",
]
