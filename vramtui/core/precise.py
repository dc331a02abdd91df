"""The ``precise`` method: architecture- and runtime-aware memory per component.

It composes the pure component functions of ``components.py`` over one ``Setup`` (the scenario on
one GPU, defaults resolved by the runtime); nothing here holds state between steps.
"""

from __future__ import annotations

from typing import NamedTuple

from . import components as C
from .estimate import COMPONENTS, Estimate
from .formula import Term, explain, size
from .model import ModelSpec
from .rules import warnings
from .runtimes import Part
from .setup import Setup


def draft_setup(setup: Setup, draft: ModelSpec) -> Setup:
    """The draft model on the same GPU and workload, in the format its checkpoint stores (else the model's)."""
    from .scenario import ModelChoice

    s = setup.s
    work = s.workload.model_copy(update={"weights": draft.stored_format or s.workload.weights,
                                         "context_length": setup.context, "batch_size": setup.batch})
    return Setup(s.model_copy(update={"model": ModelChoice(spec=draft), "workload": work}), setup.gpu)


def _plus(text: str, term: Term, *comments: str) -> str:
    """A shown formula with one more term added before its commentary."""
    formula, _, rest = text.partition("; ")
    return explain(f"{formula} + {term.text}", *comments, rest)


class _Assembled:
    """The components on the busiest GPU with their arithmetic, and what an Estimate reports beside them."""

    __slots__ = ("per", "why", "notes", "weights", "kv", "model_states", "saved", "trainable")

    def __init__(self, per: dict[str, int], why: dict[str, str], notes: list[str], weights: C.Weights,
                 kv: C.KVCache, model_states: int) -> None:
        self.per, self.why, self.notes, self.weights, self.kv = per, why, notes, weights, kv
        self.model_states = model_states
        self.saved = 0
        self.trainable = 0


class Fixed(NamedTuple):
    """Parts of an estimate that read neither context nor batch, for a caller that varies only those
    and makes them once (the fit solvers, per GPU key); None: made by each estimate."""

    kv: C.KVLayout | None = None  # the KV cache's layout (not its size)
    activations: Part | None = None  # inference, where the runtime's do not follow the workload (vLLM)
    overhead: Part | None = None  # inference, where it reads no other component (Runtime.fixed_overhead)
    batch: int | None = None  # the largest batch ``activations`` and ``overhead`` hold for (None: any)
    states: C.States | None = None  # training's gradients and optimizer states


_NONE_FIXED = Fixed()


def _assemble(setup: Setup, w: C.Weights, fixed: Fixed = _NONE_FIXED) -> _Assembled:
    per = dict.fromkeys(COMPONENTS, 0)
    why: dict[str, str] = {}
    notes: list[str] = []
    kv = C.kv_cache(setup, fixed.kv)
    per["weights"], per["kv_cache"] = w.bytes, kv.bytes
    why["weights"], why["kv_cache"] = w.why, kv.why
    notes += w.notes
    out = _Assembled(per, why, notes, w, kv, model_states=w.shard)
    beyond = fixed.batch is not None and setup.batch > fixed.batch  # the fixed parts do not hold there
    if setup.training:
        act = C.training_activations(setup)
        st = fixed.states if fixed.states is not None else C.training_states(setup)
        peak, peak_how, moment = C.training_peak(act, st, setup.o.optimizer_in_backward and setup.zero == 0,
                                                  setup.o.gradient_accumulation)
        per.update(peak)
        per["adapters"] = st.adapters
        why["activations"] = act.why
        why.update(peak_how)
        if "adapters" in st.how:
            why["adapters"] = st.how["adapters"]
        notes += [*st.notes, moment]
        out.model_states += st.gradients + st.states + st.adapters
        out.saved, out.trainable = act.saved, st.trainable
    else:
        act_part = None if beyond else fixed.activations
        if act_part is None:
            act_part = setup.runtime.inference_activations(setup)
        per["activations"], why["activations"] = act_part.bytes, act_part.why
        notes += act_part.notes
        draft = setup.s.model.draft_spec
        if draft is not None:  # speculative decoding: the draft's weights and its own KV cache beside the model's
            d = draft_setup(setup, draft)
            dw, dk = C.weights(d), C.kv_cache(d)
            per["weights"] += dw.bytes
            per["kv_cache"] += dk.bytes
            why["weights"] = _plus(why["weights"], size(dw.bytes, f"draft {d.weight_format.id}"), f"draft: {draft.name}")
            why["kv_cache"] = _plus(why["kv_cache"], size(dk.bytes, "the draft's cache"))
    head = None if beyond else fixed.overhead
    if head is None:
        head = setup.runtime.overhead(setup, per)
    per["overhead"], why["overhead"] = head.bytes, head.why
    return out


def precise_estimate(setup: Setup, weights: C.Weights | None = None, fixed: Fixed = _NONE_FIXED) -> Estimate:
    """``weights`` and ``fixed``: made of this setup by a caller that keeps them (the fit grid, for its
    solvers), so the estimate does not make them again."""
    a = _assemble(setup, weights if weights is not None else C.weights(setup), fixed)
    return Estimate(
        method="precise",
        parameters=setup.counts.total,
        gpus=setup.o.gpus,
        per_gpu=a.per,
        why=a.why,
        notes=tuple(a.notes),
        warnings=tuple(warnings(setup)),
        gpu=setup.gpu.id,
        kv_bytes_per_token=a.kv.per_token,
        trainable_parameters=a.trainable,
        model_states_per_gpu=a.model_states,
        saved_activations_per_gpu=a.saved,
        extra_weights_per_gpu=a.weights.extra,
    )


def precise_bytes(setup: Setup, weights: C.Weights, fixed: Fixed = _NONE_FIXED) -> int:
    """The busiest GPU's total alone, as ``precise_estimate(setup).per_gpu_bytes``, for the fit solvers,
    which ask dozens of times per grid: no Estimate and no warnings are made, and ``weights`` is the
    weights' part the caller computed once for this model, format, runtime and parallelism (context
    and batch, all the solvers vary, do not change it); likewise the ``fixed`` parts."""
    return sum(_assemble(setup, weights, fixed).per.values())
