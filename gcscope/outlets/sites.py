"""Trigger sites as a bounded set of label values, with counters that never go down.

A service can hit thousands of distinct trigger sites; a metrics label must take few
values. So the `limit` costliest sites (by cumulative pause, and at least
`MIN_SHARE` of all pause) become label values, and everything else is `other`. A site
keeps its label once given (so does every label value in prometheus_client's
multiprocess files), and each exported series counts only from the moment its site
was labelled; what it did before stays in `other`. So every series only grows, and
the values summed over `site` always equal the whole process's figures.
"""

from __future__ import annotations

from gcscope.probes.gc_events import MAX_GENERATIONS, OTHER_SITE_FRAME

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from gcscope.probes.gc_events import GcEventProbe
    from gcscope.probes.gc_ring import RecorderState

OTHER = "other"
MIN_SHARE = 0.01  # a site must account for 1% of all pause time to be labelled
MAX_LABEL_LENGTH = 200


def site_label(probe: GcEventProbe, slot: int) -> str:
    """`app/views.py:42 (handler)`: the program's line, else the innermost frame."""
    from gcscope.reporters.formatting import frame_label

    program, where = probe.site_frames(slot)
    frame = program or where
    if frame is OTHER_SITE_FRAME:
        return OTHER
    label = frame_label(frame)
    return label if len(label) <= MAX_LABEL_LENGTH else label[: MAX_LABEL_LENGTH - 1] + "…"


class SiteLabels:
    """Which sites are label values, and each one's figures since it was labelled."""

    def __init__(self, probe: GcEventProbe, limit: int, generations: int) -> None:
        self.probe = probe
        self.limit = limit
        self.generations = generations
        self.labels: set[str] = set()
        self.label_of: dict[int, str] = {}
        # slot -> (collections per generation, pause) when its label was given
        self.baseline: dict[int, tuple[list[int], float]] = {}
        self.exported = False  # before the first export a label takes a site's whole history

    def rows(self, state: RecorderState) -> list[tuple[str, list[int], float]]:
        """(label, collections per generation, pause seconds) per label, `other` last."""
        gens = self.generations
        current: dict[int, tuple[list[int], float]] = {}
        for slot in range(len(self.probe.site_program)):
            counts = list(state.site_gen_collections[slot * MAX_GENERATIONS :][:gens])
            if any(counts):
                current[slot] = (counts, state.site_pause[slot])
        for slot in current:
            if slot not in self.label_of:
                self.label_of[slot] = site_label(self.probe, slot)
        self._label_more(current, sum(state.pause))
        for slot, figures in current.items():
            if slot not in self.baseline and self.label_of[slot] in self.labels:
                self._start(slot, figures)
        per_label: dict[str, Any] = {label: [[0] * gens, 0.0] for label in self.labels}
        other: Any = [[0] * gens, 0.0]
        untracked = len(state.site_pause) - 1
        other[0] = list(state.site_gen_collections[untracked * MAX_GENERATIONS :][:gens])
        other[1] = state.site_pause[untracked]
        for slot, (counts, pause) in current.items():
            base = self.baseline.get(slot)
            if base is None:
                _add(other, counts, pause)
                continue
            entry = per_label[self.label_of[slot]]
            _add(entry, [n - b for n, b in zip(counts, base[0])], pause - base[1])
            _add(other, base[0], base[1])
        self.exported = True
        rows = [(label, entry[0], entry[1]) for label, entry in sorted(per_label.items())]
        rows.append((OTHER, other[0], other[1]))
        return rows

    def _label_more(self, current: dict[int, tuple[list[int], float]], total: float) -> None:
        if len(self.labels) >= self.limit:
            return
        pause_by_label: dict[str, float] = {}
        for slot, (_, pause) in current.items():
            label = self.label_of[slot]
            if label not in self.labels and label != OTHER:
                pause_by_label[label] = pause_by_label.get(label, 0.0) + pause
        ranked = sorted(pause_by_label.items(), key=lambda item: (-item[1], item[0]))
        for label, pause in ranked[: self.limit - len(self.labels)]:
            if pause > 0 and pause >= MIN_SHARE * total:
                self.labels.add(label)

    def _start(self, slot: int, figures: tuple[list[int], float]) -> None:
        if self.exported:
            self.baseline[slot] = (list(figures[0]), figures[1])
        else:
            self.baseline[slot] = ([0] * self.generations, 0.0)


def _add(entry: Any, counts: list[int], pause: float) -> None:
    entry[0] = [a + b for a, b in zip(entry[0], counts)]
    entry[1] += pause
