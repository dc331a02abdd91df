"""The GPU grid: for each GPU, does the scenario fit, with how much room, on how many cards,
up to which context and batch, how fast it decodes and what a usable GiB costs.

Each GPU is evaluated with its runtime's defaults for that card. Most runtimes behave the same on
every card, so the solvers share one memo of estimates per "GPU key" (what about a card changes the
runtime's behaviour, ``Runtime.gpu_key``): only the limit differs from card to card.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from . import constants as K
from .estimate import Estimate
from .formula import silent
from .gpuspec import GPUSpec
from .methods import estimate
from .presets import gpu as gpu_preset
from .runtimes import runtime
from .scenario import MAX_BATCH, MAX_CONTEXT, Scenario
from .setup import Setup
from .units import GiB

TP_STEPS = (1, 2, 4, 8)


@dataclass(frozen=True)
class GPUFit:
    gpu: GPUSpec
    need_bytes: int  # the busiest GPU's need
    usable_bytes: int  # what the scenario may use on this card (vLLM: × gpu_memory_utilization)
    fits: bool
    headroom_bytes: int  # usable − need (negative: short by that much)
    gpus_needed: int | None  # 1, 2, 4 or 8 with tensor parallelism; None: more than 8
    max_context: int  # largest context that fits at this batch (0: none)
    max_context_capped: bool  # the model's own window was reached before memory ran out
    max_batch: int  # largest batch that fits at this context (0: none)
    tokens_per_s: float | None  # decode, per sequence, memory-bandwidth bound
    price_usd: float
    price_per_gib: float | None
    estimate: Estimate | None = None  # the estimate on this card (its runtime defaults applied)
    kv_capacity_tokens: int | None = None  # KV cache a pre-allocating server (vLLM, SGLang) reserves here
    kv_capacity_sequences: int | None = None  # concurrent sequences of this context that fit in it

    @property
    def headroom_pct(self) -> float:
        return 100.0 * self.headroom_bytes / self.usable_bytes if self.usable_bytes else 0.0

    def to_json(self) -> dict:
        return {
            "gpu": self.gpu.id,
            "name": self.gpu.name,
            "need_bytes": self.need_bytes,
            "usable_bytes": self.usable_bytes,
            "fits": self.fits,
            "headroom_bytes": self.headroom_bytes,
            "gpus_needed": self.gpus_needed,
            "max_context": self.max_context,
            "max_context_capped": self.max_context_capped,
            "max_batch": self.max_batch,
            "decode_tokens_per_s": None if self.tokens_per_s is None else round(self.tokens_per_s, 1),
            "price_usd": self.price_usd,
            "price_per_usable_gib": None if self.price_per_gib is None else round(self.price_per_gib, 2),
            "kv_capacity_tokens": self.kv_capacity_tokens,
            "kv_capacity_sequences": self.kv_capacity_sequences,
        }


class _Needs:
    """Memoised per-GPU need of the scenario on one card as one field varies; shared by every card
    with the same GPU key (``memo``)."""

    def __init__(self, scenario: Scenario, method: str, gpu: GPUSpec, memo: dict[tuple, int], kv_block: int) -> None:
        self.s = scenario
        self.method = method
        self.gpu = gpu
        self._memo = memo
        self.kv_block = kv_block  # the KV cache is flat inside a block (llama.cpp's padding, vLLM's pages)

    def need(self, section: str, field: str, value: int) -> int:
        key = (section, field, value)
        if key not in self._memo:
            part = getattr(self.s, section).model_copy(update={field: value})
            changed = self.s.model_copy(update={section: part})
            with silent():  # only the bytes: no "how" text is built
                self._memo[key] = estimate(changed, self.method, self.gpu).per_gpu_bytes
        return self._memo[key]

    def largest(self, section: str, field: str, limit: int, hi: int, lo_hint: int = 1, step: int = 1) -> int:
        """Largest value in [1, hi] whose need fits ``limit`` (0 if even 1 does not).

        Memory grows about linearly with context and batch (quadratically with eager attention), so
        the search interpolates (Illinois regula falsi) instead of bisecting: typically 3-6 estimates
        per GPU instead of ~17.
        ``lo_hint`` is a value already known to fit (the answer for a smaller card). With ``step`` > 1
        the KV cache only grows at multiples of ``step`` (paged blocks, llama.cpp's padding), so the
        search first runs over whole blocks; other terms can still grow inside a block (llama.cpp's
        compute buffer until the batch reaches n_ubatch), so the last block is searched token by token.
        """
        if step > 1:
            blocks = self._largest(section, field, limit, hi // step, max(1, lo_hint // step), step) if hi >= step else 0
            lo, top = blocks * step, min(hi, blocks * step + step - 1)  # lo fits (or is 0); the answer is in [lo, top]
            if lo == top or self.need(section, field, lo + 1) > limit:
                return lo
            if self.need(section, field, top) <= limit:
                return top
            lo += 1
            while top - lo > 1:  # need(lo) <= limit < need(top); at most log2(step) estimates
                mid = (lo + top) // 2
                if self.need(section, field, mid) <= limit:
                    lo = mid
                else:
                    top = mid
            return lo
        return self._largest(section, field, limit, hi, lo_hint, 1)

    def _largest(self, section: str, field: str, limit: int, hi: int, lo_hint: int, scale: int) -> int:
        need = lambda v: self.need(section, field, v * scale)  # noqa: E731
        lo = max(1, min(lo_hint, hi))
        if need(lo) > limit:
            if lo == 1:
                return 0
            lo = 1
            if need(1) > limit:
                return 0
        if need(hi) <= limit:
            return hi
        top = hi  # invariant: need(lo) <= limit < need(top)
        f_lo: float
        f_top: float
        f_lo, f_top = need(lo) - limit, need(top) - limit  # f_lo <= 0 < f_top
        side = 0
        while top - lo > 1:
            # Illinois regula falsi: interpolate; when one end stays put twice, halve its weight so
            # convex needs (eager attention's seq² term) do not stall the bracket on one side
            guess = lo + int(-f_lo * (top - lo) / max(1e-9, f_top - f_lo))
            guess = min(max(guess, lo + 1), top - 1)
            f_guess = need(guess) - limit
            if f_guess <= 0:
                lo, f_lo = guess, f_guess
                if side == -1:
                    f_top /= 2
                side = -1
            else:
                top, f_top = guess, f_guess
                if side == 1:
                    f_lo /= 2
                side = 1
        return lo


def usable_for(scenario: Scenario, gpu: GPUSpec) -> int:
    return runtime(scenario.workload.runtime).usable_bytes(scenario, gpu)


def decode_tokens_per_s(scenario: Scenario, est: Estimate, gpu: GPUSpec) -> float | None:
    """Bandwidth × efficiency ÷ bytes read per decoded token (weights touched + the KV cache)."""
    if scenario.workload.mode != "inference":
        return None
    spec = scenario.model.spec
    active_share = spec.active_parameters / max(1, spec.total_parameters)
    per_gpu = est.per_gpu
    read = per_gpu["weights"] * active_share + per_gpu["kv_cache"]
    stages = scenario.optimizations.pipeline_parallel
    seconds = stages * read / (gpu.bandwidth_gbs * 1e9 * K.DECODE_BANDWIDTH_EFFICIENCY)
    return 1.0 / seconds if seconds > 0 else None


def fit_gpu(scenario: Scenario, gpu: GPUSpec, est: Estimate, needs: _Needs, more_gpus: Callable[[int], int],
            hints: tuple[int, int] = (1, 1)) -> GPUFit:
    rt = runtime(scenario.workload.runtime)
    usable = usable_for(scenario, gpu)
    need = est.per_gpu_bytes
    fits = need <= usable
    needed = next((n for n in TP_STEPS if more_gpus(n) <= usable), None)
    ctx_cap = max(scenario.model.spec.max_position_embeddings, 1)
    max_ctx = needs.largest("workload", "context_length", usable, min(MAX_CONTEXT, ctx_cap), hints[0],
                            step=1 if scenario.is_training else needs.kv_block)
    max_batch = needs.largest("workload", "batch_size", usable, MAX_BATCH, hints[1])
    kv_tokens = rt.kv_capacity_tokens(Setup(scenario, gpu), est.per_gpu, est.kv_bytes_per_token) if rt.preallocates else None
    seqs = None if kv_tokens is None else kv_tokens // scenario.workload.context_length
    usable_gib = gpu.usable_bytes / GiB
    return GPUFit(
        gpu=gpu,
        need_bytes=need,
        usable_bytes=usable,
        fits=fits,
        headroom_bytes=usable - need,
        gpus_needed=needed,
        max_context=max_ctx,
        max_context_capped=max_ctx >= ctx_cap,
        max_batch=max_batch,
        tokens_per_s=decode_tokens_per_s(scenario, est, gpu) if needed else None,
        price_usd=gpu.price_usd,
        price_per_gib=gpu.price_usd / usable_gib if gpu.price_usd else None,
        estimate=est,
        kv_capacity_tokens=kv_tokens,
        kv_capacity_sequences=seqs,
    )


def fit_grid(scenario: Scenario, method: str = "precise", gpu_ids: tuple[str, ...] | None = None,
             est: Estimate | None = None, gpus: Sequence[GPUSpec] | None = None) -> list[GPUFit]:
    """Fit the scenario on each GPU: the scenario's, the presets ``gpu_ids``, or the cards ``gpus`` (a
    machine's own, a synthetic grid); ``est`` is the scenario's estimate on its verdict GPU, if the caller has it."""
    rt = runtime(scenario.workload.runtime)
    spread = rt.multi_gpu_field(scenario)  # tensor_parallel, or pipeline_parallel for layer splits
    if gpus is None:
        gpus = [gpu_preset(g) for g in (gpu_ids if gpu_ids is not None else scenario.hardware.gpus)]
    memos: dict[Hashable, dict[tuple, int]] = {}
    kv_block = Setup(scenario, gpus[0]).kv_block if gpus else 1  # the runtime's, whatever the card
    estimates: dict[Hashable, Estimate] = {}
    spreads: dict[Hashable, dict[int, int]] = {}
    if est is not None and est.method == method:
        estimates[rt.gpu_key(gpu_preset(est.gpu or scenario.hardware.verdict_gpu))] = est

    def for_key(gpu: GPUSpec) -> tuple[Estimate, dict[tuple, int], dict[int, int]]:
        key = rt.gpu_key(gpu)
        if key not in estimates:
            estimates[key] = estimate(scenario, method, gpu)
        e = estimates[key]
        spread_memo = spreads.setdefault(key, {getattr(scenario.optimizations, spread): e.per_gpu_bytes})
        return e, memos.setdefault(key, {}), spread_memo

    # smallest card first: each answer is a lower bound for the next, larger card
    fits: dict[str, GPUFit] = {}
    hints = (1, 1)
    for gpu in sorted(gpus, key=lambda g: usable_for(scenario, g)):
        e, memo, spread_memo = for_key(gpu)

        def more_gpus(n: int, gpu: GPUSpec = gpu, spread_memo: dict[int, int] = spread_memo) -> int:
            if n not in spread_memo:
                o = scenario.optimizations.model_copy(update={spread: n})
                with silent():
                    spread_memo[n] = estimate(scenario.model_copy(update={"optimizations": o}), method, gpu).per_gpu_bytes
            return spread_memo[n]

        f = fit_gpu(scenario, gpu, e, _Needs(scenario, method, gpu, memo, kv_block), more_gpus, hints)
        fits[gpu.id] = f
        hints = (max(1, f.max_context), max(1, f.max_batch))
    return [fits[g.id] for g in gpus]
