"""The GC settings `gcscope tune` tries, chosen for the running interpreter.

What the three thresholds mean depends on the collector (GC-facts per version are
summarised in docs/tune.md, "Candidates per version"):

- generational (3.10-3.13, and 3.14.5+): threshold0 = net new container objects
  before a young collection (700 up to 3.12, 2000 from 3.13); threshold1 = young
  collections before a middle one; threshold2 = middle collections before a full
  one, which also waits until the long-lived objects pending are 25% of those
  already long-lived.
- incremental (3.14.0-3.14.4): two generations; threshold0 = new objects before a
  collection of the young generation plus an increment of the old one; threshold1
  divides the share of the old generation scanned per increment (higher: smaller
  increments); threshold2 is ignored.
- free-threaded builds: only threshold0 counts, and a collection also waits until
  memory has grown.

The candidate set follows: scaled threshold0 (x3, x10, x50, older thresholds kept,
and x10 with the older ones doubled where they mean anything), `gc.freeze()` at the
end of start-up alone and with x10, and `gc.disable()` only when asked for.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field

from gcscope.session import collector_kind

MEANINGS = {
    "generational": (
        "threshold0 = net new containers before a young collection; threshold1 = young "
        "collections per middle one; threshold2 = middle collections per full one (a full "
        "one also waits for 25% growth of the long-lived objects)"
    ),
    "incremental": (
        "two generations: threshold0 = new objects before a young collection plus an "
        "increment of the old generation; threshold1 divides the old generation's share "
        "scanned per increment (higher = smaller increments); threshold2 is ignored"
    ),
    "free-threaded": (
        "non-generational: threshold0 = new objects before a collection, which also waits "
        "for memory growth; threshold1 and threshold2 are ignored"
    ),
}

ENVIRONMENT_NOTE = (
    "No CPython 3.10-3.14 reads GC thresholds from the environment (PYTHON_GC_THRESHOLD, "
    "CPython gh-124742, was closed unmerged): set them in code"
)


@dataclass(frozen=True)
class Candidate:
    """One setting to try: thresholds (None: leave them), freeze at start-up, disable."""

    name: str
    description: str
    threshold: tuple[int, ...] | None = None
    freeze: bool = False
    disable: bool = False

    def spec(self, freeze_point: str) -> str:
        """The `GCSCOPE_TUNE_CANDIDATE` value (gcscope/tuning/child.py parses it)."""
        parts = [f"name={self.name}"]
        if self.threshold is not None:
            parts.append("threshold=" + ",".join(str(value) for value in self.threshold))
        parts.append(f"freeze={freeze_point if self.freeze else 'none'}")
        parts.append(f"disable={int(self.disable)}")
        return ";".join(parts)

    def settings(self) -> str:
        """A short text of what it changes, for tables."""
        pieces = []
        if self.threshold is not None:
            pieces.append("threshold " + "/".join(str(value) for value in self.threshold))
        if self.freeze:
            pieces.append("freeze at start-up")
        if self.disable:
            pieces.append("gc disabled")
        return ", ".join(pieces) or "as the interpreter starts"


@dataclass
class CandidateSet:
    """The candidates for this interpreter, and what its thresholds mean."""

    collector: str
    default_threshold: tuple[int, ...]
    meaning: str
    candidates: list[Candidate] = field(default_factory=list)

    def by_name(self) -> dict[str, Candidate]:
        return {candidate.name: candidate for candidate in self.candidates}


def candidate_set(
    allow_disable: bool = False,
    collector: str | None = None,
    default_threshold: tuple[int, ...] | None = None,
) -> CandidateSet:
    """The candidates for the running interpreter (or the collector named, for tests)."""
    kind = collector or collector_kind()
    base = tuple(default_threshold or gc.get_threshold())
    young, older = base[0], base[1:]
    scaled = [
        Candidate(
            f"gen0x{factor}",
            f"threshold0 x{factor}, older thresholds kept",
            (young * factor, *older),
        )
        for factor in (3, 10, 50)
    ]
    candidates = [Candidate("default", "the interpreter's own settings"), *scaled]
    if kind == "generational":
        candidates.append(
            Candidate(
                "gen0x10-older-x2",
                "threshold0 x10, threshold1 and threshold2 x2",
                (young * 10, *(value * 2 for value in older)),
            )
        )
    elif kind == "incremental":
        candidates.append(
            Candidate(
                "smaller-increments",
                "threshold1 x4: a quarter of the old-generation work per increment",
                (young, older[0] * 4, *older[1:]),
            )
        )
    candidates.append(Candidate("freeze", "gc.freeze() at the end of start-up", freeze=True))
    candidates.append(
        Candidate(
            "freeze+gen0x10",
            "gc.freeze() at the end of start-up, threshold0 x10",
            (young * 10, *older),
            freeze=True,
        )
    )
    if allow_disable:
        candidates.append(
            Candidate("gc-disabled", "gc.disable() before the first line", disable=True)
        )
    return CandidateSet(kind, base, MEANINGS.get(kind, MEANINGS["generational"]), candidates)


def select(full: CandidateSet, names: list[str] | None) -> CandidateSet:
    """Keep only the named candidates (the default always stays first)."""
    if not names:
        return full
    known = full.by_name()
    unknown = [name for name in names if name not in known]
    if unknown:
        from gcscope.errors import UsageError

        if unknown[0] == "gc-disabled":
            raise UsageError("candidate 'gc-disabled' is only tried with --allow-disable")
        raise UsageError(
            f"unknown candidate {unknown[0]!r} for this Python (choose from {', '.join(known)})"
        )
    chosen = [known["default"], *(known[name] for name in names if name != "default")]
    return CandidateSet(full.collector, full.default_threshold, full.meaning, chosen)


def snippet(candidate: Candidate, freeze_where: str) -> list[str]:
    """The lines that apply `candidate` in the program (empty for the default)."""
    lines = []
    if candidate.threshold is not None or candidate.disable:
        lines.append("import gc  # at the top of the main module, before its other imports")
    if candidate.threshold is not None:
        lines.append(f"gc.set_threshold({', '.join(str(v) for v in candidate.threshold)})")
    if candidate.disable:
        lines.append("gc.disable()")
    if candidate.freeze:
        if candidate.threshold is None:
            lines.append("import gc")
        lines.append(f"gc.freeze()  # where start-up ends: {freeze_where}")
    return lines


def environment_lines(candidate: Candidate) -> list[str]:
    """How to apply it without touching the program: none by environment variable on any
    CPython 3.10-3.14; a `.pth` file runs its `import` lines before every program of an
    environment (thresholds only: the freeze point is inside the program)."""
    if candidate.threshold is None or candidate.freeze or candidate.disable:
        return [ENVIRONMENT_NOTE + "."]
    values = ", ".join(str(v) for v in candidate.threshold)
    return [
        ENVIRONMENT_NOTE + "; or, for every program of a virtual environment, one line in "
        "a site-packages/gc_tuning.pth file:",
        f"import gc; gc.set_threshold({values})",
    ]
