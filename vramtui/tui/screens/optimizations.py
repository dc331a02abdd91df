"""Optimizations: those that do not apply to the current mode are shown disabled, with the reason."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.widgets import Checkbox, Input, SelectionList, Static

from ...core.fields import bounds, why_off
from ...core.scenario import LORA_TARGETS, OPTIMIZERS
from ..state import Result
from ..widgets.breakdown import Breakdown
from ..widgets.choice import Choice
from ..widgets.form import FieldRow, set_quietly
from ..widgets.switch import OnOff
from .base import VramScreen

INT_FIELDS = ("lora_rank", "tensor_parallel", "pipeline_parallel", "data_parallel")
# what the core says applies (core/fields.py), in screen order
APPLIES = ("gradient_checkpointing", "activation_offloading", "optimizer", "optimizer_in_backward", "loss", "lora_rank",
           "lora_targets", "kbit_upcast", "zero_stage", "cpu_offload", "tensor_parallel", "data_parallel", "sequence_parallel",
           "legacy_bnb", "quantized_lm_head", "untied_lm_head", "gradient_accumulation", "legacy_cache")


class OptimizationsScreen(VramScreen):
    TITLE_SUFFIX = "Optimizations"

    def compose_body(self) -> ComposeResult:
        o = self.vram.scenario.optimizations  # fields start at the scenario's values, never at a default
        yield Static("Optimizations — each with its documented effect", classes="section-title")
        yield FieldRow("Flash attention", OnOff(bool(o.flash_attention), id="flash_attention"),
                       "Removes the batch·heads·seq² score matrix; does not shrink the KV cache")
        yield FieldRow("Grad checkpointing", OnOff(bool(o.gradient_checkpointing), id="gradient_checkpointing"),
                       "Keep only each layer's input; recompute one layer at a time in backward")
        yield FieldRow("Offload activations", OnOff(o.activation_offloading, id="activation_offloading"),
                       "torchtune: saved tensors wait in host RAM; about two layers' worth stay on the GPU")
        yield FieldRow("Optimizer", Choice([(o, o) for o in OPTIMIZERS], o.optimizer, id="optimizer"),
                       "Optimizer states per trainable parameter: AdamW 8 B, 8-bit 2 B, SGD 0 B …")
        yield FieldRow("Optimizer in bwd", OnOff(o.optimizer_in_backward, id="optimizer_in_backward"),
                       "torchtune: step each parameter as its gradient is made; the gradients never exist at once")
        yield FieldRow("Loss", Choice([("fp32 logits (transformers' loss)", "fp32-logits"),
                                       ("bf16 logits (own loss on bf16 output)", "bf16-logits"),
                                       ("fused / chunked (Liger, Unsloth)", "chunked")], o.loss, id="loss"),
                       "How the cross-entropy holds the logits: 12, 6 or ~0 bytes per token × vocabulary entry")
        yield FieldRow("LoRA rank", Input(str(o.lora_rank), id="lora_rank", placeholder="16"), "Adapter rank r: r·(in+out) params per matrix")
        yield FieldRow("LoRA targets", SelectionList[str](*[(t, t, t in o.lora_targets) for t in LORA_TARGETS], id="lora_targets"),
                       "Matrices that get adapters (space toggles)")
        yield FieldRow("QLoRA fp32 upcast", OnOff(bool(o.kbit_upcast), id="kbit_upcast"),
                       "prepare_model_for_kbit_training: embeddings, lm_head and norms in fp32, so the residual and logits too")
        yield FieldRow("bitsandbytes < 0.43.2", OnOff(o.legacy_bnb, id="legacy_bnb"),
                       "QLoRA: each 4-bit layer keeps its input for backward (norm outputs, MLP product)")
        yield FieldRow("4-bit lm_head", OnOff(o.quantized_lm_head, id="quantized_lm_head"),
                       "QLoRA (LitGPT): lm_head quantized too, dequantized to fp16 and bf16 copies in backward")
        yield FieldRow("Untied lm_head", OnOff(o.untied_lm_head, id="untied_lm_head"),
                       "LitGPT: lm_head its own matrix even where the checkpoint ties it to the embedding")
        yield FieldRow("Gradient accumulation", OnOff(o.gradient_accumulation, id="gradient_accumulation"),
                       "Several micro-batches per step: all gradients exist while backward runs")
        yield FieldRow("ZeRO stage", Choice([(f"ZeRO-{z}" if z else "off", z) for z in range(4)], o.zero_stage, id="zero_stage"),
                       "1: shard optimizer states, 2: + gradients, 3: + weights, over data-parallel GPUs")
        yield FieldRow("CPU offload", OnOff(o.cpu_offload, id="cpu_offload"), "ZeRO-Offload: optimizer states in host RAM")
        yield FieldRow("Tensor parallel", Input(str(o.tensor_parallel), id="tensor_parallel", placeholder="1"), "GPUs sharing each layer")
        yield FieldRow("Sequence parallel", OnOff(o.sequence_parallel, id="sequence_parallel"),
                       "Also split the norms' activations (10 B per token per layer) over the TP GPUs")
        yield FieldRow("Pipeline parallel", Input(str(o.pipeline_parallel), id="pipeline_parallel", placeholder="1"), "GPUs holding consecutive layers")
        yield FieldRow("Data parallel", Input(str(o.data_parallel), id="data_parallel", placeholder="1"), "Model replicas (ZeRO shards across them)")
        yield FieldRow("Tuple KV cache", OnOff(o.legacy_cache, id="legacy_cache"),
                       "transformers < 4.42: generate keeps the previous step's cache until the new one is made")

        yield Static("Where the memory goes", classes="section-title")
        yield Breakdown(id="breakdown")

    def render_result(self, result: Result) -> None:
        self.query_one(Breakdown).show(result, self.vram.unit)
        s = result.scenario
        o = s.optimizations
        for name in ("cpu_offload", "sequence_parallel", "optimizer_in_backward", "activation_offloading", "legacy_cache",
                     "legacy_bnb", "quantized_lm_head", "untied_lm_head",
                     "gradient_accumulation"):
            set_quietly(self.query_one(f"#{name}", Checkbox), getattr(o, name))
        for name in ("flash_attention", "gradient_checkpointing", "kbit_upcast"):  # may be left to the runtime
            value, why = result.defaults[name]
            set_quietly(self.query_one(f"#{name}", Checkbox), bool(value))
            self.row(name).set_hint(f"{'on' if value else 'off'} by default: {why}" if getattr(o, name) is None else None)
        for name in ("optimizer", "loss", "zero_stage"):
            set_quietly(self.query_one(f"#{name}", Choice), getattr(o, name))
        for name in INT_FIELDS:
            box = self.query_one(f"#{name}", Input)
            if not self.row(name).has_class("-invalid") and (not box.has_focus or self.reload_fields):
                set_quietly(box, str(getattr(o, name)))  # never under the cursor, unless a file replaced it
        self.reload_fields = False
        targets = self.query_one("#lora_targets", SelectionList)
        if tuple(targets.selected) != o.lora_targets:
            with targets.prevent(SelectionList.SelectedChanged):
                targets.deselect_all()
                for t in o.lora_targets:
                    targets.select(t)
        for name in APPLIES:
            self.row(name).set_reason(why_off(s, name))

    def _apply(self, field: str, value) -> None:
        """Apply an edit; a refused one is flagged at the field, which goes back to the scenario's value."""
        error = self.vram.update_scenario("optimizations", **{field: value})
        self.row(field).set_error(error)
        if error:
            self.call_after_refresh(self.render_result, self.vram.result)

    @on(Checkbox.Changed)
    def _switch(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id:
            self._apply(event.checkbox.id, event.value)

    @on(Choice.Changed)
    def _select(self, event: Choice.Changed) -> None:
        if event.choice.id:
            self._apply(event.choice.id, event.value)

    @on(SelectionList.SelectedChanged)
    def _targets(self, event: SelectionList.SelectedChanged) -> None:
        chosen = [t for t in LORA_TARGETS if t in event.selection_list.selected]
        if not chosen:
            self.row("lora_targets").set_error("choose at least one target matrix")
            return
        self.row("lora_targets").set_error(self.vram.update_scenario("optimizations", lora_targets=tuple(chosen)))

    @on(Input.Changed)
    def _number(self, event: Input.Changed) -> None:
        field = event.input.id
        if field not in INT_FIELDS:
            return
        lo, hi = bounds(field)
        assert lo is not None and hi is not None  # every INT_FIELDS field has ge and le in its schema
        try:
            value = int(event.value.strip())
        except ValueError:
            self.row(field).set_error(f"{event.value!r} is not a whole number; allowed {lo}–{hi}")
            return
        if not lo <= value <= hi:
            self.row(field).set_error(f"{value} is out of range; allowed {lo}–{hi}")
            return
        self.row(field).set_error(self.vram.update_scenario("optimizations", **{field: value}))
