"""How long the HTML report takes to draw, and how big it is, at the timeline's cap.

Runs `gcscope run --html --rss-interval 5ms` on benchmarks/workloads/collections.py
(20,500 explicit collections: the timeline keeps 20,000), then opens the page ROUNDS
times, each in a fresh headless Chromium with a fresh profile (a cold first view),
and reads from the live page how long after navigation start (performance.now(), whose
origin is the navigation) every chart had drawn (`gcscope.drawnMs`, when uPlot's last
draw hook ran) and the frame after it (`gcscope.renderMs`). Prints the median and range.

    python benchmarks/html_render.py [--rounds 7] [--collections 20500] [--keep DIR]

Needs selenium, Chromium and chromedriver (see tests/browser.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "tests"))

from browser import browser_paths, start_browser, wait_for_render  # noqa: E402


def make_page(folder: Path, collections: int) -> tuple[Path, dict[str, int]]:
    capture, page = folder / "capture.json", folder / "report.html"
    subprocess.run(
        [sys.executable, "-m", "gcscope", "run", "--format", "none", "--rss-interval", "5ms",
         "-o", str(capture), "--html", str(page),
         str(PROJECT / "benchmarks" / "workloads" / "collections.py")],
        check=True, env={**os.environ, "COLLECTIONS": str(collections)},
    )  # fmt: skip
    import json

    events = json.loads(capture.read_text())["gc"]["events"]
    samples = len(json.loads(capture.read_text())["rss"]["samples"])
    return page, {"stored": events["stored"], "total": events["total"], "samples": samples}


def measure(page: Path, folder: Path, round_number: int) -> tuple[float, float, int]:
    driver = start_browser(folder / f"profile-{round_number}")
    try:
        driver.get(page.resolve().as_uri())
        wait_for_render(driver, timeout=60)
        drawn, rendered, stems = driver.execute_script(
            "const s = window.gcscope;"
            "return [s.drawnMs, s.renderMs,"
            " Object.values(s.timeline[0].gcscopeShown).reduce((a, b) => a + b, 0)];"
        )
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        if errors:
            raise SystemExit(f"console errors: {errors}")
        return drawn, rendered, stems
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--collections", type=int, default=20_500)
    parser.add_argument("--keep", type=Path, help="keep the capture and page in this folder")
    options = parser.parse_args()
    paths = browser_paths()
    if isinstance(paths, str):
        raise SystemExit(paths)
    with tempfile.TemporaryDirectory() as temp:
        folder = options.keep or Path(temp)
        folder.mkdir(parents=True, exist_ok=True)
        page, events = make_page(folder, options.collections)
        size = page.stat().st_size
        print(f"page: {events['stored']:,} stored events (of {events['total']:,}), "
              f"{events['samples']} RSS samples, {size:,} bytes ({size / 1e6:.2f} MB)")  # fmt: skip
        drawn, rendered = [], []
        for number in range(options.rounds):
            drawn_ms, rendered_ms, stems = measure(page, Path(temp), number)
            drawn.append(drawn_ms)
            rendered.append(rendered_ms)
            print(f"round {number + 1}: charts drawn {drawn_ms:.0f} ms, next frame "
                  f"{rendered_ms:.0f} ms after navigation start ({stems:,} bars)")  # fmt: skip
        for name, values in (("charts drawn", drawn), ("next frame", rendered)):
            low, high, middle = min(values), max(values), statistics.median(values)
            print(f"{name}: median {middle:.0f} ms (min {low:.0f}, max {high:.0f}, "
                  f"{len(values)} cold loads)")  # fmt: skip


if __name__ == "__main__":
    main()
