"""The ``precise`` method: architecture- and runtime-aware memory per component.

It composes the pure component functions of ``components.py`` over one ``Setup`` (the scenario on
one GPU, defaults resolved by the runtime); nothing here holds state between steps.
"""

from __future__ import annotations

from . import components as C
from .estimate import COMPONENTS, Estimate
from .formula import Term, explain, size
from .model import ModelSpec
from .rules import warnings
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


def precise_estimate(setup: Setup, weights: C.Weights | None = None) -> Estimate:
    """The estimate of the setup; ``weights`` is the weights' part when the caller already has it for
    this model, format, runtime and parallelism (the fit solvers: it does not read context or batch)."""
    per = dict.fromkeys(COMPONENTS, 0)
    why: dict[str, str] = {}
    notes: list[str] = []
    w = weights if weights is not None else C.weights(setup)
    kv = C.kv_cache(setup)
    per["weights"], per["kv_cache"] = w.bytes, kv.bytes
    why["weights"], why["kv_cache"] = w.why, kv.why
    notes += w.notes
    model_states, saved, trainable = w.shard, 0, 0
    if setup.training:
        act = C.training_activations(setup)
        st = C.training_states(setup)
        peak, peak_how, moment = C.training_peak(act, st, setup.o.optimizer_in_backward and setup.zero == 0)
        per.update(peak)
        per["adapters"] = st.adapters
        why["activations"] = act.why
        why.update(peak_how)
        if "adapters" in st.how:
            why["adapters"] = st.how["adapters"]
        notes += [*st.notes, moment]
        model_states += st.gradients + st.states + st.adapters
        saved, trainable = act.saved, st.trainable
    else:
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
    head = setup.runtime.overhead(setup, per)
    per["overhead"], why["overhead"] = head.bytes, head.why
    return Estimate(
        method="precise",
        parameters=setup.counts.total,
        gpus=setup.o.gpus,
        per_gpu=per,
        why=why,
        notes=tuple(notes),
        warnings=tuple(warnings(setup)),
        gpu=setup.gpu.id,
        kv_bytes_per_token=kv.per_token,
        trainable_parameters=trainable,
        model_states_per_gpu=model_states,
        saved_activations_per_gpu=saved,
        extra_weights_per_gpu=w.extra,
    )
