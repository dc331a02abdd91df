"""The accuracy report: out-of-sample figures first, the calibration's own points beside them.

A point is in sample when ``validation/calibration.toml`` names it for a term: it was used to choose
or check that term, so it says little about a setup the set has not seen. Points from one source that
differ only in context length count once (their median) so one sweep cannot carry a group. Besides the
totals, each measured component (vLLM's activation peak and KV capacity, llama.cpp's compute buffer,
...) gets its own out-of-sample line. ``docs/accuracy.md`` holds this text verbatim between its
markers, and a test keeps it equal to ``vramtui validate --markdown``.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from .validation import PointResult, Term, calibrates, family, figure

TRAINING = ("lora", "qlora", "full")


@dataclass(frozen=True)
class Median:
    points: int
    settings: int  # distinct settings once points differing only in context are one
    median: float | None  # of |error|, each setting's median counted once
    worst: float | None
    worst_id: str = ""

    def cell(self) -> str:
        if self.median is None:
            return "—"
        grouped = f", {self.settings} settings" if self.settings != self.points else ""
        return f"{100 * self.median:.1f} % ({self.points} pts{grouped})"


def grouped_median(results: Iterable[PointResult]) -> Median:
    by_setting: dict[str, list[float]] = {}
    worst, worst_id, n = None, "", 0
    for r in results:
        if r.total is None:
            continue
        n += 1
        e = abs(r.total.error)
        by_setting.setdefault(family(r.point), []).append(e)
        if worst is None or e > worst:
            worst, worst_id = e, r.point.id
    if not by_setting:
        return Median(0, 0, None, None)
    return Median(n, len(by_setting), statistics.median(statistics.median(v) for v in by_setting.values()), worst,
                  worst_id)


def _split(results: list[PointResult], terms: list[Term]) -> tuple[list[PointResult], list[PointResult]]:
    out = [r for r in results if not calibrates(r.point, terms)]
    ins = [r for r in results if calibrates(r.point, terms)]
    return out, ins


def headline(precise: list[PointResult], guide: list[PointResult], terms: list[Term]) -> list[str]:
    """Per (runtime, mode) group, and for all inference / all training: out of sample, then in sample."""
    g_by_id = {r.point.id: r for r in guide}
    measured = [r for r in precise if not r.point.table]
    groups = sorted({r.group for r in measured})
    lines = ["| runtime | mode | out of sample: precise | guide | in sample: precise |", "|---|---|---|---|---|"]

    def row(label: tuple[str, str], rs: list[PointResult]) -> str:
        out, ins = _split(rs, terms)
        gout = [g_by_id[r.point.id] for r in out if g_by_id[r.point.id].total is not None]
        o, g, i = grouped_median(out), grouped_median(gout), grouped_median(ins)
        worst = f", worst {100 * o.worst:.1f} %" if o.worst is not None else ""
        return f"| {label[0]} | {label[1]} | **{o.cell()}**{worst} | {g.cell()} | {i.cell()} |"

    for key in groups:
        lines.append(row(key, [r for r in measured if r.group == key]))
    lines.append(row(("all", "inference"), [r for r in measured if r.point.mode == "inference"]))
    lines.append(row(("all", "training"), [r for r in measured if r.point.mode in TRAINING]))
    return lines


def components(precise: list[PointResult], terms: list[Term]) -> list[str]:
    """Each measured figure on its own, out of sample: what the totals hide."""
    rows: dict[tuple[str, str], list[float]] = {}
    worst: dict[tuple[str, str], tuple[float, str]] = {}
    for r in precise:
        if r.point.table or calibrates(r.point, terms):
            continue
        for c in r.comparisons:
            key = (r.point.runtime, c.measure)
            rows.setdefault(key, []).append(abs(c.error))
            if abs(c.error) >= worst.get(key, (-1.0, ""))[0]:
                worst[key] = (abs(c.error), r.point.id)
    lines = ["| runtime | measured figure | points | median abs error | worst | worst point |", "|---|---|---|---|---|---|"]
    for key in sorted(rows):
        errors = rows[key]
        w, wid = worst[key]
        lines.append(f"| {key[0]} | `{key[1]}` | {len(errors)} | {100 * statistics.median(errors):.1f} % | "
                     f"{100 * w:.1f} % | `{wid}` |")
    return lines


def calibration(precise: list[PointResult], terms: list[Term]) -> list[str]:
    lines = ["| term | kind | where | points | models |", "|---|---|---|---|---|"]
    for t in terms:
        mine = [r.point for r in precise if t.covers(r.point.id)]
        lines.append(f"| {t.term} | {t.kind} | `{t.where}` | {len(mine)} | {len({p.model for p in mine})} |")
    return lines


def points(precise: list[PointResult], guide: list[PointResult], terms: list[Term]) -> list[str]:
    lines = ["| point | runtime / table | mode | in sample for | measured | value | precise | error | guide error |",
             "|---|---|---|---|---|---|---|---|---|"]
    for p, g in zip(precise, guide, strict=True):
        if p.total is None:
            continue
        t = p.total
        used = ", ".join(calibrates(p.point, terms)) or "—"
        lines.append(f"| `{p.point.id}` | {p.group[0]} | {p.point.mode} | {used} | {t.measure} | "
                     f"{figure(t.measure, t.measured)} | {figure(t.measure, t.estimated)} | {100 * t.error:+.1f} % | "
                     + (f"{100 * g.total.error:+.1f} % |" if g.total else "— |"))
    return lines


def counts(precise: list[PointResult]) -> list[str]:
    """How many points each runtime has, from how many models and sources, and its largest model's share."""
    measured = [r.point for r in precise if not r.point.table]
    tables = len(precise) - len(measured)
    lines = [f"{len(precise)} points: {len(measured)} measurements from {len({p.source for p in measured})} "
             f"sources, and {tables} cells of two papers' tables.", "",
             "| runtime | points | inference / partial offload / training | models | sources | largest model's share |",
             "|---|---|---|---|---|---|"]
    for rt in sorted({p.runtime for p in measured}):
        mine = [p for p in measured if p.runtime == rt]
        by_model: dict[str, int] = {}
        for p in mine:
            by_model[p.model or "(inline)"] = by_model.get(p.model or "(inline)", 0) + 1
        top, n = max(by_model.items(), key=lambda kv: kv[1])
        inf = sum(p.mode == "inference" and p.gpu_layers is None for p in mine)
        part = sum(p.gpu_layers is not None for p in mine)
        lines.append(f"| {rt} | {len(mine)} | {inf} / {part} / {len(mine) - inf - part} | {len(by_model)} | "
                     f"{len({p.source for p in mine})} | {100 * n / len(mine):.0f} % (`{top}`) |")
    return lines


def markdown(precise: list[PointResult], guide: list[PointResult], terms: list[Term]) -> str:
    parts = [
        "### The set",
        "",
        *counts(precise),
        "",
        "### Headline: out of sample",
        "",
        "Median absolute error of each measured group's total. *Out of sample*: points no term of the estimator "
        "was chosen or checked against; *in sample*: the points `validation/calibration.toml` names. "
        "Points from one source that differ only in context count once (\"settings\").",
        "",
        *headline(precise, guide, terms),
        "",
        "### Components, out of sample",
        "",
        *components(precise, terms),
        "",
        "### What was calibrated, and on what",
        "",
        *calibration(precise, terms),
        "",
        "### Every point",
        "",
        *points(precise, guide, terms),
    ]
    return "\n".join(parts)
