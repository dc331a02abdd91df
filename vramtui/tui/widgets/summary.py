"""The panel every screen shows: scenario line, total per GPU (both methods), stacked bar, verdict.

Colour is never the only signal: each component has its own fill character and a lettered legend,
and the verdict says FITS / DOES NOT FIT in words next to its symbol.
"""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.widget import Widget

from ...core.estimate import COMPONENTS
from ...core.units import Unit, fmt_bytes, to_unit
from ..state import Result

# (label, legend letter, fill character, style) per component
PARTS: dict[str, tuple[str, str, str, str]] = {
    "weights": ("weights", "W", "█", "#4e79a7"),
    "kv_cache": ("KV cache", "K", "▓", "#f28e2b"),
    "activations": ("activations", "A", "▒", "#59a14f"),
    "gradients": ("gradients", "G", "▚", "#e15759"),
    "optimizer_states": ("optimizer", "O", "▞", "#b07aa1"),
    "adapters": ("adapters", "L", "▤", "#edc948"),
    "overhead": ("overhead", "X", "░", "#9c755f"),
}


def stacked_bar(per_gpu: dict[str, int], capacity: int, width: int) -> Text:
    """One row: each component's share of max(need, capacity); a ┃ marks the card's capacity."""
    need = sum(per_gpu.values())
    scale = max(need, capacity, 1)
    text = Text()
    cells: list[tuple[str, str]] = []
    for key in COMPONENTS:
        n = round(per_gpu[key] / scale * width)
        if per_gpu[key] and n == 0:
            n = 1
        _, _, char, style = PARTS[key]
        cells += [(char, style)] * n
    cells = cells[:width]
    cells += [("·", "dim")] * (width - len(cells))
    mark = min(width - 1, round(capacity / scale * width)) if capacity else None
    if mark is not None and capacity < need:
        cells[mark] = ("┃", "bold red")
    run = 0
    for i, cell in enumerate(cells):  # one span per run of a cell: ~10 spans, not one per column, to render
        run += 1
        if i + 1 == len(cells) or cells[i + 1] != cell:
            text.append(cell[0] * run, cell[1])
            run = 0
    return text


def legend(per_gpu: dict[str, int], unit: Unit, short: bool = False) -> Text:
    """``██ W weights 14.96 GiB …``; ``short`` drops the names and repeats the unit once (80 columns)."""
    text = Text()
    for key in COMPONENTS:
        value = per_gpu[key]
        if not value:
            continue
        label, letter, char, style = PARTS[key]
        if text:
            text.append(" " if short else "  ")
        text.append(char, style) if short else text.append(char * 2, style)
        if short:
            text.append(f"{letter} {to_unit(value, unit):.2f}")
        else:
            text.append(f" {letter} {label} {fmt_bytes(value, unit)}")
    if short and text:
        text.append(f" {unit}")
    return text


class SummaryPanel(Widget):
    """Always visible; renders a ``Result`` and nothing else.

    One widget whose lines are its ``parts`` (it was six Statics: the panel is on the first frame,
    whose cost grows with its widget count, docs/performance.md). The scenario line and the warnings
    take their colours from component classes (app.tcss) when drawn, so a new theme recolours them.
    """

    COMPONENT_CLASSES = {"summary--line", "summary--warnings"}
    ORDER = ("line", "totals", "bar", "legend", "warnings", "status")

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.parts: dict[str, Text] = {}  # what each line shows now; a line with nothing to say is left out

    def _show_parts(self, **parts: Text) -> None:
        self.parts.update(parts)
        self.refresh(layout=True)

    def render(self) -> Group:
        lines = []
        for key in self.ORDER:
            text = self.parts.get(key)
            if not text:
                continue
            if f"summary--{key}" in self.COMPONENT_CLASSES:
                text = text.copy()
                text.stylize_before(self.get_component_rich_style(f"summary--{key}"))
            lines.append(text)
        return Group(*lines)

    def show_status(self, message: str) -> None:
        """The last file error stays here, in words, until the next file action or edit."""
        self._show_parts(status=Text(f"✘ {message}", "bold red") if message else Text())

    def show(self, result: Result, unit: Unit) -> None:
        s, est = result.scenario, result.current
        verdict = result.verdict
        line = Text(s.summary, overflow="ellipsis", no_wrap=True)

        compact = self.app.has_class("-compact")
        totals = Text(no_wrap=True, overflow="ellipsis")  # one line: never broken mid-phrase
        totals.append(fmt_bytes(est.per_gpu_bytes, unit), "bold")
        totals.append(f"/GPU ({result.method})" if compact else f" per GPU ({result.method})")
        other = result.guide if result.method == "precise" else result.precise
        totals.append(f" · {other.method} {fmt_bytes(other.per_gpu_bytes, unit)}", "dim")
        if est.gpus > 1:
            totals.append(f" · ×{est.gpus} = {fmt_bytes(est.total_bytes, unit)}")
        totals.append("  ")
        gpu_name = verdict.gpu.id if compact else verdict.gpu.name
        if verdict.fits:
            totals.append("✔ FITS", "bold green")
            totals.append(f" {gpu_name} +{fmt_bytes(verdict.headroom_bytes, unit)} ({verdict.headroom_pct:.0f}%)")
        else:
            totals.append("✘ DOES NOT FIT", "bold red")
            n = verdict.gpus_needed
            needed = (f", {n} GPUs" if compact else f", needs {n} GPUs") if n else ", >8 GPUs"
            totals.append(f" {gpu_name} −{fmt_bytes(-verdict.headroom_bytes, unit)}{needed}")

        width = max(10, self.size.width - 2) if self.size.width else 60
        warn = Text("\n".join(f"⚠ {w}" for w in est.warnings), overflow="ellipsis", no_wrap=compact)
        self._show_parts(line=line, totals=totals, bar=stacked_bar(est.per_gpu, verdict.usable_bytes, width),
                         legend=legend(est.per_gpu, unit, short=compact), warnings=warn)


__all__ = ["SummaryPanel", "stacked_bar", "legend"]
