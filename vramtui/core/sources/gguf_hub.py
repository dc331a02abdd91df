"""A GGUF file in a Hub repo (``org/name/file.gguf``): its size from a HEAD request and its header by
range requests, growing the range until the header fits; the tensor data is never fetched. What was
read is cached, so the file works offline once seen."""

from __future__ import annotations

import json
import os

from .gguf_file import GGUFError, GGUFHeaderTooShort, GGUFModel, read_gguf_header
from .hub import Offline, cache_dir, hub_errors, quiet_logs

FIRST_RANGE = 4 << 20  # 4 MiB holds the header of most files (the tokenizer is the large part)
LAST_RANGE = 256 << 20


def read_hub_gguf(text: str) -> GGUFModel:
    org, name, *rest = text.split("/")
    repo, filename = f"{org}/{name}", "/".join(rest)
    cached = cache_dir() / "gguf" / (text.replace("/", "--") + ".json")
    try:
        header, size = _fetch(repo, filename, text)
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.with_suffix(".bin").write_bytes(header)
        cached.write_text(json.dumps({"size": size}))
    except Offline as exc:
        if not cached.is_file():
            raise GGUFError(f"{text}: {exc}; its header is not cached yet (read it once online)") from None
        header, size = cached.with_suffix(".bin").read_bytes(), json.loads(cached.read_text())["size"]
    return read_gguf_header(header, size, name=filename.rsplit("/", 1)[-1].removesuffix(".gguf"))


def _fetch(repo: str, filename: str, where: str) -> tuple[bytes, int]:
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    quiet_logs()
    endpoint, token = os.environ.get("HF_ENDPOINT") or None, os.environ.get("HF_TOKEN") or None
    url = hf_hub_url(repo, filename, endpoint=endpoint)
    with hub_errors(where, "no such file in the repo"):
        size = get_hf_file_metadata(url, token=token).size or 0
        want = FIRST_RANGE
        while True:
            r = get_session().get(url, headers={**build_hf_headers(token=token), "range": f"bytes=0-{want - 1}"},
                                  follow_redirects=True)
            hf_raise_for_status(r)
            try:
                read_gguf_header(r.content, size)
                return r.content, size
            except GGUFHeaderTooShort:
                if want >= min(size, LAST_RANGE):
                    raise GGUFError(f"{where}: header larger than {LAST_RANGE >> 20} MiB; not read") from None
                want *= 4
