"""Initialisation: N(0,1), Xavier, Kaiming and LeCun through depth and in training.

A layer z = W·h + b with zero biases, n inputs per unit and weights of variance Var(w),
fed by outputs h = f(z') of the layer before, has (independent weights, zero mean)

    Var(z) = n · Var(w) · E[h²].

The signal keeps its size through depth only when n·Var(w)·E[f(z)²] = Var(z), which
depends on the activation f:

* ReLU: E[ReLU(z)²] = Var(z)/2, so Var(w) = 2/n — Kaiming (He et al. 2015), std √(2/fan_in);
* tanh, SELU and anything with f(z) ≈ z near 0: Var(w) = 1/n — LeCun, std √(1/fan_in),
  which for SELU also makes (mean 0, variance 1) a stable fixed point (Klambauer et al.);
* Xavier (Glorot & Bengio 2010) averages the forward and backward conditions:
  Var(w) = 2/(fan_in + fan_out), the same as LeCun on the square hidden layers;
* N(0, 1) has Var(w) = 1, n times too large: Var(z) grows by about n (= 256) per layer,
  so bounded activations (sigmoid, tanh) saturate and unbounded ones (ReLU, SELU) explode.

Each run pushes one batch of MNIST images through a deep MLP (30 layers of 256 units),
recording each layer's output mean, std and saturated fraction (``depth_statistics``,
``ActivationStats``), then trains a moderately deep MLP (8 layers of 128) with the same
activation and initialisation and records its test accuracy per epoch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from minidl import models, nn, optim
from minidl.diagnostics import ActivationStats, depth_statistics
from minidl.experiments import data, runner
from minidl.experiments.runner import ExperimentResult, Report, seed_stats
from minidl.plot import depth_profile
from minidl.plot import runs as runs_figure
from minidl.tensor import Tensor
from minidl.train import History, fit

TITLE = "Initialisation: N(0,1), Xavier, Kaiming and LeCun through depth and in training"

ACTIVATIONS = ("Sigmoid", "Tanh", "ReLU", "SELU")
#: Label -> (``nn.init`` function name, or None for N(0, 1); the weight std it gives).
INITS = {"N(0,1)": (None, "1"),
         "Xavier": ("xavier_normal", "√(2/(fan_in + fan_out))"),
         "Kaiming": ("kaiming_normal", "√(2/fan_in)"),
         "LeCun": ("lecun_normal", "√(1/fan_in)")}
#: Which init the theory above pairs with each activation.
MATCH = {"Sigmoid": "Xavier", "Tanh": "Xavier", "ReLU": "Kaiming", "SELU": "LeCun"}
#: The deep net the signal is measured through, and the net that is trained.
DEPTH, WIDTH = 30, 256
TRAIN_HIDDEN = (128,) * 8
LR, MOMENTUM, BATCH = 0.01, 0.9, 64
#: Images pushed through the deep net, training images (None: all), test images, epochs.
SIZES = {True: {"probe": 256, "train": 3000, "test": 1000, "epochs": 2},
         False: {"probe": 1000, "train": None, "test": None, "epochs": 5}}


def plan(quick: bool, seeds: list[int]) -> list[dict]:
    """One run per activation, initialisation and seed."""
    return [{"key": f"{act.lower()}-{INITS[init][0] or 'normal'}-s{seed}", "seed": seed,
             "activation": act, "init": init, "depth": DEPTH, "width": WIDTH,
             "hidden": list(TRAIN_HIDDEN), "lr": LR, "momentum": MOMENTUM, "batch": BATCH,
             **SIZES[quick]}
            for seed in seeds for act in ACTIVATIONS for init in INITS]


def build(activation: str, init: str, hidden: Sequence[int]) -> nn.Sequential:
    """An MLP 784-hidden-10 whose Linear weights are drawn by ``init`` (a key of
    ``INITS``) and whose biases are zero."""
    model = models.mlp(784, hidden, 10, activation, init="pytorch")
    fill = INITS[init][0]
    if fill is not None:
        return models.initialize(model, fill)
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, 1.0)
            nn.init.zeros_(layer.bias)
    return model


def run(spec: dict) -> dict:
    """Measure the signal through the deep net, then train the shallower one.

    Returns
    -------
    dict
        ``depth``: per depth (0 is the input, then each activation layer) ``mean``, ``var``
        and ``saturated`` (fraction of outputs in the saturated region of
        ``ActivationStats``; None for ReLU, which has none); ``history``: ``fit``'s
        per-epoch records without ``time`` (test accuracy as ``val_acc``); ``test_acc``;
        ``diverged``: whether some step's loss was not finite (such steps are skipped).
    """
    x, _ = data.arrays("mnist", True, spec["probe"], flatten=True)
    deep = build(spec["activation"], spec["init"], [spec["width"]] * spec["depth"])
    # The probe's hooks record the same forward pass that depth_statistics makes.
    with ActivationStats(deep) as stats:
        rows = depth_statistics(deep, Tensor(x))
    saturated = [None] + [s["saturated_frac"] for s in stats.summary()]
    depth = [{"depth": r["depth"], "mean": r["mean"], "var": r["var"], "saturated": sat}
             for r, sat in zip(rows, saturated, strict=True)]

    model = build(spec["activation"], spec["init"], spec["hidden"])
    train = data.loader("mnist", True, spec["train"], flatten=True, batch_size=spec["batch"])
    test = data.loader("mnist", False, spec["test"], flatten=True, batch_size=1000)
    optimizer = optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"])
    # N(0, 1) nets diverge: their non-finite steps are skipped and counted, and NumPy's
    # overflow warnings would only say the same thing many times over.
    with np.errstate(over="ignore", invalid="ignore"):
        history = fit(model, optimizer, nn.CrossEntropyLoss(), train, test,
                      epochs=spec["epochs"], progress=False, on_nan="skip")
    # Every column but the wall-clock time, which would make two runs of a seed differ.
    records = [{k: v for k, v in r.items() if k != "time"} for r in history.to_dict()["records"]]
    return {"depth": depth, "history": records,
            "test_acc": history["val_acc"][-1], "diverged": any(history["skipped_steps"])}


# ------------------------------------------------------------------------------ report
def _groups(runs: list[tuple[dict, dict]]) -> dict[tuple[str, str], list[dict]]:
    """Results by (activation, init), one per seed, in plan order."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for spec, result in runs:
        groups.setdefault((spec["activation"], spec["init"]), []).append(result)
    return groups


def _at(results: list[dict], layer: int, key: str) -> float | None:
    """Mean over seeds of ``key`` at depth ``layer``; ``"std"`` is √var."""
    values = [r["depth"][layer]["var" if key == "std" else key] for r in results]
    if key == "std":
        values = [None if v is None else math.sqrt(v) for v in values]
    return seed_stats(values)[0]


def _row(activation: str, init: str, results: list[dict], depth: int) -> dict[str, Any]:
    std_1, std_mid, std_last = (_at(results, layer, "std") for layer in (1, depth // 2, depth))
    test_acc, test_std = seed_stats([r["test_acc"] for r in results])
    first_epoch = seed_stats([r["history"][0]["val_acc"] for r in results])[0]
    return {"activation": activation, "init": init, "weight std": INITS[init][1],
            "std layer 1": std_1, f"std layer {depth // 2}": std_mid,
            f"std layer {depth}": std_last,
            f"std {depth} / std 1": None if None in (std_1, std_last) else std_last / std_1,
            f"mean layer {depth}": _at(results, depth, "mean"),
            f"saturated layer {depth}": _at(results, depth, "saturated"),
            "test acc epoch 1": first_epoch, "test acc": test_acc, "test acc std": test_std,
            "diverged seeds": sum(r["diverged"] for r in results)}


def _profile(results: list[dict]) -> list[dict]:
    """``depth_profile`` rows (depth, mean, var) averaged over seeds."""
    return [{"depth": layer, "mean": _at(results, layer, "mean"),
             "var": _at(results, layer, "var")} for layer in range(len(results[0]["depth"]))]


def report(runs: list[tuple[dict, dict]], quick: bool, seeds: list[int]) -> Report:
    """One table (std through depth and test accuracy per activation and init), a depth
    profile and training curves per activation."""
    groups = _groups(runs)
    spec = runs[0][0]
    depth = spec["depth"]
    rows = [_row(act, init, groups[act, init], depth) for act in ACTIVATIONS for init in INITS]
    which = f"seed {seeds[0]}" if len(seeds) == 1 else f"mean of {len(seeds)} seeds"
    figures: dict[str, Any] = {}
    for act in ACTIVATIONS:
        figures[f"depth_{act.lower()}"] = depth_profile(
            {init: _profile(groups[act, init]) for init in INITS},
            target=(0.0, 1.0) if act == "SELU" else None,
            title=f"{act}: output mean and variance through {depth} layers of "
                  f"{spec['width']} ({which})")
    for act in ACTIVATIONS:
        figures[f"training_{act.lower()}"] = runs_figure(
            {init: [History(r["history"]) for r in groups[act, init]] for init in INITS},
            val_label="test",
            title=f"{act}: MLP 784-{'-'.join(map(str, spec['hidden']))}-10, SGD lr "
                  f"{spec['lr']:g} momentum {spec['momentum']:g}")
    return Report(tables={"Signal through depth and test accuracy": rows}, figures=figures,
                  text=_text(rows, spec, quick, seeds))


def _text(rows: list[dict], spec: dict, quick: bool, seeds: list[int]) -> list[str]:
    """The report's paragraphs, with this run's numbers."""
    depth = spec["depth"]
    table = {(r["activation"], r["init"]): r for r in rows}

    def signal(act: str) -> str:
        parts = []
        for init in INITS:
            r = table[act, init]
            sat = r[f"saturated layer {depth}"]
            parts.append(f"{init} {_g(r['std layer 1'])} → {_g(r[f'std layer {depth}'])}"
                         + ("" if sat is None else f" ({sat:.0%} saturated)"))
        return f"{act}: " + ", ".join(parts)

    def accuracy(act: str) -> str:
        return f"{act}: " + ", ".join(
            f"{init} {_pct(table[act, init]['test acc epoch 1'])} → "
            f"{_pct(table[act, init]['test acc'])}"
            + (" (diverged)" if table[act, init]["diverged seeds"] else "") for init in INITS)

    def best(act: str) -> str:
        init = max(INITS, key=lambda i: table[act, i]["test acc"] or 0.0)
        return f"{act}: {init}" + ("" if init == MATCH[act] else f" (theory: {MATCH[act]})")

    train = "all 60000" if spec["train"] is None else f"the first {spec['train']}"
    test = "all 10000" if spec["test"] is None else f"the first {spec['test']}"
    return [
        f"Weights drawn by each scheme, biases zero. Signal: {spec['probe']} standardised "
        f"MNIST training images through an MLP of {depth} hidden layers of {spec['width']} "
        f"units; the std of each activation layer's output over all images and units "
        f"(``depth_statistics``), and the fraction of outputs in the saturated region "
        f"(``ActivationStats``: |tanh| > 0.97, sigmoid < 0.03 or > 0.97, SELU < -0.97λα). "
        f"Training: MLP 784-{'-'.join(map(str, spec['hidden']))}-10, SGD lr {spec['lr']:g}, "
        f"momentum {spec['momentum']:g}, batch {spec['batch']}, {spec['epochs']} epochs on "
        f"{train} training images, test accuracy on {test}; seeds "
        f"{', '.join(map(str, seeds))}"
        + (" (quick mode: a small subset and few epochs)." if quick else "."),
        f"Output std at layer 1 → layer {depth} (mean over seeds): " + "; ".join(
            signal(act) for act in ACTIVATIONS) + ".",
        "Theory: Var(z) = n·Var(w)·E[f(z')²] per layer. ReLU halves E[f²], so Kaiming's "
        "Var(w) = 2/n keeps its std constant while Xavier's and LeCun's 1/n halve the "
        "variance at every layer (std × 1/√2 per layer: 2^-15 ≈ 3e-5 over 30 layers); "
        "N(0, 1) multiplies it by n/2 = 128 (std × 11 per layer). SELU with LeCun's "
        "1/n is drawn to its fixed point (mean 0, variance 1); Kaiming's 2/n pushes it "
        "above. tanh with Xavier or LeCun starts near the identity but every layer "
        "shrinks a little (tanh(z) < z), so its std decays slowly; Kaiming's larger weights "
        "hold it higher. With N(0, 1) the pre-activations have std ≈ √n = 16: tanh and "
        "sigmoid sit on their flat tails, where f' ≈ 0 and the gradient vanishes.",
        f"Test accuracy after epoch 1 → after epoch {spec['epochs']}: "
        + "; ".join(accuracy(act) for act in ACTIVATIONS)
        + ". Best init per activation at the end: " + ", ".join(best(act) for act in ACTIVATIONS)
        + ". A few points either way are within the spread between seeds; SGD with momentum "
        "also rescales the weights as it trains, so a modest mis-scaling costs speed early "
        "rather than the final accuracy, while N(0, 1) can make the loss overflow (NaN: the "
        "run is marked diverged and stays at chance). Sigmoid is the special case: σ' ≤ 1/4, "
        "so with Var(w) ≈ 1/n the backward signal shrinks about 4× per layer (see "
        "`vanishing_gradients`) and a deep sigmoid net can stall near chance, while "
        "larger weights make up for the small σ' (the gradient's factor per layer is about "
        "√(n·Var(w))·σ'), saturation notwithstanding.",
    ]


def _g(value: float | None) -> str:
    return "overflow" if value is None else f"{value:.3g}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def initialization(quick: bool = False, seed: int | list[int] = 0,
                   **options: Any) -> ExperimentResult:
    """Initialisation: N(0,1), Xavier, Kaiming and LeCun through depth and in training.

    With zero biases each layer gives Var(z) = n·Var(w)·E[f(z')²], so the weight variance
    that keeps the signal's size depends on the activation f: 2/fan_in for ReLU (Kaiming),
    1/fan_in for SELU and for tanh near 0 (LeCun; Xavier's 2/(fan_in + fan_out) is the
    same on square layers); N(0, 1) is fan_in times too large. For each of sigmoid, tanh,
    ReLU and SELU and each of the four inits, one batch of MNIST goes through 30 layers of
    256 units (output std and saturated fraction per layer), and an MLP with 8 hidden
    layers of 128 is trained with SGD (momentum 0.9). Expected: N(0, 1) saturates
    sigmoid and tanh and explodes ReLU and SELU; Kaiming keeps the ReLU std constant
    while Xavier shrinks it by 1/√2 per layer; LeCun keeps SELU at (mean 0, std 1).

    Parameters
    ----------
    quick : bool
        256 images through the deep net and 2 epochs on 3000 training images (1000 test
        images), instead of 1000 images and 5 epochs on all 60000 (all 10000 test).
    seed : int or list of int
        One seed or several: each (activation, init) runs once per seed, and the table
        gives means (and the test accuracy's std) across them.
    **options
        ``out``, ``workers``, ``executor``, ``progress``: as for
        ``minidl.experiments.run``.

    Returns
    -------
    ExperimentResult
        Table ``"Signal through depth and test accuracy"`` (per activation and init: std
        at layers 1, 15 and 30, their ratio, mean and saturated fraction at layer 30, test
        accuracy); figures ``"depth_<activation>"`` (mean and variance against depth) and
        ``"training_<activation>"`` (loss and accuracy per epoch) for sigmoid, tanh, relu
        and selu.
    """
    return runner.run("initialization", quick, seed, **options)
