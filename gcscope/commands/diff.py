"""`gcscope diff BASE NEW`: the headline metrics side by side; exit 1 on a regression."""

from __future__ import annotations

from gcscope import capture as capture_io
from gcscope.diffing import compare, render


def execute(base_path: str, new_path: str, tolerance: float, output: str) -> tuple[str, int]:
    import os

    if os.path.isdir(base_path) or os.path.isdir(new_path):  # run folders: their totals
        from gcscope.tree_verdicts import diff

        rows = diff(base_path, new_path, tolerance)
    else:
        base, new = capture_io.load(base_path), capture_io.load(new_path)
        rows = compare(base, new, tolerance)
    regressions = [row for row in rows if row.regressed]
    text = render(rows)
    if output == "github":
        text += "".join(
            f"::error title=gcscope diff::{row.metric.name} regressed: "
            f"{row.metric.show(row.base.value)} -> {row.metric.show(row.new.value)}\n"  # type: ignore[union-attr]
            for row in regressions
        )
    summary = (
        f"gcscope diff: {len(regressions)} metric(s) regressed beyond {tolerance * 100:g}%: "
        + ", ".join(row.metric.name for row in regressions)
        if regressions
        else f"gcscope diff: no regression beyond {tolerance * 100:g}%"
    )
    return text + summary + "\n", 1 if regressions else 0
