"""A local server that answers the way the Hugging Face Hub does for the requests huggingface_hub makes
to read a repo's config.json and safetensors headers: HEAD and ranged GET on /{repo}/resolve/{rev}/{file},
with the Hub's X-Error-Code answers for missing and gated repos. Tests point HF_ENDPOINT at it."""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
from collections.abc import Iterable

from werkzeug import Request, Response

COMMIT = "0123456789abcdef0123456789abcdef01234567"
DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "I32": 4, "U8": 1}


def safetensors_file(tensors: Iterable[tuple[str, str, tuple[int, ...]]]) -> bytes:
    """A safetensors file's header (8-byte length + JSON with real dtypes, shapes and offsets) and
    zero-filled data: only the header is ever requested, by range."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, dtype, shape in tensors:
        size = math.prod(shape) * DTYPE_BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    # the data region is not sent in full: the server answers ranges of the header only
    return struct.pack("<Q", len(raw)) + raw


def _range(rng: str, size: int) -> tuple[int, int]:
    a, _, b = rng.removeprefix("bytes=").partition("-")
    return int(a), min(int(b) if b else size - 1, size - 1)


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.gated: set[str] = set()
        self.requests: list[str] = []
        self.paths: dict = {}

    def add_path(self, repo: str, name: str, path) -> None:
        """A large (sparse) file served from disk: HEAD gives its size, ranges read it."""
        self.paths[(repo, name)] = path
        self.repos.setdefault(repo, {})

    def add(self, repo: str, config: dict, tensors: list[tuple[str, str, tuple[int, ...]]]) -> None:
        self.repos[repo] = {"config.json": json.dumps(config).encode(), "model.safetensors": safetensors_file(tensors)}

    def handle(self, request: Request) -> Response:
        rng = request.headers.get("Range")
        self.requests.append(f"{request.method} {request.path}" + (f" {rng}" if rng else ""))
        m = re.match(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$", request.path)
        if not m:
            return Response("not found", 404, {"X-Error-Code": "RepoNotFound"})
        repo, file = m.group("repo"), m.group("file")
        if repo not in self.repos:
            return Response("Repository not found", 404, {"X-Error-Code": "RepoNotFound",
                                                          "X-Error-Message": "Repository not found"})
        if repo in self.gated and "authorization" not in {k.lower() for k in request.headers.keys()}:
            return Response("gated", 401, {"X-Error-Code": "GatedRepo", "X-Error-Message": "Access to this repo is restricted"})
        if (repo, file) in self.paths:
            return self._serve_path(self.paths[(repo, file)], request, rng)
        data = self.repos[repo].get(file)
        if data is None:
            return Response("Entry not found", 404, {"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found"})
        headers = {"X-Repo-Commit": COMMIT, "ETag": '"' + hashlib.sha1(data).hexdigest() + '"',
                   "Content-Length": str(len(data)), "Accept-Ranges": "bytes"}
        if request.method == "HEAD":  # the size of the file, without its body
            resp = Response(b"", 200)
            resp.headers.update(headers)
            return resp
        if rng:
            a, _, b = rng.removeprefix("bytes=").partition("-")
            start, end = int(a), min(int(b) if b else len(data) - 1, len(data) - 1)
            part = data[start:end + 1]
            return Response(part, 206, {**headers, "Content-Length": str(len(part)),
                                        "Content-Range": f"bytes {start}-{end}/{len(data)}"})
        return Response(data, 200, headers)

    def _serve_path(self, path, request: Request, rng: str | None) -> Response:
        size = path.stat().st_size
        headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{size}"', "Accept-Ranges": "bytes"}
        if request.method == "HEAD" or not rng:
            resp = Response(b"", 200)
            resp.headers.update({**headers, "Content-Length": str(size)})
            return resp
        start, end = _range(rng, size)
        with path.open("rb") as fh:
            fh.seek(start)
            part = fh.read(end - start + 1)
        return Response(part, 206, {**headers, "Content-Range": f"bytes {start}-{end}/{size}"})
