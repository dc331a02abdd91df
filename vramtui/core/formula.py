"""Arithmetic that renders itself: the "how" text beside each number, built from the same values.

A component's reason starts with the sum it did, written so a reader can redo it with a calculator:
numbers with a word or two of label, the operators × ÷ + − and max(...), MiB/GiB/% as units, and
parentheses only for grouping. Anything that is not arithmetic (where a default came from, which
source) follows after a "; ". ``tests/test_how_formulas.py`` parses the text as shown, without this
module, and checks it gives the number shown.
"""

from __future__ import annotations

from contextvars import ContextVar

from .units import GiB, MiB

# the solvers estimate a scenario dozens of times per GPU and read only the bytes: inside ``silent()``
# every formula is one shared empty term, and ``explain`` returns "", so no text is built
_SILENT: ContextVar[bool] = ContextVar("vramtui_formula_silent", default=False)


class silent:  # noqa: N801 (used as a function: ``with silent():``)
    """Inside, every formula is the shared empty term and no text is built. A class rather than a
    generator-based context manager: the solvers enter it once per card size (~40 per grid)."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _SILENT.set(True)

    def __exit__(self, *exc: object) -> None:
        _SILENT.reset(self._token)


def explaining() -> bool:
    """False inside ``silent()``. The formula helpers below already return one shared empty term
    there; a component whose formula is more than a few of them checks this once and returns its
    bytes before building any formula or comment (the solvers' estimates are about half text work)."""
    return not _SILENT.get()


_SUM, _PRODUCT, _ATOM = 0, 1, 2


def number(v: float) -> str:
    """A number as the formula prints it: thousands separated, no exponent, enough digits to redo the sum."""
    if float(v).is_integer():
        return f"{int(v):,}"
    if abs(v) >= 100:
        return f"{v:,.1f}"
    text = f"{v:.5g}"
    return text if "e" not in text else f"{v:.8f}".rstrip("0")


class Term:
    """A value and the formula text that gives it; never changed once made. A plain class with slots,
    not a frozen dataclass: an estimate with its text makes ~40 of them, and a frozen dataclass
    takes three times as long to make."""

    __slots__ = ("value", "text", "prec")

    def __init__(self, value: float, text: str, prec: int = _ATOM) -> None:
        self.value, self.text, self.prec = value, text, prec

    def _wrapped(self, below: int) -> str:
        return f"({self.text})" if self.prec < below else self.text

    def __add__(self, other: Term) -> Term:
        return Term(self.value + other.value, f"{self.text} + {other.text}", _SUM)

    def __sub__(self, other: Term) -> Term:
        return Term(self.value - other.value, f"{self.text} − {other._wrapped(_PRODUCT)}", _SUM)

    def __mul__(self, other: Term) -> Term:
        return Term(self.value * other.value, f"{self._wrapped(_PRODUCT)} × {other._wrapped(_PRODUCT)}", _PRODUCT)

    def __truediv__(self, other: Term) -> Term:
        return Term(self.value / other.value, f"{self._wrapped(_PRODUCT)} ÷ {other._wrapped(_ATOM)}", _PRODUCT)

    def __int__(self) -> int:
        return int(self.value)


class _Silent(Term):
    """The formula inside ``silent()``: every operation returns it, nothing is formatted."""

    def __add__(self, other: Term) -> Term:
        return self

    __sub__ = __mul__ = __truediv__ = __add__


SILENT = _Silent(0.0, "")


def q(value: float, label: str = "") -> Term:
    """A plain quantity: ``q(32, "layers")`` reads "32 layers"."""
    if _SILENT.get():
        return SILENT
    return Term(value, f"{number(value)} {label}".rstrip())


def mib(n: float, label: str = "") -> Term:
    if _SILENT.get():
        return SILENT
    return Term(n * MiB, f"{number(n)} MiB {label}".rstrip())


def size(n_bytes: float, label: str = "") -> Term:
    """Bytes in the unit a reader expects: GiB to 3 decimals from 1 GiB, else MiB to 2."""
    if _SILENT.get():
        return SILENT
    text = f"{n_bytes / GiB:,.3f} GiB" if abs(n_bytes) >= GiB else f"{n_bytes / MiB:,.2f} MiB"
    return Term(n_bytes, f"{text} {label}".rstrip())


def percent(share: float, label: str = "") -> Term:
    if _SILENT.get():
        return SILENT
    return Term(share, f"{number(round(share * 100, 2))} % {label}".rstrip())


def tmax(*terms: Term) -> Term:
    if _SILENT.get():
        return SILENT
    best = max(t.value for t in terms)
    return Term(best, "max(" + ", ".join(t.text for t in terms) + ")")


def explain(formula: Term | str, *comments: str) -> str:
    """The text shown: the formula (or one already rendered), then what is not arithmetic."""
    if _SILENT.get():
        return ""
    text = formula.text if isinstance(formula, Term) else formula
    return "; ".join([text, *(c for c in comments if c)])
