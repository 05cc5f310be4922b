"""One registry mechanism for every kind of plug-in: backbones, learners, losses, distances,
transductive methods, data sets, interpolation kinds, describers.

A :class:`Registry` maps a name to a factory (a class or a function) plus optional metadata::

    BACKBONES = Registry("backbone")

    @BACKBONES.register("conv4", feature_note="...")
    def conv4(in_channels=1, width=64): ...

    BACKBONES.create("conv4", in_channels=3)    # calls the factory
    BACKBONES.get("conv4")                      # the factory itself
    BACKBONES.info("conv4")                     # the metadata given at registration
    BACKBONES.create("nope")                    # ValueError: unknown backbone 'nope'; available: ...

A registry is also a read-only ``Mapping`` (``name in BACKBONES``, ``sorted(BACKBONES)``,
``BACKBONES[name]``), and ``BACKBONES[name] = factory`` still registers (the old dict style).
Plug-in modules (``FEWSHOT_PLUGINS=pkg.module``) register through the same decorator; every
registry remembers which module each entry came from, so a run can record the plug-in modules it
used (:func:`plugin_modules`) and a later evaluation imports them again (:func:`import_plugins`).

This module is a leaf: it imports nothing from fewshot.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: Every registry created, by kind (for contract tests and plug-in recording).
ALL: Dict[str, "Registry"] = {}
#: Plug-in modules imported through :func:`import_plugins` in this process.
IMPORTED: List[str] = []


class Registry(Mapping[str, Any]):
    """A name -> factory map with a ``register`` decorator and an error that lists the names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: Dict[str, Any] = {}
        self._info: Dict[str, Dict[str, Any]] = {}
        ALL[kind] = self

    # -- registration -------------------------------------------------------------------------
    def register(self, name: Optional[str] = None, *, replace: bool = False, **info: Any) -> Callable[[F], F]:
        """Decorator: register the decorated factory under ``name`` (default: its ``__name__``)."""
        def wrap(factory: F) -> F:
            self.add(name or factory.__name__, factory, replace=replace, **info)
            return factory
        return wrap

    def add(self, name: str, factory: Any, *, replace: bool = False, **info: Any) -> None:
        """Register ``factory`` under ``name``; a second registration of a name is an error
        unless ``replace=True`` (or it is the very same factory, e.g. a module imported twice)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        if name in self._entries and not replace and self._entries[name] is not factory:
            raise ValueError(f"{self.kind} {name!r} is already registered "
                             f"(by {_module_of(self._entries[name])}); pick another name")
        self._entries[name] = factory
        self._info[name] = dict(info)

    def __setitem__(self, name: str, factory: Any) -> None:  # the old dict style
        self.add(name, factory, replace=True)

    # -- lookup -------------------------------------------------------------------------------
    def get(self, name: str, default: Any = ...) -> Any:  # type: ignore[override]
        """The factory registered as ``name``; an unknown name is a ValueError listing the names."""
        if name in self._entries:
            return self._entries[name]
        if default is not ...:
            return default
        raise ValueError(self.unknown_message(name))

    def unknown_message(self, name: object) -> str:
        return f"unknown {self.kind} {name!r}; available: {', '.join(self.names()) or '(none)'}"

    def create(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the factory registered as ``name`` with the given arguments."""
        return self.get(name)(*args, **kwargs)

    def info(self, name: str) -> Dict[str, Any]:
        """The metadata given when ``name`` was registered."""
        self.get(name)
        return dict(self._info[name])

    def names(self) -> List[str]:
        return sorted(self._entries)

    def module_of(self, name: str) -> str:
        """The module that defines the factory registered as ``name``."""
        return _module_of(self.get(name))

    # -- Mapping ------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Any:
        if name not in self._entries:
            raise KeyError(self.unknown_message(name))
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.names())})"


def _module_of(factory: Any) -> str:
    return getattr(factory, "__module__", None) or type(factory).__module__


def plugin_modules(used: Mapping[str, Iterable[str]]) -> List[str]:
    """The modules outside fewshot / episodes that define the entries a run used.

    ``used`` maps a registry kind to the names taken from it, e.g. ``{"backbone": ["mynet"]}``;
    names not registered (yet) are skipped."""
    modules = set()
    for kind, names in used.items():
        registry = ALL.get(kind)
        if registry is None:
            continue
        for name in names:
            if name in registry:
                module = registry.module_of(name)
                if module.split(".")[0] not in ("fewshot", "episodes", "builtins"):
                    modules.add(module)
    return sorted(modules)


def import_plugins(modules: Iterable[str], source: str = "FEWSHOT_PLUGINS") -> List[str]:
    """Import each plug-in module (so it registers its entries); an import failure is a
    ValueError naming the module and where it came from."""
    done = []
    for name in modules:
        name = name.strip()
        if not name:
            continue
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - any failure inside a plug-in is the user's to see
            raise ValueError(f"{source} names module {name!r}, which cannot be imported "
                             f"({type(err).__name__}: {err}); install it or put it on PYTHONPATH") from None
        done.append(name)
        if name not in IMPORTED:
            IMPORTED.append(name)
    return done


__all__ = ["ALL", "IMPORTED", "Registry", "import_plugins", "plugin_modules"]
