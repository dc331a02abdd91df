"""Layer split: whole layers per GPU, the rest in host RAM (llama.cpp's -ngl, --tensor-split, --n-cpu-moe).

Placement follows ``llama_model::load_tensors`` (src/llama-model.cpp): ``-ngl N`` puts the last N
repeating layers on the GPUs (N > n_layer adds the output layer), split over the devices by
cumulative share of ``--tensor-split`` (default: each device's free memory); every device holds its
own compute buffer; the token-embedding table stays on the host; a layer's KV cache lives where the
layer does.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from . import constants as K
from .formats import LayerLayout, layer_layout
from .gpuspec import GPUSpec
from .scenario import Scenario
from .setup import Setup

_ZERO_PARTS = {"weights": 0, "kv_cache": 0, "activations": 0, "overhead": 0}


@dataclass(frozen=True)
class Placement:
    """One split: per device the layers it holds and its bytes; what the host keeps."""

    gpu_layers: int  # llama.cpp's -ngl meaning: repeating layers on GPUs, + 1 when the output layer is too
    device_layers: tuple[tuple[int, ...], ...]
    output_device: int | None
    device_parts: tuple[dict[str, int], ...]
    host_parts: dict[str, int]
    cpu_moe_layers: int = 0  # --n-cpu-moe: the first K layers keep their experts on the CPU

    @property
    def device_bytes(self) -> tuple[int, ...]:
        return tuple(sum(p.values()) for p in self.device_parts)

    @property
    def host_bytes(self) -> int:
        return sum(self.host_parts.values())


class LayerSplit:
    """The arithmetic of one scenario on a set of GPUs; ``place`` evaluates one -ngl / --n-cpu-moe."""

    def __init__(self, s: Scenario, gpus: Sequence[GPUSpec], shares: Sequence[float] | None = None) -> None:
        self.s, self.gpus = s, tuple(gpus)
        self.setups = tuple(Setup(s, g) for g in self.gpus)
        first = self.setups[0]
        self.rt = first.runtime
        self.layout: LayerLayout = layer_layout(s.model.spec, first.weight_format)
        self.n_layer = len(self.layout.layers)
        self.extra = self.layout.extra if self.rt.loads_extra_modules(s)[0] else 0
        from .components import kv_cache  # a layer's KV: the whole cache spread over the layers

        self.kv_per_layer = kv_cache(first).bytes / self.n_layer
        self.draft = 0  # a draft model (speculative decoding): weights and KV on the first GPU
        if s.model.draft_spec is not None:
            from .components import weights as draft_weights
            from .precise import draft_setup

            d = draft_setup(first, s.model.draft_spec)
            self.draft = draft_weights(d).bytes + kv_cache(d).bytes
        self.compute = tuple(self.rt.inference_activations(st).bytes for st in self.setups)
        self.overhead = tuple(self.rt.overhead(st, dict(_ZERO_PARTS)).bytes for st in self.setups)
        # the CPU computes the output layer when it is not offloaded: one micro-batch of f32 logits
        self.host_logits = min(K.LLAMACPP_UBATCH, s.workload.batch_size * s.workload.context_length) * \
            s.model.spec.vocab_size * 4
        weights = shares if shares is not None else [g.usable_bytes for g in self.gpus]
        total = float(sum(weights))
        acc, self.splits = 0.0, []
        for w in weights:
            acc += w
            self.splits.append(acc / total)

    @property
    def total_layers(self) -> int:
        return self.n_layer + 1

    def _device_of(self, x: float) -> int:
        return min(bisect.bisect_right(self.splits, x), len(self.gpus) - 1)

    def place(self, ngl: int, cpu_moe: int = 0, output_first: bool = False) -> Placement:
        """``ngl`` as -ngl counts it; ``output_first``: the output layer is the first of the N on the GPUs
        (how llama.cpp's --fit places when it offloads part of a model), not the last."""
        L = self.n_layer
        ngl = max(0, min(ngl, L + 1))
        act = ngl
        start = max(L - (ngl - 1 if output_first and 0 < ngl <= L else ngl), 0)
        per_dev: list[list[int]] = [[] for _ in self.gpus]
        for il in range(start, L):
            per_dev[self._device_of((il - start) / act)].append(il)
        out_dev = self._device_of((act - 1) / act) if ngl > L or (output_first and ngl > 0) else None
        lay = self.layout
        compute, host_compute = self._compute(start, None if out_dev is not None else lay.output)
        parts = []
        for d, layers in enumerate(per_dev):
            w = sum(lay.layers[i] - (lay.experts[i] if i < cpu_moe else 0) for i in layers)
            if out_dev == d:
                w += lay.output
            if d == 0:
                w += self.extra + self.draft  # a vision projector and a draft model: on the first GPU
            parts.append({"weights": w, "kv_cache": int(self.kv_per_layer * len(layers)),
                          "activations": compute[d], "overhead": self.overhead[d]})
        cpu_layers = range(0, start)
        host = {
            "weights": lay.token_embd + sum(lay.layers[i] for i in cpu_layers)
            + sum(lay.experts[i] for i in range(start, L) if i < cpu_moe) + (0 if out_dev is not None else lay.output),
            "kv_cache": int(self.kv_per_layer * len(cpu_layers)),
            "compute": host_compute,
        }
        return Placement(ngl, tuple(tuple(x) for x in per_dev), out_dev, tuple(parts), host, cpu_moe)

    def _compute(self, host_layers: int, output_on_host: int | None) -> tuple[tuple[int, ...], int]:
        """Each GPU's compute buffer and the host's, given how many repeating layers and whether the
        output layer (its bytes) stay on the host: the runtime says what a partial offload adds to the
        first GPU's (llama.cpp's op offload copies host weights there)."""
        host = 0 if output_on_host is None else self.host_logits
        if not host_layers and output_on_host is None:
            return self.compute, host
        first, host_rt = self.rt.partial_offload_compute(self.setups[0], self.compute[0], output_bytes=output_on_host,
                                                         host_layers=host_layers, kv_layer=int(self.kv_per_layer))
        return (first, *self.compute[1:]), host if host_rt is None else host_rt

    def fits(self, p: Placement) -> bool:
        return all(b <= g.usable_bytes for b, g in zip(p.device_bytes, self.gpus, strict=True))

    def largest(self) -> Placement:
        """The largest -ngl whose every device fits (the split at 0 layers if none does)."""
        best = self.place(0)
        for ngl in range(self.total_layers, -1, -1):  # at most ~130 arithmetic placements
            p = self.place(ngl)
            if self.fits(p):
                return p
        return best

    def fewest_cpu_moe(self) -> Placement | None:
        """Every layer on the GPUs with the experts of the first K layers on the CPU, for the smallest K."""
        if not any(self.layout.experts):
            return None
        for k in range(0, self.n_layer + 1):
            p = self.place(self.total_layers, cpu_moe=k)
            if self.fits(p):
                return p
        return None

    def tokens_per_s(self, p: Placement, host_bandwidth_gbs: float) -> float | None:
        """Decode speed: each device reads its weights (the active share for MoE) and KV in turn, then the host."""
        spec = self.s.model.spec
        active = spec.active_parameters / max(1, spec.total_parameters)
        eff = K.DECODE_BANDWIDTH_EFFICIENCY
        seconds = sum((parts["weights"] * active + parts["kv_cache"]) / (g.bandwidth_gbs * 1e9 * eff)
                      for parts, g in zip(p.device_parts, self.gpus, strict=True))
        host_read = (p.host_parts["weights"] - self.layout.token_embd) * active + p.host_parts["kv_cache"]
        seconds += host_read / (host_bandwidth_gbs * 1e9 * eff)
        return 1.0 / seconds if seconds > 0 else None
