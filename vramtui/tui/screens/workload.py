"""Workload: mode, weight and KV formats, batch, context (``8k``/``32K``/``128k``), runtime, recipe."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.widgets import Input, Static

from ...core.formats import KV_FORMATS, WEIGHT_FORMATS
from ...core.scenario import MAX_BATCH, MODES, RECIPES, RUNTIMES
from ...core.units import fmt_tokens, parse_tokens
from ..state import Result
from ..widgets.breakdown import Breakdown
from ..widgets.choice import Choice
from ..widgets.form import FieldRow, set_quietly
from .base import VramScreen

MODE_LABELS = {"inference": "Inference", "lora": "LoRA fine-tuning", "qlora": "QLoRA (4-bit base + LoRA)",
               "full": "Full fine-tuning"}
RECIPE_LABELS = {"fp32": "FP32 (4+4+8 B/param)", "amp": "AMP: fp32 params + autocast",
                 "bf16-mixed": "bf16 + fp32 master (16 B/param)", "bf16-pure": "pure bf16 (bf16 Adam states)"}


class WorkloadScreen(VramScreen):
    TITLE_SUFFIX = "Workload"

    def compose_body(self) -> ComposeResult:
        w = self.vram.scenario.workload  # fields start at the scenario's values, never at a default
        yield Static("Workload — what the model is asked to do", classes="section-title")
        yield FieldRow("Mode", Choice([(MODE_LABELS[m], m) for m in MODES], w.mode, id="mode"),
                       "Inference, LoRA, QLoRA or full fine-tuning")
        yield FieldRow("Weights", Choice([(f"{f.label}  ({f.id})", f.id) for f in WEIGHT_FORMATS.values()], w.weights, id="weights"),
                       "Weight format; bits include scales and the tensors kept at 16 bit")
        yield FieldRow("KV cache", Choice([(f"{k.label}  ({k.bytes_per_elem:g} B)", k.id) for k in KV_FORMATS.values()], w.kv_cache, id="kv_cache"),
                       "Precision of the cached keys and values")
        yield FieldRow("Batch", Input(str(w.batch_size), id="batch_size", placeholder="1"),
                       f"Sequences processed together, 1 to {MAX_BATCH:,}")
        yield FieldRow("Context", Input(fmt_tokens(w.context_length), id="context_length", placeholder="8k"),
                       "Tokens per sequence (prompt + output): 8192, 8k, 32K, 128k")
        yield FieldRow("Runtime", Choice([(r, r) for r in RUNTIMES], w.runtime, id="runtime"),
                       "Sets the overhead, activation model and KV block size")
        yield FieldRow("Recipe", Choice([(RECIPE_LABELS[r], r) for r in RECIPES], w.recipe, id="recipe"),
                       "Training precision: bytes per parameter for weights, gradients and optimizer")
        yield FieldRow("GPU mem util", Input(f"{w.gpu_memory_utilization:g}", id="gpu_memory_utilization", placeholder="0.9"),
                       "vLLM's gpu_memory_utilization: share of the card it pre-allocates (0–1]")

        yield Static("Where the memory goes", classes="section-title")
        yield Breakdown(id="breakdown")

    def render_result(self, result: Result) -> None:
        self.query_one(Breakdown).show(result, self.vram.unit)
        w = result.scenario.workload
        for name in ("mode", "weights", "kv_cache", "runtime", "recipe"):
            set_quietly(self.query_one(f"#{name}", Choice), getattr(w, name))
        self._show_number("batch_size", w.batch_size, str)
        self._show_number("context_length", w.context_length, fmt_tokens)
        self._show_number("gpu_memory_utilization", w.gpu_memory_utilization, lambda v: f"{v:g}")
        self.row("recipe").set_reason(None if w.mode == "full" else "full fine-tuning only (mode above)")
        self.row("gpu_memory_utilization").set_reason(None if w.runtime == "vllm" else "vLLM only (runtime above)")

    def _show_number(self, field_id: str, value, fmt) -> None:
        box = self.query_one(f"#{field_id}", Input)
        if box.has_focus and not self.row(field_id).has_class("-invalid"):
            try:  # leave the user's spelling alone while it means the same number
                if self._parse(field_id, box.value) == value:
                    return
            except ValueError:
                pass
        if not self.row(field_id).has_class("-invalid"):
            set_quietly(box, fmt(value))

    @staticmethod
    def _parse(field_id: str, text: str):
        if field_id == "context_length":
            return parse_tokens(text)
        if field_id == "gpu_memory_utilization":
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
