"""The panel every screen shows: scenario line, total per GPU (both methods), stacked bar, verdict.

Colour is never the only signal: each component has its own fill character and a lettered legend,
and the verdict says FITS / DOES NOT FIT in words next to its symbol.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

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
    used = 0
    cells: list[tuple[str, str]] = []
    for key in COMPONENTS:
        n = round(per_gpu[key] / scale * width)
        if per_gpu[key] and n == 0:
            n = 1
        _, _, char, style = PARTS[key]
        cells += [(char, style)] * n
        used += n
    cells = cells[:width]
    cells += [("·", "dim")] * (width - len(cells))
    mark = min(width - 1, round(capacity / scale * width)) if capacity else None
    for i, (char, style) in enumerate(cells):
        if mark is not None and i == mark and capacity < need:
            text.append("┃", "bold red")
        else:
            text.append(char, style)
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


class SummaryPanel(Vertical):
    """Always visible; renders a ``Result`` and nothing else."""

    def compose(self) -> ComposeResult:
        yield Static(id="summary-line")
        yield Static(id="summary-totals")
        yield Static(id="summary-bar")
        yield Static(id="summary-legend")
        yield Static(id="summary-warnings")
        yield Static(id="summary-status")

    def show_status(self, message: str) -> None:
        """The last file error stays here, in words, until the next file action or edit."""
        self.query_one("#summary-status", Static).update(Text(f"✘ {message}", "bold red") if message else "")
        self.set_class(bool(message), "-status")

    def show(self, result: Result, unit: Unit) -> None:
        s, est = result.scenario, result.current
        verdict = result.verdict
        self.query_one("#summary-line", Static).update(Text(s.summary, overflow="ellipsis", no_wrap=True))

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
        self.query_one("#summary-totals", Static).update(totals)

        width = max(10, self.size.width - 2) if self.size.width else 60
        self.query_one("#summary-bar", Static).update(stacked_bar(est.per_gpu, verdict.usable_bytes, width))
        self.query_one("#summary-legend", Static).update(legend(est.per_gpu, unit, short=compact))
        warn = Text("\n".join(f"⚠ {w}" for w in est.warnings), overflow="ellipsis", no_wrap=compact)
        self.query_one("#summary-warnings", Static).update(warn)
        self.set_class(bool(est.warnings), "-warnings")


__all__ = ["SummaryPanel", "stacked_bar", "legend"]
