"""Model and GPU presets: TOML data validated at load, shipped inside the wheel.

In a wheel the files sit in ``vramtui/presets`` (hatch force-include); in a checkout they sit in the
repository's ``presets/``. Loading is cached: the data never changes while the process runs.
"""

from __future__ import annotations

import difflib
import tomllib
from functools import cache
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .model import ModelSpec
from .units import MiB

T = TypeVar("T", bound=BaseModel)


class PresetError(ValueError):
    """A preset file is malformed, or an id is unknown (the message names the closest id)."""


class GPUSpec(BaseModel):
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


def presets_dir() -> Path:
    packaged = Path(__file__).resolve().parent.parent / "presets"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "presets"


def _read(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PresetError(f"{path}: {exc}") from None


def _load(paths: list[Path], key: str, cls: type[T], out: dict[str, T]) -> dict[str, T]:
    """Validate every ``[[key]]`` entry of ``paths`` into ``out``; ids must be unique across files."""
    for path in paths:
        for i, entry in enumerate(_read(path).get(key, [])):
            try:
                item = cls.model_validate(entry)
            except ValidationError as exc:
                raise PresetError(f"{path.name}: {key}[{i}] ({entry.get('id')}): {exc}") from None
            if item.id in out:  # type: ignore[attr-defined]
                raise PresetError(f"{path.name}: duplicate id {item.id!r}")  # type: ignore[attr-defined]
            out[item.id] = item  # type: ignore[attr-defined]
    return out


@cache
def models() -> dict[str, ModelSpec]:
    folder = presets_dir() / "models"
    out = _load(sorted(folder.glob("*.toml")), "models", ModelSpec, {})
    if not out:
        raise PresetError(f"no model presets found in {folder}")
    return out


@cache
def gpus() -> dict[str, GPUSpec]:
    return _load([presets_dir() / "gpus.toml"], "gpus", GPUSpec, {})


def closest(value: str, choices: list[str] | tuple[str, ...]) -> str:
    """A hint naming the nearest valid id, for error messages."""
    near = difflib.get_close_matches(value.lower(), list(choices), n=1, cutoff=0.4)
    return f" (did you mean {near[0]!r}?)" if near else ""


def model(model_id: str) -> ModelSpec:
    table = models()
    if model_id not in table:
        raise PresetError(f"unknown model {model_id!r}{closest(model_id, list(table))}; `vramtui models` lists them")
    return table[model_id]


def gpu(gpu_id: str) -> GPUSpec:
    table = gpus()
    if gpu_id not in table:
        raise PresetError(f"unknown GPU {gpu_id!r}{closest(gpu_id, list(table))}; `vramtui gpus` lists them")
    return table[gpu_id]


def matches(spec: ModelSpec, query: str) -> bool:
    """Every word of the query appears in the id, name, family, features or size ('qwen 7b', 'moe'):
    the one matcher of the Model screen's filter and `vramtui models`."""
    from .units import fmt_count

    hay = " ".join([spec.id, spec.name, spec.family, *spec.features, fmt_count(spec.total_parameters)]).lower()
    return all(word in hay for word in query.lower().split())
