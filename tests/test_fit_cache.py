"""The fit grid's shortcuts cannot return a stale result.

The solvers estimate on ``Setup.varied`` (the card's setup with another context or batch, the
scenario not copied), with the weights computed once per GPU key (``precise_bytes``), and cards of
one key and one usable size share one solve. Each shortcut is checked here against the plain path:
``estimate`` of the changed scenario, and a grid of one card.
"""

from __future__ import annotations

import pytest

from tests.builders import make
from vramtui.core import components as C
from vramtui.core import presets
from vramtui.core.fit import _fixed, _Grid, fit_grid, usable_for
from vramtui.core.methods import METHODS, estimate
from vramtui.core.precise import precise_bytes, precise_estimate
from vramtui.core.runtimes import runtime
from vramtui.core.setup import Setup

# every runtime, every training mode, and models that take the unusual branches: MoE, MLA, sliding
# windows, hybrid linear attention, a vision tower; layer splits and tensor parallelism
CASES = {
    "transformers": make(),
    "transformers eager": make("gemma-2-9b", flash_attention=False, batch_size=2),
    "transformers pipeline": make("qwen3-30b-a3b", pipeline_parallel=2),
    "transformers tuple cache": make(legacy_cache=True, batch_size=4),
    "vllm": make(runtime="vllm"),
    "vllm mla tp": make("deepseek-v2-lite", runtime="vllm", tensor_parallel=2),
    "sglang": make(runtime="sglang", weights="fp8"),
    "llama.cpp": make(runtime="llama.cpp", weights="q4_k_m"),
    "llama.cpp windows": make("gpt-oss-20b", runtime="llama.cpp", weights="q4_k_m", batch_size=3),
    "ollama": make(runtime="ollama", weights="q4_k_m"),
    "lora": make(mode="lora"),
    "qlora": make(mode="qlora", weights="nf4"),
    "full": make(mode="full"),
    "full eager zero-3": make(mode="full", flash_attention=False, data_parallel=4, zero_stage=3, context_length=2048),
}
HYBRID = next((m for m, spec in sorted(presets.models().items()) if spec.linear_attention_layers), None)
if HYBRID:
    CASES["hybrid"] = make(HYBRID, runtime="vllm")
DRAFT = make(runtime="vllm")
DRAFT = DRAFT.model_copy(update={"model": DRAFT.model.model_copy(
    update={"draft": "llama-3.2-1b", "draft_spec": presets.model("llama-3.2-1b")})})
CASES["draft"] = DRAFT
# more sequences than vLLM's default max_num_seqs on every card (256 / 1,024): the launch raises it
CASES["vllm above max_num_seqs"] = make(runtime="vllm", batch_size=1500, context_length=1024)
GPUS = ("rtx-3060-12gb", "rtx-4090", "a100-80gb", "h100-80gb", "h200", "mi300x", "m4-max-128gb")
# (context, batch); 300 and 1,500 sequences are above vLLM's default max_num_seqs on small / all cards,
# 9,000 above its default max_num_batched_tokens too (the launch raises both)
VALUES = ((1, 1), (255, 1), (256, 1), (257, 3), (4097, 2), (8192, 1), (131072, 1), (8192, 64), (512, 300),
          (2048, 1500), (128, 9000))


def changed(s, context: int, batch: int):
    return s.model_copy(update={"workload": s.workload.model_copy(update={"context_length": context,
                                                                           "batch_size": batch})})


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_varied_setup_estimates_as_the_changed_scenario_does(case):
    """Every byte, formula, note and warning of a varied setup equals those of a setup made from the
    changed scenario on that card: nothing in an estimate reads context or batch from the unchanged
    scenario, nor a resolved default that depends on the card."""
    s = CASES[case]
    first = Setup(s, presets.gpu(GPUS[0]))
    for gpu_id in GPUS:
        gpu = presets.gpu(gpu_id)
        base = Setup(s, gpu)
        for context, batch in VALUES:
            fresh = Setup(changed(s, context, batch), gpu)
            # on the same card, and moved from another card (the solvers resolve one setup per GPU key)
            for varied in (base.varied(context, batch), first.varied(context, batch, gpu)):
                assert (varied.gpu, varied.context, varied.batch, varied.kv_tokens) == (gpu, context, batch, fresh.kv_tokens)
                for method in METHODS:
                    assert METHODS[method](varied).to_json() == METHODS[method](fresh).to_json(), (case, gpu_id, method)


def test_a_varied_setup_has_every_slot_of_the_original():
    """``Setup.varied`` names each slot it copies: a slot added to ``Setup`` and not to it fails here."""
    base = Setup(CASES["transformers"], presets.gpu(GPUS[0]))
    for varied in (base.varied(9, 2), base.varied(9, 2, presets.gpu(GPUS[1]))):
        missing = [name for name in Setup.__slots__ if not hasattr(varied, name)]
        assert not missing
        same = [n for n in Setup.__slots__ if n not in ("gpu", "kv_block", "context", "batch", "kv_tokens")]
        assert all(getattr(varied, n) is getattr(base, n) for n in same)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_solvers_bytes_equal_a_full_estimate_and_follow_context_and_batch(case):
    """``precise_bytes`` with the weights of the unchanged scenario gives a full estimate's total for
    each context and batch; and the totals do change with them (no value is served from another)."""
    s = CASES[case]
    for gpu_id in GPUS:
        gpu = presets.gpu(gpu_id)
        base = Setup(s, gpu)
        weights = C.weights(base)
        totals = {}
        for context, batch in VALUES:
            totals[context, batch] = precise_bytes(base.varied(context, batch), weights)
            assert totals[context, batch] == estimate(changed(s, context, batch), gpu=gpu).per_gpu_bytes
        assert totals[8192, 64] > totals[8192, 1], "more sequences need more memory"
        assert totals[131072, 1] > totals[1, 1], "a longer context needs more memory"


@pytest.mark.parametrize("case", sorted(c for c, s in CASES.items()
                                         if not s.is_training and not Setup(s, presets.gpu(GPUS[0])).runtime.activations_follow_workload))
def test_activations_a_runtime_says_are_fixed_read_neither_context_nor_batch(case):
    """The solvers compute a runtime's inference activations once per GPU key where it says they do
    not follow the workload (vLLM's profile run), for the batches up to ``fixed_batch``:
    there they must read neither context nor batch."""
    s = CASES[case]
    for gpu_id in GPUS:
        base = Setup(s, presets.gpu(gpu_id))
        rt = base.runtime
        upto = rt.fixed_batch(base.gpu)
        first = rt.inference_activations(base.varied(1, 1))
        for context, batch in VALUES:
            if upto is None or batch <= upto:
                assert rt.inference_activations(base.varied(context, batch)) == first, (case, gpu_id)


@pytest.mark.parametrize("case", sorted(c for c, s in CASES.items()
                                         if not s.is_training and Setup(s, presets.gpu(GPUS[0])).runtime.fixed_overhead(
                                             Setup(s, presets.gpu(GPUS[0]))) is not None))
def test_an_overhead_a_runtime_says_is_fixed_is_every_estimates_own(case):
    """The solvers make a runtime's ``fixed_overhead`` once per GPU key (vLLM: no allocator slack, and
    CUDA graphs that follow only a batch above the default max_num_seqs): up to ``fixed_batch`` it
    must be the overhead, bytes and text, of a plain estimate at each context and batch."""
    s = CASES[case]
    for gpu_id in GPUS:
        gpu = presets.gpu(gpu_id)
        rt = runtime(s.workload.runtime)
        fixed, upto = rt.fixed_overhead(Setup(changed(s, 1, 1), gpu)), rt.fixed_batch(gpu)
        for context, batch in VALUES:
            if upto is None or batch <= upto:
                est = estimate(changed(s, context, batch), gpu=gpu)
                assert fixed == (est.per_gpu["overhead"], est.why["overhead"], ()), (case, gpu_id, context, batch)


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_estimate_made_with_its_own_fixed_parts_is_the_plain_estimate(case):
    """The grid makes each key's estimate (bytes and "how" text, for the rows) with the weights and
    fixed parts it then hands its solvers: they must give exactly the plain estimate."""
    s = CASES[case]
    for gpu_id in GPUS:
        for context, batch in ((s.workload.context_length, s.workload.batch_size), *VALUES):
            setup = Setup(changed(s, context, batch), presets.gpu(gpu_id))
            made = precise_estimate(setup, C.weights(setup), _fixed(setup))
            assert made.to_json() == precise_estimate(setup).to_json(), (case, gpu_id, context, batch)


@pytest.mark.parametrize("case", sorted(c for c, s in CASES.items() if s.workload.runtime == "vllm"))
@pytest.mark.parametrize("start", [1, 300, 1500])
def test_the_fixed_parts_made_at_any_batch_give_each_batch_its_own_estimate(case, start):
    """vLLM's launch raises max_num_seqs to a batch above the card's default, and its profile run and
    CUDA graphs follow it: the parts the solvers make once per GPU key (made on whichever batch the
    key's first need asks for) must not serve one batch's activations to another above the default."""
    s = CASES[case]
    for gpu_id in GPUS:
        gpu = presets.gpu(gpu_id)
        first = Setup(changed(s, 1024, start), gpu)
        weights, fixed = C.weights(first), _fixed(first)
        for context, batch in VALUES:
            want = estimate(changed(s, context, batch), gpu=gpu).per_gpu_bytes
            assert precise_bytes(first.varied(context, batch), weights, fixed) == want, (case, gpu_id, context, batch)


@pytest.mark.parametrize("case", sorted(c for c, s in CASES.items() if not s.is_training))
def test_the_kv_layout_reads_neither_context_nor_batch(case):
    """The solvers make the KV cache's layout once per GPU key: it must read neither context nor batch,
    and a cache sized with it equals one sized without."""
    s = CASES[case]
    for gpu_id in GPUS:
        base = Setup(s, presets.gpu(gpu_id))
        layout = C.kv_layout(base)
        for context, batch in VALUES:
            varied = base.varied(context, batch)
            assert C.kv_layout(varied) == layout, (case, gpu_id)
            assert C.kv_cache(varied, layout) == C.kv_cache(varied), (case, gpu_id)


@pytest.mark.parametrize("case", sorted(c for c, s in CASES.items() if s.is_training))
def test_training_states_read_neither_context_nor_batch(case):
    """The solvers compute training's gradients and optimizer states once per GPU key: they must read
    neither context nor batch."""
    s = CASES[case]
    for gpu_id in GPUS:
        base = Setup(s, presets.gpu(gpu_id))
        first = C.training_states(base)
        for context, batch in VALUES:
            assert C.training_states(base.varied(context, batch)) == first, (case, gpu_id)


# pre-allocating runtimes; gpt-oss's MXFP4 experts are padded per back-end, which reads the card's name
KV_CASES = {c: s for c, s in CASES.items() if runtime(s.workload.runtime).preallocates}
KV_CASES["vllm mxfp4"] = CASES["vllm mxfp4"] = make("gpt-oss-20b", runtime="vllm", weights="mxfp4")


@pytest.mark.parametrize("case", sorted(KV_CASES))
def test_a_keys_kv_capacity_rule_gives_each_card_its_own_capacity(case):
    """The grid makes a pre-allocating runtime's KV-capacity rule once per GPU key, on the key's first
    card with its estimate, and applies it to each card size: on every card of the key it must give
    what ``kv_capacity_tokens`` gives on that card with that estimate."""
    s = KV_CASES[case]
    rt = runtime(s.workload.runtime)
    firsts: dict = {}
    for gpu in presets.gpus().values():
        first = firsts.setdefault(rt.gpu_key(gpu, s), gpu)
        est = estimate(s, gpu=first)
        rule = rt.kv_capacity_rule(Setup(s, first), est.per_gpu, est.kv_bytes_per_token)
        want = rt.kv_capacity_tokens(Setup(s, gpu), est.per_gpu, est.kv_bytes_per_token)
        assert rule(gpu, usable_for(s, gpu)) == want, (case, gpu.id)


def _grid_cases():
    for case in ("transformers", "vllm", "vllm above max_num_seqs", "vllm mxfp4", "llama.cpp", "sglang", "ollama", "qlora",
                 "full"):
        for method in METHODS:
            yield case, method


@pytest.mark.parametrize(("case", "method"), list(_grid_cases()))
def test_the_grid_equals_each_card_alone_and_the_plain_estimates(case, method):
    """Over every GPU preset: each card's row in the full grid (shared per-key memos, shared solves
    per size, hints from smaller cards) equals a grid of that card alone, and its limits hold
    against plain estimates of the changed scenario on that card."""
    s = CASES[case]
    ids = tuple(presets.gpus())
    grid = fit_grid(s, method, gpu_ids=ids)
    assert [f.gpu.id for f in grid] == list(ids)
    cap = s.model.spec.max_position_embeddings
    for f in grid:
        alone = fit_grid(s, method, gpu_ids=(f.gpu.id,))[0]
        assert f.to_json() == alone.to_json(), (case, method, f.gpu.id)
        limit = usable_for(s, f.gpu)

        def need(context=s.workload.context_length, batch=s.workload.batch_size, gpu=f.gpu):
            return estimate(changed(s, context, batch), method, gpu).per_gpu_bytes

        if f.max_context:
            assert need(context=f.max_context) <= limit
            assert f.max_context >= cap or need(context=f.max_context + 1) > limit
        else:
            assert need(context=1) > limit
        if f.max_batch:
            assert need(batch=f.max_batch) <= limit
            assert f.max_batch == 65536 or need(batch=f.max_batch + 1) > limit
        else:
            assert need(batch=1) > limit


@pytest.mark.parametrize(("case", "method"), list(_grid_cases()))
def test_every_need_the_grid_memoised_equals_a_plain_estimate(case, method):
    """Each value in a 55-GPU grid's memos (the solvers' needs per context or batch, seeded with the
    key's own estimate; the needs on n GPUs) equals a plain estimate of the changed scenario on the
    key's first card: a memo keyed on too little would hold one that does not."""
    s = CASES[case]
    gpus = list(presets.gpus().values())
    grid = _Grid(s, method, gpus[0], None)
    grid.rows(gpus)
    spread = runtime(s.workload.runtime).multi_gpu_field(s)
    w = s.workload
    for memo in grid.keys.values():
        card = presets.gpu(memo.estimate.gpu)
        assert memo.estimate.to_json() == estimate(s, method, card).to_json()
        for (_, field, value), need in memo.needs.items():
            context, batch = (value, w.batch_size) if field == "context_length" else (w.context_length, value)
            assert need == estimate(changed(s, context, batch), method, card).per_gpu_bytes, (field, value)
        for n, need in memo.spreads.items():
            on_n = s.model_copy(update={"optimizations": s.optimizations.model_copy(update={spread: n})})
            assert need == estimate(on_n, method, card).per_gpu_bytes, n


SPREAD = {  # scenarios that need 1, 2, 4 or 8 GPUs across the presets
    "transformers 70b": make("llama-3.1-70b"), "vllm 70b": make("llama-3.1-70b", runtime="vllm"),
    "llama.cpp 70b": make("llama-3.1-70b", runtime="llama.cpp", weights="q4_k_m"),
    "lora 70b": make("llama-3.1-70b", mode="lora"), "full": make(mode="full"),
}


@pytest.mark.parametrize("case", sorted(SPREAD))
@pytest.mark.parametrize("method", list(METHODS))
def test_the_gpu_count_is_the_fewest_whose_plain_estimate_fits(case, method):
    """The solvers' need on n GPUs (bytes alone, weights computed for n) gives the GPU count plain
    estimates of the scenario spread over n GPUs give."""
    s = SPREAD[case]
    spread = runtime(s.workload.runtime).multi_gpu_field(s)
    for f in fit_grid(s, method, gpu_ids=GPUS):
        on = [n for n in (1, 2, 4, 8) if estimate(s.model_copy(update={"optimizations": s.optimizations.model_copy(
            update={spread: n})}), method, f.gpu).per_gpu_bytes <= usable_for(s, f.gpu)]
        assert f.gpus_needed == (on[0] if on else None), (case, method, f.gpu.id)


def test_cards_of_one_size_share_a_solve_only_when_their_runtime_behaves_the_same():
    """vLLM's batch defaults differ on an A100 of the same size as another card: the two must not
    share a solve (the GPU key tells them apart), and each matches its own one-card grid."""
    s = CASES["vllm"]
    a100, h100 = presets.gpu("a100-80gb"), presets.gpu("h100-80gb")
    # vLLM's budget is a share of torch's total (runtimes/vllm.py CUDA_TOTAL_MIB; a card no log covers is
    # short of its nvidia-smi total by DRIVER_RESERVED_MIB): the twin's is the A100's
    from vramtui.core.runtimes.vllm import CUDA_TOTAL_MIB, DRIVER_RESERVED_MIB

    twin = h100.model_copy(update={"id": "h100-twin", "memory_mib": CUDA_TOTAL_MIB[a100.id] + DRIVER_RESERVED_MIB,
                                   "usable_mib": None})
    grid = {f.gpu.id: f for f in fit_grid(s, gpus=[a100, twin])}
    assert usable_for(s, a100) == usable_for(s, twin)
    for gpu in (a100, twin):
        assert grid[gpu.id].to_json() == fit_grid(s, gpus=[gpu])[0].to_json()
    assert grid[a100.id].estimate.per_gpu != grid[twin.id].estimate.per_gpu


def test_sglang_cards_of_one_memory_but_another_usable_size_get_their_own_estimate():
    s = CASES["sglang"]
    grid = {f.gpu.id: f for f in fit_grid(s, gpu_ids=("m3-max-128gb", "mi250x"))}
    assert grid["mi250x"].need_bytes == fit_grid(s, gpu_ids=("mi250x",))[0].need_bytes
