"""GPUs: the side-by-side fit grid. Sort by any column (F9 on the column under the cursor), filter
(fits only, vendor, budget, compared only), pick compared GPUs (space) and the verdict GPU (enter).
Updated in place on every change, keeping the cursor on the same GPU."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.coordinate import Coordinate
from textual.widgets import Checkbox, DataTable, Input, Label, Select, Static

from ...core import presets
from ...core.fit import GPUFit
from ...core.runtimes import runtime
from ...core.units import fmt_tokens, parse_money, to_unit, within_budget
from ..state import Result
from .base import VramScreen


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    sort: Callable[[GPUFit], Any]  # the column's own values, ascending; None sorts last
    best_high: bool = False  # the first sort shows the largest first (headroom, max ctx, tok/s)


def _cell_len(cell: Text | str) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(cell)


def _none_last(value):
    return (value is None, value)


# the columns a choice rests on first (fits, headroom, how many, price, speed), so that at 80 columns
# they are on screen beside the name; need and usable (their difference is the headroom) after them
COLUMNS: tuple[Column, ...] = (
    Column("mark", "", lambda f: 0),  # the marks as they were when sorted (GPUScreen.mark_order)
    Column("gpu", "GPU", lambda f: f.gpu.name),
    Column("fits", "fits", lambda f: f.fits, best_high=True),
    Column("headroom", "headroom", lambda f: f.headroom_bytes, best_high=True),
    Column("needed", "GPUs", lambda f: _none_last(f.gpus_needed)),
    Column("price", "price", lambda f: f.price_usd),
    Column("speed", "tok/s", lambda f: f.tokens_per_s or 0, best_high=True),
    Column("max_ctx", "max ctx", lambda f: f.max_context, best_high=True),
    Column("max_batch", "max batch", lambda f: f.max_batch, best_high=True),
    Column("need", "need", lambda f: f.need_bytes),
    Column("usable", "usable", lambda f: f.usable_bytes, best_high=True),
    Column("per_gib", "$/GiB", lambda f: _none_last(f.price_per_gib)),
)
COLUMN_INDEX = {c.key: i for i, c in enumerate(COLUMNS)}
NAME_MIN_WIDTH = 14  # "RTX 4090 24GB" and most ids whole, even at 80 columns
KEY_COLUMNS = ("mark", "fits", "headroom", "needed", "price")  # always on screen beside the name


class GPUScreen(VramScreen):
    TITLE_SUFFIX = "GPUs"
    CSS_PATH = "gpus.tcss"  # loaded when the screen is first shown
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
    name_width: int = 0  # the GPU column's width when the rows were last laid out

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
        values: dict[str, Text | str] = {
            "mark": mark, "gpu": f.gpu.id if self.app.has_class("-compact") else f.gpu.name,
            "fits": fits, "headroom": Text(f"{head:+.1f}", "green" if head >= 0 else "red"),
            "needed": str(f.gpus_needed) if f.gpus_needed else ">8", "price": f"${f.price_usd:,.0f}",
            "speed": f"{f.tokens_per_s:.0f}" if f.tokens_per_s else "—", "max_ctx": ctx,
            "max_batch": str(f.max_batch) if f.max_batch else "—", "need": f"{to_unit(f.need_bytes, unit):.1f}",
            "usable": f"{to_unit(f.usable_bytes, unit):.1f}",
            "per_gib": f"${f.price_per_gib:,.0f}" if f.price_per_gib else "—",
        }
        return [values[c.key] for c in COLUMNS]

    def _name_width(self, rows: list[list[Text | str]]) -> int:
        """The GPU column's width: the longest name if every column still fits beside it, else what the
        others leave (long names end in "…"); where not every column can fit anyway (80 columns), what
        the columns a choice rests on leave, so the name is whole and the rest scroll."""
        table = self.query_one("#gpu-table", DataTable)
        pad = 2 * table.cell_padding
        widths = {c.key: max([len(c.title)] + [_cell_len(r[i]) for r in rows]) + pad for i, c in enumerate(COLUMNS)}
        longest = widths.pop("gpu") - pad
        avail = table.size.width - table.styles.scrollbar_size_vertical  # rows past the height bring a scrollbar
        room = avail - sum(widths.values()) - pad
        if room >= min(longest, NAME_MIN_WIDTH):
            return min(longest, room)
        room = avail - sum(widths[k] for k in KEY_COLUMNS) - pad
        return max(NAME_MIN_WIDTH, min(longest, room))

    def render_result(self, result: Result) -> None:
        table = self.query_one("#gpu-table", DataTable)
        rows = self.rows_shown(result)
        keys = [f.gpu.id for f in rows]
        cells = [self.cells(f, result) for f in rows]
        width = self._name_width(cells)
        for row in cells:  # a name longer than the column ends in "…"; the plan panel names the GPU in full
            name = str(row[COLUMN_INDEX["gpu"]])
            if len(name) > width:
                row[COLUMN_INDEX["gpu"]] = name[: width - 1] + "…"
        current = [str(k.value) for k in table.rows]
        cursor_key = current[table.cursor_row] if current and table.cursor_row < len(current) else None
        cursor_col = table.cursor_column
        if keys == current and width == self.name_width:  # same rows, same order: update the cells in place
            for f, row in zip(rows, cells, strict=True):
                for c, value in zip(COLUMNS, row, strict=True):
                    table.update_cell(f.gpu.id, c.key, value)
        else:
            table.clear(columns=True)  # columns too: their widths fit the rows shown now, not the widest ever
            for c in COLUMNS:
                table.add_column(c.title, key=c.key, width=width if c.key == "gpu" else None)
            for f, row in zip(rows, cells, strict=True):
                table.add_row(*row, key=f.gpu.id)
            if cursor_key in keys:
                table.cursor_coordinate = Coordinate(keys.index(cursor_key), cursor_col)
        self.name_width = width
        self.show_plan()
        self.show_chart()
        arrow = "▼" if self.sort_reverse else "▲"  # ▼ largest first, ▲ smallest first, on every column
        title = next(c.title for c in COLUMNS if c.key == self.sort_key) or "mark"
        self.query_one("#gpu-hint", Static).update(
            f"{len(rows)} GPUs · sorted by {title} {arrow} · ★ verdict GPU (enter) · ✓ compared (space) · "
            f"F1 columns · F9 sort · ^F fits only · ^G all GPUs · ^T chart · units {self.vram.unit}")

    def help_legend(self) -> str:
        """The columns, in the scenario's own terms: what "need" assumes and which GPU count each figure uses."""
        s = self.vram.scenario
        o, w = s.optimizations, s.workload
        n = o.gpus
        layout = f"{n} GPU{'s' if n > 1 else ''} of that card (TP {o.tensor_parallel} × PP {o.pipeline_parallel} × DP {o.data_parallel})"
        unit = self.vram.unit
        lines = [
            "[b]The grid's columns[/b]",
            f"[b]fits[/b]      need ≤ usable on {layout}",
            f"[b]headroom[/b]  usable − need per GPU, in {unit}; negative: short by that much",
            "[b]GPUs[/b]      the fewest cards of that kind (1, 2, 4 or 8) that hold it, split as the runtime splits "
            "(tensor parallel, or layers for llama.cpp/ollama); >8: more than eight",
            "[b]price[/b]     one card's price in USD; the budget box counts price × GPUs",
            f"[b]tok/s[/b]     decode speed of one sequence on {layout}: memory bandwidth × efficiency ÷ the "
            "bytes each token reads (active weights + KV cache); — where it does not fit on any count",
            f"[b]max ctx[/b]   the longest context that fits at batch {w.batch_size} on {layout}; ≥: the model's "
            "own window was reached first",
            f"[b]max batch[/b] the most sequences of {w.context_length:,} tokens that fit on {layout}",
            f"[b]need[/b]      memory per GPU for this scenario ({s.model.spec.name}, {w.mode}, {w.runtime}) on "
            f"{layout}, with {runtime(w.runtime).label}'s defaults for that card, overhead included: what nvidia-smi shows",
            "[b]usable[/b]    what the scenario may take on that card: its memory less the driver's reserve"
            + (" × the memory share the server pre-allocates" if runtime(w.runtime).preallocates else ""),
            "[b]$/GiB[/b]     price per usable GiB",
            "[b]★[/b] the verdict GPU (enter)  [b]✓[/b] compared (space)",
        ]
        return "\n".join(lines)

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

    def on_resize(self) -> None:
        self.refresh_grid()  # the name column takes what the other columns leave at the new width

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
