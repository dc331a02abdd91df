"""The runtime registry: one module per runtime, each exporting ``RUNTIME``.

Adding a runtime is one module here plus its tests; the estimator, fit grid, validation, CLI and
screens list and ask runtimes through this registry and never compare a runtime's name.
"""

from __future__ import annotations

from . import llamacpp, ollama, sglang, transformers, vllm
from .base import ALL_MODES, Finding, Part, Runtime

# in the order the Workload screen and the CLI list them
RUNTIMES: dict[str, Runtime] = {m.RUNTIME.id: m.RUNTIME for m in (transformers, vllm, sglang, llamacpp, ollama)}

RUNTIME_IDS: tuple[str, ...] = tuple(RUNTIMES)



def default_runtime_for(weights: str) -> str:
    """The runtime a checkpoint of this format runs on unless the user names one: the first that reads
    the format natively (GGUF: llama.cpp), else the registry's first."""
    from ..formats import weight_format

    kind = weight_format(weights).kind
    return next((r.id for r in RUNTIMES.values() if kind in r.native_kinds), RUNTIME_IDS[0])


def runtime(runtime_id: str) -> Runtime:
    try:
        return RUNTIMES[runtime_id]
    except KeyError:
        raise ValueError(f"unknown runtime {runtime_id!r}; allowed: {', '.join(RUNTIME_IDS)}") from None


__all__ = ["ALL_MODES", "Finding", "Part", "Runtime", "RUNTIMES", "RUNTIME_IDS", "default_runtime_for", "runtime"]
