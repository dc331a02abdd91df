"""Workload: mode, weight and KV formats, batch, context (``8k``/``32K``/``128k``), runtime, recipe."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from ...core.fields import why_off
from ...core.formats import KV_FORMATS, WEIGHT_FORMATS
from ...core.recipes import RECIPES as RECIPE_TABLE
from ...core.runtimes import RUNTIMES
from ...core.scenario import MAX_BATCH, MODES, RECIPES
from ...core.units import fmt_tokens, parse_tokens
from ..state import Result
from ..widgets.breakdown import Breakdown
from ..widgets.choice import Choice
from ..widgets.form import FieldRow, set_quietly
from .base import VramScreen

MODE_LABELS = {"inference": "Inference", "lora": "LoRA fine-tuning", "qlora": "QLoRA (4-bit base + LoRA)",
               "full": "Full fine-tuning"}


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


class WorkloadScreen(VramScreen):
    """The first screen. Its summary and breakdown are the first frame; the form's 33 widgets are
    mounted after that frame is on screen (docs/performance.md: they were two thirds of its cost)."""

    TITLE_SUFFIX = "Workload"
    AUTO_FOCUS = None  # nothing to focus in the first frame: the form's first field takes it once mounted

    _form_ready = False

    def compose_body(self) -> ComposeResult:
        yield Static("Workload — what the model is asked to do", classes="section-title")
        yield Vertical(id="workload-form")  # a line per field is reserved (app.tcss): only notes move what follows
        yield Static("Where the memory goes", classes="section-title")
        yield Breakdown(id="breakdown")

    def on_mount(self) -> None:
        super().on_mount()
        if self.vram.first_frame_shown:  # not the first screen of this run: nothing to wait for
            self.call_later(self.after_first_frame)

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self.vram.first_frame_shown and not self._form_ready:  # left (a key typed ahead) before Ready
            self.call_later(self.after_first_frame)

    async def after_first_frame(self) -> None:
        if self._form_ready:
            return
        await self.query_one("#workload-form").mount_all(self._fields())
        self._form_ready = True
        if self.vram.result is not None:
            self.render_result(self.vram.result)
        if self.focused is None and self.is_current:
            self.query_one("#mode").focus()

    def _fields(self) -> list[FieldRow]:
        w = self.vram.scenario.workload  # fields start at the scenario's values, never at a default
        return [FieldRow("Mode", Choice([(MODE_LABELS[m], m) for m in MODES], w.mode, id="mode"),
                         "Inference, LoRA, QLoRA or full fine-tuning"),
                FieldRow("Weights", Choice([(f"{f.label}  ({f.id})", f.id) for f in WEIGHT_FORMATS.values()], w.weights, id="weights"),
                         "Weight format; bits include scales and the tensors kept at 16 bit"),
                FieldRow("KV cache", Choice([(f"{k.label}  ({k.bytes_per_elem:g} B)", k.id) for k in KV_FORMATS.values()], w.kv_cache, id="kv_cache"),
                         "Precision of the cached keys and values"),
                FieldRow("Batch", Input(str(w.batch_size), id="batch_size", placeholder="1"),
                         f"Sequences processed together, 1 to {MAX_BATCH:,}"),
                FieldRow("Context", Input(fmt_tokens(w.context_length), id="context_length", placeholder="8k"),
                         "Tokens per sequence (prompt + output): 8192, 8k, 32K, 128k"),
                FieldRow("Runtime", Choice([(rt.label, rt.id) for rt in RUNTIMES.values()], w.runtime, id="runtime"),
                         "What runs it: its rules, defaults, overhead and how it lays memory out on the GPUs"),
                FieldRow("Recipe", Choice([(RECIPE_TABLE[r].label, r) for r in RECIPES], w.recipe, id="recipe"),
                         "Training precision: bytes per parameter for weights, gradients and optimizer"),
                FieldRow("GPU mem share", Input(_share(w.gpu_memory_utilization), id="gpu_memory_utilization", placeholder="default"),
                         "vLLM's gpu_memory_utilization / SGLang's mem_fraction_static: the share of the card it "
                         "pre-allocates (0–1]; empty: the runtime's default for the GPU")]

    def render_result(self, result: Result) -> None:
        self.query_one(Breakdown).show(result, self.vram.unit)
        if not self._form_ready:
            return  # the form shows the scenario it was made from, and this result once it is mounted
        w = result.scenario.workload
        for name in ("mode", "weights", "kv_cache", "runtime", "recipe"):
            set_quietly(self.query_one(f"#{name}", Choice), getattr(w, name))
        self._show_number("batch_size", w.batch_size, str)
        self._show_number("context_length", w.context_length, fmt_tokens)
        self._show_number("gpu_memory_utilization", w.gpu_memory_utilization, _share)
        for name in ("recipe", "gpu_memory_utilization"):
            self.row(name).set_reason(why_off(result.scenario, name))
        self.reload_fields = False
        share = result.defaults.get("gpu_memory_utilization")
        self.row("gpu_memory_utilization").set_hint(
            f"{share[0]:g}: {share[1]}" if share and w.gpu_memory_utilization is None else None)

    def _show_number(self, field_id: str, value, fmt) -> None:
        box = self.query_one(f"#{field_id}", Input)
        # a focused field is the user's: never rewritten under the cursor (a result computed from an
        # earlier keystroke would overwrite what was typed since); it shows the value once left
        if (box.has_focus and not self.reload_fields) or self.row(field_id).has_class("-invalid"):
            return
        set_quietly(box, fmt(value))

    @staticmethod
    def _parse(field_id: str, text: str):
        if field_id == "context_length":
            return parse_tokens(text)
        if field_id == "gpu_memory_utilization":
            if not text.strip():
                return None  # the runtime's default
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"{text!r} is not a number; use a share such as 0.9") from None
        try:
            return int(text.replace(",", "").replace("_", ""))
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None

    @on(Choice.Changed)
    def _select_changed(self, event: Choice.Changed) -> None:
        field = event.choice.id
        if field is None:
            return
        changes = {field: event.value}
        if field == "mode" and event.value == "qlora" and not WEIGHT_FORMATS[self.vram.scenario.workload.weights].is_4bit:
            changes["weights"] = "nf4-dq"  # QLoRA quantises the base to NF4 with double quantisation
            self.notify("QLoRA: weights set to NF4 + double quant", timeout=3)
        error = self.vram.update_scenario("workload", **changes)
        self.row(field).set_error(error)
        if error:
            self.call_after_refresh(self.render_result, self.vram.result)

    @on(Input.Blurred)
    def _left(self) -> None:
        """Leaving a field shows the scenario's value in its usual spelling (8192 -> 8K)."""
        if self.vram.result is not None:
            self.call_after_refresh(self.render_result, self.vram.result)

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        field = event.input.id
        if field is None:
            return
        try:
            value = self._parse(field, event.value)
        except ValueError as exc:
            self.row(field).set_error(str(exc))
            return
        self.row(field).set_error(self.vram.update_scenario("workload", **{field: value}))
