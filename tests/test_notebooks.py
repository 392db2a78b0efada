"""The course notebooks: each executes top to bottom in quick mode (MINIDL_QUICK=1, as CI
runs them), opens with what the student will learn and closes with exercises and further
reading, and the README links it. (Exercise notebooks: tests/test_homework.py; no outputs
committed: test_homework.test_notebook_is_committed_without_outputs; in a real browser:
tests/test_notebooks_browser.py.)"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
COURSE = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
TIMEOUT = 180  # seconds per cell; each notebook takes well under a minute in quick mode


def test_the_course_has_its_ten_notebooks() -> None:
    assert [p.name[:2] for p in COURSE] == [f"{k:02d}" for k in range(10)]


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.stem)
def test_notebook_opens_with_goals_and_closes_with_exercises(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    markdown = [c.source.lower() for c in nb.cells if c.cell_type == "markdown"]
    assert markdown and markdown[0].startswith("# "), "the first cell is the title"
    assert "learn" in markdown[0], "the first cell says what the student will learn"
    closing = "\n".join(markdown[-3:])
    assert "exercise" in closing and "further reading" in closing


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.stem)
def test_readme_links_the_notebook(path: Path) -> None:
    assert f"notebooks/{path.name}" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.stem)
def test_notebook_executes_in_quick_mode(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("MINIDL_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    nbclient.NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    elapsed = time.perf_counter() - start
    errors = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
              if out.output_type == "error"]
    assert not errors
    figures = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
               if "image/png" in out.get("data", {})]
    assert figures, "every course notebook shows at least one figure"
    print(f"{path.name}: {elapsed:.1f} s")
