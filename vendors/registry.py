"""The registry of vendors: the one table every other per-vendor table is derived from.

The built-in vendors' specs live in ``vendors/<name>/spec.py`` and are loaded on first use (the
spec modules import :mod:`~prefect_image_edit.imaging.limits`, which reads this registry, so
nothing is imported at module import time). :func:`register` adds another vendor at run time;
``tests/test_registry.py`` checks that every registered vendor is complete.
"""

from __future__ import annotations

import threading
from importlib import import_module

from prefect_image_edit.vendors.spec import VendorSpec

__all__ = [
    "BUILTIN",
    "erase_providers",
    "get",
    "names",
    "register",
    "specs",
    "unregister",
]

BUILTIN = ("ailabtools", "tencent", "volcengine")
"""The vendors shipped with the pack, each a package ``vendors/<name>/`` with a ``spec.py``."""

_specs: dict[str, VendorSpec] = {}
_loaded = False
_lock = threading.Lock()


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        for name in BUILTIN:
            spec = import_module(f"prefect_image_edit.vendors.{name}.spec").SPEC
            _specs.setdefault(spec.name, spec)
        _loaded = True


def register(spec: VendorSpec) -> VendorSpec:
    """Add a vendor (or replace one of the same name); returns ``spec``."""
    _load_builtin()
    if spec.name == "local":
        raise ValueError("'local' is the pack's own provider and cannot be a vendor name")
    _specs[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a vendor added with :func:`register` (tests)."""
    _load_builtin()
    if name in BUILTIN:
        raise ValueError(f"{name!r} is built in")
    _specs.pop(name, None)


def get(name: str) -> VendorSpec:
    """The spec of vendor ``name``; ``KeyError`` naming the known vendors otherwise."""
    _load_builtin()
    try:
        return _specs[name]
    except KeyError:
        raise KeyError(f"unknown vendor {name!r}; expected one of: {', '.join(names())}") from None


def names() -> tuple[str, ...]:
    """Every registered vendor's name, built-in ones first."""
    _load_builtin()
    return tuple(_specs)


def specs() -> tuple[VendorSpec, ...]:
    _load_builtin()
    return tuple(_specs.values())


def erase_providers() -> tuple[str, ...]:
    """Erase provider names: the pack's own ``local`` (OpenCV), then every vendor that erases."""
    return ("local", *(spec.name for spec in specs() if spec.erase is not None))
