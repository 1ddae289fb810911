"""The HTML report opened in headless Chromium: it renders to a screenshot without console errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from _report_util import build_experiment

from g4r_tune.report import generate_report

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def screenshot(html: Path, png: Path, profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1200,4000",
            f"--screenshot={png}",
            html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def console_errors(stderr: str) -> list[str]:
    """Messages the page itself logged (CONSOLE lines) at error level, and failed resource loads."""
    bad = []
    for line in stderr.splitlines():
        if "CONSOLE" in line and ("ERROR" in line.upper() or "Uncaught" in line):
            bad.append(line)
        if "net::ERR_" in line or "Failed to load resource" in line:
            bad.append(line)
    return bad


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_html_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    exp = build_experiment(tmp_path)
    result = generate_report([exp], tmp_path / "out", top_k=2, latency_requests=100, final_check=False)
    png = tmp_path / "shot.png"
    proc = screenshot(result.html, png, tmp_path / "profile")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert png.is_file() and png.stat().st_size > 50_000  # a page with tables and plots, not a blank one
    assert console_errors(proc.stderr) == []


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_the_console_error_check_can_fail(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>console.error('boom'); undefined_fn();</script></body></html>")
    proc = screenshot(page, tmp_path / "broken.png", tmp_path / "profile")
    assert console_errors(proc.stderr), proc.stderr[-2000:]
