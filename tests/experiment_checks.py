"""Checks every experiment's result must pass, shared by the experiment test files."""

from __future__ import annotations

import math
from pathlib import Path

from minidl.experiments import ExperimentResult


def assert_well_formed(result: ExperimentResult) -> None:
    """Quick mode with seed 0; non-empty tables with finite numbers, figures and text; a
    markdown report with every table under its title."""
    assert result.quick and result.seeds == [0]
    assert result.tables and all(rows for rows in result.tables.values())
    assert result.figures and result.text
    for rows in result.tables.values():
        for row in rows:
            assert not any(isinstance(v, float) and not math.isfinite(v) for v in row.values())
    markdown = result.to_markdown()
    assert markdown.startswith(f"# {result.title}")
    for title in result.tables:
        assert f"## {title}" in markdown
        assert result.markdown(title) in markdown


def assert_saves(result: ExperimentResult, folder: Path) -> None:
    """``save`` writes report.md and one PNG per figure."""
    report = result.save(folder)
    assert report == folder / "report.md"
    assert report.read_text().startswith(f"# {result.title}")
    for stem in result.figures:
        assert (folder / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
