"""Regenerate docs/thumbnails/: run each course notebook in quick mode and keep its first
figure, shrunk to a thumbnail for the README's list of notebooks.

    python docs/make_thumbnails.py            # all notebooks
    python docs/make_thumbnails.py 03 06      # some of them
"""

from __future__ import annotations

import base64
import io
import os
import sys
from pathlib import Path

import matplotlib.image as mpimg
import nbclient
import nbformat
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 320  # pixels


def first_figure(path: Path) -> bytes:
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "image/png" in out.get("data", {}):
                return base64.b64decode(out["data"]["image/png"])
    raise RuntimeError(f"{path.name} shows no figure")


def thumbnail(png: bytes, dest: Path) -> None:
    image = mpimg.imread(io.BytesIO(png), format="png")
    height, width = image.shape[:2]
    fig = Figure(figsize=(WIDTH / 100, WIDTH / 100 * height / width), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(image, interpolation="antialiased")
    ax.set_axis_off()
    fig.savefig(dest, dpi=100)


def main(prefixes: list[str]) -> None:
    os.environ["MINIDL_QUICK"] = "1"
    # The kernels' matplotlib backend, as in tests/test_notebooks.py.
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    out = ROOT / "docs" / "thumbnails"
    out.mkdir(exist_ok=True)
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        if prefixes and path.name[:2] not in prefixes:
            continue
        thumbnail(first_figure(path), out / f"{path.stem}.png")
        print(f"docs/thumbnails/{path.stem}.png", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
