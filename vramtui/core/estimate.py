"""What a method answers: memory per component on the busiest GPU, and the reasons beside each number.

Its own module so that every method (``methods.py``) builds one without importing another.
"""

from __future__ import annotations

from typing import NamedTuple

COMPONENTS: tuple[str, ...] = (
    "weights", "kv_cache", "activations", "gradients", "optimizer_states", "adapters", "overhead",
)


class Estimate(NamedTuple):
    """Memory in bytes. ``per_gpu`` is the busiest GPU; ``components`` sums over every GPU."""

    method: str
    parameters: int
    gpus: int
    per_gpu: dict[str, int]
    why: dict[str, str] = {}  # never mutated: a shared empty default is safe
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # the setup runs, but not as the numbers alone suggest
    gpu: str = ""  # the GPU whose runtime defaults the estimate used
    kv_bytes_per_token: int = 0  # per GPU, all layers, one sequence (vLLM capacity uses it)
    trainable_parameters: int = 0
    # the ZeRO paper's "model states" on one GPU: its shard of the weights, the gradients and the
    # optimizer states, all held at once; without ZeRO-3's gathered layers, autocast's cache or the
    # step's temporaries (which are not model states), so it can be checked against the paper's Table 1
    model_states_per_gpu: int = 0
    # training: the activations all layers keep for backward, on one GPU, without the loss logits and
    # the one layer being recomputed or differentiated: what Korthikanti et al.'s Table 2 counts
    saved_activations_per_gpu: int = 0
    # of the weights on one GPU: modules outside the language model (vision tower, projector, MTP head)
    extra_weights_per_gpu: int = 0

    @property
    def components(self) -> dict[str, int]:
        return {k: v * self.gpus for k, v in self.per_gpu.items()}

    @property
    def per_gpu_bytes(self) -> int:
        return sum(self.per_gpu.values())

    @property
    def total_bytes(self) -> int:
        return self.per_gpu_bytes * self.gpus

    @property
    def allocated_per_gpu(self) -> int:
        """Comparable to ``torch.cuda.max_memory_allocated``: everything but the overhead."""
        return self.per_gpu_bytes - self.per_gpu["overhead"]

    def to_json(self) -> dict:
        return {
            "method": self.method,
            "parameters": self.parameters,
            "trainable_parameters": self.trainable_parameters,
            "gpus": self.gpus,
            "gpu": self.gpu,
            "total_bytes": self.total_bytes,
            "per_gpu_bytes": self.per_gpu_bytes,
            "components": self.components,
            "per_gpu_components": dict(self.per_gpu),
            "model_states_per_gpu_bytes": self.model_states_per_gpu,
            "saved_activations_per_gpu_bytes": self.saved_activations_per_gpu,
            "extra_weights_per_gpu_bytes": self.extra_weights_per_gpu,
            "why": dict(self.why),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
        }
