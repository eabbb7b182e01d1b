"""Objectives by name: `objective.name` in a recipe picks one.

Adding an objective is adding a file: every public module in this package is imported (lazily, on
the first look-up) and registers its class with `@register_objective("name")`.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from audiovae.objectives.base import Objective, ObjectiveOutput

_REGISTRY: dict[str, type[Objective]] = {}
_SCANNED = False


def register_objective(name: str):
    """Class decorator: make an Objective subclass available under `name`."""

    def wrap(cls: type[Objective]) -> type[Objective]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"objective name {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def _scan() -> None:
    global _SCANNED
    if _SCANNED:
        return
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _SCANNED = True


def available_objectives() -> list[str]:
    """Names accepted by `objective.name`."""
    _scan()
    return sorted(_REGISTRY)


def get_objective(name: str) -> type[Objective]:
    """The Objective class registered as `name` (KeyError listing the valid names if unknown)."""
    _scan()
    if name not in _REGISTRY:
        raise KeyError(f"unknown objective {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def __getattr__(name: str):
    # Lazy: the generation side imports only a constant of this package (objectives.kl), and
    # objectives.base brings pydantic (~0.1 s of every command's start-up).
    if name in ("Objective", "ObjectiveOutput"):
        from audiovae.objectives import base

        return getattr(base, name)
    raise AttributeError(name)


__all__ = [
    "Objective",
    "ObjectiveOutput",
    "available_objectives",
    "get_objective",
    "register_objective",
]
