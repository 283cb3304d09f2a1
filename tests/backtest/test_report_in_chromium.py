"""The backtest report in a real headless browser (Debian chromium): no console errors, plots rendered.

A screenshot of the page is kept in ``test-artifacts/`` (gitignored) for people to look at.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from offline.backtest import BacktestResult
from tests.conftest import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO_ROOT / "test-artifacts"

# Records every error (script errors, resources that fail to load, console.error) and each image's
# rendered size into the DOM, which --dump-dom prints once the page has loaded.
PROBE = """<script>
window.__errors = [];
window.addEventListener("error", (e) => window.__errors.push(
  e.target && e.target.src ? "failed to load " + e.target.src : String(e.message)), true);
const originalError = console.error;
console.error = (...args) => { window.__errors.push(args.join(" ")); originalError(...args); };
window.addEventListener("load", () => {
  const images = [...document.images].map((i) => ({src: i.getAttribute("src"), width: i.naturalWidth,
    height: i.naturalHeight}));
  const out = document.createElement("pre");
  out.id = "plumbline-probe";
  out.textContent = JSON.stringify({errors: window.__errors, images: images});
  document.body.appendChild(out);
});
</script>"""


def chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"{CHROMIUM} not found: `make test` installs it (make browser-deps: apt-get install chromium)",
            pytrace=False,
        )
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
        *extra, page.as_uri(),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=90)


def test_report_renders_every_plot_without_console_errors_and_is_screenshotted(
    backtest_window: tuple[BacktestResult, Path], tmp_path: Path
) -> None:
    _, report = backtest_window
    page = report / "index.html"
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "backtest-report.png"
    screenshot.unlink(missing_ok=True)
    shown = chromium(page, tmp_path / "profile-1", f"--screenshot={screenshot}", "--window-size=1300,2400")
    assert shown.returncode == 0, shown.stderr[-2000:]
    console = [line for line in shown.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], "the report logged to the browser console"
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000

    probe = report / "probe.html"
    probe.write_text(page.read_text().replace("<head>", "<head>" + PROBE, 1))
    dumped = chromium(probe, tmp_path / "profile-2", "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    found = re.search(r'<pre id="plumbline-probe">(.*?)</pre>', dumped.stdout, re.DOTALL)
    assert found, "the page never finished loading"
    result = json.loads(html.unescape(found.group(1)))
    assert result["errors"] == []
    assert sorted(i["src"] for i in result["images"]) == [
        "balances.png", "detectors.png", "rates.png", "spreads.png",
    ]  # fmt: skip
    assert all(i["width"] >= 800 and i["height"] >= 300 for i in result["images"]), result["images"]
    shutil.copytree(report, ARTIFACTS / "backtest-report", dirs_exist_ok=True)
