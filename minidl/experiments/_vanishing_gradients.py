"""Vanishing gradients: per-layer speed of learning in sigmoid, tanh and ReLU MLPs.

Nielsen's chapter 5 ("Why are deep neural networks hard to train?"), reproduced: sigmoid
MLPs [784, 30, ..., 30, 10] with his network2 initialisation, on the first 1000 MNIST
training images. The speed of learning of hidden layer l is ‖δˡ‖ = ‖∂C/∂bˡ‖, the norm of
the bias gradient averaged over the 1000 images. Backpropagation gives

    δˡ = σ'(zˡ) ⊙ (Wˡ⁺¹)ᵀ δˡ⁺¹,

so every layer further from the output multiplies the gradient once more by a weight
matrix and by σ' ≤ 1/4: with weights N(0, 1/n_in) that shrinks it several times per
layer, and the first layers learn orders of magnitude more slowly than the last. The same
nets with tanh (tanh'(0) = 1) or ReLU (ReLU' = 1 on active units) lose far less.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

import minidl.functional as F
from minidl import models, nn, optim
from minidl.data import MNIST
from minidl.diagnostics import GradientNorms
from minidl.experiments import runner
from minidl.experiments.runner import ExperimentResult, Report
from minidl.plot import gradient_norms as gradient_norms_figure
from minidl.tensor import Tensor

TITLE = "Vanishing gradients: per-layer speed of learning in sigmoid, tanh and ReLU MLPs"

#: Nielsen's ‖δˡ‖ of the hidden layers at initialisation (one random initialisation each),
#: by number of hidden layers of 30 sigmoid units.
NIELSEN = {2: (0.07, 0.31), 3: (0.012, 0.060, 0.283), 4: (0.003, 0.017, 0.070, 0.285)}
#: (activation, hidden layers) of the runs: Nielsen's three sigmoid nets, then the deepest
#: one again with tanh and with ReLU, initialised the same way.
NETWORKS = (("sigmoid", 2), ("sigmoid", 3), ("sigmoid", 4), ("tanh", 4), ("relu", 4))
WIDTH = 30
IMAGES = 1000
#: generate_gradient.py's training: full-batch gradient descent, net.SGD(td, 1, 1000, 0.1,
#: lmbda=5.0) once per epoch, 500 epochs.
LR = 0.1
LMBDA = 5.0
EPOCHS = {True: 10, False: 500}


def plan(quick: bool, seeds: list[int]) -> list[dict]:
    """One run per seed and network; quick mode trains 10 epochs instead of 500."""
    return [{"key": f"{activation}-{depth}-s{seed}", "seed": seed, "activation": activation,
             "sizes": [784] + [WIDTH] * depth + [10], "images": IMAGES,
             "epochs": EPOCHS[quick], "lr": LR, "lmbda": LMBDA}
            for seed in seeds for activation, depth in NETWORKS]


@lru_cache(maxsize=2)
def nielsen_data(images: int) -> tuple[Tensor, Tensor, np.ndarray]:
    """The first ``images`` MNIST training images as Nielsen used them: flat, pixels in
    [0, 1] and not standardised; their one-hot targets; and their labels."""
    mnist = MNIST(train=True, normalize=False, flatten=True)
    x, labels = mnist.inputs()[:images], mnist.targets[:images]
    onehot = np.eye(10, dtype=x.dtype)[labels]
    return Tensor(x), Tensor(onehot), labels


def nielsen_net(sizes: Sequence[int], activation: str = "sigmoid") -> nn.Sequential:
    """An MLP with network2's initialisation: weights N(0, 1/n_in), biases N(0, 1).

    The output layer gives logits z; Nielsen's sigmoid output neurons a = σ(z) are folded
    into the cost (``nielsen_cost``), which is the numerically stable way to write it.
    """
    model = models.mlp(sizes[0], sizes[1:-1], sizes[-1], activation=activation)
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, 1.0 / np.sqrt(layer.in_features))
            nn.init.normal_(layer.bias, 0.0, 1.0)
    return model


def nielsen_cost(logits: Tensor, onehot: Tensor) -> Tensor:
    """network2's cross-entropy cost of the sigmoid outputs a = σ(z), summed over the 10
    outputs and averaged over the n examples:

        C = -(1/n) Σₓ Σⱼ [yⱼ ln aⱼ + (1 - yⱼ) ln(1 - aⱼ)].
    """
    return F.binary_cross_entropy_with_logits(logits, onehot, reduction="sum") / len(onehot)


def run(spec: dict) -> dict:
    """Train one net by full-batch gradient descent, recording every epoch's ‖δˡ‖ of
    each hidden layer (measured before that epoch's update, so entry 0 is at
    initialisation), the cost and the training accuracy on the same images."""
    x, onehot, labels = nielsen_data(spec["images"])
    model = nielsen_net(spec["sizes"], spec["activation"])
    linears = {name: layer for name, layer in model.named_modules()
               if isinstance(layer, nn.Linear)}
    hidden = list(linears)[:-1]
    # network2 decays only the weights, by the factor 1 - ηλ/n per step: SGD's weight_decay
    # adds λ/n · w to the gradient, which is the same.
    optimizer = optim.SGD([{"params": [layer.weight for layer in linears.values()],
                            "weight_decay": spec["lmbda"] / len(labels)},
                           {"params": [layer.bias for layer in linears.values()]}],
                          lr=spec["lr"])
    losses, accuracies = [], []
    with GradientNorms(model, layers=hidden) as probe:
        for _ in range(spec["epochs"]):
            optimizer.zero_grad()
            logits = model(x)
            loss = nielsen_cost(logits, onehot)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            accuracies.append(float(np.mean(logits.data.argmax(axis=1) == labels)))
    # One backward per epoch, so the probe's steps are the epochs; each bias gradient is
    # already the mean over the images, as in Nielsen's get_average_gradient.
    norms = np.array([probe.series(f"{name}.bias") for name in hidden]).T
    return {"norms": norms.tolist(), "loss": losses, "accuracy": accuracies}


# ------------------------------------------------------------------------------ report
def _label(activation: str, sizes: Sequence[int]) -> str:
    return f"{activation} {list(sizes)}"


def _groups(runs: list[tuple[dict, dict]]) -> dict[tuple[str, int], list[dict]]:
    """Results by (activation, number of hidden layers), one per seed."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for spec, result in runs:
        groups.setdefault((spec["activation"], len(spec["sizes"]) - 2), []).append(result)
    return groups


def seeds_label(seeds: Sequence[int]) -> str:
    """``"seed 0"``, or ``"mean of 3 seeds"``: what a figure's curves are."""
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"mean of {len(seeds)} seeds"


def _std(values: np.ndarray) -> np.ndarray | None:
    """Sample standard deviation across seeds (axis 0), None for a single seed."""
    return values.std(axis=0, ddof=1) if len(values) > 1 else None


def _initial(results: list[dict]) -> np.ndarray:
    """‖δˡ‖ at initialisation, shape (seeds, hidden layers)."""
    return np.array([r["norms"][0] for r in results])


def layer_figure(series: Mapping[str, np.ndarray],
                 reference: Sequence[Sequence[float]] = (), reference_label: str = "",
                 xlabel: str = "hidden layer l", ylabel: str = "‖δˡ‖ = ‖∂C/∂bˡ‖",
                 title: str | None = None) -> Any:
    """Per-layer norms against the layer number (1, 2, ...), log y axis.

    Parameters
    ----------
    series : mapping of label -> array of shape (seeds, layers)
        One line (the mean over seeds) per label; each seed's values as faint dots.
    reference : sequence of sequences of float
        Published values, each drawn as black crosses joined by a dotted line.
    reference_label : str
        The legend entry of the published values.
    xlabel, ylabel : str
    title : str, optional
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 4.2), layout="constrained")
    ax = fig.subplots()
    for i, (label, values) in enumerate(series.items()):
        layers = np.arange(1, values.shape[1] + 1)
        for seed_values in values:
            ax.plot(layers, seed_values, ".", color=f"C{i % 10}", alpha=0.35)
        ax.plot(layers, values.mean(axis=0), "o-", color=f"C{i % 10}",
                label=f"{label} (mean of {len(values)})" if len(values) > 1 else label)
    for j, values in enumerate(reference):
        ax.plot(np.arange(1, len(values) + 1), values, "kx:", ms=8,
                label=reference_label if j == 0 else None)
    ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel)
    layers = max(v.shape[1] for v in series.values())
    if layers <= 12:  # one tick per layer while they fit
        ax.set_xticks(np.arange(1, layers + 1))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def _speed_figure(groups: dict[tuple[str, int], list[dict]], keys: Sequence[tuple[str, int]],
                  sizes: Mapping[tuple[str, int], list[int]], title: str) -> Any:
    """``minidl.plot.gradient_norms`` with one panel per network (its "param") and one
    line per hidden layer: the seed-mean ‖δˡ‖ per epoch, as in Nielsen's figures."""
    rows = []
    for key in keys:
        mean = np.mean([r["norms"] for r in groups[key]], axis=0)
        rows += [{"epoch": epoch, "layer": f"hidden layer {l + 1}",
                  "param": _label(key[0], sizes[key]), "grad_norm": float(value)}
                 for epoch, per_layer in enumerate(mean) for l, value in enumerate(per_layer)]
    labels = [_label(key[0], sizes[key]) for key in keys]
    fig = gradient_norms_figure(rows, params=labels, title=title)
    for ax in fig.axes:
        ax.set(ylabel="‖δˡ‖ = ‖∂C/∂bˡ‖", xlabel="epochs of training")
    return fig


def report(runs: list[tuple[dict, dict]], quick: bool, seeds: list[int]) -> Report:
    """Nielsen's table with our mean ± std over seeds, the first/last layer ratios, the
    activations compared, the speed of learning during training, and three figures."""
    groups = _groups(runs)
    sizes = {(spec["activation"], len(spec["sizes"]) - 2): spec["sizes"] for spec, _ in runs}
    first = runs[0][0]
    epochs = first["epochs"]

    nielsen_rows = []
    for depth, published in NIELSEN.items():
        initial = _initial(groups["sigmoid", depth])
        mean, std = initial.mean(axis=0), _std(initial)
        nielsen_rows += [{"network": str(sizes["sigmoid", depth]), "layer": l + 1,
                          "‖δˡ‖ mean": float(mean[l]),
                          "std": None if std is None else float(std[l]),
                          "min": float(initial[:, l].min()), "max": float(initial[:, l].max()),
                          "Nielsen": published[l], "mean / Nielsen": float(mean[l]) / published[l]}
                         for l in range(depth)]

    ratio_rows = []
    for activation, depth in NETWORKS:
        initial = _initial(groups[activation, depth])
        ratio = initial[:, 0] / initial[:, -1]
        # Geometric mean of the layer-to-layer ratios ‖δˡ⁺¹‖ / ‖δˡ‖: the loss per layer.
        per_layer = np.exp(np.mean(np.log(initial[:, 1:] / initial[:, :-1])))
        published = NIELSEN[depth] if activation == "sigmoid" else None
        ratio_rows.append({
            "network": _label(activation, sizes[activation, depth]),
            "‖δ¹‖ / ‖δᴸ‖ mean": float(ratio.mean()),
            "std": None if len(ratio) < 2 else float(ratio.std(ddof=1)),
            "Nielsen": None if published is None else published[0] / published[-1],
            "shrink per layer": float(per_layer),
            "Nielsen per layer": None if published is None else float(
                (published[-1] / published[0]) ** (1 / (depth - 1)))})

    activation_rows = []
    compared = [key for key in NETWORKS if key[1] == 4]
    initial = {key: _initial(groups[key]) for key in compared}
    for l in range(4):
        row: dict[str, Any] = {"layer": l + 1}
        for key in compared:
            std = _std(initial[key])
            row[key[0]] = float(initial[key][:, l].mean())
            row[f"{key[0]} std"] = None if std is None else float(std[l])
        activation_rows.append(row)

    training_rows = []
    for key in NETWORKS:
        norms = np.array([r["norms"] for r in groups[key]])  # (seeds, epochs, layers)
        training_rows.append({
            "network": _label(key[0], sizes[key]), "epochs": epochs,
            "‖δ¹‖ first epoch": float(norms[:, 0, 0].mean()),
            "‖δ¹‖ last epoch": float(norms[:, -1, 0].mean()),
            "‖δᴸ‖ first epoch": float(norms[:, 0, -1].mean()),
            "‖δᴸ‖ last epoch": float(norms[:, -1, -1].mean()),
            "‖δ¹‖ / ‖δᴸ‖ over training": float(np.exp(np.mean(np.log(
                norms[:, :, 0] / norms[:, :, -1])))),
            "final cost": float(np.mean([r["loss"][-1] for r in groups[key]])),
            "final training accuracy": float(np.mean([r["accuracy"][-1]
                                                      for r in groups[key]]))})

    figures = {
        "gradient_norms_at_init": layer_figure(
            {f"sigmoid, {depth} hidden": _initial(groups["sigmoid", depth])
             for depth in NIELSEN},
            reference=list(NIELSEN.values()), reference_label="Nielsen (one initialisation)",
            title="Speed of learning of each hidden layer at initialisation"),
        "speed_of_learning_sigmoid": _speed_figure(
            groups, [("sigmoid", depth) for depth in NIELSEN], sizes,
            f"Speed of learning during training ({seeds_label(seeds)})"),
        "speed_of_learning_activations": _speed_figure(
            groups, compared, sizes,
            f"The same deep net with three activations ({seeds_label(seeds)})"),
    }
    return Report(tables={"‖δˡ‖ at initialisation: sigmoid nets against Nielsen": nielsen_rows,
                          "First against last hidden layer": ratio_rows,
                          "Activations compared, 4 hidden layers": activation_rows,
                          "Speed of learning during training": training_rows},
                  figures=figures,
                  text=_text(nielsen_rows, dict(zip(NETWORKS, ratio_rows, strict=True)),
                             dict(zip(NETWORKS, training_rows, strict=True)), quick, seeds,
                             epochs))


def _text(nielsen_rows: list[dict], ratios: dict[tuple[str, int], dict],
          trained: dict[tuple[str, int], dict], quick: bool, seeds: list[int],
          epochs: int) -> list[str]:
    """The report's paragraphs, with the numbers of this run's tables."""
    deep = [r for r in nielsen_rows if r["network"] == str([784] + [WIDTH] * 4 + [10])]
    spread = max((r["std"] or 0.0) / r["‖δˡ‖ mean"] for r in nielsen_rows)
    off = [r["mean / Nielsen"] for r in nielsen_rows]
    ratio = {key: row["‖δ¹‖ / ‖δᴸ‖ mean"] for key, row in ratios.items()}
    accuracy = {key: row["final training accuracy"] for key, row in trained.items()}
    sigmoid4 = ratios["sigmoid", 4]
    return [
        f"Nielsen's setting (network2 and fig/generate_gradient.py): sigmoid units "
        f"everywhere, weights N(0, 1/n_in) and biases N(0, 1), the cross-entropy of the 10 "
        f"sigmoid outputs against one-hot labels, the first {IMAGES} MNIST training images "
        f"with pixels in [0, 1] (not standardised). The speed of learning of hidden layer "
        f"l is ‖δˡ‖ = ‖(1/n) Σₓ ∂Cₓ/∂bˡ‖. Then {epochs} epochs of full-batch gradient "
        f"descent (η = {LR}, L2 λ = {LMBDA} on the weights, as net.SGD(td, 1, 1000, 0.1, "
        f"lmbda=5.0)); Nielsen trains 500. Seeds: {', '.join(map(str, seeds))}"
        + (" (quick mode: the initial gradients are the full measurement, the training is "
           "cut short)." if quick else "."),
        "At initialisation the 4-hidden-layer sigmoid net gives ‖δ¹‖ … ‖δ⁴‖ = "
        + ", ".join(f"{r['‖δˡ‖ mean']:.3g}" for r in deep)
        + " (mean over seeds) against Nielsen's "
        + ", ".join(f"{r['Nielsen']:g}" for r in deep)
        + f": every layer learns about {sigmoid4['shrink per layer']:.2g} times more "
        f"slowly than the next (Nielsen: {sigmoid4['Nielsen per layer']:.2g}), and the "
        f"first layer {1 / ratio['sigmoid', 4]:.3g} times more slowly than the last "
        f"(Nielsen: {1 / sigmoid4['Nielsen']:.3g}). Over the three sigmoid nets our seed "
        f"means are {min(off):.2g} to {max(off):.2g} times his numbers.",
        "Why it vanishes: δˡ = σ'(zˡ) ⊙ (Wˡ⁺¹)ᵀ δˡ⁺¹. With 30 inputs per unit and weights "
        "N(0, 1/30), (Wˡ⁺¹)ᵀ roughly keeps the norm of a random vector, so the factor per "
        "layer is about the typical σ'(z) ≤ 1/4, lower still for units that the N(0, 1) "
        "biases push into saturation. In Nielsen's one-neuron chain the same product is "
        "σ'(z₁) w₂σ'(z₂) w₃σ'(z₃) w₄σ'(z₄) ∂C/∂a₄: two more factors below 1/4 make ∂C/∂b₁ at "
        "least 16 times smaller than ∂C/∂b₃.",
        "Differences from the book: Nielsen's numbers come from one unseeded "
        "initialisation of each net, so they are single draws; "
        + (f"here the per-layer norm varies across seeds by up to {spread:.0%} (std / mean), "
           "and agreement within that spread is all one can ask." if len(seeds) > 1 else
           "with one seed no spread is measured here (run several seeds to see how much a "
           "single draw can differ).")
        + " The arithmetic is "
        "float32 here and float64 in network2; the pixels are the official IDX bytes / 255 "
        "where Nielsen reads mnist.pkl.gz's stored floats. The training figures also "
        "average the curves over seeds where Nielsen's show one run.",
        f"During training (figures) the ordering stays in the sigmoid nets: averaged over "
        f"the {epochs} epochs, ‖δ¹‖ / ‖δ⁴‖ is "
        f"{trained['sigmoid', 4]['‖δ¹‖ / ‖δᴸ‖ over training']:.2g} with 4 hidden layers. "
        f"With full-batch η = {LR} they learn slowly, the deeper ones not at all: training "
        f"accuracy in epoch {epochs} is {accuracy['sigmoid', 2]:.0%}, "
        f"{accuracy['sigmoid', 3]:.0%} and {accuracy['sigmoid', 4]:.0%} with 2, 3 and 4 "
        f"hidden layers (about 12% is the plateau where every output predicts the class "
        f"frequencies); with 4 hidden layers tanh reaches {accuracy['tanh', 4]:.0%} and "
        f"ReLU {accuracy['relu', 4]:.0%}, and their ‖δ¹‖ / ‖δ⁴‖ averaged over training is "
        f"{trained['tanh', 4]['‖δ¹‖ / ‖δᴸ‖ over training']:.2g} and "
        f"{trained['relu', 4]['‖δ¹‖ / ‖δᴸ‖ over training']:.2g}"
        + (": their first layer keeps up with the last." if min(
            trained[key]['‖δ¹‖ / ‖δᴸ‖ over training'] for key in (("tanh", 4), ("relu", 4)))
           > 0.5 else "."),
        f"Activations compared (same init, same cost, 4 hidden layers): ‖δ¹‖ / ‖δ⁴‖ is "
        f"{ratio['sigmoid', 4]:.2g} with sigmoid, {ratio['tanh', 4]:.2g} with tanh and "
        f"{ratio['relu', 4]:.2g} with ReLU: tanh'(0) = 1 and ReLU' = 1 on active units, so "
        f"the product loses far less per layer ({ratios['tanh', 4]['shrink per layer']:.2g}x "
        f"and {ratios['relu', 4]['shrink per layer']:.2g}x against "
        f"{sigmoid4['shrink per layer']:.2g}x). It still shrinks: saturated tanh units and "
        "inactive ReLU units pass nothing back, and N(0, 1/n_in) weights are below the "
        "2/n_in that keeps the size of a ReLU signal (He et al. 2015).",
    ]


def vanishing_gradients(quick: bool = False, seed: int | list[int] = 0,
        **options: Any) -> ExperimentResult:
    """Vanishing gradients: per-layer speed of learning in sigmoid, tanh and ReLU MLPs.

    Reproduces Nielsen's chapter 5: the speed of learning of hidden layer l,

        ‖δˡ‖ = ‖(1/n) Σₓ ∂Cₓ/∂bˡ‖,   δˡ = σ'(zˡ) ⊙ (Wˡ⁺¹)ᵀ δˡ⁺¹,

    for sigmoid MLPs [784, 30, 30, 10], [784, 30, 30, 30, 10] and [784, 30, 30, 30, 30, 10]
    (weights N(0, 1/n_in), biases N(0, 1), cross-entropy of sigmoid outputs, the first
    1000 MNIST training images), compared with his published table (0.07, 0.31; 0.012,
    0.060, 0.283; 0.003, 0.017, 0.070, 0.285): each layer learns several times more slowly
    than the next, the first of four about a hundred times more slowly than the last. It
    then follows ‖δˡ‖ through full-batch training (500 epochs, 10 in quick mode) and
    compares the deepest net with tanh and ReLU units, which lose far less per layer.

    Parameters
    ----------
    quick : bool
        10 training epochs instead of 500 (the gradients at initialisation are measured in
        full either way).
    seed : int or list of int
        One seed or several: tables then give the mean and standard deviation across them.
    **options
        ``out``, ``workers``, ``executor``, ``progress``: as for
        ``minidl.experiments.run``.

    Returns
    -------
    ExperimentResult
        Tables ``"‖δˡ‖ at initialisation: sigmoid nets against Nielsen"``, ``"First
        against last hidden layer"``, ``"Activations compared, 4 hidden layers"`` and
        ``"Speed of learning during training"``; figures ``"gradient_norms_at_init"``,
        ``"speed_of_learning_sigmoid"`` and ``"speed_of_learning_activations"``.
    """
    return runner.run("vanishing_gradients", quick, seed, **options)
