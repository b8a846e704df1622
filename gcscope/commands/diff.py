"""`gcscope diff BASE NEW`: the headline metrics side by side; exit 1 on a regression.

Also exit 1 when a gated metric cannot be compared (one capture lacks it, or gcscope
knows one side's figure is incomplete): a gate that cannot be evaluated does not pass.
"""

from __future__ import annotations

from gcscope import capture as capture_io
from gcscope.diffing import REGRESSED, compare, render, warnings
from gcscope.reporters.annotations import workflow_command
from gcscope.reporters.formatting import printable


def execute(
    base_path: str, new_path: str, tolerance: float, output: str, tolerance_text: str = ""
) -> tuple[str, int]:
    import os

    labels = (f"BASE ({base_path})", f"NEW ({new_path})")
    if os.path.isdir(base_path) or os.path.isdir(new_path):  # run folders: their totals
        from gcscope.tree_verdicts import diff

        rows = diff(base_path, new_path, tolerance, labels)
        cautions: list[str] = []
    else:
        base, new = capture_io.load(base_path), capture_io.load(new_path)
        rows = compare(base, new, tolerance, labels=labels)
        cautions = warnings(base, new, labels)
    failed = [row for row in rows if row.failed]
    text = "".join(f"gcscope diff: WARNING: {printable(c)}\n" for c in cautions)
    text += render(rows)
    if output == "github":
        text += "".join(
            workflow_command("warning", {"title": "gcscope diff"}, caution) + "\n"
            for caution in cautions
        )
        for row in failed:
            if row.verdict == REGRESSED:
                assert row.base is not None and row.new is not None
                message = (
                    f"{row.metric.name} regressed: {row.metric.show(row.base.value)} -> "
                    f"{row.metric.show(row.new.value)}"
                )
            else:
                message = f"{row.metric.name} cannot be compared: {row.note}"
            text += workflow_command("error", {"title": "gcscope diff"}, message) + "\n"
    tolerance_text = tolerance_text or f"{tolerance * 100:g}%"
    if failed:
        regressed = [row.metric.name for row in failed if row.regressed]
        uncomparable = [row.metric.name for row in failed if not row.regressed]
        parts = []
        if regressed:
            parts.append(
                f"{len(regressed)} metric(s) regressed beyond {tolerance_text}: "
                + ", ".join(regressed)
            )
        if uncomparable:
            parts.append(
                f"{len(uncomparable)} metric(s) cannot be compared: " + ", ".join(uncomparable)
            )
        summary = "gcscope diff: " + "; ".join(parts)
    else:
        summary = f"gcscope diff: no regression beyond {tolerance_text}"
    return text + printable(summary) + "\n", 1 if failed else 0
