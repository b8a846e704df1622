"""Pictures of a capture's top cycle shapes for the HTML report, drawn by Graphviz.

The DOT text comes from `gcscope.graph` (the same pipeline as `gcscope cycles --graph`);
this module only runs `dot -Tsvg` on it, with a timeout, one shape at a time. The page
shows each SVG as an `<img>` with a `data:` URI rather than as inline markup: the
labels are program-controlled text (type names, attribute names) that have passed
through Graphviz's own escaping, and an SVG loaded as an image can run no script and
fetch nothing, whatever it contains.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from typing import Any

DOT_TIMEOUT_S = 30
MAX_NODES = 40  # per picture: the page has room for a readable example, not the whole heap
GRAPHVIZ_MISSING = (
    "Graphviz's dot is not installed, so the cycles are not drawn here: install it "
    "(apt-get install graphviz, brew install graphviz, conda install graphviz) "
    "and render the report again."
)


class Picture:
    """One shape's picture (a data: URI), or why there is none."""

    __slots__ = ("note", "shape", "uri")

    def __init__(self, shape: int, uri: str = "", note: str = "") -> None:
        self.shape = shape
        self.uri = uri
        self.note = note


def draw_shapes(capture: dict[str, Any], shape_ids: list[int]) -> tuple[list[Picture], str]:
    """SVG pictures of one stored example per shape; the second item explains a failure."""
    from gcscope import graph

    dot = shutil.which("dot")
    if dot is None:
        return [], GRAPHVIZ_MISSING
    pictures = []
    for shape_id in shape_ids:
        examples = graph.select_graphs(capture, shape_id, None, MAX_NODES)[:1]
        if not examples:
            continue
        pictures.append(_draw(dot, shape_id, graph.to_dot(capture, examples, MAX_NODES)))
    return pictures, ""


def _draw(dot: str, shape_id: int, dot_text: str) -> Picture:
    try:
        result = subprocess.run(
            [dot, "-Tsvg"],
            input=dot_text.encode(),
            capture_output=True,
            timeout=DOT_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return Picture(shape_id, note=f"dot took longer than {DOT_TIMEOUT_S} s; not drawn")
    except OSError as exc:
        return Picture(shape_id, note=f"dot could not run: {exc.strerror or exc}")
    if result.returncode != 0 or b"<svg" not in result.stdout:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        return Picture(shape_id, note=f"dot failed: {lines[0] if lines else 'no output'}")
    encoded = base64.b64encode(result.stdout).decode("ascii")
    return Picture(shape_id, uri=f"data:image/svg+xml;base64,{encoded}")
