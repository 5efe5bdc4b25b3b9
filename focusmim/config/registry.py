"""A tiny name -> factory registry, shared by datasets, maskers, models and objectives.

Each registered name builds one thing and may declare its keyword parameters as
:class:`Param` schemas, so a configuration can be checked from its values alone
(no factory is called, no checkpoint is read):

    >>> from focusmim.config.registry import Param, Registry
    >>> shapes = Registry("shape")
    >>> @shapes.register("square", params={"side": Param("float", 1.0, low=0, low_open=True)})
    ... def square(side=1.0):
    ...     return side * side
    >>> shapes.check_params("square", {"side": 2})
    >>> shapes.check_params("square", {"sides": 2})
    Traceback (most recent call last):
    ...
    ValueError: shape 'square' has unknown key(s) sides; allowed: side
    >>> shapes.check_params("square", {"side": -1})
    Traceback (most recent call last):
    ...
    ValueError: side=-1 is not allowed; allowed: a number > 0

Example without schemas:
    >>> from focusmim.config.registry import Registry
    >>> animals = Registry("animal")
    >>> @animals.register("cat")
    ... def make_cat(lives=9):
    ...     return {"lives": lives}
    >>> animals.build("cat", lives=7)
    {'lives': 7}
    >>> animals.names()
    ['cat']
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Param", "Registry", "check_fields"]


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class Param:
    """The declared type and range of one parameter.

    ``kind`` is one of ``int``, ``float``, ``bool``, ``str``, ``choice`` (one of
    ``choices``), ``pair`` (two numbers in [low, high]), ``range`` (a pair ``(a, b)`` with
    ``low <= a <= b <= high``, e.g. a crop's area range), ``ints`` (a list of whole
    numbers >= low) or ``any`` (not checked: objects such as a network). ``none``
    allows ``None``; ``low``/``high`` bound numbers (open bounds with
    ``low_open``/``high_open``).

        >>> Param("int", 3, low=1).check("n", 0)
        Traceback (most recent call last):
        ...
        ValueError: n=0 is not allowed; allowed: a whole number >= 1
        >>> Param("choice", "a", choices=("a", "b")).allowed()
        "'a', 'b'"
        >>> Param("range", low=0, high=1, low_open=True).check("scale", (0.5, 0.2))
        Traceback (most recent call last):
        ...
        ValueError: scale=(0.5, 0.2) is not allowed; allowed: a pair (a, b) with 0 < a <= b <= 1
    """

    kind: str
    default: Any = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple = ()
    none: bool = False
    doc: str = ""

    def allowed(self) -> str:
        """The allowed values in words."""
        if self.kind == "choice":
            text = ", ".join(map(repr, self.choices))
        elif self.kind == "bool":
            text = "True, False"
        elif self.kind == "str":
            text = "a string"
        elif self.kind == "any":
            text = "anything"
        elif self.kind == "pair":
            text = f"a pair of numbers (a, b) with {self.low:g} <= a, b <= {self.high:g}"
        elif self.kind == "range":
            lo = f"{self.low:g} {'<' if self.low_open else '<='} " if self.low is not None else ""
            hi = f" {'<' if self.high_open else '<='} {self.high:g}" if self.high is not None else ""
            text = f"a pair (a, b) with {lo}a <= b{hi}"
        elif self.kind == "ints":
            text = f"a list of whole numbers >= {self.low:g}"
        else:
            text = ("a whole number" if self.kind == "int" else "a number") + self._range()
        return f"None or {text}" if self.none else text

    def _range(self) -> str:
        lo = None if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        hi = None if self.high is None else f"{'<' if self.high_open else '<='} {self.high:g}"
        if lo and hi:
            if self.low_open == self.high_open:
                return f" {'strictly ' if self.low_open else ''}between {self.low:g} and {self.high:g}"
            return f" {lo} and {hi}"
        return f" {lo or hi}" if (lo or hi) else ""

    def ok(self, v: Any) -> bool:
        """Whether ``v`` is an allowed value."""
        if v is None:
            return self.none
        if self.kind == "any":
            return True
        if self.kind == "bool":
            return isinstance(v, bool)
        if self.kind == "str":
            return isinstance(v, str)
        if self.kind == "choice":
            return isinstance(v, (str, int, float)) and v in self.choices
        if self.kind == "pair":
            return (isinstance(v, (list, tuple)) and len(v) == 2
                    and all(_number(x) and self.low <= x <= self.high for x in v))
        if self.kind == "range":
            return (isinstance(v, (list, tuple)) and len(v) == 2 and all(self._in_range(x) for x in v)
                    and v[0] <= v[1])
        if self.kind == "ints":
            return isinstance(v, (list, tuple)) and all(
                isinstance(x, int) and not isinstance(x, bool) and x >= self.low for x in v)
        if self.kind == "int" and (isinstance(v, bool) or not isinstance(v, int)):
            return False
        return self._in_range(v)

    def _in_range(self, v: Any) -> bool:
        """A finite number within ``low``/``high`` (open or closed)."""
        if not _number(v):
            return False
        if self.low is not None and (v < self.low or (self.low_open and v == self.low)):
            return False
        if self.high is not None and (v > self.high or (self.high_open and v == self.high)):
            return False
        return True

    def check(self, name: str, v: Any) -> None:
        """Raise ``ValueError`` naming ``name`` unless ``v`` is allowed."""
        if not self.ok(v):
            raise ValueError(f"{name}={v!r} is not allowed; allowed: {self.allowed()}")


def check_fields(params: dict, schema: dict[str, Param], where: str) -> None:
    """Check a dict against a schema: unknown keys (listing the allowed ones), then each value.

        >>> check_fields({"k": 1}, {"n": Param("int")}, "masker_params of masker 'x'")
        Traceback (most recent call last):
        ...
        ValueError: masker_params of masker 'x' has unknown key(s) k; allowed: n
    """
    if not isinstance(params, dict):
        raise ValueError(f"{where}={params!r} is not allowed; allowed: a dict with keys from "
                         f"{', '.join(sorted(schema)) or 'none'}")
    unknown = [k for k in params if k not in schema]
    if unknown:
        raise ValueError(f"{where} has unknown key(s) {', '.join(map(str, unknown))}; "
                         f"allowed: {', '.join(sorted(schema)) or 'none'}")
    for k, v in params.items():
        schema[k].check(k, v)


class Registry:
    """Maps names to factories; ``build(name, **kw)`` calls the factory.

    Unknown names raise a ``ValueError`` that lists the allowed names, so a
    typo in a notebook parameter fails before any work starts.
    """

    def __init__(self, kind: str, match_signature: bool = True):
        self.kind = kind
        self.match_signature = match_signature  # declared parameters == the factory's keyword parameters
        self._factories: dict[str, Callable[..., Any]] = {}
        self._params: dict[str, dict[str, Param]] = {}
        self._rules: dict[str, Callable[[dict], None]] = {}

    def register(self, name: str, params: dict[str, Param] | None = None,
                 rule: Callable[[dict], None] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a factory under ``name``; ``params`` declares its keyword parameters
        (they must be exactly the factory's, checked here), ``rule`` checks combinations
        of them (raises ``ValueError``)."""
        def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            declared = self._params.get(name) if params is None else params
            if declared is not None and self.match_signature:
                sig = [p for p in inspect.signature(factory).parameters.values()
                       if p.name not in ("self", "cfg", "model") and p.kind is not p.VAR_KEYWORD]
                if sorted(p.name for p in sig) != sorted(declared):
                    raise TypeError(f"{self.kind} {name!r}: declared parameters {sorted(declared)} differ from "
                                    f"the factory's {sorted(p.name for p in sig)}")
            if declared is not None:
                self._params[name] = dict(declared)
            if rule is not None:
                self._rules[name] = rule
            self._factories[name] = factory
            return factory

        return deco

    def declare(self, name: str, params: dict[str, Param], rule: Callable[[dict], None] | None = None) -> None:
        """Declare ``name``'s parameters before (or without) its factory: a configuration can
        then be checked without importing the module that implements it. The factory
        registered later under ``name`` must take exactly these parameters."""
        self._params[name] = dict(params)
        if rule is not None:
            self._rules[name] = rule

    def params(self, name: str) -> dict[str, Param]:
        """The declared parameters of ``name`` (name -> :class:`Param`)."""
        return dict(self._params.get(self.check(name), {}))

    def check_params(self, name: str, params: dict, where: str | None = None) -> None:
        """Check ``params`` against the declared schema of ``name`` without building anything."""
        check_fields(params, self._params.get(self.check(name), {}), where or f"{self.kind} {name!r}")
        if name in self._rules:
            self._rules[name](params)

    def names(self) -> list[str]:
        """Registered and declared names, sorted."""
        return sorted(set(self._factories) | set(self._params))

    def check(self, name: str, parameter: str | None = None) -> str:
        """Return ``name`` if registered or declared, else raise a clear ``ValueError``."""
        if not isinstance(name, str) or name not in self.names():
            param = parameter or self.kind
            raise ValueError(
                f"{param}={name!r} is not a known {self.kind}; allowed: {', '.join(map(repr, self.names()))}"
            )
        return name

    def get(self, name: str) -> Callable[..., Any]:
        if self.check(name) not in self._factories:
            raise ValueError(f"{self.kind} {name!r} is declared but its module is not imported")
        return self._factories[name]

    def build(self, name: str, **kwargs: Any) -> Any:
        return self.get(name)(**kwargs)

    def __contains__(self, name: object) -> bool:
        return name in self._factories or name in self._params
