"""Where the memory goes: each component's size, share and the formula behind it (``Estimate.why``)."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ...core.estimate import COMPONENTS
from ...core.units import Unit, fmt_bytes
from ..state import Result
from .summary import PARTS


class _LaidOutOnce:
    """A Rich renderable that lays its table out once per width.

    Textual renders a widget's Rich content to measure its height and again to draw it at that height
    (three times before the first frame): laying out this table (measuring and wrapping every cell)
    took ~5 ms each time. The lines are the same at the same width, so they are kept for the next call.
    """

    def __init__(self, table: Table) -> None:
        self.table = table
        self._lines: dict[tuple, list[list[Segment]]] = {}

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.table)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        key = (id(console), options.max_width, options.justify, options.overflow, options.no_wrap)
        if key not in self._lines:
            self._lines[key] = console.render_lines(self.table, options.update(height=None), pad=False)
        lines = self._lines[key]
        if options.height is not None and options.height != len(lines):  # asked to fit another height
            lines = console.render_lines(self.table, options, pad=False)
        new_line = Segment.line()
        for line in lines:
            yield from line
            yield new_line


class Breakdown(Static):
    def show(self, result: Result, unit: Unit) -> None:
        est = result.current
        table = Table(box=None, expand=True, show_edge=False, pad_edge=False, header_style="bold")
        table.add_column("component", no_wrap=True)
        table.add_column("per GPU", justify="right", no_wrap=True)
        table.add_column("share", justify="right", no_wrap=True)
        table.add_column(f"how ({result.method})", ratio=1)
        total = max(1, est.per_gpu_bytes)
        for key in COMPONENTS:
            value = est.per_gpu[key]
            if not value and key not in ("weights", "kv_cache"):
                continue
            label, letter, char, style = PARTS[key]
            table.add_row(Text.assemble((char * 2, style), f" {letter} {label}"), fmt_bytes(value, unit),
                          f"{100 * value / total:.1f} %", est.why.get(key, ""))
            if key == "weights" and est.extra_weights_per_gpu:
                extra = est.extra_weights_per_gpu
                note = result.scenario.model.spec.extra_parameters_note or "modules outside the language model"
                table.add_row(Text("   └ extra modules", "dim"), Text(fmt_bytes(extra, unit), "dim"),
                              Text(f"{100 * extra / total:.1f} %", "dim"), Text(note, "dim"))
        table.add_row(Text("total per GPU", "bold"), Text(fmt_bytes(est.per_gpu_bytes, unit), "bold"), "100 %",
                      f"allocated {fmt_bytes(est.allocated_per_gpu, unit)} (torch max_memory_allocated); "
                      f"{est.parameters:,} parameters")
        for note in est.notes:
            table.add_row("", "", "", Text(f"note: {note}", "italic"))
        self.update(_LaidOutOnce(table))
