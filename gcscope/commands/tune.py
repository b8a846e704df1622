"""`gcscope tune`: the program's GC settings, measured under the user's constraints.

The plan: one run of the default first (a warm-up that also sizes the plan and says
whether the program marks its start-up with `gcscope.startup_done()`), the plan
printed, the other candidates' warm-up runs, then `repeats` rounds in which every
candidate runs once, in an order that rotates from round to round. Every run is a
`gcscope run` child writing its capture into the output folder; the analysis
(`gcscope.tuning.analysis`), the decision (`gcscope.tuning.decision`) and the
result document (`tune.json`) come after, and the text or JSON shown renders from
that document.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass, field
from typing import Any

from gcscope import capture as capture_io
from gcscope.errors import UsageError
from gcscope.runner import Target
from gcscope.tuning.analysis import CandidateFigures, behaviour, metric_names
from gcscope.tuning.candidates import (
    Candidate,
    CandidateSet,
    candidate_set,
    environment_lines,
    select,
    snippet,
)
from gcscope.tuning.decision import recommend
from gcscope.tuning.limits import Limit
from gcscope.tuning.startup import StartupBoundary, find_boundary
from gcscope.tuning.trials import Trial, TrialRunner

RESULT_SCHEMA = "gcscope-tune"
RESULT_VERSION = 1
DEFAULT_REPEATS = 5
MIN_REPEATS, MAX_REPEATS = 3, 100
# gc.disable() is never recommended when a --cycles run of the default finds more
# cyclic garbage than this made in the second half of the run: it would keep growing
DISABLE_LATE_GARBAGE_ALLOWANCE = 1_000


class TuneError(UsageError):
    """The runs could not go on (the default run failed, or Ctrl-C): one line, a status."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class TuneRequest:
    argv: list[str]
    goal: str = "throughput"
    limits: list[Limit] = field(default_factory=list)
    repeat: int | None = None
    budget: float | None = None
    candidates: list[str] | None = None
    allow_disable: bool = False
    output: str | None = None
    report_format: str = "text"
    progress: Any = None  # a text stream; stderr by default


def prepare_folder(path: str | None, stem: str) -> str:
    """The output folder: new, or existing and empty (tune never overwrites a file)."""
    shown = path or f"gcscope-tune-{stem}-{os.getpid()}"
    real = os.path.abspath(shown)
    if os.path.lexists(real):
        if not os.path.isdir(real):
            raise UsageError(f"cannot use {shown!r} as tune's output folder: it is not a folder")
        if os.listdir(real):
            raise UsageError(
                f"output folder {shown!r} is not empty: give a new or empty folder "
                "(tune never overwrites earlier results)"
            )
        return real
    parent = os.path.dirname(real)
    if not os.path.isdir(parent):
        raise UsageError(f"cannot create output folder {shown!r}: {parent!r} does not exist")
    try:
        os.mkdir(real)
    except OSError as exc:
        raise UsageError(f"cannot create output folder {shown!r}: {exc.strerror}") from None
    return real


def repeats_for(request: TuneRequest, candidates: int, default_seconds: float) -> tuple[int, str]:
    """(repeats, why): `--repeat`, or as many as `--budget` allows at the default's pace."""
    if request.budget is None:
        count = request.repeat or DEFAULT_REPEATS
        return count, "--repeat" if request.repeat else "default"
    per_round = max(default_seconds, 1e-3) * candidates
    fits = int(request.budget / per_round) - 1  # the warm-up round comes first
    count = max(MIN_REPEATS, min(fits, MAX_REPEATS))
    if request.repeat is not None:
        count = min(count, request.repeat)
    why = f"--budget {request.budget:g}s"
    if fits < MIN_REPEATS:
        why += f" allows {max(fits, 0)}; {MIN_REPEATS} is the least that says anything"
    return count, why


class Tuner:
    """Runs the plan for one request and builds the result document."""

    def __init__(self, request: TuneRequest) -> None:
        self.request = request
        self.stream = request.progress or sys.stderr
        target = Target.from_argv(request.argv)
        target.check()
        self.stem = target.stem
        self.set: CandidateSet = select(
            candidate_set(allow_disable=request.allow_disable), request.candidates
        )
        self.folder = prepare_folder(request.output, self.stem)
        self.runner = TrialRunner(request.argv, self.folder)
        self.trials: dict[str, list[Trial]] = {c.name: [] for c in self.set.candidates}
        self.warnings: list[str] = []
        self.done = 0
        self.total = 0

    def say(self, text: str) -> None:
        self.stream.write(f"gcscope tune: {text}\n")
        self.stream.flush()

    def _run(self, candidate: Candidate, round_number: int, freeze_point: str) -> Trial:
        trial = self.runner.run(candidate, round_number, freeze_point)
        self.trials[candidate.name].append(trial)
        self.done += 1
        wall = (trial.capture or {}).get("wall_seconds")
        shown = f"{wall:.3f} s" if wall is not None else f"failed ({trial.problem})"
        total = f"/{self.total}" if self.total else ""
        self.say(f"[{self.done}{total}] {trial.label()}: {shown}")
        return trial

    def run(self) -> dict[str, Any]:
        """Run the plan; write and return the result document (`tune.json`)."""
        try:
            result = self._run_plan()
            path = os.path.join(self.folder, "tune.json")
            capture_io.write_text(capture_io.dumps(result) + "\n", path, what="tune result")
            return result
        except KeyboardInterrupt:
            raise TuneError(
                f"interrupted after {self.done} runs; the captures so far are in {self.folder}",
                130,
            ) from None

    def _run_plan(self) -> dict[str, Any]:
        request = self.request
        candidates = self.set.candidates
        default = candidates[0]
        self.say(
            f"{shlex.join(request.argv)} on Python {sys.version.split()[0]} "
            f"({self.set.collector} collector, thresholds {self.set.default_threshold}); "
            f"output in {self.folder}"
        )
        first = self._run(default, 0, "none")
        if first.capture is None:
            raise TuneError(f"the program's first run (default settings) failed: {first.problem}")
        freeze_point, freeze_where = self._freeze_point(first)
        if freeze_point is None:
            dropped = [c.name for c in candidates if c.freeze]
            if dropped:
                self.warnings.append(f"left out {', '.join(dropped)}: {freeze_where}")
            candidates = [c for c in candidates if not c.freeze]
        repeats, why = repeats_for(request, len(candidates), first.elapsed_seconds)
        self.total = len(candidates) * (repeats + 1) + (1 if request.allow_disable else 0)
        estimate = first.elapsed_seconds * (self.total - 1)
        self.say(
            f"plan: {len(candidates)} candidates x ({repeats} repeat{'s' if repeats > 1 else ''}"
            " + 1 warm-up), the "
            f"default run took {first.elapsed_seconds:.2f} s: {self.total} runs, about "
            f"{_duration(estimate)} more ({why}); candidates: "
            + ", ".join(c.name for c in candidates)
        )
        for candidate in candidates[1:]:
            self._run(candidate, 0, freeze_point or "none")
        cycles = self._cycles_check(default) if request.allow_disable else None
        for round_number in range(1, repeats + 1):
            shift = (round_number - 1) % len(candidates)
            for candidate in candidates[shift:] + candidates[:shift]:
                self._run(candidate, round_number, freeze_point or "none")
        return self._result(candidates, repeats, freeze_point, freeze_where, cycles)

    def _freeze_point(self, first: Trial) -> tuple[str | None, str]:
        """('marker' | 'line:N' | None, where, in words)."""
        marker = (first.capture or {}).get("tuning", {}).get("startup_done", {})
        if marker.get("calls"):
            site = marker["first"]["site"]
            return "marker", f"at gcscope.startup_done() ({site})"
        boundary: StartupBoundary | None = find_boundary(self.request.argv, os.getcwd())
        if boundary is None:
            return None, (
                "no end of start-up found: the main module's top level only imports and "
                "defines (mark it with gcscope.startup_done())"
            )
        return f"line:{boundary.line}", f"before {boundary.describe()}"

    def _cycles_check(self, default: Candidate) -> dict[str, Any]:
        """A --cycles run of the default: does cyclic garbage keep coming? (gc.disable())"""
        trial = self.runner.run(default, -1, "none", tag="cycles", extra_options=("--cycles",))
        os.unlink(trial.stdout_path)
        self.done += 1
        self.say(f"[{self.done}/{self.total}] default with --cycles (is garbage cyclic?)")
        capture = trial.capture
        if capture is None or "cycles" not in capture:
            return {"known": False, "problem": trial.problem, "capture": trial.capture_path}
        total = int(capture["cycles"]["total_objects"])
        events = capture.get("gc", {}).get("events", {})
        rows = events.get("rows", [])
        columns = events.get("columns", [])
        half_ns = capture["wall_seconds"] * 1e9 / 2
        start, found = columns.index("start_ns"), columns.index("collected")
        in_collections = sum(row[found] for row in rows)
        late = sum(row[found] for row in rows if row[start] >= half_ns)
        late += max(total - in_collections, 0)  # gcscope's last harvest, after the run
        complete = not events.get("dropped")
        grows = late > DISABLE_LATE_GARBAGE_ALLOWANCE or (not complete and total > 0)
        by_type = capture["cycles"]["by_type"][:3]
        top = ", ".join(f"{row['type']} x{row['count']}" for row in by_type)
        return {
            "known": True,
            "total_objects": total,
            "second_half_objects": late,
            "keeps_growing": grows,
            "types": top,
            "capture": trial.capture_path,
        }

    def _exclusions(
        self,
        figures: dict[str, CandidateFigures],
        conduct: dict[str, Any],
        cycles: dict[str, Any] | None,
    ) -> dict[str, list[str]]:
        exclusions: dict[str, list[str]] = {}
        for candidate in self.set.candidates:
            name = candidate.name
            if name not in figures or name == "default":
                continue
            reasons = []
            failed = figures[name].failed_runs()
            if failed:
                reasons.append(f"{len(failed)} of its runs left no capture ({failed[0].problem})")
            if name in conduct["differs"]:
                reasons.append(f"changes the program's behaviour: {conduct['differs'][name]}")
            if candidate.freeze:
                record = figures[name].freeze_record()
                if record["runs_frozen"] < record["runs"]:
                    reasons.append(
                        f"the freeze happened in {record['runs_frozen']} of {record['runs']} runs"
                    )
            if candidate.disable:
                if cycles is None or not cycles.get("known"):
                    reasons.append("whether its cyclic garbage keeps growing is unknown")
                elif cycles["keeps_growing"]:
                    reasons.append(
                        "the program's cyclic garbage keeps growing ("
                        f"{cycles['second_half_objects']} objects made in the second half of "
                        f"a run: {cycles['types']})"
                    )
            if reasons:
                exclusions[name] = reasons
        return exclusions

    def _result(
        self,
        candidates: list[Candidate],
        repeats: int,
        freeze_point: str | None,
        freeze_where: str,
        cycles: dict[str, Any] | None,
    ) -> dict[str, Any]:
        figures = {c.name: CandidateFigures(c.name, self.trials[c.name]) for c in candidates}
        conduct = behaviour(figures)
        if conduct["nondeterministic"]:
            self.warnings.append(
                "the program's stdout differs between runs of the same settings ("
                + ", ".join(conduct["nondeterministic"])
                + "): it is not deterministic, so a behaviour change cannot be told apart"
            )
        for name, record in figures.items():
            for note in record.overridden():
                self.warnings.append(f"{name}: {note}")
        exclusions = self._exclusions(figures, conduct, cycles)
        order = [c.name for c in candidates]
        decision = recommend(self.request.goal, self.request.limits, figures, order, exclusions)
        all_trials = [t for name in order for t in self.trials[name]]
        metrics = metric_names(all_trials)
        default = figures["default"]
        self._tidy_stdout(all_trials)
        rows = []
        for candidate in candidates:
            record = figures[candidate.name]
            rows.append(
                {
                    "name": candidate.name,
                    "description": candidate.description,
                    "settings": candidate.settings(),
                    "threshold": list(candidate.threshold) if candidate.threshold else None,
                    "freeze": candidate.freeze,
                    "disable": candidate.disable,
                    "metrics": {
                        m: (s.as_dict() if (s := record.summary(m)) else None) for m in metrics
                    },
                    "change": {
                        m: (c.as_dict() if (c := record.change(m, default)) else None)
                        for m in metrics
                    }
                    if candidate.name != "default"
                    else None,
                    "freeze_record": _plain(record.freeze_record()) if candidate.freeze else None,
                    "runs": [_run_record(t) for t in record.trials],
                    "median_capture": _median_capture(record),
                    "snippet": snippet(candidate, freeze_where),
                    "environment": environment_lines(candidate),
                }
            )
        chosen = next(c for c in candidates if c.name == decision["candidate"])
        decision["snippet"] = snippet(chosen, freeze_where)
        decision["environment"] = environment_lines(chosen) if chosen.name != "default" else []
        return {
            "schema": RESULT_SCHEMA,
            "schema_version": RESULT_VERSION,
            "argv": list(self.request.argv),
            "cwd": os.getcwd(),
            "python": {
                "version": sys.version.split()[0],
                "executable": sys.executable,
                "collector": self.set.collector,
                "default_threshold": list(self.set.default_threshold),
                "thresholds_mean": self.set.meaning,
            },
            "goal": self.request.goal,
            "repeats": repeats,
            "warmup_rounds": 1,
            "metrics": metrics,
            "freeze_point": {"mode": freeze_point, "where": freeze_where},
            "cyclic_garbage": cycles,
            "behaviour": conduct,
            "warnings": self.warnings,
            "candidates": rows,
            "recommendation": decision,
            "folder": self.folder,
        }

    def _tidy_stdout(self, trials: list[Trial]) -> None:
        """Keep one stdout per distinct output (the evidence of a difference), drop the rest."""
        seen: set[str] = set()
        for trial in trials:
            if trial.stdout_sha256 in seen:
                os.unlink(trial.stdout_path)
                trial.stdout_path = ""
            else:
                seen.add(trial.stdout_sha256)


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.as_dict() if hasattr(v, "as_dict") else v) for k, v in record.items()}


def _run_record(trial: Trial) -> dict[str, Any]:
    capture = trial.capture or {}
    return {
        "round": trial.round,
        "capture": trial.capture_path if trial.capture else None,
        "stderr": trial.stderr_path,
        "stdout": trial.stdout_path or None,
        "exit_code": trial.exit_code,
        "stdout_sha256": trial.stdout_sha256,
        "stdout_bytes": trial.stdout_bytes,
        "process_cpu_seconds": round(trial.cpu_seconds, 6),
        "elapsed_seconds": round(trial.elapsed_seconds, 6),
        "wall_seconds": capture.get("wall_seconds"),
        "problem": trial.problem,
    }


def _median_capture(record: CandidateFigures) -> str | None:
    """The capture of the run whose wall time is the median: the one to look at."""
    runs = sorted(record.measured, key=lambda t: (t.capture or {}).get("wall_seconds", 0))
    return runs[(len(runs) - 1) // 2].capture_path if runs else None


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def execute(request: TuneRequest) -> tuple[str, dict[str, Any]]:
    """Run the plan, write `tune.json` into the folder, return (the rendering, result)."""
    from gcscope.reporters.tune import render

    result = Tuner(request).run()
    return render(result, request.report_format), result


# `gcscope tune`'s options that take a value (the click command in gcscope/click_app.py)
VALUE_OPTIONS = frozenset(
    ("--goal", "--max-rss", "--max-pause", "--max-wall", "--repeat", "--budget",
     "--candidates", "-o", "--output", "--format")
)  # fmt: skip


def split_joined_target(args: list[str]) -> list[str]:
    """`tune -mpkg` / `tune -c'code'`: split like python does, before click reads a bundle
    of short options (`-o` among them) in them."""
    if not args or args[0] != "tune":
        return args
    position = 1
    while position < len(args):
        token = args[position]
        if token in VALUE_OPTIONS:
            position += 2
            continue
        if token[:2] in ("-m", "-c") and len(token) > 2:
            return [*args[:position], token[:2], token[2:], *args[position + 1 :]]
        if not token.startswith("-") or token in ("-m", "-c", "--"):
            break
        position += 1
    return args


def tune_request(
    argv: list[str],
    *,
    goal: str = "throughput",
    max_rss: str | None = None,
    max_pause: str | None = None,
    max_wall: str | None = None,
    repeat: int | None = None,
    budget: float | None = None,
    candidates: str | None = None,
    allow_disable: bool = False,
    output: str | None = None,
    report_format: str = "text",
) -> TuneRequest:
    """The command line's values, checked, as a request (every mistake: one line, exit 2)."""
    from gcscope.tuning.limits import parse_limit

    if not argv:
        raise UsageError("nothing to tune: give a script, -m MODULE or -c COMMAND")
    if argv[0] == "--":
        argv = argv[1:]
    limits = [
        parse_limit(option, text)
        for option, text in (("max_rss", max_rss), ("max_pause", max_pause), ("max_wall", max_wall))
        if text is not None
    ]
    if budget is not None and budget <= 0:
        raise UsageError("invalid --budget: it must be longer than 0s")
    names = None
    if candidates is not None:
        names = [name.strip() for name in candidates.split(",") if name.strip()]
        if not names:
            raise UsageError("--candidates: name at least one candidate")
    return TuneRequest(
        argv=list(argv),
        goal=goal,
        limits=limits,
        repeat=repeat,
        budget=budget,
        candidates=names,
        allow_disable=allow_disable,
        output=output,
        report_format=report_format,
    )
