"""A tiny name -> factory registry, shared by datasets, maskers and models.

Example:
    >>> from focusmim.registry import Registry
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

from typing import Any, Callable


class Registry:
    """Maps names to factories; ``build(name, **kw)`` calls the factory.

    Unknown names raise a ``ValueError`` that lists the allowed names, so a
    typo in a notebook parameter fails before any work starts.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._factories: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._factories[name] = factory
            return factory

        return deco

    def names(self) -> list[str]:
        return sorted(self._factories)

    def check(self, name: str, parameter: str | None = None) -> str:
        """Return ``name`` if registered, else raise a clear ``ValueError``."""
        if name not in self._factories:
            param = parameter or self.kind
            raise ValueError(
                f"{param}={name!r} is not a known {self.kind}; allowed: {', '.join(self.names())}"
            )
        return name

    def get(self, name: str) -> Callable[..., Any]:
        return self._factories[self.check(name)]

    def build(self, name: str, **kwargs: Any) -> Any:
        return self.get(name)(**kwargs)

    def __contains__(self, name: object) -> bool:
        return name in self._factories
