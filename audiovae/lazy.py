"""Package attributes imported on first use (PEP 562), so `audiovae --help` loads no torch."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], object]:
    """A module-level `__getattr__` for `package` that imports `exports[name]` (a module path)
    the first time `name` is read, and keeps the value as a plain attribute from then on."""

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # also wins over a same-named submodule
        return value

    return __getattr__
