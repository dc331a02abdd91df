"""One wording for validation errors everywhere: the key path, what is wrong, what is allowed."""

from __future__ import annotations

from .formats import KV_FORMATS, WEIGHT_FORMATS
from .record import Record, ValidationError


def allowed_keys(cls: type[Record]) -> str:
    return ", ".join(f.alias or n for n, f in cls.model_fields.items())


def describe(exc: ValidationError, prefix: str = "", cls: type[Record] | None = None) -> str:
    """``workload.batch_size: Input should be greater than or equal to 1 (got 0)`` from the first error."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    path = ".".join([prefix, *loc] if prefix else loc).replace("schema_", "schema")
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = f"; allowed keys: {allowed_keys(cls)}" if cls is not None else ""
        return f"{path}: unknown key{allowed}"
    msg = err["msg"].removeprefix("Value error, ")
    field = loc[-1] if loc else ""
    if (field == "weights" or "weight format" in msg) and "allowed" not in msg:
        msg = f"{msg}; allowed: {', '.join(WEIGHT_FORMATS)}"
    if field == "kv_cache" and "allowed" not in msg:
        msg = f"{msg}; allowed: {', '.join(KV_FORMATS)}"
    got = err.get("input")
    shown = f" (got {got!r})" if kind != "missing" and got is not None and not isinstance(got, (dict, list)) else ""
    return f"{path}: {msg}{shown}" if path else f"{msg}{shown}"
