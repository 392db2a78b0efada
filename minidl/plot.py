"""Figures (matplotlib). Each function returns the ``Figure`` so notebooks show it and
scripts can ``fig.savefig(...)``. Figures are made without pyplot, so they are not kept
open in pyplot's global list (no leak over many calls, no second copy in Jupyter).
matplotlib is imported on first use, keeping ``import minidl`` fast."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from minidl.train import History


def plot_history(history: History | Mapping[str, History], title: str | None = None,
                 val_label: str = "val") -> Any:
    """Loss (left) and accuracy (right) per epoch; training solid, validation dashed.

    Parameters
    ----------
    history : History or mapping of label -> History
        One run, or several runs to overlay (e.g. ``{"relu": h1, "tanh": h2}``).
    title : str, optional
        Figure title.
    val_label : str
        Legend name of the validation curves (e.g. "test" when the test set was used).
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    runs = dict(history) if isinstance(history, Mapping) else {"": history}
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, (label, h) in enumerate(runs.items()):
        color = f"C{i}"
        epochs = h["epoch"]
        for ax, key in ((ax_loss, "loss"), (ax_acc, "acc")):
            for split, style in (("train", "-"), ("val", "--")):
                values = h[f"{split}_{key}"]
                if any(v is None for v in values):
                    continue
                name = f"{label} {split if split == 'train' else val_label}".strip()
                ax.plot(epochs, values, style, color=color, marker="o", label=name)
    ax_loss.set(xlabel="epoch", ylabel="loss (cross-entropy)", title="Loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    if title:
        fig.suptitle(title)
    return fig
