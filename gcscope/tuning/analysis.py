"""From the runs to figures: per-candidate medians and intervals, changes against the
default (paired by round), and whether the program behaved the same under each.

Metrics (lower is better for all): wall time of the program (the capture's, without
gcscope's own start-up), the program's CPU time (user + system of its process from
its first line to its end, measured by the candidate's run; on a machine shared
with other work it does not grow with the others' load as wall time does), GC share
of wall time, longest pause, worst generation's p99 pause, peak RSS, collections
per generation. The whole `gcscope run` process's CPU time is kept per run too.
"""

from __future__ import annotations

from typing import Any

from gcscope.tuning.intervals import Change, Summary, paired_change, summarise
from gcscope.tuning.trials import Trial

METRICS = (
    ("wall_seconds", "wall s"),
    ("cpu_seconds", "CPU s"),
    ("gc_share", "GC %"),
    ("max_pause_ms", "max pause ms"),
    ("p99_pause_ms", "p99 pause ms"),
    ("peak_rss_bytes", "peak RSS"),
)


def figures(trial: Trial) -> dict[str, float]:
    """The metrics of one run (its capture and its process)."""
    capture = trial.capture or {}
    generations = capture.get("generations", [])
    values = {
        "wall_seconds": float(capture.get("wall_seconds", 0.0)),
        "cpu_seconds": float(capture.get("tuning", {}).get("cpu_seconds", trial.cpu_seconds)),
        "gc_share": float(capture.get("gc_time_fraction", 0.0)),
        "max_pause_ms": max((g["pause_ms"]["max"] for g in generations), default=0.0),
        "p99_pause_ms": max((g["pause_ms"]["p99"] for g in generations), default=0.0),
        "peak_rss_bytes": float(capture.get("peak_rss_bytes") or 0),
    }
    for g in generations:
        values[f"collections_gen{g['generation']}"] = float(g["collections"])
    return values


def metric_names(trials: list[Trial]) -> list[str]:
    names = [name for name, _ in METRICS]
    generations = sorted(
        {
            key
            for trial in trials
            if trial.capture
            for key in figures(trial)
            if key.startswith("collections_gen")
        }
    )
    return names + generations


class CandidateFigures:
    """One candidate's measured runs, summarised."""

    def __init__(self, name: str, trials: list[Trial]) -> None:
        self.name = name
        self.trials = trials
        self.measured = [t for t in trials if t.round > 0 and t.capture is not None]
        self.by_round = {t.round: figures(t) for t in self.measured}

    def values(self, metric: str) -> dict[int, float]:
        return {r: f[metric] for r, f in self.by_round.items() if metric in f}

    def summary(self, metric: str) -> Summary | None:
        return summarise(list(self.values(metric).values()))

    def change(self, metric: str, reference: CandidateFigures) -> Change | None:
        return paired_change(self.values(metric), reference.values(metric))

    def outputs(self) -> set[tuple[str, int]]:
        """(stdout hash, exit status) of every run, warm-up included."""
        return {(t.stdout_sha256, t.exit_code) for t in self.trials if t.round >= 0}

    def failed_runs(self) -> list[Trial]:
        return [t for t in self.trials if t.capture is None]

    def freeze_record(self) -> dict[str, Any]:
        """Where (and whether) the freeze happened in its measured runs."""
        frozen = [
            t.capture["tuning"]["freeze"]["frozen"]
            for t in self.measured
            if t.capture and t.capture.get("tuning", {}).get("freeze", {}).get("frozen")
        ]
        return {
            "runs_frozen": len(frozen),
            "runs": len(self.measured),
            "sites": sorted({f["site"] for f in frozen}),
            "seconds": summarise([f["seconds"] for f in frozen]),
            "objects": summarise([float(f["objects"]) for f in frozen]),
        }

    def overridden(self) -> list[str]:
        """The program changed the candidate's settings itself (seen at the end of a run)."""
        notes = set()
        for trial in self.measured:
            tuning = (trial.capture or {}).get("tuning")
            if not tuning:
                continue
            applied = tuning.get("applied", {})
            if applied.get("threshold") and tuning["threshold_at_end"] != applied["threshold"]:
                notes.add(
                    f"the program set its own thresholds {tuple(tuning['threshold_at_end'])} "
                    f"over the candidate's {tuple(applied['threshold'])}"
                )
            if (
                applied.get("enabled") is not None
                and tuning["enabled_at_end"] != applied["enabled"]
            ):
                notes.add("the program enabled or disabled the collector itself")
        return sorted(notes)


def behaviour(candidates: dict[str, CandidateFigures]) -> dict[str, Any]:
    """Same stdout and exit status under every candidate? Deterministic at all?"""
    default = candidates["default"]
    nondeterministic = sorted(
        name
        for name, figures_ in candidates.items()
        if len({sha for sha, _ in figures_.outputs()}) > 1
    )
    reference = default.outputs()
    differs = {}
    for name, figures_ in candidates.items():
        if name == "default":
            continue
        exits = {code for _, code in figures_.outputs()}
        default_exits = {code for _, code in reference}
        if exits != default_exits:
            differs[name] = (
                f"exit status {sorted(exits)} where the default gives {sorted(default_exits)}"
            )
        elif not nondeterministic and figures_.outputs() != reference:
            differs[name] = "stdout differs from the default's"
    return {"nondeterministic": nondeterministic, "differs": differs}


def show(metric: str, value: float) -> str:
    """A metric's value as people read it."""
    if metric == "peak_rss_bytes":
        from gcscope.reporters.formatting import human_bytes

        return human_bytes(int(value))
    if metric == "gc_share":
        return f"{value * 100:.1f}%"
    if metric.endswith("_ms"):
        return f"{value:.2f} ms"
    if metric.endswith("_seconds"):
        return f"{value:.3f} s"
    return f"{value:g}"
