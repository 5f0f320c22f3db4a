"""Every public name has a docstring that says something (the API reference is built from them).

Public means: listed in the ``__all__`` of ``fibrecafe_client``, ``fibrecafe_client.kci``,
``fibrecafe_client.sandbox``, ``fibrecafe_client.models``, ``fibrecafe_client.errors`` and
``fibrecafe_client.testing`` (the pytest fixtures), plus ``fibrecafe_client.cli.main``; and the
public methods and properties those classes define. Constants and type aliases need a ``#:``
comment or a docstring where they are assigned.
"""

from __future__ import annotations

import ast
import doctest
import enum
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import fibrecafe_client

PUBLIC_MODULES = (
    "fibrecafe_client",
    "fibrecafe_client.kci",
    "fibrecafe_client.sandbox",
    "fibrecafe_client.models",
    "fibrecafe_client.errors",
    "fibrecafe_client.testing",
)
PACKAGE = Path(fibrecafe_client.__file__).parent
MIN_OBJECT_DOC = 40  # a class or function: what it is for, at least a sentence
MIN_MEMBER_DOC = 15  # a method or property
# Members that pydantic, dataclasses or enum put on every class: documented upstream.
INHERITED_MACHINERY = frozenset({"model_config", "model_fields", "model_computed_fields"})


def _public() -> Iterator[tuple[str, object]]:
    seen: set[int] = set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if name.startswith("__") or id(obj) in seen:
                continue
            seen.add(id(obj))
            yield f"{module_name}.{name}", obj
    cli = importlib.import_module("fibrecafe_client.cli")
    yield "fibrecafe_client.cli.main", cli.main


def _unwrap(obj: object) -> object:
    """The function behind a pytest fixture definition (pytest >= 8.4 wraps them)."""
    wrapped = getattr(obj, "_get_wrapped_function", None)
    return wrapped() if callable(wrapped) else obj


def _own_doc(obj: object) -> str:
    """The docstring written on ``obj`` itself (a class does not inherit its base's here)."""
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__")
        return inspect.cleandoc(doc) if isinstance(doc, str) else ""
    return inspect.getdoc(obj) or ""


def _members(cls: type) -> Iterator[tuple[str, object]]:
    for name, value in vars(cls).items():
        if name.startswith("_") or name in INHERITED_MACHINERY:
            continue
        if isinstance(cls, enum.EnumMeta) and name in cls.__members__:
            continue
        member = value.__func__ if isinstance(value, staticmethod | classmethod) else value
        if isinstance(member, property) or inspect.isfunction(member):
            yield name, member


def _documented_assignments() -> dict[str, bool]:
    """Module-level ``NAME = ...`` in the package: whether a ``#:`` comment or docstring
    goes with it."""
    found: dict[str, bool] = {}
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        body = ast.parse(source).body
        for index, node in enumerate(body):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                if not isinstance(target, ast.Name):
                    continue
                comment = node.lineno >= 2 and lines[node.lineno - 2].lstrip().startswith("#:")
                after = body[index + 1] if index + 1 < len(body) else None
                docstring = (
                    isinstance(after, ast.Expr)
                    and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)
                )
                found[target.id] = found.get(target.id, False) or comment or docstring
    return found


PUBLIC = list(_public())


def test_the_public_surface_is_all_there() -> None:
    names = {name.rsplit(".", 1)[1] for name, _ in PUBLIC}
    for expected in ("FibreCafe", "parse_kci", "KciReceiver", "Sandbox", "main", "ServiceTest"):
        assert expected in names
    assert len(PUBLIC) > 100


@pytest.mark.parametrize(("name", "obj"), PUBLIC, ids=[name for name, _ in PUBLIC])
def test_public_name_has_a_docstring(name: str, obj: object) -> None:
    target = _unwrap(obj)
    if not (inspect.isclass(target) or inspect.isroutine(target)):  # a constant or an alias
        short = name.rsplit(".", 1)[1]
        assert _documented_assignments().get(short), f"{name}: add a `#:` comment above it"
        return
    doc = _own_doc(target)
    assert len(doc) >= MIN_OBJECT_DOC, f"{name}: docstring missing or too short: {doc!r}"
    if inspect.isclass(target):
        thin = [
            f"{member}: {_own_doc(value)!r}"
            for member, value in _members(target)
            if len(_own_doc(value)) < MIN_MEMBER_DOC
        ]
        assert thin == [], f"{name}: members without a real docstring"


def test_the_checks_catch_a_missing_docstring() -> None:
    class Undocumented:
        def method(self) -> None:
            pass

    assert _own_doc(Undocumented) == ""
    assert [name for name, value in _members(Undocumented) if not _own_doc(value)] == ["method"]
    module = ModuleType("m")
    assert not inspect.isclass(module)


def _package_modules() -> list[ModuleType]:
    names = ["fibrecafe_client"] + [
        info.name for info in pkgutil.walk_packages(fibrecafe_client.__path__, "fibrecafe_client.")
    ]
    return [importlib.import_module(name) for name in sorted(names)]


def test_docstring_examples_run() -> None:
    """The ``>>>`` examples in the docstrings are doctests: they run here, so they stay true.

    They use no network: an example that would need a gateway shows plain code instead.
    """
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    seen: set[str] = set()
    report: list[str] = []
    for module in _package_modules():
        for test in finder.find(module, module.__name__):
            if test.name in seen:  # re-exported objects are found more than once
                continue
            seen.add(test.name)
            runner.run(test, out=report.append)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, "".join(report)
    assert results.attempted >= 10
