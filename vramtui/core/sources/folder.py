"""A local model folder: its ``config.json`` and the headers of its ``*.safetensors`` files (only the
headers are read, a few KiB per file)."""

from __future__ import annotations

import json
from pathlib import Path

from ..model import ModelSpec
from .checkpoint import CheckpointError, checkpoint_spec, read_file_header


def folder_model(path: Path) -> tuple[ModelSpec, str]:
    """(spec with the checkpoint's exact bytes, stored format id) of a model folder."""
    config_path = path / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"{path}: no config.json in this folder")
    try:
        config = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{config_path}: cannot read it as JSON ({exc})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_path}: must hold a JSON object")
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise CheckpointError(f"{path}: no *.safetensors files (only safetensors checkpoints are read)")
    try:
        tensors = [t for f in files for t in read_file_header(f)]
    except OSError as exc:
        raise CheckpointError(f"{path}: {exc.strerror or exc}") from None
    return checkpoint_spec(config, tensors, path.name, str(path))
