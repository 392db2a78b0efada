"""Optimisers, which update parameters from their gradients, and learning-rate schedules.

>>> opt = minidl.optim.Adam(model.parameters(), lr=1e-3)
>>> for x, y in loader:
...     opt.zero_grad()
...     loss_fn(model(x), y).backward()
...     opt.step()
"""

from minidl.optim import lr_scheduler
from minidl.optim.adagrad import Adagrad
from minidl.optim.adam import Adam, AdamW
from minidl.optim.optimizer import Optimizer
from minidl.optim.rmsprop import RMSprop
from minidl.optim.sgd import SGD

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]
