"""`gcscope check`: exit 1 if a capture exceeds any limit (or one cannot be judged)."""

from __future__ import annotations

from gcscope import capture as capture_io
from gcscope.checks import evaluate, github_annotation, load_config_limits, set_limit
from gcscope.errors import UsageError
from gcscope.reporters.formatting import printable


def execute(
    path: str, cli_limits: dict[str, tuple[str, ...] | str | None], output: str
) -> tuple[str, int]:
    limits, config_path = load_config_limits()
    for name, value in cli_limits.items():  # the command line wins over pyproject.toml
        if value:
            limits.drop(name)
            set_limit(limits, name, list(value) if isinstance(value, tuple) else value)
    if limits.empty():
        hint = f" (and none in {config_path})" if config_path else ""
        raise UsageError(f"no limits given{hint}: e.g. --max-pause 20ms --max-gc-time 5%")
    import os

    if os.path.isdir(path):  # a `run --follow` folder: per process and totals
        from gcscope.tree_verdicts import check

        return check([path], limits, output)
    data = capture_io.load(path)
    violations = evaluate(data, limits, path)
    if output == "github":
        lines = [github_annotation(v, path) for v in violations]
    else:
        lines = [f"gcscope check: {printable(v.line())}" for v in violations]
        if not violations:
            lines = [f"gcscope check: {printable(path)}: all limits hold"]
    return "\n".join(lines) + ("\n" if lines else ""), 1 if violations else 0
