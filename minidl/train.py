"""Training: the fit loop, evaluation, the per-epoch ``History`` and checkpoints.

``fit`` is the loop every deep-learning course writes by hand::

    for x, y in train_loader:
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

plus what makes it usable: a progress bar, validation after each epoch, a history of
losses and accuracies, a clear stop when the loss turns NaN, and checkpoints.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from minidl import backend
from minidl import random as _random
from minidl.autograd import no_grad
from minidl.nn.module import Module
from minidl.tensor import Tensor

LossFn = Callable[[Tensor, Tensor], Tensor]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; raised before the step is applied."""


def accuracy(output: Tensor, target: Tensor) -> float:
    """Fraction of rows of ``output`` (N, C) whose arg-max equals the integer ``target``."""
    return float(np.mean(output.data.argmax(axis=1) == target.data))


def _is_classification(output: Tensor, target: Tensor) -> bool:
    return output.ndim == 2 and target.ndim == 1 and target.dtype.kind in "iu"


class History:
    """What ``fit`` measured: one record per epoch, plus the loss of every step.

    ``history["val_acc"]`` gives a column as a list; ``history.records`` the rows, each a
    dict with ``epoch``, ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc`` (None
    without validation data or for non-classification losses), ``lr``, ``time`` (seconds
    spent training in that epoch, validation excluded) and ``skipped_steps``.
    """

    def __init__(self, records: list[dict] | None = None, step_losses: list[float] | None = None,
                 meta: dict | None = None) -> None:
        self.records: list[dict] = records or []
        self.step_losses: list[float] = step_losses or []
        self.meta: dict = meta or {}

    def __getitem__(self, key: str) -> list:
        if self.records and key not in self.records[0]:
            raise KeyError(f"History has no column {key!r}; columns: {list(self.records[0])}")
        return [r[key] for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def to_dict(self) -> dict:
        """Plain data; NaN and infinite values become None (JSON has no NaN)."""
        return _finite_or_none({"records": self.records, "step_losses": self.step_losses,
                                "meta": self.meta})

    def save(self, path: str | os.PathLike) -> None:
        """Write the history as JSON (atomically: a crash never leaves half a file)."""
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        _atomic_write(Path(path), lambda f: f.write(text.encode()))

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        with open(path) as f:
            d = json.load(f)
        return cls(d["records"], d["step_losses"], d.get("meta", {}))

    def table(self) -> str:
        """The per-epoch records as a markdown table."""
        cols = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "time"]
        rows = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in self.records:
            rows.append("| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |")
        return "\n".join(rows)

    def plot(self, **kwargs: Any) -> Any:
        """Loss and accuracy curves (a matplotlib Figure); see ``minidl.plot.plot_history``."""
        from minidl.plot import plot_history

        return plot_history(self, **kwargs)


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _device(model: Module) -> backend.Device:
    """The device of the model's parameters, where batches are moved to."""
    return next((p.device for p in model.parameters()), backend.CPU)


def evaluate(model: Module, loader: Iterable, loss_fn: LossFn) -> dict[str, float | None]:
    """Mean loss and accuracy of ``model`` over ``loader``, in eval mode without a graph.

    Batches are moved to the model's device.

    The model's previous train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    total, loss_sum, correct, classification = 0, 0.0, 0.0, True
    device = _device(model)
    try:
        with no_grad():
            for x, y in loader:
                if device.type != "cpu":
                    x, y = x.to(device), y.to(device)
                out = model(x)
                n = len(y)
                loss_sum += loss_fn(out, y).item() * n
                classification = classification and _is_classification(out, y)
                if classification:
                    correct += accuracy(out, y) * n
                total += n
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("evaluate: the loader yielded no examples")
    return {"loss": loss_sum / total, "acc": correct / total if classification else None}


def fit(model: Module, optimizer: Any, loss_fn: LossFn, train_loader: Iterable,
        val_loader: Iterable | None = None, epochs: int = 1, *, scheduler: Any = None,
        progress: bool | None = None, on_nan: str = "raise",
        on_epoch_end: Callable[[dict], None] | None = None) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_loader``.

    Parameters
    ----------
    model, optimizer, loss_fn
        The network, an ``minidl.optim`` optimizer over its parameters, and a loss
        ``loss_fn(output, target) -> scalar Tensor``.
    train_loader, val_loader
        Iterables of ``(input, target)`` batches (e.g. ``minidl.data.DataLoader``), moved
        to the model's device (``model.to('cuda')`` trains on the GPU).
        ``val_loader`` is evaluated after every epoch.
    epochs : int
        Number of passes over the training data.
    scheduler : optional
        A learning-rate scheduler, stepped once per epoch.
    progress : bool, optional
        Show a tqdm progress bar; by default in a terminal or a Jupyter notebook, not when
        output goes to a file or a pipe.
    on_nan : {'raise', 'skip', 'continue'}
        What to do when the loss is NaN or infinite: raise ``NonFiniteLossError``
        naming the epoch and step (the step is not applied); skip that step and go on;
        or apply it anyway (the weights may become NaN — useful to watch a blow-up).
    on_epoch_end : callable, optional
        Called with each epoch's record as soon as it is complete.

    Returns
    -------
    History
    """
    if on_nan not in ("raise", "skip", "continue"):
        raise ValueError(f"fit: on_nan must be 'raise', 'skip' or 'continue', got {on_nan!r}")
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative int, got {epochs!r}")
    if progress is None:
        progress = sys.stderr.isatty() or "ipykernel" in sys.modules
    history = History()
    device = _device(model)
    from tqdm.auto import tqdm

    for epoch in range(1, epochs + 1):
        model.train()
        start = time.perf_counter()
        total, loss_sum, correct, classification, skipped = 0, 0.0, 0.0, True, 0
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{epochs}", disable=not progress,
                   leave=False, unit="batch")
        for step, (x, y) in enumerate(bar, start=1):
            if device.type != "cpu":
                x, y = x.to(device), y.to(device)
            out = model(x)
            loss = loss_fn(out, y)
            value = loss.item()
            if not math.isfinite(value):
                if on_nan == "raise":
                    bar.close()
                    raise NonFiniteLossError(
                        f"fit: the loss is {value} at epoch {epoch}, step {step}; this step "
                        "was not applied. Try a lower learning rate or gradient clipping, "
                        "or skip such steps with on_nan='skip' (minidl train --on-nan skip); "
                        "on_nan='continue' applies them anyway."
                    )
                if on_nan == "skip":
                    skipped += 1
                    continue
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            n = len(y)
            history.step_losses.append(value)
            total += n
            loss_sum += value * n
            classification = classification and _is_classification(out, y)
            if classification:
                correct += accuracy(out, y) * n
            if progress:
                bar.set_postfix(loss=f"{value:.4f}", refresh=False)
        bar.close()
        record: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": loss_sum / total if total else None,
            "train_acc": correct / total if total and classification else None,
            "val_loss": None,
            "val_acc": None,
            "lr": optimizer.param_groups[0]["lr"],
            "skipped_steps": skipped,
        }
        if scheduler is not None:
            scheduler.step()
        record["time"] = time.perf_counter() - start
        if val_loader is not None:
            metrics = evaluate(model, val_loader, loss_fn)
            record["val_loss"], record["val_acc"] = metrics["loss"], metrics["acc"]
        history.records.append(record)
        if on_epoch_end is not None:
            on_epoch_end(record)
    return history


# ---------------------------------------------------------------------------- checkpoints


def _atomic_write(path: Path, write: Callable[[Any], Any]) -> None:
    """Write via a temporary file in the same directory, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def save_checkpoint(path: str | os.PathLike, model: Module, optimizer: Any = None,
                    **extra: Any) -> None:
    """Save the model's (and optimizer's) state to an ``.npz`` file, atomically.

    Arrays are stored as npz entries (``model/<name>``, ``optimizer/<param>/<key>``);
    everything else — optimizer hyperparameters, minidl's RNG state and the JSON-able
    ``extra`` values (epoch, history, ...) — as one JSON entry. No pickles: a checkpoint
    can be loaded without trusting its author.
    """
    host = backend.CPU
    arrays = {f"model/{k}": backend.to_device(v, host) for k, v in model.state_dict().items()}
    meta: dict[str, Any] = {"extra": extra, "rng_state": _random.get_rng_state()}
    if optimizer is not None:
        state = optimizer.state_dict()
        scalars: dict[str, dict] = {}
        for idx, pstate in state["state"].items():
            scalars[str(idx)] = {}
            for key, value in pstate.items():
                if backend.device_of(value).type == "cuda" or isinstance(value, np.ndarray):
                    arrays[f"optimizer/{idx}/{key}"] = backend.to_device(value, host)
                else:
                    scalars[str(idx)][key] = value
        meta["optimizer"] = {"param_groups": state["param_groups"], "scalars": scalars}
    arrays["meta"] = np.array(json.dumps(meta, default=_json_default))
    _atomic_write(Path(path), lambda f: np.savez(f, **arrays))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"save_checkpoint: cannot store a {type(value).__name__} in a checkpoint")


def load_checkpoint(path: str | os.PathLike, model: Module, optimizer: Any = None,
                    restore_rng: bool = False) -> dict[str, Any]:
    """Load a checkpoint written by ``save_checkpoint`` into ``model`` (and ``optimizer``).

    Either everything loads or nothing changes: if the optimizer's state does not fit,
    the model's previous state is put back before the error is raised. Returns the
    ``extra`` values that were saved. ``restore_rng`` also restores minidl's generator.
    """
    with np.load(path, allow_pickle=False) as npz:
        files = {k: npz[k] for k in npz.files}
    if "meta" not in files:
        raise ValueError(f"load_checkpoint: {path} is not a minidl checkpoint (no 'meta' entry)")
    meta = json.loads(str(files["meta"]))
    model_state = {k[len("model/"):]: v for k, v in files.items() if k.startswith("model/")}
    if optimizer is not None and "optimizer" not in meta:
        raise ValueError(f"load_checkpoint: {path} holds no optimizer state")
    before = model.state_dict()
    model.load_state_dict(model_state)
    if optimizer is not None:
        opt_meta = meta["optimizer"]
        state: dict[int, dict] = {int(i): dict(s) for i, s in opt_meta["scalars"].items()}
        for key, value in files.items():
            if key.startswith("optimizer/"):
                _, idx, name = key.split("/", 2)
                state.setdefault(int(idx), {})[name] = value
        try:
            optimizer.load_state_dict({"state": state, "param_groups": opt_meta["param_groups"]})
        except Exception:
            model.load_state_dict(before)
            raise
    if restore_rng:
        _random.set_rng_state(meta["rng_state"])
    return meta["extra"]
