"""The HTML report: what the page holds, and what a real browser draws from it.

Captures come from real `gcscope run` subprocesses on programs whose collections are
known (html_truth.py collects exactly its PLAN, at one marked line). The browser tests
drive Debian's headless Chromium through Selenium and read the live DOM; where no
browser or driver is installed they skip, and the rest still runs.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from browser import browser_paths, start_browser, wait_for_render
from conftest import line_of, load_json, run_gcscope, run_python

DATA_BLOCK = re.compile(r'<script type="application/json" id="gcscope-data">(.*?)</script>', re.S)
HOSTILE_SCRIPT = "evil<img src=q onerror=window.pwned=4>.py"
HOSTILE_TYPES = (
    "__main__.<script>alert(1)</script>",
    "__main__.</script><script>window.pwned=1</script>",
    '__main__.<img src=x onerror="window.pwned=2">',
)


def page_data(html: str) -> dict[str, Any]:
    blocks = DATA_BLOCK.findall(html)
    assert len(blocks) == 1
    return json.loads(blocks[0])


def truth_run(workdir: Path, name: str = "truth", *extra: str) -> tuple[Path, Path, Any]:
    """html_truth.py under `gcscope run --html`: (capture, page, the completed process)."""
    capture, page = workdir / f"{name}.json", workdir / f"{name}.html"
    result = run_gcscope(
        "run", "--rss-interval", "10ms", "-o", str(capture), "--html", str(page),
        *extra, "html_truth.py", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return capture, page, result


# -- the page, without a browser ---------------------------------------------------------


def test_run_html_writes_the_capture_and_a_page_of_every_collection(workdir: Path) -> None:
    capture_path, page_path, result = truth_run(workdir)
    plain = run_python("html_truth.py", cwd=workdir)
    assert result.stdout == plain.stdout  # the program's output, byte for byte
    truth = json.loads(result.stdout)
    assert truth["jinja2_loaded"] is False  # the page is made after the program has ended
    assert f"gcscope: HTML report written to {page_path}" in result.stderr.decode()
    capture = load_json(capture_path)
    data = page_data(page_path.read_text())
    (chart,) = data["captures"]
    events = chart["events"]
    assert events["generation"] == truth["plan"]
    columns = capture["gc"]["events"]["columns"]
    for name in ("start_ns", "pause_ns", "collected", "uncollectable", "generation"):
        assert events[name] == [row[columns.index(name)] for row in capture["gc"]["events"]["rows"]]
    line = line_of(workdir / "html_truth.py", "COLLECT")
    triggers = {chart["sites"][site]["program"] for site in events["site"]}
    assert triggers == {f"html_truth.py:{line} (<module>)"}
    assert chart["rss"]["t"] == [t for t, _ in capture["rss"]["samples"]]
    assert len(chart["rss"]["t"]) >= 10
    # one time axis: samples in order, none from before the program started
    assert chart["rss"]["t"] == sorted(chart["rss"]["t"]) and chart["rss"]["t"][0] >= 0
    for generation, expected in enumerate((5, 3, 2)):
        histogram = chart["generations"][generation]
        assert sum(histogram["counts"]) == histogram["stored"] == expected


def test_page_header_and_tables_show_the_capture(workdir: Path) -> None:
    _, page_path, _ = truth_run(workdir)
    html = page_path.read_text()
    assert "<code>html_truth.py</code>" in html
    for figure in ("Wall time", "Paused in GC", "Collections", "Peak RSS", "gen 0/1/2: 5/3/2"):
        assert figure in html
    assert 'class="sortable sites"' in html
    line = line_of(workdir / "html_truth.py", "COLLECT")
    assert f"html_truth.py:{line} (&lt;module&gt;)" in html  # escaped, in the sites table
    assert "http://" not in html.replace("http://www.w3.org", "")  # nothing to fetch
    assert "https://" not in html.split("<script>")[0]  # no stylesheet or font from a CDN


def test_warnings_are_in_the_header(workdir: Path) -> None:
    capture_path, page_path = workdir / "w.json", workdir / "w.html"
    env = {**os.environ, "GCSCOPE_CALLBACK": "python"}
    result = run_gcscope(
        "run", "--max-events", "4", "-o", str(capture_path), "--html", str(page_path),
        "html_truth.py", cwd=workdir, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    html = page_path.read_text()
    warnings = html.split('<ul class="warnings">')[1].split("</ul>")[0]
    assert "keeps the first 4 of 10 collections" in warnings
    assert "Python gc callback" in warnings
    assert len(page_data(html)["captures"][0]["events"]["start_ns"]) == 4


def big_run(workdir: Path) -> Path:
    """many_collections.py (over 20,000 collections) under `gcscope run --html`: the page."""
    page = workdir / "big.html"
    result = run_gcscope(
        "run", "-o", "big.json", "--html", str(page), "many_collections.py", cwd=workdir,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return page


def hostile_run(workdir: Path, *extra: str) -> Path:
    shutil.copy(workdir / "html_hostile.py", workdir / HOSTILE_SCRIPT)
    page = workdir / "hostile.html"
    result = run_gcscope(
        "run", "--cycles", "--allocations", "-o", "hostile.json", "--html", str(page),
        *extra, HOSTILE_SCRIPT, cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return page


def test_program_controlled_text_cannot_become_markup(workdir: Path) -> None:
    html = hostile_run(workdir).read_text()
    # only gcscope's own three script elements, and no markup from the program's names
    assert html.count("<script") == 3
    assert html.count("<img") == html.count('<img src="data:image/svg+xml;base64,')
    assert "alert(1)</script>" not in html
    data = page_data(html)  # the JSON block ends where gcscope's does, and reads back whole
    assert data["captures"][0]["label"] == "hostile.json"
    assert any(HOSTILE_SCRIPT in site["program"] for site in data["captures"][0]["sites"])
    for name in HOSTILE_TYPES:
        escaped = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert escaped.replace('"', "&#34;") in html


def test_cycle_pictures_are_svg_images_in_the_page(workdir: Path) -> None:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed (apt-get install graphviz)")
    page = workdir / "c.html"
    result = run_gcscope(
        "run", "--cycles", "-o", "c.json", "--html", str(page), "make_cycles.py", "50", "5",
        cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    html = page.read_text()
    uris = re.findall(r'<img src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html)
    assert uris
    pictures = [base64.b64decode(uri).decode() for uri in uris]
    assert any("Node" in svg and "partner" in svg for svg in pictures)
    assert all("<svg" in svg for svg in pictures)


def test_without_graphviz_the_page_says_how_to_get_it(workdir: Path) -> None:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    page = workdir / "c.html"
    result = run_gcscope(
        "run", "--cycles", "-o", "c.json", "--html", str(page), "make_cycles.py", "5", "1",
        cwd=workdir, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    html = page.read_text()
    assert "Graphviz&#39;s dot is not installed" in html
    assert "apt-get install graphviz" in html and "brew install graphviz" in html
    assert "data:image/svg" not in html


def test_allocations_sections_with_steady_growth(workdir: Path) -> None:
    page = workdir / "a.html"
    result = run_gcscope(
        "run", "--allocations", "--interval", "0.25s", "-o", "a.json", "--html", str(page),
        "slow_leaker.py", cwd=workdir, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    capture = load_json(workdir / "a.json")
    html = page.read_text()
    steady = capture["allocations"]["steady_growth"]
    assert steady, "the leaker should grow in every interval"
    data = page_data(html)["captures"][0]["steady"]
    assert [entry["bytes"] for entry in data] == [s["sizes_bytes"] for s in steady[:6]]
    assert "Sites that grew in every interval" in html
    assert "Top allocation sites at end" in html and "Type growth" in html
    top = capture["allocations"]["top_sites"][0]
    assert f"{Path(top['filename']).name}:{top['lineno']}" in html


def test_twenty_thousand_events_stay_under_two_megabytes(workdir: Path) -> None:
    page = big_run(workdir)
    events = load_json(workdir / "big.json")["gc"]["events"]
    assert events["stored"] == 20_000 and events["total"] > 20_000
    assert len(page_data(page.read_text())["captures"][0]["events"]["start_ns"]) == 20_000
    assert page.stat().st_size < 2_000_000


# -- in a real browser ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    paths = browser_paths()
    if isinstance(paths, str):
        pytest.skip(f"browser tests need headless Chromium: {paths}")
    driver = start_browser(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


def open_page(driver: Any, page: Path) -> None:
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(page.resolve().as_uri())
    wait_for_render(driver)


def console_errors(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def chart_counts(driver: Any, kind: str) -> list[dict[str, int]]:
    """What each chart of a kind drew last time: shown points per series."""
    return driver.execute_script(
        "return window.gcscope[arguments[0]].map(u => u.gcscopeShown)", kind
    )


def test_browser_draws_every_collection_and_rss_sample(
    browser: Any, workdir: Path, tmp_path: Path
) -> None:
    capture_path, page, _ = truth_run(workdir)
    capture = load_json(capture_path)
    open_page(browser, page)
    assert browser.find_elements("css selector", '.chart[data-chart="timeline"] canvas')
    (timeline,) = chart_counts(browser, "timeline")
    assert {int(series): n for series, n in timeline.items()} == {1: 5, 2: 3, 3: 2}
    (rss,) = chart_counts(browser, "rss")
    assert rss == {"1": len(capture["rss"]["samples"])}
    histograms = chart_counts(browser, "histograms")
    assert [h["1"] for h in histograms] == [5, 3, 2]
    assert console_errors(browser) == []
    browser.save_screenshot(str(tmp_path / "truth.png"))
    assert (tmp_path / "truth.png").read_bytes()[:4] == b"\x89PNG"


def hover_event(driver: Any, chart: int, event: int) -> Any:
    """Move the real mouse onto one collection's bar; returns the tooltip element."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    left, top, width, height = driver.execute_script(
        """const u = window.gcscope.timeline[arguments[0]], i = arguments[1] + 1;
        const g = u.data.findIndex((s, k) => k > 0 && s[i] != null);
        return [u.valToPos(u.data[0][i], "x"), u.valToPos(u.data[g][i], "ms"),
                u.over.clientWidth, u.over.clientHeight];""",
        chart,
        event,
    )
    over = driver.find_elements("css selector", '.chart[data-chart="timeline"] .u-over')[chart]
    # a collection at the run's very start (or a bar of the shortest pause) sits on the
    # plot's edge: the pointer stays a pixel inside it, where the bar is still nearest
    x = min(max(left, 1), width - 2)
    y = min(max(top + 6, 1), height - 2)
    tooltip = over.find_element("css selector", ".tooltip")

    def hovered(d: Any) -> bool:  # moved off and back each try: a page still busy
        ActionChains(d).move_to_element_with_offset(  # drawing may miss one move
            over, round(x - width / 2), round(y - height / 2) + 1
        ).move_by_offset(0, -1).perform()
        return tooltip.is_displayed()

    WebDriverWait(driver, 10, poll_frequency=0.5).until(hovered)
    return tooltip


def test_tooltip_names_the_collection_under_the_mouse(
    browser: Any, workdir: Path, tmp_path: Path
) -> None:
    _, page, result = truth_run(workdir)
    plan = json.loads(result.stdout)["plan"]
    line = line_of(workdir / "html_truth.py", "COLLECT")
    open_page(browser, page)
    for event in (plan.index(2), plan.index(1), len(plan) - 1):
        tooltip = hover_event(browser, 0, event)
        assert tooltip.get_attribute("data-event") == str(event)
        assert tooltip.get_attribute("data-generation") == str(plan[event])
        text = tooltip.text
        assert f"gen {plan[event]} collection" in text
        assert f"html_truth.py:{line}" in text and "pause" in text
    browser.save_screenshot(str(tmp_path / "tooltip.png"))
    assert console_errors(browser) == []


def test_hostile_names_show_as_text_and_run_nothing(
    browser: Any, workdir: Path, tmp_path: Path
) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    page = hostile_run(workdir)
    open_page(browser, page)
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    assert browser.execute_script("return typeof window.pwned") == "undefined"
    assert browser.title.startswith("gcscope: ")
    cells = [cell.text for cell in browser.find_elements("css selector", "td.code")]
    for name in HOSTILE_TYPES:
        assert name in cells
    assert any(HOSTILE_SCRIPT in cell for cell in cells)
    images = browser.execute_script(
        "return Array.from(document.querySelectorAll('img[data-shape]'), i => i.naturalWidth)"
    )
    if shutil.which("dot"):
        assert images and all(width > 0 for width in images)
    hover_event(browser, 0, 0)  # the trigger site's hostile path, shown by the tooltip
    assert HOSTILE_SCRIPT in browser.find_element("css selector", ".tooltip").text
    assert browser.execute_script("return typeof window.pwned") == "undefined"
    assert console_errors(browser) == []
    browser.save_screenshot(str(tmp_path / "hostile.png"))


def test_several_captures_side_by_side_on_the_same_axes(
    browser: Any, workdir: Path, tmp_path: Path
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    first, _, _ = truth_run(workdir, "first")
    second = workdir / "second.json"
    result = run_gcscope(
        "run", "--format", "none", "--rss-interval", "5ms", "-o", str(second),
        "make_cycles.py", "100000", "10", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    page = workdir / "both.html"
    report = run_gcscope(
        "report", "--format", "html", "-o", str(page), str(first), str(second), cwd=workdir
    )
    assert report.returncode == 0, report.stderr
    open_page(browser, page)
    scales = browser.execute_script(
        "return window.gcscope.timeCharts.map(u => [u.scales.x.min, u.scales.x.max])"
    )
    assert len(scales) == 4 and len({tuple(s) for s in scales}) == 1  # 2 timelines, 2 RSS
    pauses = browser.execute_script(
        "return window.gcscope.timeline.map(u => [u.scales.ms.min, u.scales.ms.max])"
    )
    assert pauses[0] == pauses[1]
    counts = chart_counts(browser, "timeline")
    for chart, capture in zip(counts, (load_json(first), load_json(second))):
        assert sum(chart.values()) == capture["gc"]["events"]["stored"]
    # drag across the first timeline: every time chart follows it
    over = browser.find_elements("css selector", '.chart[data-chart="timeline"] .u-over')[0]
    width = over.size["width"]
    drag = ActionChains(browser).move_to_element_with_offset(over, -width // 4, 0)
    drag.click_and_hold().move_by_offset(width // 5, 0).release().perform()
    zoomed = browser.execute_script(
        "return window.gcscope.timeCharts.map(u => [u.scales.x.min, u.scales.x.max])"
    )
    assert len({tuple(s) for s in zoomed}) == 1
    assert zoomed[0][1] - zoomed[0][0] < (scales[0][1] - scales[0][0]) / 2
    assert console_errors(browser) == []
    browser.save_screenshot(str(tmp_path / "side-by-side.png"))


def test_twenty_thousand_events_all_drawn(browser: Any, workdir: Path, tmp_path: Path) -> None:
    page = big_run(workdir)
    open_page(browser, page)
    (timeline,) = chart_counts(browser, "timeline")
    assert sum(timeline.values()) == 20_000
    assert console_errors(browser) == []
    browser.save_screenshot(str(tmp_path / "big.png"))
