"""Scenario files: read (validate everything, apply nothing on error) and write (atomically).

Errors name the file, the key path and what is allowed, with the closest valid id for a typo.
A save writes a temporary file in the target's folder and ``os.replace``s it, after keeping the
previous version as ``NAME.toml.bak``; a failed save leaves the old file as it was.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from . import presets
from .errors import describe
from .formats import FormatError
from .hfconfig import ConfigImportError, load_config
from .model import ModelSpec
from .record import Record, ValidationError
from .runtimes import default_runtime_for
from .scenario import Hardware, ModelChoice, Optimizations, Scenario, Workload

if TYPE_CHECKING:  # pathlib (with urllib.parse and ipaddress) is imported where a path is used: a preset needs none
    from pathlib import Path

MAX_SCENARIO_BYTES = 1 << 20  # a scenario is a few hundred bytes; anything past 1 MiB is not one
SECTIONS: dict[str, type[Record]] = {"workload": Workload, "optimizations": Optimizations, "hardware": Hardware}
TOP_KEYS = ("schema", "name", "model", "workload", "optimizations", "hardware")
MODEL_KEYS = ("preset", "config", "architecture", "hub", "folder", "gguf")
MODEL_TABLE_KEYS = (*MODEL_KEYS, "revision", "mmproj", "draft")


class ScenarioError(ValueError):
    """A scenario could not be read or written; the message is meant for the user as is."""


def _check_float(value: Any, path: str) -> None:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        raise ScenarioError(f"{path}: {value!r} is not a finite number")


def _walk_floats(data: Any, path: str = "") -> None:
    if isinstance(data, dict):
        for k, v in data.items():
            _walk_floats(v, f"{path}.{k}" if path else str(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            _walk_floats(v, f"{path}[{i}]")
    else:
        _check_float(data, path)


def resolve_model(table: Any, base_dir: Path | None) -> ModelChoice:
    if not isinstance(table, dict):
        raise ScenarioError("model: must be a table with one of preset, config or architecture")
    unknown = [k for k in table if k not in MODEL_TABLE_KEYS]
    if unknown:
        raise ScenarioError(f"model.{unknown[0]}: unknown key; allowed keys: {', '.join(MODEL_TABLE_KEYS)}")
    given = [k for k in MODEL_KEYS if k in table]
    if len(given) != 1:
        raise ScenarioError(f"model: give exactly one of {', '.join(MODEL_KEYS)}" + (f" (got {', '.join(given)})" if given else ""))
    key = given[0]
    value = table[key]
    if "revision" in table and key != "hub":
        raise ScenarioError("model.revision: only with model.hub")
    if "mmproj" in table and key != "gguf":
        raise ScenarioError("model.mmproj: only with model.gguf (a vision projector for a GGUF model)")
    choice = _main_model(key, value, table, base_dir)
    return _with_draft(choice, table["draft"], base_dir) if "draft" in table else choice


def _with_draft(choice: ModelChoice, value: Any, base_dir: Path | None) -> ModelChoice:
    """A draft model for speculative decoding: read like the main model (a preset, Hub id, folder, GGUF)."""
    from .sources.resolve import SourceError, resolve

    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(f"model.draft: must be a preset id, Hub id or .gguf file (got {value!r})")
    try:
        draft = resolve(value, base_dir)
    except SourceError as exc:
        raise ScenarioError(str(exc).replace("model: ", "model.draft: ", 1)) from None
    return choice.model_copy(update={"draft": value, "draft_spec": draft.spec})


def _main_model(key: str, value: Any, table: dict, base_dir: Path | None) -> ModelChoice:
    if key in ("hub", "folder", "gguf"):
        choice = _source(key, value, table.get("revision"), base_dir)
        return _with_mmproj(choice, table["mmproj"], base_dir) if "mmproj" in table else choice
    if key == "preset":
        if not isinstance(value, str):
            raise ScenarioError(f"model.preset: must be a preset id string (got {value!r})")
        try:
            return ModelChoice(preset=value, spec=presets.model(value))
        except presets.PresetError as exc:
            raise ScenarioError(f"model.preset: {exc}") from None
    if key == "config":
        if not isinstance(value, str) or not value:
            raise ScenarioError(f"model.config: must be a path to a config.json (got {value!r})")
        from pathlib import Path

        path = Path(value)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        try:
            return ModelChoice(config=value, spec=load_config(path))
        except ConfigImportError as exc:
            raise ScenarioError(f"model.config: {exc}") from None
    if not isinstance(value, dict):
        raise ScenarioError("model.architecture: must be a table of architecture fields")
    try:
        return ModelChoice(spec=ModelSpec.model_validate(value))
    except ValidationError as exc:
        raise ScenarioError(describe(exc, "model.architecture", ModelSpec)) from None


def _source(key: str, value: Any, revision: Any, base_dir: Path | None) -> ModelChoice:
    """A Hub repo, a model folder or a GGUF file: read (headers only) through sources.resolve."""
    from .sources.resolve import SourceError, resolve

    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(f"model.{key}: must be a non-empty string (got {value!r})")
    if revision is not None and not (isinstance(revision, str) and revision.strip()):
        raise ScenarioError(f"model.revision: must be a branch, tag or commit (got {revision!r})")
    if key == "hub" and ("/" not in value or value.endswith(".gguf")):
        raise ScenarioError(f"model.hub: {value!r} is not a repo id like org/name")
    from pathlib import Path

    if key == "folder" and not (Path(value) if Path(value).is_absolute() or base_dir is None else base_dir / value).is_dir():
        raise ScenarioError(f"model.folder: {value}: no such folder")
    if key == "gguf" and not value.endswith(".gguf"):
        raise ScenarioError(f"model.gguf: {value!r} is not a .gguf file")
    text = f"{value}@{revision}" if key == "hub" and revision else value
    try:
        r = resolve(text, base_dir)
    except SourceError as exc:
        raise ScenarioError(str(exc).replace("model: ", f"model.{key}: ", 1)) from None
    return ModelChoice(**{key: value}, revision=revision if key == "hub" else None, spec=r.spec)


def _with_mmproj(choice: ModelChoice, value: Any, base_dir: Path | None) -> ModelChoice:
    """A GGUF model with its vision projector: the projector's tensors join the stored bytes as an extra
    module, which a layer split keeps on the first GPU (llama.cpp offloads the projector by default)."""
    from .sources.gguf_file import GGUFError, read_mmproj

    if not isinstance(value, str) or not value.endswith(".gguf"):
        raise ScenarioError(f"model.mmproj: must be the path of a projector .gguf file (got {value!r})")
    from pathlib import Path

    path = Path(value).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        size = read_mmproj(path)
    except (GGUFError, OSError) as exc:
        raise ScenarioError(f"model.mmproj: {exc}") from None
    s = choice.spec
    note = "; ".join(x for x in (s.extra_parameters_note, f"vision projector {path.name}") if x)
    spec = s.model_copy(update={"stored_bytes": (s.stored_bytes or 0) + size, "stored_extra_bytes": s.stored_extra_bytes + size,
                                "extra_parameters_note": note})
    return choice.model_copy(update={"mmproj": value, "spec": spec})


def scenario_from_dict(data: Any, base_dir: Path | None = None) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError("a scenario must be a TOML table")
    _walk_floats(data)
    unknown = [k for k in data if k not in TOP_KEYS]
    if unknown:
        raise ScenarioError(f"{unknown[0]}: unknown key; allowed keys: {', '.join(TOP_KEYS)}")
    if "model" not in data:
        raise ScenarioError("model: missing; add [model] with preset = \"llama-3.1-8b\" (or config / architecture)")
    model = resolve_model(data["model"], base_dir)
    if model.spec.stored_format and not model.preset:
        # a checkpoint's own format is the workload's unless the file says otherwise; a GGUF file runs
        # on the runtime that reads GGUF natively unless the file names one
        work = dict(data.get("workload") or {}) if isinstance(data.get("workload", {}), dict) else data["workload"]
        if isinstance(work, dict):
            work.setdefault("weights", model.spec.stored_format)
            if "runtime" not in work:
                work["runtime"] = default_runtime_for(model.spec.stored_format)
            data = {**data, "workload": work}
    parts: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            raise ScenarioError(f"{name}: must be a table ([{name}])")
        try:
            parts[name] = cls.model_validate(raw)
        except ValidationError as exc:
            raise ScenarioError(describe(exc, name, cls)) from None
        except FormatError as exc:  # pragma: no cover - the record wraps it, kept for safety
            raise ScenarioError(f"{name}: {exc}") from None
    for g in parts["hardware"].gpus:
        try:
            presets.gpu(g)
        except presets.PresetError as exc:
            raise ScenarioError(f"hardware.gpus: {exc}") from None
    try:
        return Scenario.model_validate(
            {"schema": data.get("schema", 1), "name": data.get("name", ""), "model": model, **parts}
        )
    except ValidationError as exc:
        raise ScenarioError(describe(exc, "", Scenario)) from None


def load_scenario(path: str | Path) -> Scenario:
    import tomllib  # a file's parser: `estimate --model ...` reads no TOML
    from pathlib import Path

    p = Path(path)
    try:
        if p.is_dir():
            raise ScenarioError(f"{p}: is a directory, not a scenario file")
        size = p.stat().st_size
        if size > MAX_SCENARIO_BYTES:
            raise ScenarioError(f"{p}: {size:,} bytes is too large for a scenario file (limit {MAX_SCENARIO_BYTES:,})")
        raw = p.read_bytes()
    except ScenarioError:
        raise
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p}: not valid TOML: {exc}") from None
    try:
        return scenario_from_dict(data, p.parent)
    except ScenarioError as exc:
        raise ScenarioError(f"{p}: {exc}") from None


def scenario_to_dict(s: Scenario) -> dict:
    doc: dict[str, Any] = {"schema": s.schema_}
    if s.name:
        doc["name"] = s.name
    if s.model.preset:
        doc["model"] = {"preset": s.model.preset}
    elif s.model.hub or s.model.folder or s.model.gguf:
        key = "hub" if s.model.hub else ("folder" if s.model.folder else "gguf")
        doc["model"] = {key: getattr(s.model, key)}
        if s.model.revision:
            doc["model"]["revision"] = s.model.revision
        if s.model.mmproj:
            doc["model"]["mmproj"] = s.model.mmproj
    elif s.model.config:
        doc["model"] = {"config": s.model.config}
    else:
        doc["model"] = {"architecture": s.model.spec.model_dump(exclude_defaults=True)}
    if s.model.draft:
        doc["model"]["draft"] = s.model.draft
    # a setting left to the runtime (None) is left out of the file, so it stays the runtime's default
    doc["workload"] = s.workload.model_dump(exclude_none=True)
    opts = s.optimizations.model_dump(exclude_none=True)
    opts["lora_targets"] = list(opts["lora_targets"])
    doc["optimizations"] = opts
    hw = s.hardware.model_dump(exclude_none=True)
    hw["gpus"] = list(hw["gpus"])
    doc["hardware"] = hw
    return doc


def dumps(s: Scenario) -> str:
    import tomli_w  # a save's module, not a command's: imported when a scenario is written

    return tomli_w.dumps(scenario_to_dict(s))


def write_atomic(path: str | Path, data: bytes, *, keep_backup: bool = True) -> Path:
    """Temp file in the same folder, fsync, keep NAME.bak, os.replace: the old file survives any failure."""
    import shutil
    import tempfile
    from pathlib import Path

    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    tmp_name = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if keep_backup and p.exists():
            shutil.copy2(p, p.with_name(p.name + ".bak"))
        os.replace(tmp_name, p)
        tmp_name = None
    except OSError as exc:
        raise ScenarioError(f"{p}: could not save: {exc.strerror or exc}; the existing file is unchanged") from None
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
    return p


def save_scenario(s: Scenario, path: str | Path, *, keep_backup: bool = True) -> Path:
    return write_atomic(path, dumps(s).encode("utf-8"), keep_backup=keep_backup)


def default_scenario() -> Scenario:
    """DESIGN.md's default: Llama 3.1 8B, bf16, 8K context, inference."""
    return Scenario(model=ModelChoice(preset="llama-3.1-8b", spec=presets.model("llama-3.1-8b")))
