"""What every probe shares: choosing layers by name or type, the hook handles that attach
and detach it, and rendering results (lists of dicts) as markdown tables."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from minidl.nn.activation import ACTIVATION_MODULES
from minidl.nn.module import Module

LayerSpec = str | type | Iterable[str | type]


def is_activation(module: Module) -> bool:
    """True for an activation module (a class listed in ``nn.activation.ACTIVATION_MODULES``)."""
    # Read at call time: ``minidl.activations.register`` may have added classes since import.
    return isinstance(module, tuple(ACTIVATION_MODULES.values()))


def select_layers(model: Module, layers: LayerSpec | None, default: Callable[[Module], bool],
                  what: str, probe: str) -> list[tuple[str, Module]]:
    """The ``(name, module)`` pairs a probe attaches to, in the model's order.

    Parameters
    ----------
    model : Module
    layers : str, type, or iterable of them, optional
        Names as listed by ``model.named_modules()`` (``"fc1"``, ``"block.0"``) and/or
        module classes (``nn.Linear`` picks every Linear layer). None: every module for
        which ``default`` is true.
    default : callable
        The default choice; it also describes which layers make sense (``what``).
    what, probe : str
        For the error messages: the kind of layer expected and the probe's name.

    Raises
    ------
    TypeError
        If ``model`` is not a Module, or an entry is neither a name nor a Module class.
    KeyError
        For a name the model does not have (the message lists the names it has).
    ValueError
        If nothing is selected.
    """
    if not isinstance(model, Module):
        raise TypeError(f"{probe}: model must be a minidl.nn.Module, got {type(model).__name__}")
    named = list(model.named_modules())
    by_name = dict(named)
    if layers is None:
        chosen = {id(m) for _, m in named if default(m)}
        if not chosen:
            raise ValueError(f"{probe}: {type(model).__name__} has no {what}; choose layers "
                             "with layers=[...] (names from model.named_modules() or classes)")
        return [(n, m) for n, m in named if id(m) in chosen]
    entries = [layers] if isinstance(layers, (str, type)) else list(layers)
    chosen: set[int] = set()
    for entry in entries:
        if isinstance(entry, str):
            if entry not in by_name:
                known = ", ".join(repr(n) for n, _ in named if n)
                raise KeyError(f"{probe}: {type(model).__name__} has no layer named {entry!r}; "
                               f"its layers are {known}")
            chosen.add(id(by_name[entry]))
        elif isinstance(entry, type) and issubclass(entry, Module):
            matches = [m for _, m in named if isinstance(m, entry)]
            if not matches:
                raise ValueError(f"{probe}: {type(model).__name__} has no {entry.__name__} "
                                 "layers")
            chosen.update(id(m) for m in matches)
        else:
            raise TypeError(f"{probe}: layers must hold layer names (str) or Module classes, "
                            f"got {type(entry).__name__} {entry!r}")
    if not chosen:
        raise ValueError(f"{probe}: layers is empty; pass None for every {what}")
    return [(n, m) for n, m in named if id(m) in chosen]


class Probe:
    """Base of the probes: holds the hook handles; ``remove()`` (or leaving a ``with``
    block) unregisters every one of them, leaving the model as it was."""

    def __init__(self) -> None:
        self._handles: list[Any] = []

    @property
    def attached(self) -> bool:
        """Whether the probe's hooks are still registered."""
        return bool(self._handles)

    def remove(self) -> None:
        """Detach the probe; what it recorded stays readable. Calling it twice is harmless."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def to_markdown(rows: Sequence[dict[str, Any]], floatfmt: str = ".4g") -> str:
    """A list of dicts as a markdown table; the columns are all keys, in first-seen order.

    None (and a missing key) prints as ``-``; floats use ``floatfmt``.

    Examples
    --------
    >>> print(to_markdown([{"layer": "1", "mean": 0.5}, {"layer": "3", "mean": None}]))
    | layer | mean |
    |---|---|
    | 1 | 0.5 |
    | 3 | - |
    """
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return format(value, floatfmt)
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def chain(*callbacks: Callable[[dict], Any]) -> Callable[[dict], None]:
    """One ``on_epoch_end`` callback for ``minidl.train.fit`` that calls each of
    ``callbacks`` in turn with the epoch's record."""
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"chain: every callback must be callable, got {type(cb).__name__}")

    def call_all(record: dict) -> None:
        for cb in callbacks:
            cb(record)

    return call_all
