"""The three ways a scenario is spread over devices; each runtime plans with one of them.

- ``layer_split_plan``: llama.cpp / ollama: whole layers per GPU, the rest in host RAM.
- ``sharded_plan``: servers and transformers inference: the fewest GPUs of one kind (tensor
  parallelism, or whole layers for device_map) that hold the scenario with its target concurrency.
- ``training_plan``: the fewest GPUs, then the lowest ZeRO stage, then CPU offload, that fit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .fit import fit_grid
from .gpuspec import GPUSpec
from .layer_split import LayerSplit
from .methods import estimate
from .plan import Device, Host, Plan, gib
from .scenario import MAX_CONTEXT, Scenario
from .units import fmt_tokens

COUNTS = (1, 2, 4, 8)


def _largest(ok: Callable[[int], bool], lo: int, hi: int) -> int:
    """Largest v in [lo, hi] with ok(v), assuming ok is monotone (0 when ok(lo) fails)."""
    if not ok(lo):
        return 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid - 1)
    return lo


def _host_check(host: Host, need: int) -> list[str]:
    if host.memory_bytes is not None and need > host.memory_bytes:
        return [f"host RAM: the plan keeps {gib(need)} off the GPUs but the machine has {gib(host.memory_bytes)}"]
    return []


def layer_split_plan(s: Scenario, gpus: Sequence[GPUSpec], host: Host, ngl: int | None,
                     shares: Sequence[float] | None, output_first: bool = False) -> Plan:
    split = LayerSplit(s, gpus, shares)
    rt = split.rt
    p = split.place(ngl, output_first=output_first) if ngl is not None else split.largest()
    gpu_ok = split.fits(p)
    warnings = [*_host_check(host, p.host_bytes)]
    if not gpu_ok:
        short = [f"{g.name} by {gib(b - g.usable_bytes)}" for b, g in zip(p.device_bytes, gpus, strict=True)
                 if b > g.usable_bytes]
        warnings.append(f"-ngl {p.gpu_layers} does not fit: over on {', '.join(short)}" if ngl is not None else
                        f"not even the compute buffer and context fit: over on {', '.join(short)}")
    moe = split.fewest_cpu_moe() if p.gpu_layers < split.total_layers else None
    numbers: dict[str, Any] = {"gpu_layers": p.gpu_layers, "total_layers": split.total_layers, "gpus": len(gpus),
                               "shares": None if shares is None else list(shares), "n_cpu_moe": None}
    command, flags, files = rt.launch(s, numbers, p)
    details: dict[str, Any] = {}
    if moe is not None:
        moe_cmd, _, _ = rt.launch(s, {**numbers, "gpu_layers": moe.gpu_layers, "n_cpu_moe": moe.cpu_moe_layers}, moe)
        details["moe_alternative"] = {
            "n_cpu_moe": moe.cpu_moe_layers, "device_bytes": list(moe.device_bytes), "host_bytes": moe.host_bytes,
            "tokens_per_s": _round(split.tokens_per_s(moe, host.bandwidth_gbs)), "command": moe_cmd,
            "why": "every layer's attention and KV on the GPUs, the routed experts of the first "
                   f"{moe.cpu_moe_layers} layers in host RAM (--n-cpu-moe)"}
    if shares is not None or len(gpus) > 1:
        details["tensor_split"] = [round(x, 4) for x in _shares(split)]

    def fits_at(ctx: int) -> bool:
        other = LayerSplit(s.replace("workload", context_length=ctx), gpus, shares)
        return other.fits(other.place(p.gpu_layers, p.cpu_moe_layers, output_first))

    max_ctx = _largest(fits_at, 1, min(MAX_CONTEXT, s.model.spec.max_position_embeddings)) if gpu_ok else 0
    on_gpu = p.gpu_layers
    summary = (f"{on_gpu}/{split.total_layers} layers on {len(gpus)} GPU{'s' if len(gpus) > 1 else ''}"
               + (f", {gib(p.host_bytes)} in host RAM" if p.host_bytes else ""))
    devices = tuple(Device(g, b, g.usable_bytes, len(layers) + (1 if p.output_device == d else 0), parts)
                    for d, (g, b, layers, parts) in enumerate(zip(gpus, p.device_bytes, p.device_layers, p.device_parts,
                                                                  strict=True)))
    return Plan(runtime=s.workload.runtime, fits=gpu_ok and not _host_check(host, p.host_bytes), devices=devices,
                command=command, flags=flags, files=files, host_bytes=p.host_bytes, host_parts=dict(p.host_parts),
                total_layers=split.total_layers, gpu_layers=on_gpu, max_context=max_ctx,
                tokens_per_s=split.tokens_per_s(p, host.bandwidth_gbs), warnings=tuple(warnings), summary=summary,
                details=details)


def _shares(split: LayerSplit) -> list[float]:
    prev, out = 0.0, []
    for c in split.splits:
        out.append(c - prev)
        prev = c
    return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def _one_kind(gpus: Sequence[GPUSpec]) -> tuple[GPUSpec, int, list[str]]:
    """The card to plan on (the smallest, if they differ) and how many may be used."""
    card = min(gpus, key=lambda g: g.usable_bytes)
    warnings = []
    if len({g.id for g in gpus}) > 1:
        warnings.append(f"the GPUs differ; a tensor-parallel group runs at the smallest one's memory: {card.name}")
    # one GPU named: how many of it to rent; several named: the ones in the box
    return card, (COUNTS[-1] if len(gpus) == 1 else len(gpus)), warnings


def sharded_plan(s: Scenario, gpus: Sequence[GPUSpec], host: Host) -> Plan:
    from .runtimes import runtime

    rt = runtime(s.workload.runtime)
    card, cap, warnings = _one_kind(gpus)
    field = rt.multi_gpu_field(s)
    target = s.workload.batch_size * s.workload.context_length
    chosen = None
    for n in (c for c in COUNTS if c <= cap):
        sn = s.replace("optimizations", **{field: n})
        f = fit_grid(sn, gpu_ids=(card.id,))[0]
        enough_kv = f.kv_capacity_tokens is None or f.kv_capacity_tokens >= target
        chosen = (n, sn, f)
        if f.fits and enough_kv:
            break
    assert chosen is not None
    n, sn, f = chosen
    fits = f.fits and (f.kv_capacity_tokens is None or f.kv_capacity_tokens >= target)
    if not fits:
        warnings.append(f"does not fit {n} × {card.name}" + ("" if f.fits else f": short by {gib(-f.headroom_bytes)} per GPU")
                        + ("" if f.kv_capacity_tokens is None or f.kv_capacity_tokens >= target else
                           f"; KV room for {f.kv_capacity_tokens:,} tokens, {target:,} needed"))
    est = f.estimate
    assert est is not None
    share = rt.memory_share(sn, card)
    numbers: dict[str, Any] = {"gpus": n, "card": card, "field": field, "memory_share": None if share is None else share[0],
                               "kv_capacity_tokens": f.kv_capacity_tokens, "usable_bytes": f.usable_bytes}
    command, flags, files = rt.launch(sn, numbers, None)
    details: dict[str, Any] = {field: n, "kv_capacity_tokens": f.kv_capacity_tokens,
                               "concurrent_sequences": f.kv_capacity_sequences}
    if share is not None:
        details["memory_share"] = share[0]
    summary = (f"{n} × {card.name}" + (f" ({field.replace('_', ' ')})" if n > 1 else "")
               + (f", KV for {f.kv_capacity_tokens:,} tokens = {f.kv_capacity_sequences} × "
                  f"{fmt_tokens(s.workload.context_length)}" if f.kv_capacity_tokens is not None else ""))
    devices = tuple(Device(card, f.need_bytes, f.usable_bytes, None, dict(est.per_gpu)) for _ in range(n))
    return Plan(runtime=s.workload.runtime, fits=fits, devices=devices, command=command, flags=flags, files=files,
                max_context=f.max_context, tokens_per_s=f.tokens_per_s, warnings=(*warnings, *est.warnings),
                summary=summary, details=details)


def training_plan(s: Scenario, gpus: Sequence[GPUSpec], host: Host) -> Plan:
    from .runtimes import runtime

    rt = runtime(s.workload.runtime)
    card, cap, warnings = _one_kind(gpus)
    offloads = (False, True) if s.workload.mode == "full" else (False,)
    tried = None
    for n in (c for c in COUNTS if c <= cap):
        for zero in (range(4) if n > 1 else (0,)):
            for off in offloads:
                sn = s.replace("optimizations", data_parallel=n, zero_stage=zero, cpu_offload=off)
                e = estimate(sn, gpu=card)
                tried = (n, zero, off, sn, e)
                if e.per_gpu_bytes <= card.usable_bytes:
                    break
            else:
                continue
            break
        else:
            continue
        break
    assert tried is not None
    n, zero, off, sn, e = tried
    fits = e.per_gpu_bytes <= card.usable_bytes
    host_bytes = 0
    if off:  # the optimizer states (and sharded gradients) go to host RAM
        kept = estimate(sn.replace("optimizations", cpu_offload=False), gpu=card)
        host_bytes = (kept.per_gpu["optimizer_states"] - e.per_gpu["optimizer_states"]
                      + kept.per_gpu["gradients"] - e.per_gpu["gradients"]) * n
    warnings += _host_check(host, host_bytes)
    if not fits:
        warnings.append(f"does not fit {n} × {card.name} even with ZeRO-{zero}" + (" and offload" if off else "") + ": "
                        f"{gib(e.per_gpu_bytes)} per GPU, {gib(card.usable_bytes)} usable")
    numbers = {"gpus": n, "zero_stage": zero, "cpu_offload": off}
    command, flags, files = rt.launch(sn, numbers, None)
    summary = (f"{n} × {card.name}" + (f", ZeRO-{zero}" if zero else "") + (", optimizer in host RAM" if off else "")
               + f": {gib(e.per_gpu_bytes)} per GPU")
    devices = tuple(Device(card, e.per_gpu_bytes, card.usable_bytes, None, dict(e.per_gpu)) for _ in range(n))
    return Plan(runtime=s.workload.runtime, fits=fits and not _host_check(host, host_bytes), devices=devices,
                command=command, flags=flags, files=files, host_bytes=host_bytes,
                host_parts={"optimizer_states": host_bytes} if host_bytes else {},
                warnings=(*warnings, *e.warnings), summary=summary,
                details={"data_parallel": n, "zero_stage": zero, "cpu_offload": off})


__all__ = ["layer_split_plan", "sharded_plan", "training_plan"]
