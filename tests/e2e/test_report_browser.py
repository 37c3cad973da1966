"""The HTML report in a real browser: Debian's headless Chromium, offline.

The browser is cut off from every network (host resolution maps every name
to nothing), so a chart that only draws with something fetched from outside
would be missing from both the page it builds and the pixels it paints.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fmbench_runs import two_host_fmbench_run
from PIL import Image

from fmbench_orch.orchestrator.report import write_report
from fmbench_orch.orchestrator.report.svg import PALETTE

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="needs Debian's chromium (apt-get install chromium; .ci/run does)",
    ),
]

# Tall enough that every chart of the two-host report is inside the screenshot.
WINDOW = (1280, 4000)
# A headless start is about a second here; a loaded CI machine is slower.
BROWSER_TIMEOUT_S = 120
CHARTS = (
    "Throughput vs cost",
    "p95 latency vs concurrency per instance type",
    "USD per hour to serve each request rate",
)


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
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
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT_S,
        check=True,
    )


class _Charts(HTMLParser):
    """The `<svg>` elements of a page: label → how many marks each holds."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: dict[str, Counter] = {}
        self._inside: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "svg":
            self._inside = dict(attrs).get("aria-label", "")
            self.marks[self._inside] = Counter()
        elif self._inside is not None:
            self.marks[self._inside][tag] += 1

    def handle_endtag(self, tag):
        if tag == "svg":
            self._inside = None


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    run = two_host_fmbench_run(tmp_path_factory.mktemp("runs"))
    write_report([run], run)
    return run / "report.html"


def test_every_chart_is_in_the_page_the_browser_builds(report_html, tmp_path):
    page = chromium(tmp_path / "profile", "--dump-dom", report_html.as_uri())

    charts = _Charts()
    charts.feed(page.stdout)
    for title in CHARTS:
        label = next((one for one in charts.marks if one.startswith(title)), None)
        assert label is not None, f"no chart {title!r} in {list(charts.marks)}"
        drawn = charts.marks[label]
        assert drawn["circle"] + drawn["rect"] + drawn["path"] >= 2, (label, drawn)


def test_the_screenshot_shows_the_charts_in_their_colours(report_html, tmp_path):
    shot = tmp_path / "report.png"

    chromium(
        tmp_path / "profile",
        f"--screenshot={shot}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--hide-scrollbars",
        report_html.as_uri(),
    )

    with Image.open(shot) as image:
        assert image.size == WINDOW
        pixels = image.convert("RGB").getcolors(maxcolors=WINDOW[0] * WINDOW[1])
    colours = {colour: count for count, colour in pixels}
    # The first two series (one per instance type) are painted in the first
    # two colours of the palette: a chart that did not draw leaves neither.
    for hex_colour in PALETTE[:2]:
        wanted = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        painted = sum(
            count
            for colour, count in colours.items()
            if max(abs(a - b) for a, b in zip(colour, wanted, strict=True)) <= 8
        )
        assert painted >= 100, f"{hex_colour} covers only {painted} pixels"
    background = max(colours.values())
    assert background < 0.97 * WINDOW[0] * WINDOW[1], "the page is nearly blank"
