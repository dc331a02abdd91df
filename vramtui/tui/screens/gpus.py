"""GPUs: the side-by-side fit grid. Sort by any column (F9 on the column under the cursor), filter
(fits only, vendor, budget, compared only), pick compared GPUs (space) and the verdict GPU (enter).
Updated in place on every change, keeping the cursor on the same GPU."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.coordinate import Coordinate
from textual.widgets import Checkbox, DataTable, Input, Label, Select, Static

from ...core import presets
from ...core.fit import GPUFit
from ...core.units import fmt_tokens, parse_money, to_unit, within_budget
from ..state import Result
from .base import VramScreen


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    sort: Callable[[GPUFit], Any]  # the column's own values, ascending; None sorts last
    best_high: bool = False  # the first sort shows the largest first (headroom, max ctx, tok/s)


def _none_last(value):
    return (value is None, value)


COLUMNS: tuple[Column, ...] = (
    Column("mark", "", lambda f: 0),  # the marks as they were when sorted (GPUScreen.mark_order)
    Column("gpu", "GPU", lambda f: f.gpu.name),
    Column("need", "need", lambda f: f.need_bytes),
    Column("usable", "usable", lambda f: f.usable_bytes, best_high=True),
    Column("fits", "fits", lambda f: f.fits, best_high=True),
    Column("headroom", "headroom", lambda f: f.headroom_bytes, best_high=True),
    Column("needed", "GPUs", lambda f: _none_last(f.gpus_needed)),
    Column("max_ctx", "max ctx", lambda f: f.max_context, best_high=True),
    Column("max_batch", "max batch", lambda f: f.max_batch, best_high=True),
    Column("speed", "tok/s", lambda f: f.tokens_per_s or 0, best_high=True),
    Column("price", "price", lambda f: f.price_usd),
    Column("per_gib", "$/GiB", lambda f: _none_last(f.price_per_gib)),
)
COLUMN_INDEX = {c.key: i for i, c in enumerate(COLUMNS)}


class GPUScreen(VramScreen):
    TITLE_SUFFIX = "GPUs"
    BODY_SCROLLS = False
    BINDINGS = [
        Binding("f9", "sort_column", "Sort", tooltip="Sort by the column under the cursor (again: reverse)"),
        # ^F and ^G are named in the grid's hint line, the help and the palette: the key bar keeps room for F6/F7
        Binding("ctrl+f", "toggle_fits", "Fits only", show=False, tooltip="Show only GPUs the scenario fits on"),
        Binding("ctrl+g", "toggle_all", "All GPUs", show=False, tooltip="Show every GPU preset, not just the compared ones"),
        Binding("space", "toggle_compare", "Compare", show=False, tooltip="Add or remove the GPU from the comparison"),
        Binding("ctrl+y", "copy_command", "Copy cmd", tooltip="Copy the plan's launch command (works over SSH)"),
        Binding("ctrl+t", "toggle_chart", "Chart", show=False, tooltip="Memory against context: the need curve and each GPU's usable line"),
    ]

    sort_key: str = "need"
    sort_reverse: bool = False  # True: largest values first (▼)
    mark_order: dict[str, int] = {}  # sorting by the mark column freezes the order of that moment

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="gpu-filters"):
            yield Checkbox("Fits only", id="fits-only", compact=True)
            yield Checkbox("All GPUs", id="all-gpus", compact=True)
            yield Select([("any vendor", "any"), ("NVIDIA", "nvidia"), ("AMD", "amd"), ("Apple", "apple"), ("Intel", "intel")],
                         allow_blank=False, value="any", id="vendor", compact=True)
            yield Label("max $")
            yield Input(placeholder="budget for all", id="budget", compact=True,
                        tooltip="The most the GPUs the scenario needs may cost together: 2000, $2,000 or 2k")
        # the mark and the GPU's name stay in view while the other columns scroll (80 columns)
        yield DataTable(id="gpu-table", cursor_type="cell", zebra_stripes=True, fixed_columns=2)
        from textual_plotext import PlotextPlot  # imported with this screen only: start-up does not pay for it

        yield PlotextPlot(id="context-chart")
        yield Static("", id="plan-panel")
        yield Static("", id="gpu-hint", classes="hint")

    def on_mount(self) -> None:
        table = self.query_one("#gpu-table", DataTable)
        for c in COLUMNS:
            table.add_column(c.title, key=c.key)
        super().on_mount()
        table.focus()

    # data --------------------------------------------------------------------------------
    def rows_shown(self, result: Result) -> list[GPUFit]:
        """The GPUs the table lists now: the compared ones or all presets, fitting ones only on request."""
        s = result.scenario
        show_all = self.query_one("#all-gpus", Checkbox).value
        vendor = self.query_one("#vendor", Select).value
        fits_only = self.query_one("#fits-only", Checkbox).value
        budget = self._budget()
        ids = list(presets.gpus()) if show_all else list(s.hardware.gpus)
        rows = [result.by_gpu[g] for g in ids]
        rows = [f for f in rows if (vendor == "any" or f.gpu.vendor == vendor) and (not fits_only or f.fits)
                and within_budget(f.price_usd, f.gpus_needed, budget)]
        if self.sort_key == "mark":  # a later space must not move rows (or the cursor) under the user
            return sorted(rows, key=lambda f: self.mark_order.get(f.gpu.id, len(self.mark_order)))
        key = next(c.sort for c in COLUMNS if c.key == self.sort_key)
        return sorted(rows, key=key, reverse=self.sort_reverse)

    def _budget(self) -> float | None:
        """The most the GPUs the scenario needs may cost in all (2k, $2,000); a typo is said, not dropped."""
        box = self.query_one("#budget", Input)
        text = box.value.strip()
        box.set_class(False, "-invalid")
        if not text:
            return None
        try:
            return parse_money(text)
        except ValueError as exc:
            box.set_class(True, "-invalid")
            self.notify(str(exc), severity="warning", timeout=3)
            return None

    def cells(self, f: GPUFit, result: Result) -> list[Text | str]:
        unit = self.vram.unit
        s = result.scenario
        verdict = f.gpu.id == s.hardware.verdict_gpu
        compared = f.gpu.id in s.hardware.gpus
        mark = "★" if verdict else ("✓" if compared else " ")
        fits = Text("✔ yes", "green") if f.fits else Text("✘ no", "red")
        head = to_unit(f.headroom_bytes, unit)
        ctx = ("≥" if f.max_context_capped else "") + fmt_tokens(f.max_context) if f.max_context else "—"
        return [
            mark, f.gpu.id if self.app.has_class("-compact") else f.gpu.name, f"{to_unit(f.need_bytes, unit):.1f}", f"{to_unit(f.usable_bytes, unit):.1f}", fits,
            Text(f"{head:+.1f}", "green" if head >= 0 else "red"),
            str(f.gpus_needed) if f.gpus_needed else ">8", ctx, str(f.max_batch) if f.max_batch else "—",
            f"{f.tokens_per_s:.0f}" if f.tokens_per_s else "—", f"${f.price_usd:,.0f}",
            f"${f.price_per_gib:,.0f}" if f.price_per_gib else "—",
        ]

    def render_result(self, result: Result) -> None:
        table = self.query_one("#gpu-table", DataTable)
        rows = self.rows_shown(result)
        keys = [f.gpu.id for f in rows]
        current = [str(k.value) for k in table.rows]
        cursor_key = current[table.cursor_row] if current and table.cursor_row < len(current) else None
        cursor_col = table.cursor_column
        if keys == current:  # same rows, same order: update the cells in place
            for f in rows:
                for c, value in zip(COLUMNS, self.cells(f, result), strict=True):
                    table.update_cell(f.gpu.id, c.key, value)
        else:
            table.clear(columns=True)  # columns too: their widths fit the rows shown now, not the widest ever
            for c in COLUMNS:
                table.add_column(c.title, key=c.key)
            for f in rows:
                table.add_row(*self.cells(f, result), key=f.gpu.id)
            if cursor_key in keys:
                table.cursor_coordinate = Coordinate(keys.index(cursor_key), cursor_col)
        self.show_plan()
        self.show_chart()
        arrow = "▼" if self.sort_reverse else "▲"  # ▼ largest first, ▲ smallest first, on every column
        title = next(c.title for c in COLUMNS if c.key == self.sort_key) or "mark"
        self.query_one("#gpu-hint", Static).update(
            f"{len(rows)} GPUs · sorted by {title} {arrow} · ★ verdict GPU (enter) · ✓ compared (space) · "
            f"F9 sort by column · ^F fits only · ^G all GPUs · ^T chart · units {self.vram.unit}")

    def action_toggle_chart(self) -> None:
        chart = self.query_one("#context-chart")
        chart.display = not chart.display
        if chart.display:
            self.show_chart()

    def show_chart(self) -> None:
        """The scenario's need against context (log scale) and the usable line of each compared GPU."""
        from textual_plotext import PlotextPlot

        chart = self.query_one("#context-chart", PlotextPlot)
        result = self.vram.result
        if not chart.display or result is None:
            return
        unit = self.vram.unit
        curve = result.context_curve
        xs = [c for c, _ in curve]
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xscale("log")
        plt.plot(xs, [to_unit(b, unit) for _, b in curve], label="need", marker="braille")
        for g in result.scenario.hardware.gpus[:6]:
            usable = to_unit(result.by_gpu[g].usable_bytes, unit)
            plt.plot([xs[0], xs[-1]], [usable, usable], label=g, marker="dot")
        plt.title(f"{result.scenario.model.spec.name}: need per GPU against context ({unit}); lines: usable memory")
        plt.xlabel("context (tokens)")
        chart.refresh()

    def show_plan(self) -> None:
        """The plan on the GPU under the cursor: where the layers go, what stays in host RAM, the command."""
        panel = self.query_one("#plan-panel", Static)
        gpu = self._cursor_gpu()
        result = self.vram.result
        if gpu is None or result is None:
            panel.update("")
            return
        p = result.plan_on(gpu)
        if isinstance(p, str):
            panel.update(Text(f"Plan: {p}", "dim"))
            return
        unit = self.vram.unit
        text = Text()
        text.append("Plan ", "bold")
        text.append("✔ " if p.fits else "✘ ", "green" if p.fits else "red")
        text.append(p.summary)
        if p.tokens_per_s:
            text.append(f" · ~{p.tokens_per_s:.1f} tok/s")
        for d in p.devices[:2]:
            layers = f" {d.layers} layers," if d.layers is not None else ""
            text.append(f"\n  {d.gpu.id}:{layers} {to_unit(d.bytes, unit):.2f} of {to_unit(d.usable_bytes, unit):.2f} {unit}")
        if len(p.devices) > 2:
            text.append(f" (×{len(p.devices)})")
        if p.host_bytes:
            text.append(f"\n  host RAM: {to_unit(p.host_bytes, unit):.2f} {unit}")
        text.append("\n  $ ", "dim")
        text.append(p.command, "bold")
        text.append("   ^Y copies it", "dim")
        panel.update(text)

    @on(DataTable.CellHighlighted, "#gpu-table")
    def _moved(self) -> None:
        self.show_plan()

    def action_copy_command(self) -> None:
        gpu, result = self._cursor_gpu(), self.vram.result
        p = result.plan_on(gpu) if (gpu and result) else None
        if p is None or isinstance(p, str):
            self.notify("No plan to copy here", severity="warning")
            return
        self.app.copy_to_clipboard(p.command)
        self.notify(f"Copied: {p.command}", timeout=4)

    def refresh_grid(self) -> None:
        if self.vram.result is not None:
            self.render_result(self.vram.result)

    # actions -----------------------------------------------------------------------------
    def action_sort_column(self) -> None:
        table = self.query_one("#gpu-table", DataTable)
        self.sort_by(COLUMNS[table.cursor_column].key)

    def sort_by(self, key: str) -> None:
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            column = next(c for c in COLUMNS if c.key == key)
            self.sort_key, self.sort_reverse = key, column.best_high
        if key == "mark" and self.vram.result is not None:
            hw = self.vram.scenario.hardware
            rank = {g: (0 if g == hw.verdict_gpu else 1 if g in hw.gpus else 2) for g in self.vram.result.by_gpu}
            order = sorted(rank, key=lambda g: (rank[g], g), reverse=self.sort_reverse)
            self.mark_order = {g: i for i, g in enumerate(order)}
        self.refresh_grid()

    def action_toggle_fits(self) -> None:
        self.query_one("#fits-only", Checkbox).toggle()

    def action_toggle_all(self) -> None:
        self.query_one("#all-gpus", Checkbox).toggle()

    def _cursor_gpu(self) -> str | None:
        table = self.query_one("#gpu-table", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def action_toggle_compare(self) -> None:
        gpu = self._cursor_gpu()
        if gpu is None:
            return
        hw = self.vram.scenario.hardware
        if gpu in hw.gpus:
            if len(hw.gpus) == 1:
                self.notify("Keep at least one GPU in the comparison", severity="warning")
                return
            gpus = tuple(g for g in hw.gpus if g != gpu)
            selected = hw.selected if hw.selected != gpu else None
        else:
            gpus, selected = (*hw.gpus, gpu), hw.selected
        self.vram.update_scenario("hardware", gpus=gpus, selected=selected)

    def set_verdict(self, gpu: str) -> None:
        hw = self.vram.scenario.hardware
        gpus = hw.gpus if gpu in hw.gpus else (*hw.gpus, gpu)
        self.vram.update_scenario("hardware", gpus=gpus, selected=gpu)
        self.notify(f"Verdict GPU: {presets.gpu(gpu).name}", timeout=2)

    @on(DataTable.CellSelected, "#gpu-table")
    def _enter(self, event: DataTable.CellSelected) -> None:
        self.set_verdict(str(event.cell_key.row_key.value))

    @on(DataTable.HeaderSelected, "#gpu-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        self.sort_by(str(event.column_key.value))

    @on(Checkbox.Changed)
    @on(Select.Changed)
    @on(Input.Changed, "#budget")
    def _filters(self) -> None:
        self.refresh_grid()
