"""Containers: modules that hold other modules."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

from minidl.nn.module import Module


class Sequential(Module):
    """Apply child modules in order: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Children are named "0", "1", ... or, given an ``OrderedDict``, by its keys.
    """

    def __init__(self, *modules: Module | OrderedDict[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(modules):
                self.add_module(str(i), module)

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, idx: int | slice) -> Module:
        if isinstance(idx, slice):  # the slice keeps its layers' names, as in PyTorch
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[idx]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self


class ModuleList(Module):
    """A list of modules whose parameters are registered (a plain list would hide them)."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        for module in modules:
            self.append(module)

    def __getitem__(self, idx: int | slice) -> Module | ModuleList:
        modules = list(self._modules.values())
        if isinstance(idx, slice):
            return ModuleList(modules[idx])
        return modules[idx]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for module in modules:
            self.append(module)
        return self

    def __repr__(self) -> str:
        """As PyTorch writes it: a run of identical layers is one line, ``(0-2): 3 x ...``."""
        runs: list[list] = []  # [first index, last index, repr]
        for i, module in enumerate(self):
            text = repr(module)
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        if not runs:
            return "ModuleList()"
        lines = [(f"({a}): {text}" if a == b else f"({a}-{b}): {b - a + 1} x {text}")
                 .replace("\n", "\n  ") for a, b, text in runs]
        return "ModuleList(\n  " + "\n  ".join(lines) + "\n)"

    def forward(self, *args: Any) -> Any:
        raise NotImplementedError(
            "ModuleList has no forward(): iterate over it in your module's forward instead"
        )
