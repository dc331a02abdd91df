"""Frozen, validated records: the scenario's, the presets' and the points' fields, without pydantic.

Why not pydantic: importing it and building the core's models took ~165 ms on a 2-core VM, nine times
a bare ``python -c pass`` (docs/performance.md), and every command and the TUI's first frame paid it
before any number. These records keep the part of pydantic's interface the code used (``Field`` with
its bounds, ``field_validator``/``model_validator``, ``model_validate``, ``model_copy``,
``model_dump``, ``model_fields``) and its error wording and error types, so ``errors.describe`` words
a bad value the same way. The checks are strict like the pydantic configuration they replace: a
string is not a number, a bool is not an int, an int is a valid float (and becomes one), extra keys
are refused. What they do not do: coercion, JSON schema, generics, arbitrary types. A field's type is
one of ``int``, ``float``, ``str``, ``bool``, ``Any``, ``Literal[...]``, ``tuple[T, ...]``, ``list[T]``,
``dict[K, V]``, another record, or ``X | None`` of those; anything else fails when the class is first validated.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from typing import Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

R = TypeVar("R", bound="Record")
_MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<required>"})()


class ValidationError(ValueError):
    """Every problem found in one input, each as pydantic reports it: loc, msg, type, input."""

    def __init__(self, title: str, errors: list[dict[str, Any]]):
        self.title = title
        self._errors = errors
        lines = [f"{len(errors)} validation error{'s' if len(errors) != 1 else ''} for {title}"]
        for e in errors:
            lines.append(".".join(str(p) for p in e["loc"]) or title)
            lines.append(f"  {e['msg']} [type={e['type']}, input_value={e['input']!r}]")
        super().__init__("\n".join(lines))

    def errors(self) -> list[dict[str, Any]]:
        return list(self._errors)


class _Bad(Exception):
    """Failed checks inside a validation, carried up (each level prefixing its key to their loc) to the
    record that reports them as a ValidationError."""

    def __init__(self, kind: str, msg: str, value: Any, loc: tuple = ()):
        self.errors = [{"loc": loc, "msg": msg, "type": kind, "input": value}]

    @classmethod
    def of(cls, errors: list[dict[str, Any]]) -> _Bad:
        bad = cls.__new__(cls)
        bad.errors = errors
        return bad


class FieldInfo:
    """A field's default, alias, bounds and description: what ``fields.bounds`` and the help read."""

    __slots__ = ("default", "alias", "description", "ge", "gt", "le", "lt", "pattern", "min_length", "max_length")

    def __init__(self, default: Any = _MISSING, *, alias: str | None = None, description: str | None = None,
                 ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None,
                 pattern: str | None = None, min_length: int | None = None, max_length: int | None = None):
        self.default, self.alias, self.description = default, alias, description
        self.ge, self.gt, self.le, self.lt = ge, gt, le, lt
        self.pattern, self.min_length, self.max_length = pattern, min_length, max_length

    @property
    def required(self) -> bool:
        return self.default is _MISSING


def Field(default: Any = _MISSING, **kwargs: Any) -> Any:  # noqa: N802 - pydantic's name, kept for the class bodies
    return FieldInfo(default, **kwargs)


def ConfigDict(**kwargs: Any) -> dict[str, Any]:  # noqa: N802
    """``extra="forbid"`` and ``frozen`` are what every record is; ``strict`` is how every field checks."""
    return kwargs


def field_validator(*names: str, mode: Literal["before", "after"] = "after") -> Callable[[Any], Any]:
    """Mark a classmethod ``(cls, value) -> value`` to run on the named fields, before or after their
    type check; a ValueError it raises becomes that field's error."""
    def mark(method: Any) -> Any:
        func: Any = method.__func__ if isinstance(method, classmethod) else method
        func.__record_field__ = (names, mode)
        return method
    return mark


def model_validator(*, mode: Literal["after"] = "after") -> Callable[[Any], Any]:
    """Mark a method ``(self) -> self`` that checks fields together once all of them are valid."""
    def mark(func: Any) -> Any:
        func.__record_model__ = mode
        return func
    return mark


def _type_error(kind: str, what: str) -> Callable[[Any], _Bad]:
    return lambda v: _Bad(kind, f"Input should be a valid {what}", v)


def _check_int(v: Any) -> int:
    if type(v) is not int:
        raise _type_error("int_type", "integer")(v)
    return v


def _check_float(v: Any) -> float:
    if type(v) is float:
        return v
    if type(v) is int:
        return float(v)
    raise _Bad("float_type", "Input should be a valid number", v)


def _check_str(v: Any) -> str:
    if type(v) is not str:
        raise _type_error("string_type", "string")(v)
    return v


def _check_bool(v: Any) -> bool:
    if type(v) is not bool:
        raise _type_error("bool_type", "boolean")(v)
    return v


_SCALARS: dict[Any, Callable[[Any], Any]] = {int: _check_int, float: _check_float, str: _check_str, bool: _check_bool}


def _literal(choices: tuple) -> Callable[[Any], Any]:
    shown = [repr(c) for c in choices]
    msg = "Input should be " + (shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}")

    def check(v: Any) -> Any:
        for c in choices:
            if v == c and type(v) is type(c):
                return c
        raise _Bad("literal_error", msg, v)
    return check


def _sequence(kind: type[tuple] | type[list], item: Callable[[Any], Any]) -> Callable[[Any], Any]:
    name = "tuple" if kind is tuple else "list"

    def check(v: Any) -> Any:
        if type(v) is not kind:
            raise _Bad(f"{name}_type", f"Input should be a valid {name}", v)
        out: list[Any] = []
        for i, x in enumerate(v):
            try:
                out.append(item(x))
            except _Bad as bad:
                for e in bad.errors:
                    e["loc"] = (i, *e["loc"])
                raise
        return kind(out)
    return check


def _nested(cls: type[Record]) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if isinstance(v, cls):
            return v
        if not isinstance(v, dict):
            raise _Bad("model_type", f"Input should be a valid dictionary or instance of {cls.__name__}", v)
        return cls._build(v)
    return check


def _checker(tp: Any) -> Callable[[Any], Any]:
    """The check (and conversion) for one annotation."""
    if tp in _SCALARS:
        return _SCALARS[tp]
    if tp is Any:
        return lambda v: v
    if isinstance(tp, type) and issubclass(tp, Record):
        return _nested(tp)
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        return _literal(args)
    if origin in (tuple, list) and (origin is list or (len(args) == 2 and args[1] is Ellipsis)):
        return _sequence(origin, _checker(args[0]))
    if origin is dict and len(args) == 2:
        key, value = _checker(args[0]), _checker(args[1])

        def mapping(v: Any) -> Any:
            if type(v) is not dict:
                raise _Bad("dict_type", "Input should be a valid dictionary", v)
            return {key(k): value(x) for k, x in v.items()}
        return mapping
    if origin in (Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            inner = _checker(rest[0])
            return lambda v: None if v is None else inner(v)
    raise TypeError(f"record fields cannot be {tp!r}")


def _num(bound: float) -> str:
    """A bound as pydantic prints it: 0.0 as 0, 0.5 as 0.5."""
    return str(int(bound)) if isinstance(bound, float) and bound.is_integer() else str(bound)


def _bounds(info: FieldInfo) -> Callable[[Any], Any] | None:
    """The field's constraints, worded as pydantic words them."""
    checks: list[Callable[[Any], None]] = []

    def add(test: Callable[[Any], bool], kind: str, msg: str) -> None:
        def check(v: Any) -> None:
            if not test(v):
                raise _Bad(kind, msg, v)
        checks.append(check)

    ge, gt, le, lt = info.ge, info.gt, info.le, info.lt
    if ge is not None:
        add(lambda v: v >= ge, "greater_than_equal", f"Input should be greater than or equal to {_num(ge)}")
    if gt is not None:
        add(lambda v: v > gt, "greater_than", f"Input should be greater than {_num(gt)}")
    if le is not None:
        add(lambda v: v <= le, "less_than_equal", f"Input should be less than or equal to {_num(le)}")
    if lt is not None:
        add(lambda v: v < lt, "less_than", f"Input should be less than {_num(lt)}")
    if info.min_length is not None:
        n = info.min_length
        add(lambda v: len(v) >= n, "too_short", f"Value should have at least {n} item{'s' if n != 1 else ''}")
    if info.max_length is not None:
        n = info.max_length
        add(lambda v: len(v) <= n, "string_too_long", f"String should have at most {n} character{'s' if n != 1 else ''}")
    if info.pattern is not None:
        rx = re.compile(info.pattern)
        add(lambda v: rx.search(v) is not None, "string_pattern_mismatch", f"String should match pattern '{info.pattern}'")
    if not checks:
        return None

    def run(v: Any) -> Any:
        if v is not None:
            for c in checks:
                c(v)
        return v
    return run


def _value_error(exc: Exception, value: Any) -> _Bad:
    if isinstance(exc, AssertionError):
        return _Bad("assertion_error", f"Assertion failed, {exc}", value)
    return _Bad("value_error", f"Value error, {exc}", value)


class Record:
    """A frozen record whose fields are its class annotations; see the module docstring."""

    model_config: ClassVar[dict[str, Any]] = {}
    model_fields: ClassVar[dict[str, FieldInfo]] = {}
    _plan: ClassVar[list[tuple[str, str, Any, Callable[[Any], Any]]] | None] = None
    _after: ClassVar[list[str]] = []
    _keys: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, FieldInfo] = {}
        for base in reversed(cls.__mro__[1:]):
            fields.update(getattr(base, "model_fields", {}))
        for name, ann in cls.__dict__.get("__annotations__", {}).items():
            if name.startswith("_") and not name.endswith("_") or "ClassVar" in str(ann):
                continue
            value = cls.__dict__.get(name, _MISSING)
            fields[name] = value if isinstance(value, FieldInfo) else FieldInfo(value)
            if name in cls.__dict__:
                delattr(cls, name)  # the value lives on the instance; the default in model_fields
        cls.model_fields = fields
        cls._plan = None

    # building --------------------------------------------------------------------------------------
    @classmethod
    def _compile(cls) -> list[tuple[str, str, Any, Callable[[Any], Any]]]:
        """Per field (name, input key, default, check): made on first use, so importing costs nothing."""
        hints = get_type_hints(cls)
        before: dict[str, list[Any]] = {}
        after: dict[str, list[Any]] = {}
        model_checks: list[str] = []
        for klass in reversed(cls.__mro__):
            for attr, obj in vars(klass).items():
                func = obj.__func__ if isinstance(obj, classmethod) else obj
                marked = getattr(func, "__record_field__", None)
                if marked:
                    names, mode = marked
                    for n in names:
                        (before if mode == "before" else after).setdefault(n, []).append(attr)
                if getattr(func, "__record_model__", None):
                    model_checks.append(attr)
        plan = []
        for name, info in cls.model_fields.items():
            check = _checker(hints[name])
            bounds = _bounds(info)
            pre = [getattr(cls, a) for a in before.get(name, [])]
            post = [getattr(cls, a) for a in after.get(name, [])]
            plan.append((name, info.alias or name, info.default, _field(check, bounds, pre, post)))
        cls._after = model_checks
        cls._keys = frozenset(key for _, key, _, _ in plan)
        cls._plan = plan
        return plan

    @classmethod
    def _build(cls: type[R], data: dict[str, Any]) -> R:
        plan = cls._plan or cls._compile()
        errors: list[dict[str, Any]] = []
        values: dict[str, Any] = {}
        for name, key, default, check in plan:
            if key in data:
                try:
                    values[name] = check(data[key])
                except _Bad as bad:
                    for e in bad.errors:
                        e["loc"] = (key, *e["loc"])
                    errors.extend(bad.errors)
            elif default is _MISSING:
                errors.append({"loc": (key,), "msg": "Field required", "type": "missing", "input": data})
            else:
                values[name] = default
        if cls.model_config.get("extra", "forbid") == "forbid":
            for key in data:
                if key not in cls._keys:
                    errors.append({"loc": (key,), "msg": "Extra inputs are not permitted", "type": "extra_forbidden",
                                   "input": data[key]})
        if errors:
            raise _Bad.of(errors)
        obj = cls.__new__(cls)
        object.__setattr__(obj, "__dict__", values)
        for attr in cls._after:
            try:
                obj = getattr(obj, attr)()
            except (ValueError, AssertionError) as exc:
                raise _value_error(exc, data) from None
        return obj

    @classmethod
    def model_validate(cls: type[R], data: Any) -> R:
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise ValidationError(cls.__name__, [{"loc": (), "type": "model_type", "input": data,
                                                   "msg": f"Input should be a valid dictionary or instance of {cls.__name__}"}])
        try:
            return cls._build(data)
        except _Bad as bad:
            raise ValidationError(cls.__name__, bad.errors) from None

    def __init__(self, **data: Any):
        try:
            built = type(self)._build(data)
        except _Bad as bad:
            raise ValidationError(type(self).__name__, bad.errors) from None
        object.__setattr__(self, "__dict__", built.__dict__)

    # using -----------------------------------------------------------------------------------------
    def model_copy(self: R, *, update: dict[str, Any] | None = None) -> R:
        """A copy with ``update`` applied as is (not validated, as in pydantic)."""
        new = object.__new__(type(self))
        object.__setattr__(new, "__dict__", {**self.__dict__, **update} if update else dict(self.__dict__))
        return new

    def model_dump(self, *, by_alias: bool = False, exclude_none: bool = False, exclude_defaults: bool = False,
                   exclude: set[str] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, info in type(self).model_fields.items():
            if exclude and name in exclude:
                continue
            v = self.__dict__[name]
            if exclude_none and v is None or exclude_defaults and info.default is not _MISSING and v == info.default:
                continue
            if isinstance(v, Record):
                v = v.model_dump(by_alias=by_alias, exclude_none=exclude_none, exclude_defaults=exclude_defaults)
            out[info.alias or name if by_alias else name] = v
        return out

    def __setattr__(self, name: str, value: Any) -> None:
        raise ValidationError(type(self).__name__, [{"loc": (name,), "msg": "Instance is frozen",
                                                     "type": "frozen_instance", "input": value}])

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        return hash((type(self), *self.__dict__.values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


def _field(check: Callable[[Any], Any], bounds: Callable[[Any], Any] | None,
           pre: list[Callable[[Any], Any]], post: list[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    """One field's whole check: before-validators, the type, the bounds, after-validators."""
    if not (bounds or pre or post):
        return check

    def full(v: Any) -> Any:
        for f in pre:
            try:
                v = f(v)
            except (ValueError, AssertionError) as exc:
                raise _value_error(exc, v) from None
        v = check(v)
        if bounds:
            bounds(v)
        for f in post:
            try:
                v = f(v)
            except (ValueError, AssertionError) as exc:
                raise _value_error(exc, v) from None
        return v
    return full
