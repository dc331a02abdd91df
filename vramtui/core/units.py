"""Byte units and the context-length shorthand people type (``8k``, ``32K``, ``128k``).

Internally everything is an integer of bytes. GiB is the default display because GPU capacities
and nvidia-smi are binary; GB (decimal) is the guide's unit. Never mix the two in one comparison.
"""

from __future__ import annotations

import re
from typing import Literal

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
GB = 10**9

Unit = Literal["GiB", "GB"]


def fmt_bytes(n: int | float, unit: Unit = "GiB", digits: int = 2) -> str:
    div = GiB if unit == "GiB" else GB
    return f"{n / div:,.{digits}f} {unit}"


def to_unit(n: int | float, unit: Unit = "GiB") -> float:
    return n / (GiB if unit == "GiB" else GB)


def fmt_count(n: int) -> str:
    """8,030,261,248 -> '8.03B'."""
    units = ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K"))
    for i, (div, suffix) in enumerate(units):
        if abs(n) >= div:
            if i and float(f"{n / div:.3g}") >= 1000:  # 999.9M shows as 1B, not 1e+03M
                div, suffix = units[i - 1]
            return f"{n / div:.3g}{suffix}"
    return str(n)


def fmt_tokens(n: int) -> str:
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024}K"
    return f"{n:,}"


_TOKENS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")


def parse_tokens(text: str) -> int:
    """'8k' -> 8192, '32K' -> 32768, '1.5k' -> 1536, '4096' -> 4096, '1m' -> 1048576.

    k means 1024 tokens, as model cards use it (Llama 3.1's "128K" window is 131,072).
    """
    m = _TOKENS.match(text.replace(",", "").replace("_", ""))
    if not m:
        raise ValueError(f"{text!r} is not a token count; use a number like 8192, 8k or 128K")
    value, suffix = float(m.group(1)), m.group(2).lower()
    scale = {"": 1, "k": 1024, "m": 1024 * 1024}[suffix]
    tokens = value * scale
    if tokens != int(tokens):
        raise ValueError(f"{text!r} is not a whole number of tokens")
    if tokens < 1:
        raise ValueError(f"{text!r}: a context needs at least 1 token")
    return int(tokens)


_MONEY = re.compile(r"^\s*\$?\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmM]?)\s*$")


def parse_money(text: str) -> float:
    """'2000', '$2,000', '2k', '1.5K', '$1m' -> US dollars (k = 1,000 here, as prices are written)."""
    m = _MONEY.match(text.replace(",", "").replace("_", ""))
    if not m:
        raise ValueError(f"{text!r} is not an amount; use 2000, $2,000 or 2k")
    return float(m.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]


def within_budget(price_usd: float, gpus_needed: int | None, budget: float | None) -> bool:
    """Whether the GPUs the scenario needs (price × count) cost at most ``budget``; none needed: no."""
    if budget is None:
        return True
    return gpus_needed is not None and price_usd * gpus_needed <= budget
