"""The job library: the Job classes one run may execute, registered explicitly.

Why not a global registry filled when a class is defined: two test modules that each
define ``SendReceipt`` would then see each other's class, and which one a run used would
depend on import order. A library belongs to one scenario (and so to one run): a class
gets in only because the scenario, the command line (``--import``) or the test
(``jobs=[...]``) put it there.

Classes are keyed by qualified name, ``"module:Class"`` (``Class`` being the
``__qualname__``). A bare name, or an alias written in a scenario's ``jobs:`` section,
finds a class when exactly one class answers to it. Payloads carry the class's bare
name, as Sidekiq's carry the class name, unless two classes of the run share it; then
they carry the qualified name.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType

from jobsim.system.job import Job, UnknownJob


class AmbiguousJob(UnknownJob):
    """A bare name that two classes of the library answer to."""


class ImportFailed(LookupError):
    """A module or ``module:Class`` reference that cannot be imported."""


def qualified_name(cls: type[Job]) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def concrete_jobs(module: ModuleType) -> list[type[Job]]:
    """The concrete Job classes a module defines (not those it merely imports)."""
    found = []
    for value in vars(module).values():
        if (isinstance(value, type) and issubclass(value, Job) and value is not Job
                and value.__module__ == module.__name__ and not value.__dict__.get("abstract")):
            found.append(value)
    return found


class JobLibrary:
    """Qualified name -> class, with aliases and bare-name lookup."""

    def __init__(self, classes: Iterable[type[Job]] = ()) -> None:
        self._classes: dict[str, type[Job]] = {}
        self._aliases: dict[str, type[Job]] = {}
        self._payload_names: dict[type[Job], str] = {}
        self._resolved: dict[str, type[Job]] = {}    # resolve() runs once per execution
        for cls in classes:
            self.add(cls)

    def copy(self) -> JobLibrary:
        other = JobLibrary()
        other._classes = dict(self._classes)
        other._aliases = dict(self._aliases)
        return other

    def add(self, cls: type[Job], alias: str | None = None) -> None:
        """Make ``cls`` available (and also as ``alias``, a scenario's own name for it)."""
        if not (isinstance(cls, type) and issubclass(cls, Job)):
            raise TypeError(f"{cls!r} is not a jobsim Job class")
        self._classes[qualified_name(cls)] = cls
        if alias is not None:
            known = self._aliases.get(alias)
            if known is not None and known is not cls:
                raise AmbiguousJob(f"job name {alias!r} is given to both "
                                   f"{qualified_name(known)} and {qualified_name(cls)}")
            self._aliases[alias] = cls
        self._payload_names.clear()
        self._resolved.clear()

    def add_module(self, module: ModuleType) -> list[type[Job]]:
        """Every concrete Job class ``module`` defines; returns them."""
        classes = concrete_jobs(module)
        for cls in classes:
            self.add(cls)
        return classes

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self._candidates(name))

    def __iter__(self) -> Iterator[str]:
        """The names to offer a user: aliases, bare names where unambiguous, qualified
        names otherwise (every qualified name also resolves: see ``__contains__``)."""
        names = set(self._aliases)
        for key, cls in self._classes.items():
            names.add(cls.__name__ if len(self._candidates(cls.__name__)) == 1 else key)
        return iter(sorted(names))

    def __len__(self) -> int:
        return len(list(iter(self)))

    def classes(self) -> list[type[Job]]:
        return list(self._classes.values())

    def _candidates(self, name: str) -> list[type[Job]]:
        if name in self._aliases:
            return [self._aliases[name]]
        if name in self._classes:
            return [self._classes[name]]
        return [c for c in self._classes.values() if c.__name__ == name or c.__qualname__ == name]

    def resolve(self, name: str) -> type[Job]:
        """The class called ``name``; UnknownJob or AmbiguousJob (naming both) if none
        or several."""
        cls = self._resolved.get(name)
        if cls is not None:
            return cls
        found = self._candidates(name)
        if len(found) == 1:
            self._resolved[name] = found[0]
            return found[0]
        if found:
            both = " and ".join(sorted(qualified_name(c) for c in found))
            raise AmbiguousJob(f"job name {name!r} is ambiguous: {both}; "
                               f"use the qualified name")
        known = ", ".join(self) or "none"
        raise UnknownJob(f"unknown job class {name!r}; this run's library has: {known}")

    def payload_name(self, cls: type[Job]) -> str:
        """The ``class`` a payload of ``cls`` carries (adding ``cls`` if it is new: a
        test that pushes a class object names it explicitly)."""
        name = self._payload_names.get(cls)
        if name is None:
            if qualified_name(cls) not in self._classes:
                self.add(cls)
            bare = cls.__name__
            name = bare if self._candidates(bare) == [cls] else qualified_name(cls)
            self._payload_names[cls] = name
        return name


def import_reference(ref: str) -> tuple[ModuleType, type[Job] | None]:
    """``"pkg.mod"``, ``"pkg.mod:Class"`` or ``"path/to/file.py[:Class]"``: the module,
    and the class when one is named. The current directory is importable, as for
    ``python -m``. Raises ImportFailed with the reason."""
    target, _, attr = ref.partition(":") if not _windows_drive(ref) else (ref, "", "")
    module = _import_file(Path(target)) if target.endswith(".py") else _import_module(target)
    if not attr:
        return module, None
    value = module
    for part in attr.split("."):
        value = getattr(value, part, None)
        if value is None:
            raise ImportFailed(f"{ref!r}: module {module.__name__!r} has no {attr!r}")
    if not (isinstance(value, type) and issubclass(value, Job)):
        raise ImportFailed(f"{ref!r}: {attr} is not a jobsim Job class")
    return module, value


def _windows_drive(ref: str) -> bool:
    return len(ref) > 2 and ref[1] == ":" and ref[2] in "\\/"


def _import_module(name: str) -> ModuleType:
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ImportFailed(f"cannot import {name!r}: {exc}") from None
    except Exception as exc:  # the module itself raised while importing
        raise ImportFailed(f"importing {name!r} raised {type(exc).__name__}: {exc}") from None


def _import_file(path: Path) -> ModuleType:
    """Import a .py file by path under its stem's name, with its folder importable."""
    if not path.is_file():
        raise ImportFailed(f"cannot import {str(path)!r}: no such file")
    resolved = path.resolve()
    for module in list(sys.modules.values()):
        if getattr(module, "__file__", None) and Path(module.__file__).resolve() == resolved:
            return module
    folder = str(resolved.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(resolved.stem, resolved)
    if spec is None or spec.loader is None:
        raise ImportFailed(f"cannot import {str(path)!r}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[resolved.stem] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[resolved.stem]
        raise ImportFailed(f"importing {str(path)!r} raised {type(exc).__name__}: {exc}") from None
    return module
