"""Dead ReLU units: how they die and what keeps them alive.

A hidden unit computes z(x) = w·x + b and outputs f(z). It is *dead on a dataset D* when

    f(z(x)) = 0 for every x in D.

For ReLU that happens exactly when z(x) ≤ 0 for every x, and then the unit is stuck for
good: the gradient reaching its weights is

    ∂L/∂w = f'(z) · δ · x,   ∂L/∂b = f'(z) · δ,   with ReLU'(z) = 0 for z ≤ 0,

so it is zero on every example and no optimiser step can bring the unit back. The units
of the leaky family (LeakyReLU f = max(z, s·z), PReLU with a learnt s, RReLU with a random
s, ELU f = α(eᶻ - 1) for z < 0) output something non-zero for z < 0 and pass the gradient
s·δ (ELU: α·eᶻ·δ), so they can be *inactive* (z ≤ 0 on every example, measured by
``minidl.diagnostics.DeadUnits``) without being dead.

Two ways to kill ReLU units in an MLP 784-256-256-256-10 on MNIST, each beside its remedies:

1. A large learning rate: Adam at ten times its usual rate (0.01). Adam's first steps
   move every weight by about ±lr whatever the size of its gradient (m̂/√v̂ ≈ sign g), so
   a first-layer unit, whose 784 standardised inputs have Σ|xᵢ| ≈ 550, can see z(x) move
   by several units in one step, against a spread of about 0.6 at initialisation: pushed
   below 0 for every image, it is dead. Remedies at the same large rate: Xavier or Kaiming
   init and the leaky family; and a smaller rate, Adagrad or plain SGD at their usual
   rates. (With plain SGD, a rate large enough to kill many units mostly makes the loss
   diverge first, which hides the effect.)
2. A bias shift: every hidden bias starts at b = -0.5. PyTorch's default weights
   U(-1/√n, 1/√n) have variance 1/(3n), so z - b = w·h has standard deviation about
   ‖h‖/√(3n): about 0.6 on standardised images, but far less on the sparse, small outputs
   h of a shifted ReLU layer. The second and third layers start with z < 0 on every image,
   and those ReLU units never leave. The leaky family with the same shift (plain SGD).

Dead fractions are measured on a fixed subset of the training images after every epoch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from minidl import models, nn, optim
from minidl.diagnostics import RELU_FAMILY, dead_fraction
from minidl.experiments import data, runner
from minidl.experiments.runner import ExperimentResult, Report, seed_stats
from minidl.plot import dead_units as dead_units_figure
from minidl.train import evaluate, fit

TITLE = "Dead ReLU units: how they die and what keeps them alive"

HIDDEN = (256, 256, 256)
BATCH = 64
#: The usual rates: Adam's and Adagrad's PyTorch defaults, and a plain-SGD rate that
#: trains this net well.
ADAM_LR, ADAGRAD_LR, SGD_LR = 0.001, 0.01, 0.05
#: The large learning rate: Adam at ten times its usual rate.
LARGE_LR = 10 * ADAM_LR
#: The hidden biases of the bias-shift runs.
BIAS_SHIFT = -0.5
OPTIMIZERS = {"SGD": optim.SGD, "Adagrad": optim.Adagrad, "Adam": optim.Adam}
LEAKY_FAMILY = ("LeakyReLU", "PReLU", "RReLU", "ELU")
#: Training images, images the dead units are measured on (the first ones of the training
#: set), test images (None: all) and epochs.
SIZES = {True: {"train": 3000, "probe": 3000, "test": 1000, "epochs": 3},
         False: {"train": None, "probe": 10000, "test": None, "epochs": 5}}


def _setting(key: str, problem: str, change: str, activation: str = "ReLU",
             optimizer: str = "Adam", lr: float = LARGE_LR, init: str = "pytorch",
             bias: float | None = None) -> dict[str, Any]:
    """One setting; by default the large-learning-rate cause."""
    return {"setting": key, "problem": problem, "change": change, "activation": activation,
            "optimizer": optimizer, "lr": lr, "init": init, "bias": bias}


#: Every setting: the cause, then its remedies, for each problem.
SETTINGS = (
    _setting("lr-large", "large lr", f"the cause: ReLU, Adam lr {LARGE_LR:g}"),
    _setting("lr-small", "large lr", f"smaller learning rate (Adam lr {ADAM_LR:g})",
             lr=ADAM_LR),
    _setting("lr-xavier", "large lr", "Xavier init", init="xavier_normal"),
    _setting("lr-kaiming", "large lr", "Kaiming init", init="kaiming_normal"),
    _setting("lr-adagrad", "large lr", f"Adagrad (lr {ADAGRAD_LR:g})", optimizer="Adagrad",
             lr=ADAGRAD_LR),
    _setting("lr-sgd", "large lr", f"plain SGD (lr {SGD_LR:g})", optimizer="SGD", lr=SGD_LR),
    *(_setting(f"lr-{act.lower()}", "large lr", act, activation=act) for act in LEAKY_FAMILY),
    _setting("shift-relu", "bias shift", "the cause: ReLU", optimizer="SGD", lr=SGD_LR,
             bias=BIAS_SHIFT),
    *(_setting(f"shift-{act.lower()}", "bias shift", act, activation=act, optimizer="SGD",
               lr=SGD_LR, bias=BIAS_SHIFT) for act in LEAKY_FAMILY),
)


def plan(quick: bool, seeds: list[int]) -> list[dict]:
    """One run per setting and seed."""
    return [{"key": f"{s['setting']}-s{seed}", "seed": seed, **s, "hidden": list(HIDDEN),
             "batch": BATCH, **SIZES[quick]} for seed in seeds for s in SETTINGS]


def build(spec: dict) -> nn.Sequential:
    """The run's MLP: its activation and init, and every hidden bias set to ``bias``
    (unless None)."""
    model = models.mlp(784, spec["hidden"], 10, spec["activation"], init=spec["init"])
    if spec["bias"] is not None:
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        for layer in linears[:-1]:
            nn.init.constant_(layer.bias, spec["bias"])
    return model


def unit_fractions(model: nn.Module,
                   loader: Iterable) -> tuple[list[float], list[float]] | None:
    """Dead and inactive fractions of each ReLU-family layer over one pass of ``loader``.

    A unit is *dead* when its output is exactly 0 for every example, *inactive* when its
    pre-activation is ≤ 0 for every example (``minidl.diagnostics.dead_fraction``). For
    ReLU the two are the same units; a LeakyReLU unit can be inactive, never dead.

    Returns
    -------
    (list of float, list of float) or None
        Per layer, in order: dead fractions and inactive fractions. None when the weights
        are no longer finite (a diverged run has no meaningful dead units).
    """
    if not all(np.isfinite(p.data).all() for p in model.parameters()):
        return None
    layers = [(name, m) for name, m in model.named_modules() if type(m).__name__ in RELU_FAMILY]
    nonzero: dict[str, np.ndarray] = {}

    def hook(name: str) -> Any:
        def record(module: nn.Module, inputs: tuple, output: Any) -> None:
            seen = (output.data != 0).any(axis=0)
            nonzero[name] = seen | nonzero[name] if name in nonzero else seen
        return record

    # The output hooks ride along the forward passes that dead_fraction makes anyway.
    handles = [m.register_forward_hook(hook(name)) for name, m in layers]
    try:
        inactive = dead_fraction(model, loader, [name for name, _ in layers])
    finally:
        for handle in handles:
            handle.remove()
    return ([1.0 - float(nonzero[name].mean()) for name, _ in layers],
            [inactive[name] for name, _ in layers])


def run(spec: dict) -> dict:
    """Train one setting, measuring dead and inactive fractions at initialisation
    (epoch 0) and after every epoch, then the final accuracies.

    Returns
    -------
    dict
        ``epochs``: per epoch ``epoch``, ``dead`` and ``inactive`` (per hidden layer, None
        once the weights are not finite), ``test_acc`` (None at epoch 0) and
        ``skipped_steps`` (steps with a non-finite loss, which ``fit`` skips);
        ``train_acc`` (on the measured training subset) and ``test_acc`` at the end;
        ``diverged``: whether the weights or the loss on the training subset ended
        non-finite.
    """
    train = data.loader("mnist", True, spec["train"], flatten=True, batch_size=spec["batch"])
    probe = data.loader("mnist", True, spec["probe"], flatten=True, batch_size=1000,
                        shuffle=False)
    test = data.loader("mnist", False, spec["test"], flatten=True, batch_size=1000)
    model = build(spec)
    optimizer = OPTIMIZERS[spec["optimizer"]](model.parameters(), lr=spec["lr"])
    loss_fn = nn.CrossEntropyLoss()
    epochs: list[dict] = []

    def measure(record: dict) -> None:
        fractions = unit_fractions(model, probe)
        epochs.append({"epoch": record["epoch"],
                       "dead": None if fractions is None else fractions[0],
                       "inactive": None if fractions is None else fractions[1],
                       "test_acc": record.get("val_acc"),
                       "skipped_steps": record.get("skipped_steps", 0)})

    # Some settings are meant to diverge: skipping non-finite steps (instead of raising)
    # lets such a run finish and be reported as diverged, and NumPy's overflow warnings
    # would only say the same thing many times over.
    with np.errstate(over="ignore", invalid="ignore"):
        measure({"epoch": 0})
        fit(model, optimizer, loss_fn, train, test, epochs=spec["epochs"], progress=False,
            on_nan="skip", on_epoch_end=measure)
        final = evaluate(model, probe, loss_fn)
        test_acc = evaluate(model, test, loss_fn)["acc"]
    return {"epochs": epochs, "train_acc": final["acc"], "test_acc": test_acc,
            "diverged": epochs[-1]["dead"] is None or not np.isfinite(final["loss"])}


# ------------------------------------------------------------------------------ report
def _total(fractions: list[float] | None) -> float | None:
    """Dead units of all hidden layers together / all hidden units (equal widths)."""
    return None if fractions is None else float(np.mean(fractions))


def _groups(runs: list[tuple[dict, dict]]) -> dict[str, tuple[dict, list[dict]]]:
    """Per setting (in plan order): its first spec and the results of its seeds."""
    groups: dict[str, tuple[dict, list[dict]]] = {}
    for spec, result in runs:
        groups.setdefault(spec["setting"], (spec, []))[1].append(result)
    return groups


def _row(spec: dict, results: list[dict]) -> dict[str, Any]:
    """One table row: the setting, then means over seeds of the accuracies (all seeds) and
    of the dead fractions (the seeds that did not diverge)."""
    final = [r["epochs"][-1] for r in results if not r["diverged"]]
    train_acc, _ = seed_stats([r["train_acc"] for r in results])
    test_acc, test_std = seed_stats([r["test_acc"] for r in results])
    dead_total, dead_std = seed_stats([_total(e["dead"]) for e in final])
    row: dict[str, Any] = {
        "change": spec["change"], "activation": spec["activation"],
        "optimizer": spec["optimizer"], "lr": spec["lr"],
        "init": "PyTorch default" if spec["init"] == "pytorch" else spec["init"],
        "hidden bias": "PyTorch default" if spec["bias"] is None else spec["bias"],
        "train acc": train_acc, "test acc": test_acc, "test acc std": test_std}
    for layer in range(len(spec["hidden"])):
        row[f"dead h{layer + 1}"] = seed_stats([e["dead"][layer] for e in final])[0]
    row.update({"dead total": dead_total, "dead total std": dead_std,
                "inactive total": seed_stats([_total(e["inactive"]) for e in final])[0],
                "diverged seeds": sum(r["diverged"] for r in results)})
    return row


def _series(groups: dict[str, tuple[dict, list[dict]]], problem: str,
            kind: str) -> list[dict[str, Any]]:
    """Rows ``{"epoch": e, <change>: mean total fraction, ...}`` of one problem's
    settings, as ``minidl.plot.dead_units`` takes them: the mean over the seeds that did
    not diverge (None, a gap in the plot, where all did)."""
    chosen = [(spec, [r for r in results if not r["diverged"]])
              for spec, results in groups.values() if spec["problem"] == problem]
    epochs = chosen[0][0]["epochs"] + 1  # epoch 0 is the initialisation
    return [{"epoch": e, **{spec["change"]: seed_stats(
        [_total(r["epochs"][e][kind]) for r in results])[0] for spec, results in chosen}}
        for e in range(epochs)]


def _bars_figure(tables: dict[str, list[dict]], title: str) -> Any:
    """Test accuracy (left) and dead units (right, the inactive fraction as a light bar
    behind) of every setting, mean ± std over seeds, one colour per problem."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rows = [(i, problem, row) for i, (problem, rows) in enumerate(tables.items())
            for row in rows]
    labels = [f"{problem}: {row['change']}" for _, problem, row in rows]
    colors = [f"C{i}" for i, _, _ in rows]
    y = np.arange(len(rows))[::-1]

    def column(key: str) -> np.ndarray:
        # None (a diverged run has no dead fraction) becomes NaN: no bar.
        return np.array([row[key] for _, _, row in rows], dtype=float)

    fig = Figure(figsize=(11.0, 0.35 * len(rows) + 1.5), layout="constrained")
    ax_acc, ax_dead = fig.subplots(1, 2, sharey=True)
    ax_acc.barh(y, column("test acc"), xerr=np.nan_to_num(column("test acc std")),
                color=colors)
    ax_dead.barh(y, column("inactive total"), color=colors, alpha=0.3)
    ax_dead.barh(y, column("dead total"), color=colors)
    for yi, (_, _, row) in zip(y, rows, strict=True):
        if row["dead total"] is None:
            ax_dead.text(0.01, yi, "diverged", va="center", fontsize="small")
    ax_acc.set(yticks=y, yticklabels=labels, xlim=(0, 1), xlabel="test accuracy",
               title="Accuracy")
    ax_dead.set(xlim=(0, 1), xlabel="fraction of hidden units", title="Dead units")
    for ax in (ax_acc, ax_dead):
        ax.grid(axis="x", alpha=0.3)
    ax_dead.legend(handles=[Patch(color="0.5", alpha=0.3,
                                  label="inactive (pre-activation ≤ 0 on every image)"),
                            Patch(color="0.5", label="dead (output 0 on every image)")],
                   fontsize="small", loc="lower right")
    fig.suptitle(title)
    return fig


def report(runs: list[tuple[dict, dict]], quick: bool, seeds: list[int]) -> Report:
    """Two tables (large learning rate, bias shift: each setting with accuracies and dead
    fractions), dead and inactive fractions over training, and the bar chart."""
    groups = _groups(runs)
    tables = {problem: [_row(spec, results) for spec, results in groups.values()
                        if spec["problem"] == problem] for problem in ("large lr", "bias shift")}
    seeds_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"mean of {len(seeds)} seeds"
    dead_lr = dead_units_figure(_series(groups, "large lr", "dead"),
                                title=f"Large learning rate: dead units ({seeds_text})")
    dead_lr.axes[0].set(ylabel="dead units (fraction of all hidden units)",
                        title=f"ReLU, Adam lr {LARGE_LR:g} unless stated")
    inactive_shift = dead_units_figure(
        _series(groups, "bias shift", "inactive"),
        title=f"Bias shift b = {BIAS_SHIFT:g}: units never active ({seeds_text})")
    inactive_shift.axes[0].set(ylabel="inactive units (fraction of all hidden units)",
                               title="pre-activation ≤ 0 on every image (dead for ReLU only)")
    figures = {"dead_units_large_lr": dead_lr, "inactive_units_bias_shift": inactive_shift,
               "accuracy_and_dead_units": _bars_figure(
                   tables, f"Test accuracy and dead units at the end ({seeds_text})")}
    first = runs[0][0]
    return Report(tables={"Large learning rate and its remedies": tables["large lr"],
                          "Bias shift and the leaky family": tables["bias shift"]},
                  figures=figures, text=_text(tables, first, quick, seeds))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _text(tables: dict[str, list[dict]], spec: dict, quick: bool,
          seeds: list[int]) -> list[str]:
    """The report's paragraphs, with this run's numbers."""
    shift = {row["activation"]: row for row in tables["bias shift"]}
    cause, small = tables["large lr"][0], tables["large lr"][1]
    train = "all 60000" if spec["train"] is None else f"the first {spec['train']}"
    test = "all 10000" if spec["test"] is None else f"the first {spec['test']}"

    def outcome(row: dict) -> str:
        if row["diverged seeds"] == len(seeds):
            return f"{row['change']}: diverged (loss NaN)"
        return (f"{row['change']}: {_pct(row['dead total'])} dead, test accuracy "
                f"{_pct(row['test acc'])}" + (f" ({row['diverged seeds']} of {len(seeds)} "
                                             "seeds diverged)" if row["diverged seeds"] else ""))

    remedies = [outcome(row) for row in tables["large lr"] if row is not cause]
    leaky_acc = seed_stats([row["test acc"] for row in tables["large lr"]
                           if row["activation"] != "ReLU"])[0]
    better = None not in (leaky_acc, cause["test acc"]) and leaky_acc > cause["test acc"] + 0.01
    leaky = [f"{act} {_pct(row['dead total'])} dead, {_pct(row['inactive total'])} inactive, "
             f"test accuracy {_pct(row['test acc'])}" for act, row in shift.items()
             if act != "ReLU"]
    return [
        f"MLP 784-{'-'.join(map(str, spec['hidden']))}-10 on MNIST ({train} training "
        f"images, standardised), cross-entropy, batch {spec['batch']}, {spec['epochs']} "
        f"epochs, seeds {', '.join(map(str, seeds))}"
        + (" (quick mode: a small subset and few epochs)." if quick else ".")
        + f" After every epoch each hidden unit is classified on the first {spec['probe']} "
        f"training images (evaluation mode): *dead* if its output f(z) is exactly 0 on every "
        f"image, *inactive* if its pre-activation z is ≤ 0 on every image. For ReLU the two "
        f"coincide, and since ReLU'(z) = 0 for z ≤ 0, ∂L/∂w = ReLU'(z)·δ·x = 0 on every "
        f"image: a dead unit never learns again. Test accuracy on {test} test images. "
        f"Tables give means over seeds (std where there are several); dead fractions of "
        f"runs that diverged are left out, since NaN weights have no dead units.",
        f"**Large learning rate.** Adam at lr {LARGE_LR:g} (ten times its usual rate) "
        f"leaves {_pct(cause['dead total'])} of the ReLU units dead (per layer "
        + ", ".join(_pct(cause[f"dead h{i + 1}"]) for i in range(len(spec["hidden"])))
        + f"), test accuracy {_pct(cause['test acc'])}; at its usual lr {ADAM_LR:g} "
        f"{_pct(small['dead total'])} die and the test accuracy is "
        f"{_pct(small['test acc'])}. cs231n warns that with too high a rate \"as much as "
        f"40%\" of a network can end up dead. Remedies — " + "; ".join(remedies) + ".",
        "Why Adam kills at a large rate: its update lr·m̂/(√v̂ + ε) is about ±lr per weight "
        "in the first steps, whatever the gradient's size, so z = w·x + b of a first-layer "
        "unit can move by up to lr·Σ|xᵢ| ≈ 5 for one image in a single step (Σ|xᵢ| ≈ 550 "
        "for standardised MNIST) — once below 0 for every image, ReLU'(z) = 0 keeps it "
        "there. Adagrad's first step is also ±lr per weight, then shrinks as lr/√(Σg²). "
        "Xavier and Kaiming only rescale the initial weights, not the step. The leaky "
        "family has no dead units (f(z) ≠ 0 keeps a gradient flowing), yet many of its units "
        "can still sit on the negative side (the inactive column): at this rate its mean "
        f"test accuracy is {_pct(leaky_acc)} against ReLU's {_pct(cause['test acc'])}"
        + (": here the units kept alive pay off." if better else
           ", so keeping units alive does not by itself make a too-large rate train well."),
        f"**Bias shift.** With every hidden bias at {BIAS_SHIFT:g} and PyTorch's default "
        f"weights, ReLU ends with {_pct(shift['ReLU']['dead total'])} of its units dead "
        f"(per layer "
        + ", ".join(_pct(shift["ReLU"][f"dead h{i + 1}"]) for i in range(len(spec["hidden"])))
        + f") and test accuracy {_pct(shift['ReLU']['test acc'])}: once a whole layer is "
        "dead the network outputs a constant. The leaky family with the same shift has no "
        "dead units by construction (f(z) ≠ 0 for z ≠ 0), and its units can come back "
        "because the gradient s·δ (ELU: α·eᶻ·δ) is not zero — but it is small, so the "
        "number of units still inactive and the accuracy show how fast each one recovers: "
        + "; ".join(leaky) + ".",
    ]


def dead_relu(quick: bool = False, seed: int | list[int] = 0,
              **options: Any) -> ExperimentResult:
    """Dead ReLU units: how a large learning rate or a negative bias shift kills them, and
    what keeps them alive.

    A ReLU unit z = w·x + b is dead on a dataset when z ≤ 0 (so ReLU(z) = 0) for every
    example: then ∂L/∂w = ReLU'(z)·δ·x = 0 everywhere and it never learns again. An MLP
    784-256-256-256-10 is trained on MNIST under two causes, each beside its remedies:

    * Adam at ten times its usual learning rate (0.01, about 40% of the units dead),
      against its usual rate (0.001), Xavier and Kaiming init, Adagrad and plain SGD at
      their usual rates, and LeakyReLU, PReLU, RReLU and ELU;
    * every hidden bias shifted to -0.5 (more than half the ReLU units dead, whole layers
      of them), against the same leaky family, whose units output s·z ≠ 0 for z < 0 and
      so are never dead, but learn back at a speed that grows with their slope s.

    After every epoch each unit is classified on a fixed subset of the training images:
    dead (output exactly 0 on every image) or inactive (pre-activation ≤ 0 on every
    image; for ReLU the same units).

    Parameters
    ----------
    quick : bool
        3000 training images (also the measured subset), 1000 test images, 3 epochs,
        instead of all 60000 (dead units measured on the first 10000), the 10000 test
        images and 5 epochs.
    seed : int or list of int
        One seed or several: each setting runs once per seed, and the tables give the
        mean and standard deviation across them.
    **options
        ``out``, ``workers``, ``executor``, ``progress``: as for
        ``minidl.experiments.run``.

    Returns
    -------
    ExperimentResult
        Tables ``"Large learning rate and its remedies"`` and ``"Bias shift and the leaky
        family"`` (accuracies, dead fraction per layer and in total, inactive fraction,
        diverged seeds); figures ``"dead_units_large_lr"``,
        ``"inactive_units_bias_shift"`` and ``"accuracy_and_dead_units"``.
    """
    return runner.run("dead_relu", quick, seed, **options)
