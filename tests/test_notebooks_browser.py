"""The tour notebook in a real browser: JupyterLab served on localhost, headless Chromium
(Debian's /usr/bin/chromium, driven by Playwright), Run All Cells, then the figure and a
widget must render. Notebooks are used in a browser, so one test looks at them there.

Skipped where Chromium, Playwright or JupyterLab is missing; `.ci/run` installs all three.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling Google's hosts, which a
# closed network refuses (slowly).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium package"),
    pytest.mark.skipif(shutil.which("jupyter") is None and
                       not (Path(sys.executable).parent / "jupyter").exists(),
                       reason="needs JupyterLab (pip install -e '.[notebooks]')"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path: Path):
    """JupyterLab on a free port, serving a copy of the notebooks (so nothing the browser
    saves lands in the repository)."""
    folder = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder)
    # Every cell in the page (no virtual scrolling, which leaves off-screen outputs out of
    # the DOM), and no news pop-up.
    settings = tmp_path / "settings"
    for plugin, values in (("notebook-extension/tracker", '{"windowingMode": "none"}'),
                           ("apputils-extension/notification", '{"fetchNews": "false"}')):
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(values)
    port, token = _free_port(), secrets.token_hex(16)
    jupyter = Path(sys.executable).parent / "jupyter"
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [str(jupyter if jupyter.exists() else "jupyter"), "lab", "--no-browser",
         f"--port={port}", "--ip=127.0.0.1", f"--IdentityProvider.token={token}",
         f"--notebook-dir={folder}", "--ServerApp.open_browser=False",
         "--LabApp.news_url=", "--LabServerApp.extension_manager=readonly", "--allow-root",
         f"--LabApp.user_settings_dir={settings}",
         f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}"],
        stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "MINIDL_QUICK": "1", "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")})
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail("JupyterLab exited:\n" + (tmp_path / "jupyterlab.log").read_text())
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start in 60 s")
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_tour_runs_in_jupyterlab_and_shows_its_figure_and_widget(jupyterlab, tmp_path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    base, token = jupyterlab
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{base}/lab/tree/00_tour.ipynb?token={token}", timeout=120_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
            # A fresh JupyterLab may ask which kernel to start; take the notebook's own.
            try:
                page.get_by_role("button", name="Select", exact=True).click(timeout=15_000)
            except sync_api.TimeoutError:
                pass
            # The kernel must be idle before Run All, or the command is queued behind startup.
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                   timeout=120_000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            figure = page.wait_for_selector(".jp-OutputArea-output img[src^='data:image/png']",
                                            timeout=300_000)
            widget = page.wait_for_selector(".jp-OutputArea-output .widget-slider, "
                                            ".jp-OutputArea-output .jupyter-widgets input",
                                            timeout=300_000)
            assert figure.bounding_box()["width"] > 100
            assert widget.is_visible()
            errors = page.query_selector_all(".jp-OutputArea-output[data-mime-type="
                                             "'application/vnd.jupyter.stderr'] .ansi-red-fg, "
                                             ".jp-RenderedText[data-mime-type="
                                             "'application/vnd.jupyter.error']")
            assert not errors, "a cell raised: " + errors[0].inner_text()[:2000]
        finally:
            page.screenshot(path=str(tmp_path / "tour.png"), full_page=True)
            browser.close()
