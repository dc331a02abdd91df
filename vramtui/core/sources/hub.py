"""Hugging Face Hub repos: ``config.json`` and the safetensors headers, read by range requests
(``huggingface_hub``'s ``get_safetensors_metadata``), never the weights.

``HF_ENDPOINT`` and ``HF_TOKEN`` are honoured at call time. What was read is kept in the cache folder
(platformdirs, or ``$VRAMTUI_HOME/cache``), so a repo seen once works offline.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model import ModelSpec
from .checkpoint import CheckpointError, Tensor, checkpoint_spec

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class HubError(ValueError):
    """One line: the repo, and what went wrong (not found, gated, offline and not cached, ...)."""


@dataclass(frozen=True)
class HubModel:
    spec: ModelSpec
    repo: str
    revision: str | None
    weights: str  # the format the checkpoint stores
    cached: bool  # read from the cache, not the network


def parse_id(text: str) -> tuple[str, str | None] | None:
    """``org/name`` or ``org/name@revision`` -> (repo, revision); None when it is not a Hub id."""
    repo, _, rev = text.partition("@")
    if not REPO_ID.match(repo) or text.endswith(".gguf") or Path(repo).exists():
        return None
    return repo, (rev or None)


def cache_dir() -> Path:
    home = os.environ.get("VRAMTUI_HOME")
    if home:
        return Path(home) / "cache" / "hub"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("vramtui")) / "hub"


def _cache_file(repo: str, revision: str | None) -> Path:
    return cache_dir() / f"{repo.replace('/', '--')}@{revision or 'main'}.json"


def hub_model(repo: str, revision: str | None = None) -> HubModel:
    where = f"{repo}@{revision}" if revision else repo
    try:
        config, tensors, cached = _read(repo, revision, where)
        spec, fmt = checkpoint_spec(config, tensors, repo, f"https://huggingface.co/{repo}")
    except CheckpointError as exc:
        raise HubError(f"{where}: {exc}") from None
    return HubModel(spec, repo, revision, fmt, cached)


def _read(repo: str, revision: str | None, where: str) -> tuple[dict[str, Any], list[Tensor], bool]:
    cache = _cache_file(repo, revision)
    try:
        config, tensors = _fetch(repo, revision, where)
    except Offline as exc:
        if cache.is_file():
            data = json.loads(cache.read_text())
            return data["config"], [Tensor(n, d, tuple(s)) for n, d, s in data["tensors"]], True
        raise HubError(f"{where}: {exc}; its metadata is not cached yet (read it once online)") from None
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps({"config": config, "tensors": [[t.name, t.dtype, list(t.shape)] for t in tensors]}))
    tmp.replace(cache)
    return config, tensors, False


class Offline(Exception):
    """No answer from the Hub: the caller falls back to what it cached."""


def quiet_logs() -> None:
    for name in ("huggingface_hub", "httpx", "httpx2", "httpcore"):  # their retry warnings are ours to say, in one line
        logging.getLogger(name).setLevel(logging.ERROR)


@contextmanager
def hub_errors(where: str, missing: str, revision: str | None = None) -> Iterator[None]:
    """huggingface_hub's errors as one line each (HubError), or Offline when nothing answered."""
    from huggingface_hub import errors as hf

    try:
        yield
    except hf.GatedRepoError:
        raise HubError(f"{where} is gated: accept its terms on the model page and set HF_TOKEN") from None
    except hf.RevisionNotFoundError:
        raise HubError(f"{where}: revision {revision!r} not found") from None
    except hf.RepositoryNotFoundError:
        raise HubError(f"{where}: no such model on the Hub (a private one needs HF_TOKEN)") from None
    except (hf.OfflineModeIsEnabled, hf.LocalEntryNotFoundError) as exc:  # before EntryNotFound: a subclass
        raise Offline(f"the Hub cannot be reached ({type(exc).__name__})") from None
    except hf.EntryNotFoundError:
        raise HubError(f"{where}: {missing}") from None
    except hf.NotASafetensorsRepoError:
        raise HubError(f"{where}: no model.safetensors or model.safetensors.index.json to read") from None
    except hf.SafetensorsParsingError as exc:
        raise HubError(f"{where}: a safetensors header could not be read ({exc})") from None
    except hf.HfHubHTTPError as exc:  # the server answered, with an error
        status = exc.response.status_code if exc.response is not None else "an error"
        raise HubError(f"{where}: the Hub answered {status}") from None
    except (hf.HTTPError, OSError) as exc:  # no answer: connection refused, DNS, timeout
        raise Offline(f"the Hub cannot be reached ({type(exc).__name__})") from None


def _fetch(repo: str, revision: str | None, where: str) -> tuple[dict[str, Any], list[Tensor]]:
    from huggingface_hub import HfApi

    quiet_logs()
    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=os.environ.get("HF_TOKEN") or None)
    with hub_errors(where, "the repo has no config.json", revision):
        path = api.hf_hub_download(repo, "config.json", revision=revision, cache_dir=str(cache_dir() / "files"))
        meta = api.get_safetensors_metadata(repo, revision=revision)
    try:
        config = json.loads(Path(path).read_text())
    except json.JSONDecodeError:
        raise HubError(f"{where}: config.json is not JSON") from None
    tensors = [Tensor(name, info.dtype, tuple(info.shape))
               for fm in meta.files_metadata.values() for name, info in fm.tensors.items()]
    return config, tensors
