"""Exploding gradients: too-large init, products of random matrices, clipping.

Backpropagation multiplies the gradient by one factor per layer; when the factors are
larger than 1 the product grows geometrically with depth. Five parts:

1. Nielsen's chain of one-neuron sigmoid layers with w = 100 and biases that make every
   z = 0: each layer multiplies ∂C/∂b by w·σ'(0) = 25.
2. Products of random matrices: with entries N(0, σ²) and σ = c/√n, each n x n matrix
   multiplies the expected squared norm of a vector by n·σ² = c², so ‖Wᴰ…W¹x‖ grows or
   shrinks like cᴰ: only c = 1 (σ = 1/√n) keeps it.
3. A deep ReLU MLP with Kaiming init times a gain g: the per-layer factor is g, so the
   bias gradient (the "speed of learning" ‖δˡ‖) grows by g per layer towards the input.
4. Training that net with g = 2: plain SGD diverges to Inf/NaN within a few steps;
   ``clip_grad_norm_`` and ``clip_grad_value_`` cap every step, and the loss decreases.
5. ``detect_anomaly`` names the op, the module and the step of the first non-finite value.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

import minidl
import minidl.functional as F
from minidl import models, nn, optim
from minidl.data import DataLoader, TensorDataset
from minidl.diagnostics import GradientNorms, depth_statistics
from minidl.experiments import runner
from minidl.experiments._vanishing_gradients import layer_figure, seeds_label
from minidl.experiments.data import arrays
from minidl.experiments.runner import ExperimentResult, Report, seed_stats
from minidl.nn.utils import clip_grad_norm_, clip_grad_value_
from minidl.plot import gradient_norms as gradient_norms_figure
from minidl.tensor import Tensor

TITLE = "Exploding gradients: too-large init, products of random matrices, clipping"

#: Nielsen's chain: one sigmoid neuron per layer, biases chosen so that every z = 0.
CHAIN_WEIGHTS = (100.0, 1.0)
CHAIN_NEURONS = 4
#: c in σ = c/√n for the products of random matrices.
SCALES = (0.5, 0.9, 1.0, 1.1, 1.5)
#: Gains g on Kaiming-normal weights: too small, right, too large.
GAINS = (0.5, 1.0, 2.0)
#: The training runs: (label, gain, clipping).
TRAINING = (("gain 2, no clipping", 2.0, None),
            ("gain 2, clip_grad_norm_", 2.0, "norm"),
            ("gain 2, clip_grad_value_", 2.0, "value"),
            ("gain 1 (Kaiming), no clipping", 1.0, None))
MAX_NORM = 1.0
CLIP_VALUE = 0.01
LR = 0.1
SIZES = {True: {"depth": 10, "width": 64, "images": 512, "steps": 40, "products_width": 64,
                "products_depth": 30},
         False: {"depth": 10, "width": 128, "images": 4096, "steps": 300,
                 "products_width": 256, "products_depth": 50}}


def plan(quick: bool, seeds: list[int]) -> list[dict]:
    """The chain once (it is deterministic); per seed the matrix products, the gradients
    at initialisation, the four training runs and the anomaly hunt."""
    size = SIZES[quick]
    net = {"depth": size["depth"], "width": size["width"], "images": size["images"]}
    specs: list[dict] = [{"key": "chain", "seed": seeds[0], "part": "chain",
                          "weights": list(CHAIN_WEIGHTS), "neurons": CHAIN_NEURONS}]
    for seed in seeds:
        specs.append({"key": f"products-s{seed}", "seed": seed, "part": "products",
                      "scales": list(SCALES), "width": size["products_width"],
                      "depth": size["products_depth"], "batch": 64})
        specs.append({"key": f"init-s{seed}", "seed": seed, "part": "init",
                      "gains": list(GAINS), **net})
        for i, (label, gain, clip) in enumerate(TRAINING):
            specs.append({"key": f"train{i}-s{seed}", "seed": seed, "part": "train",
                          "label": label, "gain": gain, "clip": clip, "lr": LR,
                          "steps": size["steps"], "batch_size": 64, **net})
        specs.append({"key": f"anomaly-s{seed}", "seed": seed, "part": "anomaly",
                      "gain": 2.0, "lr": LR, "steps": size["steps"], "batch_size": 64, **net})
    return specs


# ------------------------------------------------------------------------------ the parts
def _chain(spec: dict) -> dict:
    """∂C/∂bⱼ along Nielsen's chain aⱼ = σ(w aⱼ₋₁ + bⱼ), a₀ = 1, C = a_L, with each bⱼ
    set to -w aⱼ₋₁ so that zⱼ = 0 and σ'(zⱼ) = 1/4, its largest value. By the chain rule

        ∂C/∂bⱼ = σ'(zⱼ) · Π_{k>j} w σ'(zₖ) = ¼ (w/4)^(L-j).
    """
    out = []
    for w in spec["weights"]:
        a = minidl.tensor(1.0, dtype=minidl.float64)
        biases = []
        for _ in range(spec["neurons"]):
            b = minidl.tensor(-w * a.item(), dtype=minidl.float64, requires_grad=True)
            a = F.sigmoid(w * a + b)
            biases.append(b)
        a.backward()
        out.append({"w": w, "grads": [float(b.grad.item()) for b in biases]})
    return {"chains": out}


def _products(spec: dict) -> dict:
    """‖h_l‖ / ‖h_0‖ for h_l = Wˡ…W¹h_0, n x n matrices with entries N(0, c²/n), through
    ``depth_statistics`` of a deep linear net (no bias, no activation)."""
    n, depth = spec["width"], spec["depth"]
    h0 = minidl.randn(spec["batch"], n)
    out = {}
    for c in spec["scales"]:
        model = nn.Sequential(*[nn.Linear(n, n, bias=False) for _ in range(depth)])
        for layer in model:
            nn.init.normal_(layer.weight, 0.0, c / math.sqrt(n))
        rows = depth_statistics(model, h0, layers="all")
        # Mean square of the entries, ∝ the average ‖h‖² over the batch.
        power = np.array([r["var"] + r["mean"] ** 2 for r in rows])
        out[str(c)] = np.sqrt(power / power[0]).tolist()
    return {"ratios": out}


def _net(spec: dict, gain: float) -> nn.Sequential:
    """The deep ReLU MLP: Kaiming-normal weights (std √(2/n_in)) times ``gain``, zero
    biases. Gain 1 keeps the size of the signal and of the gradient through depth."""
    model = models.mlp(784, [spec["width"]] * spec["depth"], 10, activation="relu",
                       init="kaiming_normal")
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            layer.weight.data *= gain
    return model


def _linears(model: nn.Module) -> list[str]:
    return [name for name, layer in model.named_modules() if isinstance(layer, nn.Linear)]


def _init(spec: dict) -> dict:
    """Per hidden layer, ‖∂L/∂bˡ‖ = ‖δˡ‖ and ‖∂L/∂Wˡ‖ at initialisation, for each gain;
    L is the mean cross-entropy over the first ``spec["images"]`` training images."""
    x, y = arrays("mnist", True, spec["images"], flatten=True)
    out = {}
    for gain in spec["gains"]:
        model = _net(spec, gain)
        hidden = _linears(model)[:-1]
        with GradientNorms(model, layers=hidden) as probe:
            loss = F.cross_entropy(model(minidl.tensor(x)), minidl.tensor(y))
            loss.backward()
        out[str(gain)] = {"loss": loss.item(),
                          "bias": [float(probe.series(f"{h}.bias")[0]) for h in hidden],
                          "weight": [float(probe.series(f"{h}.weight")[0]) for h in hidden]}
    return {"gains": out}


def _batches(spec: dict, steps: int) -> Iterator[tuple[Tensor, Tensor]]:
    """``steps`` shuffled mini-batches, epoch after epoch."""
    x, y = arrays("mnist", True, spec["images"], flatten=True)
    loader = DataLoader(TensorDataset(np.array(x), np.array(y)),
                        batch_size=spec["batch_size"], shuffle=True)
    done = 0
    while done < steps:
        for batch in loader:
            yield batch
            done += 1
            if done == steps:
                return


def _total_norm(model: nn.Module) -> float:
    """‖g‖ of all gradients together, before any clipping (float64: it may be huge)."""
    return math.sqrt(sum(float(np.sum(p.grad.astype(np.float64) ** 2))
                         for p in model.parameters() if p.grad is not None))


def _train(spec: dict) -> dict:
    """Plain SGD on mini-batches, optionally clipping between ``backward`` and ``step``;
    stops at the first non-finite loss (every later step would be NaN too)."""
    model = _net(spec, spec["gain"])
    optimizer = optim.SGD(model.parameters(), lr=spec["lr"])
    losses, norms = [], []
    for x, y in _batches(spec, spec["steps"]):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            break
        loss.backward()
        norms.append(_total_norm(model))
        if spec["clip"] == "norm":
            clip_grad_norm_(model.parameters(), MAX_NORM)
        elif spec["clip"] == "value":
            clip_grad_value_(model.parameters(), CLIP_VALUE)
        optimizer.step()
    finite = [math.isfinite(v) for v in losses]
    return {"loss": [v if ok else None for v, ok in zip(losses, finite, strict=True)],
            "grad_norm": norms,
            "first_nonfinite": None if all(finite) else finite.index(False) + 1}


def _anomaly(spec: dict) -> dict:
    """The unclipped run again under ``detect_anomaly``: the step and the message of the
    ``FloatingPointError`` it raises at the first NaN or Inf."""
    model = _net(spec, spec["gain"])
    optimizer = optim.SGD(model.parameters(), lr=spec["lr"])
    step = 0
    try:
        with minidl.detect_anomaly():
            for x, y in _batches(spec, spec["steps"]):
                step += 1
                optimizer.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
    except FloatingPointError as error:
        return {"step": step, "message": str(error)}
    return {"step": None, "message": None}


PARTS = {"chain": _chain, "products": _products, "init": _init, "train": _train,
         "anomaly": _anomaly}


def run(spec: dict) -> dict:
    """One part of the experiment (``spec["part"]``), see the module docstring."""
    # Overflow to Inf and Inf - Inf = NaN are what this experiment is about: no warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        return PARTS[spec["part"]](spec)


# ------------------------------------------------------------------------------ report
def report(runs: list[tuple[dict, dict]], quick: bool, seeds: list[int]) -> Report:
    """Tables for the chain, the matrix products, the gradients at initialisation,
    training with and without clipping and the anomaly; three figures."""
    parts: dict[str, list[tuple[dict, dict]]] = {}
    for spec, result in runs:
        parts.setdefault(spec["part"], []).append((spec, result))

    chain_rows = []
    for chain in parts["chain"][0][1]["chains"]:
        w, grads = chain["w"], chain["grads"]
        n = len(grads)
        chain_rows += [{"w": w, "j": j + 1, "∂C/∂bⱼ": g,
                        "¼ (w/4)^(L-j)": 0.25 * (w / 4) ** (n - 1 - j),
                        "∂C/∂bⱼ / ∂C/∂bⱼ₊₁": g / grads[j + 1] if j + 1 < n else None}
                       for j, g in enumerate(grads)]

    product_spec = parts["products"][0][0]
    depth = product_spec["depth"]
    ratios = {c: np.array([r["ratios"][str(c)] for _, r in parts["products"]])
              for c in product_spec["scales"]}
    product_rows = [{"c": c, "σ = c/√n": c / math.sqrt(product_spec["width"]),
                     "predicted factor per layer (c)": c,
                     "measured factor per layer": float(np.exp(np.mean(np.log(r[:, -1])) / depth)),
                     f"‖h_{depth}‖ / ‖h_0‖": float(np.exp(np.mean(np.log(r[:, -1])))),
                     f"c^{depth}": c ** depth} for c, r in ratios.items()]

    init = [r["gains"] for _, r in parts["init"]]
    init_spec = parts["init"][0][0]
    layers = init_spec["depth"]
    gain_rows = []
    for l in range(layers):
        row: dict[str, Any] = {"layer": l + 1}
        for g in init_spec["gains"]:
            row[f"‖δˡ‖ gain {g:g}"] = float(np.mean([r[str(g)]["bias"][l] for r in init]))
        for g in init_spec["gains"]:
            row[f"‖∂L/∂Wˡ‖ gain {g:g}"] = float(np.mean([r[str(g)]["weight"][l] for r in init]))
        gain_rows.append(row)
    spread = {g: float(np.mean([r[str(g)]["bias"][0] / r[str(g)]["bias"][-1] for r in init]))
              for g in init_spec["gains"]}
    initial_loss = {g: float(np.mean([r[str(g)]["loss"] for r in init]))
                    for g in init_spec["gains"]}

    trains: dict[str, list[dict]] = {}
    for spec, result in parts["train"]:
        trains.setdefault(spec["label"], []).append(result)
    steps = parts["train"][0][0]["steps"]
    train_rows = []
    for label, results in trains.items():
        diverged = [r["first_nonfinite"] for r in results if r["first_nonfinite"] is not None]
        finished = [r for r in results if r["first_nonfinite"] is None]
        train_rows.append({
            "run": label, "steps": steps,
            "first loss": seed_stats([r["loss"][0] for r in results])[0],
            "last loss": seed_stats([r["loss"][-1] for r in finished])[0],
            "lowest loss": seed_stats([min(v for v in r["loss"] if v is not None)
                                       for r in results])[0],
            "first ‖g‖": seed_stats([r["grad_norm"][0] for r in results])[0],
            "largest ‖g‖ before clipping": seed_stats([max(r["grad_norm"]) for r in results])[0],
            "seeds with Inf/NaN": f"{len(diverged)}/{len(results)}",
            "first Inf/NaN at step": min(diverged) if diverged else None})

    anomaly_rows = [{"seed": spec["seed"], "step": result["step"], "message": result["message"]}
                    for spec, result in parts["anomaly"]]

    figures = {
        "random_matrix_products": layer_figure(
            {f"c = {c:g}": r[:, 1:] for c, r in ratios.items()}, xlabel="depth l",
            ylabel="‖Wˡ…W¹h‖ / ‖h‖",
            title=f"Products of {product_spec['width']}x{product_spec['width']} random "
                  f"matrices, entries N(0, c²/n)"),
        "gradient_norms_by_layer": layer_figure(
            {f"gain {g:g}": np.array([r[str(g)]["bias"] for r in init])
             for g in init_spec["gains"]},
            ylabel="‖δˡ‖ = ‖∂L/∂bˡ‖",
            title=f"ReLU MLP, {layers} hidden layers: Kaiming-normal weights x gain"),
        "clipping": _training_figure(trains, seeds),
    }
    text = _text(chain_rows, product_rows, spread, initial_loss, train_rows, anomaly_rows,
                 init_spec, quick)
    return Report(tables={"Nielsen's chain: biases with z = 0": chain_rows,
                          "Products of random matrices": product_rows,
                          "Gradients at initialisation, per hidden layer": gain_rows,
                          "Training with and without clipping": train_rows,
                          "detect_anomaly on the unclipped run": anomaly_rows},
                  figures=figures, text=text)


def _training_figure(trains: dict[str, list[dict]], seeds: list[int]) -> Any:
    """The loss and the gradient norm per step of each training run, drawn by
    ``minidl.plot.gradient_norms``: its "layers" are the runs here, its panels the two
    quantities, both on a log axis (the seed-mean, gaps where a run has stopped)."""
    rows = []
    for label, results in trains.items():
        for key, panel in (("loss", "training loss"),
                           ("grad_norm", "gradient norm ‖g‖ before clipping")):
            longest = max(len(r[key]) for r in results)
            for step in range(longest):
                values = [r[key][step] for r in results if step < len(r[key])]
                rows.append({"step": step + 1, "layer": label, "param": panel,
                             "grad_norm": seed_stats(values)[0]})
    fig = gradient_norms_figure(rows, params=("training loss",
                                              "gradient norm ‖g‖ before clipping"),
                                title=f"SGD on a ReLU net with 2x Kaiming init "
                                      f"({seeds_label(seeds)})")
    for ax, ylabel in zip(fig.axes, ("cross-entropy", "‖g‖"), strict=True):
        ax.set_ylabel(ylabel)
    return fig


def _text(chain_rows: list[dict], product_rows: list[dict], spread: dict[float, float],
          initial_loss: dict[float, float], train_rows: list[dict], anomaly_rows: list[dict],
          init_spec: dict, quick: bool) -> list[str]:
    """The report's paragraphs, with the numbers of this run's tables."""
    b1 = next(r["∂C/∂bⱼ"] for r in chain_rows if r["w"] == 100.0 and r["j"] == 1)
    depth = init_spec["depth"]
    by_run = {r["run"]: r for r in train_rows}
    unclipped, kaiming = by_run[TRAINING[0][0]], by_run[TRAINING[3][0]]
    clipped = [by_run[label] for label, _, clip in TRAINING if clip is not None]
    first = anomaly_rows[0]
    return [
        f"Nielsen's exploding example: a chain of {CHAIN_NEURONS} sigmoid neurons with "
        f"weights w = 100 and biases bⱼ = -w aⱼ₋₁, so that every zⱼ = 0 and σ'(zⱼ) = 1/4. "
        f"Going back one layer multiplies ∂C/∂b by w σ'(0) = 25, and ∂C/∂b₁ = {b1:.6g} = "
        f"¼·25³; with w = 1 the same chain shrinks it by 4 per layer. minidl's autograd "
        f"gives exactly what the chain rule predicts.",
        "Products of random matrices: with entries N(0, σ²), E‖Wh‖² = nσ² ‖h‖², so with "
        "σ = c/√n each layer multiplies the size of the signal by about c, and the product "
        "of L layers by about c^L. Measured factors per layer: "
        + ", ".join(f"c = {r['c']:g}: {r['measured factor per layer']:.3g}"
                    for r in product_rows)
        + ". Only σ = 1/√n keeps the size; any other σ makes it explode or vanish "
        "geometrically, like the last column of the table. Backpropagation multiplies by "
        "the transposed matrices, so gradients do the same.",
        f"A ReLU MLP with {depth} hidden layers of {init_spec['width']} units and "
        f"Kaiming-normal weights times a gain g (the per-layer factor of both the signal and "
        f"the gradient is then g): ‖δ¹‖ / ‖δᴸ‖ = "
        + ", ".join(f"{v:.3g} for g = {g:g}" for g, v in spread.items())
        + f". Against g = 1, g = 2 multiplies the ratio by {spread[2.0] / spread[1.0]:.3g}, "
        f"close to 2^{depth - 1} = {2 ** (depth - 1)}: a factor g per layer; the rest of the "
        "ratio, there at every gain, comes from the data and the averaging over the batch. "
        "The weight gradients "
        "‖∂L/∂Wˡ‖ = ‖δˡ hˡ⁻¹ᵀ‖ stay level across layers, because the signal hˡ⁻¹ grows "
        "forward as fast as δˡ grows backward, but they are all huge for g = 2: with zero "
        f"biases all {depth + 1} linear layers scale the logits, which are "
        f"2^{depth + 1} = {2 ** (depth + 1)} times too large, and the initial loss is "
        f"{initial_loss[max(spread)]:.3g} instead of ln 10 ≈ 2.3.",
        f"Training it with plain SGD (η = {LR}, batches of 64): without clipping the first "
        f"gradient has norm {unclipped['first ‖g‖']:.3g} and the largest "
        f"{unclipped['largest ‖g‖ before clipping']:.3g}; "
        + (f"the loss is Inf or NaN from step {unclipped['first Inf/NaN at step']} on (in "
           f"{unclipped['seeds with Inf/NaN']} seeds). " if unclipped["first Inf/NaN at step"]
           else "this time the loss stayed finite. ")
        + f"clip_grad_norm_(max_norm={MAX_NORM:g}) rescales g to length {MAX_NORM:g} "
        f"(direction kept, Pascanu et al. 2013) and clip_grad_value_({CLIP_VALUE:g}) clamps "
        f"each element (direction changed). The loss in {clipped[0]['steps']} steps: "
        + "; ".join(f"{r['run']}: {_number(r['first loss'])} → {_number(r['last loss'])}"
                    for r in clipped)
        + ". Clipping only stops the blow-up; the net is still badly scaled, and the right "
        f"init does better (gain 1, no clipping: {_number(kaiming['first loss'])} → "
        f"{_number(kaiming['last loss'])}).",
        "detect_anomaly on the unclipped run "
        + (f"stops at the first op with a non-finite result, step {first['step']}: "
           f"\"{first['message']}\". Its step counts forward passes of the model since "
           "detection began, and the module is named by its place in the model (the i-th "
           "child of the Sequential)." if first["message"] else "found no NaN or Inf.")
        + (" Quick mode: a small net, few steps, one look at the effect." if quick else ""),
    ]


def _number(value: float | None) -> str:
    """A loss for the text: 3 significant digits, or Inf/NaN where it was not finite."""
    return "Inf/NaN" if value is None else f"{value:.3g}"


def exploding_gradients(quick: bool = False, seed: int | list[int] = 0,
        **options: Any) -> ExperimentResult:
    """Exploding gradients: too-large init, products of random matrices, clipping.

    Backpropagation multiplies the gradient by one factor per layer, so factors above 1
    make it grow geometrically with depth. Shown five ways: Nielsen's sigmoid chain with
    w = 100 and z = 0 (a factor w σ'(0) = 25 per layer); products of n x n random matrices
    with entries N(0, c²/n), whose norm grows like cᴸ (E‖Wh‖² = c²‖h‖²); a deep ReLU MLP
    with Kaiming-normal weights times a gain g, whose bias gradients ‖δˡ‖ grow by g per
    layer towards the input; SGD on that net with g = 2, which diverges to Inf/NaN unless
    ``clip_grad_norm_`` or ``clip_grad_value_`` caps the steps; and ``detect_anomaly``
    naming the op, module and step of the first non-finite value.

    Parameters
    ----------
    quick : bool
        A smaller net (64 units per layer, 512 images, 40 steps) and shorter products
        (30 matrices of 64 x 64) instead of 128 units, 4096 images, 300 steps and 50
        matrices of 256 x 256.
    seed : int or list of int
        One seed or several: tables then give means across them.
    **options
        ``out``, ``workers``, ``executor``, ``progress``: as for
        ``minidl.experiments.run``.

    Returns
    -------
    ExperimentResult
        Tables ``"Nielsen's chain: biases with z = 0"``, ``"Products of random
        matrices"``, ``"Gradients at initialisation, per hidden layer"``, ``"Training
        with and without clipping"`` and ``"detect_anomaly on the unclipped run"``;
        figures ``"random_matrix_products"``, ``"gradient_norms_by_layer"`` and
        ``"clipping"``.
    """
    return runner.run("exploding_gradients", quick, seed, **options)
