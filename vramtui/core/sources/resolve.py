"""One resolver for what a user types as the model: a preset id, a Hub id (``org/name[@revision]``),
a folder with ``config.json``, or a ``.gguf`` file (local, or ``org/name/file.gguf`` on the Hub).

The CLI's ``--model``, the Model screen's box and a scenario file's ``[model]`` table all come here,
so the three accept the same things and fail with the same one-line messages.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple

from .. import presets
from ..model import ModelSpec

if TYPE_CHECKING:  # imported where a path is read: a preset id needs no pathlib
    from pathlib import Path


class SourceError(ValueError):
    """The model could not be read; one line naming what was given and what went wrong."""


class Resolved(NamedTuple):
    spec: ModelSpec
    kind: str  # "preset" | "hub" | "folder" | "gguf"
    ref: str  # the preset id, repo id, folder or file as given
    revision: str | None = None
    weights: str | None = None  # the format a checkpoint stores (Hub, folder, GGUF): the scenario's default


def model_table(text: str) -> dict[str, str]:
    """The scenario file's ``[model]`` table for what a user typed (nothing is read yet)."""
    text = text.strip()
    if text in presets.model_entries():
        return {"preset": text}
    from pathlib import Path

    path = Path(text).expanduser()
    if text.endswith(".gguf"):
        return {"gguf": text if _hub_file(text) else str(path.resolve())}
    if path.is_dir():
        return {"folder": str(path.resolve())}
    from .hub import parse_id

    parsed = parse_id(text)
    if parsed is not None:
        return {"hub": parsed[0], **({"revision": parsed[1]} if parsed[1] else {})}
    return {"preset": text}  # not a known preset either: the preset's message names the closest ids


def resolve(text: str, base_dir: Path | None = None) -> Resolved:
    text = text.strip()
    if not text:
        raise SourceError("model: give a preset id, a Hub id (org/name), a model folder or a .gguf file")
    if text in presets.model_entries():
        return Resolved(presets.model(text), "preset", text)
    from pathlib import Path

    path = Path(text).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if text.endswith(".gguf"):
        if path.is_file():
            return gguf_file(path, text)
        if _hub_file(text):
            return hub_gguf(text)
        raise SourceError(f"model: {text}: no such GGUF file")
    if path.is_dir():
        from .checkpoint import CheckpointError
        from .folder import folder_model

        try:
            spec, fmt = folder_model(path)
        except CheckpointError as exc:
            raise SourceError(f"model: {exc}") from None
        return Resolved(spec, "folder", text, weights=fmt)
    from .hub import HubError, hub_model, parse_id

    parsed = parse_id(text)
    if parsed is not None:
        try:
            m = hub_model(*parsed)
        except HubError as exc:
            raise SourceError(f"model: {exc}") from None
        return Resolved(m.spec, "hub", parsed[0], parsed[1], m.weights)
    try:
        presets.model(text)  # for its "closest preset" message
    except presets.PresetError as exc:
        raise SourceError(f"model: {text!r} is not a preset id, a Hub id (org/name), a model folder or a .gguf "
                          f"file ({exc})") from None
    raise SourceError(f"model: {text!r} cannot be read")  # pragma: no cover - presets.model raised above


def _hub_file(text: str) -> bool:
    """``org/name/file.gguf``: a file in a Hub repo, not a path on this machine."""
    return text.count("/") >= 2 and not text.startswith(("/", ".", "~")) and not os.path.exists(text)


def gguf_file(path: Path, ref: str) -> Resolved:
    from .gguf_file import GGUFError, read_gguf

    try:
        g = read_gguf(path)
    except GGUFError as exc:
        raise SourceError(f"model: {exc}") from None
    return Resolved(g.spec, "gguf", ref, weights=g.weights)


def hub_gguf(text: str) -> Resolved:
    """``org/name/file.gguf``: the file's header by range request, the rest as a sparse file."""
    from .gguf_hub import read_hub_gguf

    try:
        g = read_hub_gguf(text)
    except ValueError as exc:
        raise SourceError(f"model: {exc}") from None
    return Resolved(g.spec, "gguf", text, weights=g.weights)
