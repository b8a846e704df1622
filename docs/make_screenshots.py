"""Regenerate docs/html-report.png: the HTML report of examples/batch_pipeline.py.

    python docs/make_screenshots.py            # needs selenium, Chromium, chromedriver

Runs `gcscope run --html` on a copy of the example (so the page shows the README's
command, `examples/batch_pipeline.py`), opens the page in headless Chromium 1400 CSS
pixels wide, hovers the longest collection so its tooltip shows, and saves the whole
page as a PNG.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "tests"))

from browser import full_page_screenshot, start_browser, wait_for_render  # noqa: E402

WIDTH = 1400


def hover_longest_pause(driver) -> None:  # type: ignore[no-untyped-def]
    """Put the mouse on the longest collection of the first timeline."""
    from selenium.webdriver.common.action_chains import ActionChains

    left, top, width, height = driver.execute_script(
        """const u = window.gcscope.timeline[0];
        let best = 1, bestValue = -1, bestSeries = 1;
        for (let s = 1; s < u.data.length; s++)
          u.data[s].forEach((v, i) => { if (v != null && v > bestValue) {
            bestValue = v; best = i; bestSeries = s; } });
        return [u.valToPos(u.data[0][best], "x"), u.valToPos(bestValue, "ms"),
                u.over.clientWidth, u.over.clientHeight];"""
    )
    over = driver.find_element("css selector", '.chart[data-chart="timeline"] .u-over')
    ActionChains(driver).move_to_element_with_offset(
        over, round(left - width / 2), round(top + 8 - height / 2)
    ).perform()


def main() -> None:
    target = PROJECT / "docs" / "html-report.png"
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        (folder / "examples").mkdir()
        shutil.copy(PROJECT / "examples" / "batch_pipeline.py", folder / "examples")
        subprocess.run(
            [sys.executable, "-m", "gcscope", "run", "--format", "none",
             "-o", "batch_pipeline.json", "--html", "report.html", "examples/batch_pipeline.py"],
            cwd=folder, check=True,
        )  # fmt: skip
        driver = start_browser(folder / "profile", WIDTH, 1000)
        try:
            driver.get((folder / "report.html").as_uri())
            wait_for_render(driver)
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(WIDTH, height + 120)
            wait_for_render(driver)
            hover_longest_pause(driver)
            full_page_screenshot(driver, target, WIDTH)
        finally:
            driver.quit()
    print(f"wrote {target.relative_to(PROJECT)}")


if __name__ == "__main__":
    main()
