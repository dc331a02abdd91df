"""Model and GPU presets: TOML data shipped inside the wheel, each validated when it is first used.

In a wheel the files sit in ``vramtui/presets`` (hatch force-include); in a checkout they sit in the
repository's ``presets/``. Parsing every TOML file and validating ~115 models and 55 GPUs costs a
command more than the rest of its work, so ``presets/index.json`` (written by
``scripts/preset_index.py``) holds what a command needs without them: each model's id, name,
family, tags, parameter count, context, file and its table as the file has it, and the GPU table, as
plain data (JSON, so a command needs no TOML parser: importing ``tomllib`` and parsing one file cost
about a tenth of ``vramtui estimate``). A model's entry is validated only when that model is used; a
GPU entry when that GPU is used. This module imports neither the model classes nor their checks until
then.

The index records a CRC of every file it was derived from (the TOML files and ``model.py``, which
derives the counts and tags). When one differs, as after editing a preset in a checkout, the index
is rebuilt in memory from the TOML files (the slow path, same results) and tests/test_presets.py
fails until the index is written again. Everything is cached: the data never changes while the
process runs.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from .gpuspec import GPUSpec
    from .model import ModelSpec

INDEX = "index.json"
HERE = os.path.dirname(os.path.realpath(__file__))
DERIVING_CODE = os.path.join(HERE, "model.py")  # ModelSpec: the counts and tags in the index


_models: dict[str, ModelSpec] = {}  # validated on first use, by id
_gpus: dict[str, GPUSpec] = {}


class PresetError(ValueError):
    """A preset file is malformed, or an id is unknown (the message names the closest id)."""


class Searchable(Protocol):
    """What the matcher reads: a validated ``ModelSpec`` or an index entry."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def family(self) -> str: ...
    @property
    def features(self) -> Sequence[str]: ...
    @property
    def total_parameters(self) -> int: ...


class ModelEntry:
    """A model preset as the index lists it: enough to list, search and find it, nothing validated."""

    __slots__ = ("id", "name", "family", "features", "total_parameters", "max_position_embeddings", "file", "at", "table")

    def __init__(self, doc: dict[str, Any]) -> None:
        self.id: str = doc["id"]
        self.name: str = doc["name"]
        self.family: str = doc["family"]
        self.features: list[str] = doc["features"]
        self.total_parameters: int = doc["parameters"]
        self.max_position_embeddings: int = doc["context"]
        self.file: str = doc["file"]  # in presets/models/
        self.at: int = doc["at"]  # its place in the file's [[models]]
        self.table: dict[str, Any] = doc["table"]  # the entry as the file has it, validated on first use

    def __repr__(self) -> str:
        return f"ModelEntry({self.id!r})"


@cache
def _folder() -> str:
    """The presets folder (os.path, not pathlib: pathlib brings urllib.parse and ipaddress, ~3 ms of
    every command)."""
    packaged = os.path.join(os.path.dirname(HERE), "presets")
    if os.path.isdir(packaged):
        return packaged
    return os.path.join(os.path.dirname(os.path.dirname(HERE)), "presets")


def presets_dir() -> Path:
    """The presets folder as a Path, for scripts and tests (the commands read it with os.path)."""
    from pathlib import Path

    return Path(_folder())


def _read(path: str) -> dict:
    import tomllib

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PresetError(f"{path}: {exc}") from None


@cache
def _doc(name: str) -> dict:
    """A parsed preset file: ``gpus.toml`` or ``models/NAME.toml``."""
    return _read(os.path.join(_folder(), name))


def _sources() -> dict[str, int]:
    """CRC-32 of every file the index is derived from, by name; a missing file reads as empty."""
    folder = _folder()
    paths = {f"models/{name}": os.path.join(folder, "models", name) for name in _model_files()}
    paths["gpus.toml"] = os.path.join(folder, "gpus.toml")
    paths["model.py"] = DERIVING_CODE
    out = {}
    for key, path in paths.items():
        try:
            with open(path, "rb") as fh:
                out[key] = zlib.crc32(fh.read())
        except OSError:
            out[key] = -1
    return out


def _model_files() -> list[str]:
    """The model preset files' names, sorted; none when the folder is missing."""
    try:
        return sorted(n for n in os.listdir(os.path.join(_folder(), "models")) if n.endswith(".toml"))
    except OSError:
        return []


def _invalid(where: str, key: str, i: int, entry: Any, exc: Exception) -> PresetError:
    ident = entry.get("id") if isinstance(entry, dict) else None
    return PresetError(f"{where}: {key}[{i}] ({ident}): {exc}")


def build_index() -> dict[str, Any]:
    """Parse and validate every preset; the index as ``presets/index.json`` holds it. Raises
    PresetError for a malformed file or entry and for a duplicate id, like a full load always did."""
    from .gpuspec import GPUSpec
    from .model import ModelSpec
    from .record import ValidationError

    folder = os.path.join(_folder(), "models")
    models: list[dict[str, Any]] = []
    specs: dict[str, ModelSpec] = {}
    for name in _model_files():
        for i, entry in enumerate(_doc(f"models/{name}").get("models", [])):
            try:
                spec = ModelSpec.model_validate(entry)
            except ValidationError as exc:
                raise _invalid(name, "models", i, entry, exc) from None
            if spec.id in specs:
                raise PresetError(f"{name}: duplicate id {spec.id!r}")
            specs[spec.id] = spec
            models.append({"id": spec.id, "name": spec.name, "family": spec.family, "features": spec.features,
                           "parameters": spec.total_parameters, "context": spec.max_position_embeddings,
                           "file": name, "at": i, "table": entry})
    if not models:
        raise PresetError(f"no model presets found in {folder}")
    gpus: list[dict[str, Any]] = []
    gpu_specs: dict[str, GPUSpec] = {}
    for i, entry in enumerate(_doc("gpus.toml").get("gpus", [])):
        try:
            gpu_spec = GPUSpec.model_validate(entry)
        except ValidationError as exc:
            raise _invalid("gpus.toml", "gpus", i, entry, exc) from None
        if gpu_spec.id in gpu_specs:
            raise PresetError(f"gpus.toml: duplicate id {gpu_spec.id!r}")
        gpu_specs[gpu_spec.id] = gpu_spec
        gpus.append(entry)
    for key, spec in specs.items():  # validated now: not again on use
        _models.setdefault(key, spec)
    for key, gpu_spec in gpu_specs.items():
        _gpus.setdefault(key, gpu_spec)
    return {"sources": _sources(), "models": models, "gpus": gpus}


def index_text(index: dict[str, Any]) -> str:
    """The index file's text: one line per preset, so a change to a preset is a one-line diff."""
    def items(key: str) -> str:
        return ",\n".join(f"  {json.dumps(x, ensure_ascii=False)}" for x in index[key])

    sources = ",\n".join(f"  {json.dumps(k)}: {v}" for k, v in sorted(index["sources"].items()))
    return ('{\n "sources": {\n' + sources + '\n },\n'
            + ' "models": [\n' + items("models") + '\n ],\n'
            + ' "gpus": [\n' + items("gpus") + '\n ]\n}\n')


@cache
def _index() -> tuple[dict[str, ModelEntry], dict[str, dict[str, Any]]]:
    """(model entries, raw GPU entries) by id, in file order: from index.json when it matches the
    files it was built from, else rebuilt from them."""
    try:
        with open(os.path.join(_folder(), INDEX), encoding="utf-8") as fh:
            doc = json.load(fh)
        fresh = doc["sources"] == _sources()
    except (OSError, ValueError, KeyError, TypeError):
        fresh = False
    if not fresh:
        doc = build_index()
    return {m["id"]: ModelEntry(m) for m in doc["models"]}, {g["id"]: g for g in doc["gpus"]}


def model_entries() -> dict[str, ModelEntry]:
    """Every model preset as the index lists it (what `vramtui models` shows), in file order."""
    return _index()[0]


def gpu_ids() -> tuple[str, ...]:
    return tuple(_index()[1])


def closest(value: str, choices: list[str] | tuple[str, ...]) -> str:
    """A hint naming the nearest valid id, for error messages."""
    import difflib

    near = difflib.get_close_matches(value.lower(), list(choices), n=1, cutoff=0.4)
    return f" (did you mean {near[0]!r}?)" if near else ""


def model(model_id: str) -> ModelSpec:
    """One model preset: its file parsed and its entry validated on first use."""
    if model_id in _models:
        return _models[model_id]
    entries = model_entries()
    if model_id not in entries:
        raise PresetError(f"unknown model {model_id!r}{closest(model_id, list(entries))}; `vramtui models` lists them")
    from .model import ModelSpec
    from .record import ValidationError

    e = entries[model_id]
    entry = e.table  # the index carries it: no TOML parser on a command's path
    try:
        spec = ModelSpec.model_validate(entry)
    except ValidationError as exc:
        raise _invalid(e.file, "models", e.at, entry, exc) from None
    _models[model_id] = spec
    return spec


def gpu(gpu_id: str) -> GPUSpec:
    """One GPU preset, validated on first use."""
    if gpu_id in _gpus:
        return _gpus[gpu_id]
    table = _index()[1]
    if gpu_id not in table:
        raise PresetError(f"unknown GPU {gpu_id!r}{closest(gpu_id, list(table))}; `vramtui gpus` lists them")
    from .gpuspec import GPUSpec
    from .record import ValidationError

    entry = table[gpu_id]
    try:
        spec = GPUSpec.model_validate(entry)
    except ValidationError as exc:
        raise _invalid("gpus.toml", "gpus", list(table).index(gpu_id), entry, exc) from None
    _gpus[gpu_id] = spec
    return spec


@cache
def models() -> dict[str, ModelSpec]:
    """Every model preset, validated (the Model screen lists them all)."""
    return {i: model(i) for i in model_entries()}


@cache
def gpus() -> dict[str, GPUSpec]:
    """Every GPU preset, validated, in file order."""
    return {i: gpu(i) for i in gpu_ids()}


def matches(spec: Searchable, query: str) -> bool:
    """Every word of the query appears in the id, name, family, features or size ('qwen 7b', 'moe'):
    the one matcher of the Model screen's filter and `vramtui models` (a ModelSpec or an index entry)."""
    from .units import fmt_count

    hay = " ".join([spec.id, spec.name, spec.family, *spec.features, fmt_count(spec.total_parameters)]).lower()
    return all(word in hay for word in query.lower().split())


def __getattr__(name: str) -> Any:
    """``presets.GPUSpec`` as before, imported only when asked for."""
    if name == "GPUSpec":
        from .gpuspec import GPUSpec

        return GPUSpec
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
