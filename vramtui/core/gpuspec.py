"""A GPU preset's fields: what the grid, the plans and the speed estimates read about a card.

Its own module so that ``presets`` can list and look up presets without building the record class.
"""

# Annotations are evaluated at class creation here (no `from __future__ import annotations`): the
# records read their field types with typing.get_type_hints, which compiles each string annotation
# anew, about 1 ms of every command's and the TUI's start-up (docs/performance.md).

from typing import Literal

from .record import ConfigDict, Field, Record
from .units import MiB


class GPUSpec(Record):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    name: str
    vendor: Literal["nvidia", "amd", "apple", "intel"]
    memory_mib: int = Field(ge=1)
    memory_source: str
    usable_mib: int | None = Field(default=None, ge=1)
    memory_type: str = ""
    bandwidth_gbs: float = Field(gt=0)
    bf16_tflops: float = Field(ge=0)
    fp16_tflops: float = Field(ge=0)
    interconnect: str = ""
    tdp_w: int = Field(ge=0)
    price_usd: float = Field(ge=0)
    price_kind: Literal["msrp", "street", "used", "estimate"]
    price_date: str = Field(pattern=r"^\d{4}-\d{2}$")
    source: str
    notes: str = ""

    @property
    def memory_bytes(self) -> int:
        return self.memory_mib * MiB

    @property
    def usable_bytes(self) -> int:
        """What a model may occupy: the driver's total, or macOS's GPU working-set limit."""
        return (self.usable_mib or self.memory_mib) * MiB
