"""The ``minidl`` command: train a model on MNIST or Fashion-MNIST from the shell."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import minidl
from minidl import experiments
from minidl.models import INITS, activation_names

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
DATASETS = ("mnist", "fashion-mnist")

TRAIN_EXAMPLES = """\
examples:
  minidl train                                    # MLP 784-256-256-10, ReLU, Adam, 3 epochs
  minidl train --activation tanh --epochs 5 --out runs/tanh
  minidl train --dataset fashion-mnist --hidden 512,256 --optimizer sgd --lr 0.05 --momentum 0.9
  minidl train --limit 5000 --epochs 1            # a quick look on 5,000 training images
  minidl train --model cnn --activation selu --dataset fashion-mnist --epochs 2

Each run writes, in --out: history.json (per-epoch losses, accuracies, times),
curves.png (loss and accuracy curves), results.md (the table printed below) and
checkpoint.npz (model and optimizer state, loadable with minidl.train.load_checkpoint).
"""

RUN_EXAMPLES = """\
examples:
  minidl run --list
  minidl run vanishing_gradients --quick            # a first look in seconds
  minidl run self_normalization --seeds 0,1,2 --out runs/selu
  minidl run activation_shootout --seeds 0,1,2 --workers 2

Each run's result is saved in DIR/runs/ as it completes; running the same command again
resumes an interrupted sweep. The figures and report.md are written to DIR at the end.
"""


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated seeds such as 0,1,2, got {text!r}") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(
            f"seeds must be distinct non-negative integers, got {text!r}")
    return seeds


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer widths such as 256,256, got {text!r}"
        ) from None
    if any(w <= 0 for w in widths):
        raise argparse.ArgumentTypeError(f"layer widths must be positive, got {text!r}")
    return widths


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minidl",
        description="minidl: a small deep-learning library for learning how neural networks "
        "train. Run `minidl train --help` to train a network on MNIST, `minidl run --list` "
        "for the named experiments.",
    )
    parser.add_argument("--version", action="version", version=f"minidl {minidl.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = sub.add_parser(
        "train",
        help="train a network on MNIST or Fashion-MNIST and write its curves and checkpoint",
        description="Train a multilayer perceptron or the classic MNIST CNN on MNIST or "
        "Fashion-MNIST, print a "
        "per-epoch table of loss and accuracy on the training and test sets, and save the "
        "results.",
        epilog=TRAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    model = train.add_argument_group("model")
    model.add_argument("--model", choices=("mlp", "cnn"), default="mlp",
                       help="network architecture: the MLP, or the classic MNIST CNN "
                       "(Conv 32 → Conv 64 → MaxPool → Dropout → FC 128 → Dropout → FC 10; "
                       "default: %(default)s)")
    model.add_argument("--hidden", type=_widths, default=(256, 256), metavar="W1,W2,...",
                       help="hidden layer widths of the MLP (default: 256,256)")
    model.add_argument("--activation", choices=activation_names(),
                       default="relu", help="hidden-layer activation (default: %(default)s)")
    model.add_argument("--dropout", type=float, default=None,
                       help="dropout probability after each hidden layer (default: 0 for the "
                       "MLP; 0.25 and 0.5 for the CNN; AlphaDropout for SELU)")
    model.add_argument("--init", choices=INITS, default=None,
                       help="weight initialisation (default: lecun_normal for SELU, else "
                       "PyTorch's)")

    data = train.add_argument_group("data")
    data.add_argument("--dataset", choices=DATASETS, default="mnist",
                      help="dataset (default: %(default)s; MNIST ships with minidl)")
    data.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                      help="folder holding mnist/ and fashion-mnist/ (default: $MINIDL_DATA, "
                      "then the copy shipped with minidl, then ~/.minidl/data)")
    data.add_argument("--download", action="store_true",
                      help="download missing dataset files (checksums are verified)")
    data.add_argument("--limit", type=_positive_int, default=None, metavar="N",
                      help="train on the first N training images only (for quick runs)")

    opt = train.add_argument_group("optimisation")
    opt.add_argument("--optimizer", choices=OPTIMIZERS, default="adam",
                     help="optimizer (default: %(default)s)")
    opt.add_argument("--lr", type=float, default=1e-3, help="learning rate (default: 1e-3)")
    opt.add_argument("--momentum", type=float, default=0.0,
                     help="momentum for sgd and rmsprop (default: 0)")
    opt.add_argument("--weight-decay", type=float, default=0.0,
                     help="L2 penalty (decoupled for adamw) (default: 0)")
    opt.add_argument("--epochs", type=_positive_int, default=3,
                     help="passes over the training set (default: %(default)s)")
    opt.add_argument("--batch-size", type=_positive_int, default=128,
                     help="examples per step (default: %(default)s)")
    opt.add_argument("--on-nan", choices=("raise", "skip", "continue"), default="raise",
                     help="when the loss becomes NaN: stop with an error (default), skip the "
                     "step, or continue")

    run = train.add_argument_group("run")
    run.add_argument("--seed", type=int, default=0,
                     help="seed for initialisation, shuffling and dropout (default: 0)")
    run.add_argument("--out", type=Path, default=None, metavar="DIR",
                     help="output folder (default: runs/<dataset>-<model>-<activation>-seed<N>)")
    run.add_argument("--device", default="auto", metavar="DEV",
                     help="cpu, cuda, cuda:N, or auto: CUDA when a GPU and CuPy are there, "
                     "else the CPU (default: %(default)s)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    experiment = sub.add_parser(
        "run",
        help="run a named experiment (vanishing gradients, dead ReLU, SELU, ...) and write "
        "its report",
        description="Run one of minidl's named experiments over its settings and seeds, "
        "then write its figures (PNG) and report.md.",
        epilog=RUN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    experiment.add_argument("name", nargs="?", choices=experiments.available(),
                            metavar="NAME", help="the experiment (see --list)")
    experiment.add_argument("--list", action="store_true",
                            help="list the experiments and exit")
    experiment.add_argument("--quick", action="store_true",
                            help="small data and few epochs: a smoke test in seconds to a "
                            "minute, not a result")
    experiment.add_argument("--seeds", type=_seeds, default=(0,), metavar="S1,S2,...",
                            help="seeds; every setting runs once per seed (default: 0)")
    experiment.add_argument("--out", type=Path, default=None, metavar="DIR",
                            help="output folder; a sweep interrupted there resumes where it "
                            "stopped (default: runs/<name>[-quick])")
    experiment.add_argument("--workers", type=_positive_int, default=os.cpu_count() or 1,
                            metavar="N",
                            help="runs at once in a local process pool (default: the number "
                            "of CPUs, %(default)s; 1 runs them in this process)")

    notebooks = sub.add_parser(
        "notebooks",
        help="open the course notebooks in JupyterLab",
        description="Start JupyterLab in minidl's notebooks folder (the course: 00_tour to "
        "09_inside_the_kernels, and exercises/). Needs the notebooks extra: "
        "pip install -e '.[notebooks]'.",
    )
    notebooks.add_argument("--dir", type=Path, default=None, metavar="DIR",
                           help="notebooks folder (default: the one in minidl's source "
                           "checkout)")
    notebooks.add_argument("--port", type=_positive_int, default=None,
                           help="port for JupyterLab (default: its own choice)")
    notebooks.add_argument("--no-browser", action="store_true",
                           help="do not open a browser window (print the URL instead)")
    return parser


def notebooks_folder() -> Path:
    """The course notebooks of a source checkout (they are not installed with the package)."""
    folder = Path(minidl.__file__).resolve().parent.parent / "notebooks"
    if not (folder / "00_tour.ipynb").is_file():
        raise FileNotFoundError(
            f"no notebooks at {folder}: they ship with minidl's source checkout, not with an "
            "installed package. Clone the repository and pip install -e '.[notebooks]' there, "
            "or pass --dir")
    return folder


def notebooks_command(args: argparse.Namespace) -> int:
    import shutil
    import subprocess

    folder = args.dir or notebooks_folder()
    if not folder.is_dir():
        raise FileNotFoundError(f"--dir {folder} is not a folder")
    jupyter = shutil.which("jupyter")
    if jupyter is None or subprocess.run([jupyter, "lab", "--version"],
                                         capture_output=True).returncode != 0:
        raise RuntimeError("JupyterLab is not installed: pip install 'minidl[notebooks]' (or "
                           "pip install -e '.[notebooks]' in a checkout)")
    command = [jupyter, "lab", f"--notebook-dir={folder}"]
    if args.port:
        command.append(f"--port={args.port}")
    if args.no_browser:
        command.append("--no-browser")
    print(f"minidl: starting JupyterLab in {folder} (Ctrl-C to stop)", flush=True)
    return subprocess.call(command)


def _optimizer(args: argparse.Namespace, params: list) -> object:
    from minidl import optim

    if args.optimizer == "sgd":
        return optim.SGD(params, lr=args.lr, momentum=args.momentum,
                         weight_decay=args.weight_decay)
    if args.optimizer == "rmsprop":
        return optim.RMSprop(params, lr=args.lr, momentum=args.momentum,
                             weight_decay=args.weight_decay)
    cls = {"adam": optim.Adam, "adamw": optim.AdamW, "adagrad": optim.Adagrad}[args.optimizer]
    return cls(params, lr=args.lr, weight_decay=args.weight_decay)


def train_command(args: argparse.Namespace) -> int:
    from minidl import data, models, train

    device = minidl.device(args.device)
    minidl.manual_seed(args.seed)
    dataset_cls = data.MNIST if args.dataset == "mnist" else data.FashionMNIST
    train_set = dataset_cls(args.data_dir, train=True, download=args.download)
    test_set = dataset_cls(args.data_dir, train=False, download=args.download)
    if args.limit is not None:
        train_set = data.Subset(train_set, range(min(args.limit, len(train_set))))
    train_loader = data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    test_loader = data.DataLoader(test_set, batch_size=1000)

    if args.model == "cnn":
        dropout = (0.25, 0.5) if args.dropout is None else args.dropout
        model = models.mnist_cnn(args.activation, dropout, args.init)
    else:
        model = models.mlp(784, args.hidden, 10, args.activation, args.dropout or 0.0,
                           args.init)
    model.to(device)
    optimizer = _optimizer(args, list(model.parameters()))
    loss_fn = minidl.nn.CrossEntropyLoss()
    name = f"{args.dataset}-{args.model}-{args.activation}-seed{args.seed}"
    out = args.out or Path("runs") / name

    print(f"minidl {minidl.__version__}: {args.model} {model_summary(args)} on {args.dataset} "
          f"({len(train_set)} training / {len(test_set)} test images), {args.optimizer} "
          f"lr={args.lr}, batch {args.batch_size}, seed {args.seed}, on {device}")
    header = f"{'epoch':>5}  {'train loss':>10}  {'train acc':>9}  {'test loss':>9}  " \
             f"{'test acc':>8}  {'time (s)':>8}"
    print(header)

    def row(r: dict) -> None:
        cells = [f"{r['epoch']:>5}"] + [
            f"{'-' if r[key] is None else format(r[key], '.4f'):>{width}}"
            for key, width in (("train_loss", 10), ("train_acc", 9), ("val_loss", 9),
                               ("val_acc", 8))
        ] + [f"{r['time']:>8.1f}"]
        print("  ".join(cells), flush=True)

    history = train.fit(model, optimizer, loss_fn, train_loader, test_loader, args.epochs,
                        progress=False if args.no_progress else None, on_nan=args.on_nan,
                        on_epoch_end=row)
    history.meta = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                    if k != "func"}
    out.mkdir(parents=True, exist_ok=True)
    history.save(out / "history.json")
    fig = history.plot(title=f"{args.model} {model_summary(args)} on {args.dataset}",
                       val_label="test")
    fig.savefig(out / "curves.png", dpi=120)
    (out / "results.md").write_text(
        f"# {args.model} {model_summary(args)} on {args.dataset}\n\n"
        f"{args.optimizer} lr={args.lr}, batch {args.batch_size}, seed {args.seed}; "
        "val = the test set.\n\n" + history.table() + "\n"
    )
    train.save_checkpoint(out / "checkpoint.npz", model, optimizer, epoch=args.epochs)
    print(f"final test accuracy {history['val_acc'][-1]:.4f}; wrote history.json, curves.png, "
          f"results.md and checkpoint.npz to {out}/")
    return 0


def run_command(args: argparse.Namespace) -> int:
    if args.list or args.name is None:
        width = max(map(len, experiments.available()))
        for name in experiments.available():
            print(f"{name:<{width}}  {experiments.runner.title(name)}")
        return 0
    out = args.out or Path("runs") / f"{args.name}{'-quick' if args.quick else ''}"
    print(f"minidl {minidl.__version__}: {args.name}{' (quick)' if args.quick else ''}, seeds "
          f"{','.join(map(str, args.seeds))}, {args.workers} worker(s), results in {out}/",
          flush=True)
    result = experiments.run(args.name, args.quick or None, args.seeds, out=out,
                             workers=args.workers, progress=True)
    for title in result.tables:
        print(f"\n{title}\n\n{result.markdown(title)}")
    print(f"\n{len(result.runs)} runs, {result.run_seconds:.0f} s of run time, "
          f"{result.seconds:.0f} s wall-clock; wrote report.md and {len(result.figures)} "
          f"figure(s) to {out}/")
    return 0


def model_summary(args: argparse.Namespace) -> str:
    if args.model == "cnn":
        return f"conv32-conv64-pool-fc128-10 {args.activation}"
    widths = "-".join(str(w) for w in (784, *args.hidden, 10))
    return f"{widths} {args.activation}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    command = {"train": train_command, "run": run_command,
               "notebooks": notebooks_command}[args.command]
    try:
        return command(args)
    except (FileNotFoundError, ValueError, RuntimeError, FloatingPointError, OSError) as e:
        print(f"minidl {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
