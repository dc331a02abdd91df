"""The GPU grid: for each GPU, does the scenario fit, with how much room, on how many cards,
up to which context and batch, how fast it decodes and what a usable GiB costs.

Each GPU is evaluated with its runtime's defaults for that card. Most runtimes behave the same on
every card, so the solvers share one memo of estimates per "GPU key" (what about a card changes the
runtime's behaviour, ``Runtime.gpu_key``): only the limit differs from card to card.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import NamedTuple

from . import components as C
from . import constants as K
from .estimate import Estimate
from .formula import silent
from .gpuspec import GPUSpec
from .methods import METHODS
from .precise import Fixed, precise_bytes, precise_estimate
from .presets import gpu as gpu_preset
from .runtimes import runtime
from .scenario import MAX_BATCH, MAX_CONTEXT, Scenario
from .setup import Setup
from .units import GiB

TP_STEPS = (1, 2, 4, 8)


class GPUFit(NamedTuple):
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


class _KeyMemo:
    """What the grid computes once per GPU key (``Runtime.gpu_key``) and shares between its cards."""

    __slots__ = ("estimate", "needs", "spreads", "setup", "weights", "fixed", "decode_bytes", "kv_rule", "solvers")

    def __init__(self, estimate: Estimate, decode_bytes: float | None) -> None:
        self.estimate = estimate  # on the key's first card, its runtime defaults applied
        self.needs: dict[tuple, int] = {}  # per-GPU need as context or batch varies
        self.spreads: dict[int, int] = {}  # per-GPU need on n GPUs (TP or layer split)
        self.setup: Setup | None = None  # the scenario on the key's first card, defaults resolved (its estimate's)
        self.weights: C.Weights | None = None  # the solvers' weights: context and batch do not change them
        # and the other parts that read neither: the KV layout, training's states, and the inference
        # activations where the runtime's do not follow the workload (vLLM's profile run: they depend on
        # the card's batch defaults, which is why vLLM's key is its tier) and the overhead where it reads
        # no other component (vLLM's CUDA graphs); these hold up to the default max_num_seqs, Fixed.batch,
        # and a larger batch makes its own
        self.fixed: Fixed | None = None
        self.decode_bytes = decode_bytes  # read per decoded token with the estimate's KV cache (None: training)
        # a pre-allocating runtime's KV tokens on a card of the key (Runtime.kv_capacity_rule), made on its first
        self.kv_rule: Callable[[GPUSpec, int], int | None] | None = None
        self.solvers: _Needs | None = None  # the key's searches, made on its first card size


class _Limits(NamedTuple):
    """What the usable bytes decide on a card of one GPU key: the same for every card of that key
    and size (the 55 presets have 39 sizes), so the solvers run once per size. (A named tuple: made
    in a third of a frozen dataclass's time.)"""

    gpus_needed: int | None
    max_context: int
    max_batch: int
    kv_capacity_tokens: int | None


class _Needs:
    """Memoised per-GPU need of the scenario on one GPU key's cards as its context or batch varies:
    every card of the key needs the same, so one _Needs serves them all (``memo``).

    The solvers ask for dozens of values per grid (inside ``silent()``: bytes only), so each is
    estimated at most once per key, on the key's setup ``varied`` to that value (no scenario is copied or
    resolved again, nor moved to each card), and for ``precise`` with the parts that read neither context
    nor batch computed once per key: the weights, training's states, vLLM's activations and overhead
    (``tests/test_fit_cache.py`` checks each reads neither, and that every need equals a full estimate
    of the changed scenario on the key's first card).
    """

    def __init__(self, method: str, setup: Setup, memo: _KeyMemo, kv_block: int) -> None:
        self.method = method
        self.setup = setup  # the scenario on the key's first card
        self._key = memo
        self._memo = memo.needs
        self.kv_block = kv_block  # the KV cache is flat inside a block (llama.cpp's padding, vLLM's pages)

    def _varied(self, field: str, value: int) -> Setup:
        base = self.setup
        if field == "context_length":
            return base.varied(value, base.batch)
        if field == "batch_size":
            return base.varied(base.context, value)
        raise ValueError(f"the solvers vary workload.context_length or workload.batch_size, not {field}")

    def _bytes(self, setup: Setup) -> int:
        """The per-GPU need of a varied setup; for ``precise``, with the weights of the key's first one."""
        if self.method != "precise":
            return METHODS[self.method](setup).per_gpu_bytes
        key = self._key
        if key.weights is None or key.fixed is None:
            key.weights, key.fixed = C.weights(setup), _fixed(setup)
        return precise_bytes(setup, key.weights, key.fixed)

    def need(self, section: str, field: str, value: int) -> int:
        key = (section, field, value)
        bytes_ = self._memo.get(key)  # most calls are hits: one look-up
        if bytes_ is None:
            if section != "workload":
                raise ValueError(f"the solvers vary the workload, not {section}")
            bytes_ = self._memo[key] = self._bytes(self._varied(field, value))
        return bytes_

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
        need_lo = need(lo)
        if need_lo > limit:
            if lo == 1:
                return 0
            lo, need_lo = 1, need(1)
            if need_lo > limit:
                return 0
        need_hi = need(hi)
        if need_hi <= limit:
            return hi
        top = hi  # invariant: need(lo) <= limit < need(top)
        f_lo: float
        f_top: float
        f_lo, f_top = need_lo - limit, need_hi - limit  # f_lo <= 0 < f_top
        side = 0
        while top - lo > 1:
            # Illinois regula falsi: interpolate; when one end stays put twice, halve its weight so
            # convex needs (eager attention's seq² term) do not stall the bracket on one side
            guess = lo + int(-f_lo * (top - lo) / max(1e-9, f_top - f_lo))
            guess = min(max(guess, lo + 1), top - 1)
            if guess == lo + 1 and scale > 1 and self.need(section, field, lo * scale + 1) > limit:
                # blocks: if the next block's first token does not fit, none of it does; one
                # estimate instead of two (its last token, then the first for the caller's check)
                return lo
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


def _fixed(setup: Setup) -> Fixed:
    """The parts of the precise estimate the solvers make once per GPU key: they read neither context
    nor batch (tests/test_fit_cache.py checks each)."""
    if setup.training:
        return Fixed(states=C.training_states(setup))
    rt = setup.runtime
    # made at a batch they hold for (vLLM: up to the card's default max_num_seqs; above it the launch
    # raises max_num_seqs to the batch and each estimate makes its own)
    upto = rt.fixed_batch(setup.gpu)
    at = setup if upto is None or setup.batch <= upto else setup.varied(setup.context, upto)
    activations = None if rt.activations_follow_workload else rt.inference_activations(at)
    return Fixed(kv=C.kv_layout(setup), activations=activations, overhead=rt.fixed_overhead(at), batch=upto)


def usable_for(scenario: Scenario, gpu: GPUSpec) -> int:
    return runtime(scenario.workload.runtime).usable_bytes(scenario, gpu)


def decode_read_bytes(scenario: Scenario, est: Estimate) -> float | None:
    """Bytes read per decoded token on the way through every stage: the weights touched and the KV
    cache (None: training, which does not decode)."""
    if scenario.workload.mode != "inference":
        return None
    spec = scenario.model.spec
    active_share = spec.active_parameters / max(1, spec.total_parameters)
    per_gpu = est.per_gpu
    read = per_gpu["weights"] * active_share + per_gpu["kv_cache"]
    return scenario.optimizations.pipeline_parallel * read


def decode_tokens_per_s(scenario: Scenario, est: Estimate, gpu: GPUSpec) -> float | None:
    """Bandwidth × efficiency ÷ bytes read per decoded token (weights touched + the KV cache)."""
    return _tokens_per_s(decode_read_bytes(scenario, est), gpu)


def _tokens_per_s(read_bytes: float | None, gpu: GPUSpec) -> float | None:
    if read_bytes is None:
        return None
    seconds = read_bytes / (gpu.bandwidth_gbs * 1e9 * K.DECODE_BANDWIDTH_EFFICIENCY)
    return 1.0 / seconds if seconds > 0 else None


class _Grid:
    """One fit_grid call: what every card shares (the runtime, the context cap, the memos per GPU
    key), the solvers for one usable size, and each card's row. Nothing outlives the call."""

    def __init__(self, scenario: Scenario, method: str, first: GPUSpec | None, est: Estimate | None) -> None:
        self.s, self.method = scenario, method
        self.rt = runtime(scenario.workload.runtime)
        self.spread = self.rt.multi_gpu_field(scenario)  # tensor_parallel, or pipeline_parallel for layer splits
        self.kv_block = Setup(scenario, first).kv_block if first else 1  # the runtime's, whatever the card
        self.context_cap = max(scenario.model.spec.max_position_embeddings, 1)
        self.keys: dict[Hashable, _KeyMemo] = {}
        if est is not None and est.method == method:
            self._add_key(self.rt.gpu_key(gpu_preset(est.gpu or scenario.hardware.verdict_gpu), scenario), est)

    def _add_key(self, key: Hashable, est: Estimate) -> _KeyMemo:
        memo = self.keys[key] = _KeyMemo(est, decode_bytes=decode_read_bytes(self.s, est))
        need = est.per_gpu_bytes
        memo.spreads[getattr(self.s.optimizations, self.spread)] = need
        # the solvers' need at the scenario's own context and batch is this estimate's: one fewer to make
        w = self.s.workload
        memo.needs[("workload", "context_length", w.context_length)] = need
        memo.needs[("workload", "batch_size", w.batch_size)] = need
        return memo

    def key_memo(self, key: Hashable, gpu: GPUSpec) -> _KeyMemo:
        """The key's memo; its estimate (with the "how" text, for the card's row) made on its first card."""
        memo = self.keys.get(key)
        return memo if memo is not None else self._new_key(key, gpu)

    def _new_key(self, key: Hashable, gpu: GPUSpec) -> _KeyMemo:
        """The key's memo and estimate. The setup it is made on is the solvers' too, and for ``precise``
        so are its weights and fixed parts (none reads context or batch): made once, not again silently."""
        setup = Setup(self.s, gpu)
        if self.method != "precise":
            memo = self._add_key(key, METHODS[self.method](setup))
        else:
            weights, fixed = C.weights(setup), _fixed(setup)
            memo = self._add_key(key, precise_estimate(setup, weights, fixed))
            memo.weights, memo.fixed = weights, fixed
        memo.setup = setup
        return memo

    def _on_gpus(self, n: int, gpu: GPUSpec, memo: _KeyMemo) -> int:
        """The per-GPU need spread over ``n`` GPUs (its weights change with ``n``: computed here)."""
        if n not in memo.spreads:
            o = self.s.optimizations.model_copy(update={self.spread: n})
            setup = Setup(self.s.model_copy(update={"optimizations": o}), gpu)
            if self.method == "precise":  # no Estimate, no warnings: the bytes alone
                memo.spreads[n] = precise_bytes(setup, C.weights(setup))
            else:
                memo.spreads[n] = METHODS[self.method](setup).per_gpu_bytes
        return memo.spreads[n]

    def solvers(self, gpu: GPUSpec, memo: _KeyMemo) -> _Needs:
        """The key's searches, made on its first card (``gpu``) with the setup of its estimate, or a
        new one where the caller gave the estimate."""
        if memo.solvers is None:
            if memo.setup is None:
                memo.setup = Setup(self.s, gpu)
            memo.solvers = _Needs(self.method, memo.setup, memo, self.kv_block)
        return memo.solvers

    def limits(self, gpu: GPUSpec, usable: int, memo: _KeyMemo, hints: tuple[int, int]) -> _Limits:
        """The GPU count, largest context and batch, and pre-allocated KV tokens for ``usable`` bytes;
        ``hints``: the answers for the next smaller size, which fit here too."""
        s, needs = self.s, self.solvers(gpu, memo)
        with silent():  # only the bytes: no "how" text is built
            needed = next((n for n in TP_STEPS if self._on_gpus(n, gpu, memo) <= usable), None)
            max_ctx = needs.largest("workload", "context_length", usable, min(MAX_CONTEXT, self.context_cap), hints[0],
                                    step=1 if s.is_training else self.kv_block)
            max_batch = needs.largest("workload", "batch_size", usable, MAX_BATCH, hints[1])
        kv_tokens = None
        if self.rt.preallocates:
            if memo.kv_rule is None:
                est = memo.estimate
                memo.kv_rule = self.rt.kv_capacity_rule(needs.setup, est.per_gpu, est.kv_bytes_per_token)
            kv_tokens = memo.kv_rule(gpu, usable)
        return _Limits(needed, max_ctx, max_batch, kv_tokens)

    def rows(self, gpus: Sequence[GPUSpec]) -> list[GPUFit]:
        """Each card's row, in the order given; the memos stay on this grid (tests/test_fit_cache.py
        checks every memoised need against a plain estimate)."""
        usable = {g.id: self.rt.usable_bytes(self.s, g) for g in gpus}
        limits: dict[tuple[Hashable, int], _Limits] = {}
        fits: dict[str, GPUFit] = {}
        hints = (1, 1)
        # smallest card first: each answer is a lower bound for the next, larger card
        for gpu in sorted(gpus, key=lambda g: usable[g.id]):
            key = self.rt.gpu_key(gpu, self.s)
            memo = self.key_memo(key, gpu)
            size = (key, usable[gpu.id])
            if size not in limits:
                limits[size] = self.limits(gpu, size[1], memo, hints)
            fits[gpu.id] = self.card(gpu, size[1], memo, limits[size])
            hints = (max(1, limits[size].max_context), max(1, limits[size].max_batch))
        return [fits[g.id] for g in gpus]

    def card(self, gpu: GPUSpec, usable: int, memo: _KeyMemo, limits: _Limits) -> GPUFit:
        """One card's row: its size's limits, and what is its own (speed, price). The fields are given
        in GPUFit's order, not by name: a named tuple made with keywords takes 2.4x as long (55 per grid)."""
        est = memo.estimate
        need = est.per_gpu_bytes
        kv_tokens = limits.kv_capacity_tokens
        price = gpu.price_usd
        return GPUFit(
            gpu,
            need,  # need_bytes
            usable,  # usable_bytes
            need <= usable,  # fits
            usable - need,  # headroom_bytes
            limits.gpus_needed,
            limits.max_context,
            limits.max_context >= self.context_cap,  # max_context_capped
            limits.max_batch,
            _tokens_per_s(memo.decode_bytes, gpu) if limits.gpus_needed else None,  # tokens_per_s
            price,  # price_usd
            price / (gpu.usable_bytes / GiB) if price else None,  # price_per_gib
            est,
            kv_tokens,  # kv_capacity_tokens
            None if kv_tokens is None else kv_tokens // self.s.workload.context_length,  # kv_capacity_sequences
        )


def fit_grid(scenario: Scenario, method: str = "precise", gpu_ids: tuple[str, ...] | None = None,
             est: Estimate | None = None, gpus: Sequence[GPUSpec] | None = None) -> list[GPUFit]:
    """Fit the scenario on each GPU: the scenario's, the presets ``gpu_ids``, or the cards ``gpus`` (a
    machine's own, a synthetic grid); ``est`` is the scenario's estimate on its verdict GPU, if the caller has it.

    Cards of one GPU key and one usable size get the same limits, so the solvers run once per size."""
    if gpus is None:
        gpus = [gpu_preset(g) for g in (gpu_ids if gpu_ids is not None else scenario.hardware.gpus)]
    return _Grid(scenario, method, gpus[0] if gpus else None, est).rows(gpus)
