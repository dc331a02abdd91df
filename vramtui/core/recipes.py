"""Training precision recipes as a table: bytes per trainable parameter for each state they keep.

A row per recipe, looked up by id (the scenario's ``workload.recipe``); adding a recipe is one row.
Sources: Rajbhandari et al. 2020 (ZeRO), §3.1: mixed-precision Adam keeps fp16 parameters and
gradients plus fp32 master parameters, momentum and variance, 2 + 2 + 12 = 16 B/param; PyTorch's
AMP docs (torch.autocast): parameters stay fp32 and autocast caches 16-bit copies during forward;
torch.optim keeps optimizer states in the parameters' dtype, so pure bf16 gives bf16 moments.
"""

from __future__ import annotations

from typing import NamedTuple


class Recipe(NamedTuple):
    id: str
    label: str
    param_bytes: int  # the trained copy of the weights, per parameter
    grad_bytes: int
    master_bytes: int  # an fp32 master copy kept beside 16-bit parameters
    states: str  # precision of the optimizer states: "fp32" or "pure" (the parameters' own dtype)
    autocast_cache: bool  # autocast keeps 16-bit copies of the weights during forward
    activation_bytes: int  # per saved activation element


RECIPES: dict[str, Recipe] = {
    r.id: r
    for r in (
        Recipe("fp32", "FP32 (4+4+8 B/param)", 4, 4, 0, "fp32", False, 4),
        Recipe("amp", "AMP: fp32 params + autocast", 4, 4, 0, "fp32", True, 2),
        Recipe("bf16-mixed", "bf16 + fp32 master (16 B/param)", 2, 2, 4, "fp32", False, 2),
        Recipe("bf16-pure", "pure bf16 (bf16 Adam states)", 2, 2, 0, "pure", False, 2),
    )
}
