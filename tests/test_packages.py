"""Packages that each do one job talk through their public ``__init__`` (issue 11 item 5).

Two static checks over the sources, and one at run time:

* a module of tortie imports another tortie package only as ``tortie.X`` (``..X``), never
  ``tortie.X.sub``: what a package offers is its ``__init__``, and its modules may move;
* every package's ``__all__`` is what it really exports (as httpx checks its own): it lists
  the public names its ``__init__`` defines or takes from its own modules to pass on, each
  once, and each one exists when the package is imported;
* every name that tortie, the tests or bench/ import from a package is in that package's
  ``__all__``.

Tests may still reach into a package's modules (``tortie.X.sub``) to test its parts.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TORTIE = ROOT / "tortie"
PACKAGES = sorted(p.parent.name for p in TORTIE.glob("*/__init__.py"))


def _module_name(path: Path) -> list[str]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _package_of(path: Path) -> str | None:
    """The tortie package a source file belongs to (None outside one)."""
    parts = path.relative_to(ROOT).parts
    return parts[1] if parts[0] == "tortie" and len(parts) > 2 else None


def _imports(path: Path) -> Iterator[tuple[int, list[str], list[str]]]:
    """(line, absolute module as parts, names) of every import in ``path``, nested ones too;
    ``import a.b`` gives no names."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path)[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = base + (node.module.split(".") if node.module else [])
            else:
                module = (node.module or "").split(".")
            yield node.lineno, module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split("."), []


def _sources(*tops: str) -> list[Path]:
    return sorted(p for top in tops for p in (ROOT / top).rglob("*.py"))


def test_packages_import_each_other_through_their_init() -> None:
    crossings = []
    for path in _sources("tortie"):
        own = _package_of(path)
        for line, module, _ in _imports(path):
            if module[0] != "tortie" or len(module) < 2 or module[1] == own:
                continue
            if len(module) > 2:
                crossings.append(f"{path.relative_to(ROOT)}:{line} imports {'.'.join(module)}")
    assert crossings == []


def _own_exports(package: str) -> set[str]:
    """Public names the package's ``__init__`` offers as its own: what it defines at top level,
    and what it imports from its own modules only to pass on (not used in the ``__init__``
    itself); ``if TYPE_CHECKING`` imports of lazy exports count too."""
    tree = ast.parse((TORTIE / package / "__init__.py").read_text())
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        n.value.id for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}
    names: set[str] = set()
    body = list(tree.body)
    while body:
        node = body.pop()
        if isinstance(node, ast.If):
            body += node.body
        elif isinstance(node, ast.ImportFrom) and node.level == 1:
            names |= {a.asname or a.name for a in node.names if (a.asname or a.name) not in used}
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return {n for n in names if not n.startswith("_")}


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_what_the_package_exports(package: str) -> None:
    module = importlib.import_module(f"tortie.{package}")
    exported = getattr(module, "__all__", [])
    assert len(exported) == len(set(exported)), "a name is listed twice"
    assert sorted(_own_exports(package) - set(exported)) == []
    assert [name for name in exported if not hasattr(module, name)] == []


def test_names_imported_from_a_package_are_in_its_all() -> None:
    exported = {p: set(getattr(importlib.import_module(f"tortie.{p}"), "__all__", [])) for p in PACKAGES}
    missing = []
    for path in _sources("tortie", "tests", "bench"):
        own = _package_of(path)
        for line, module, names in _imports(path):
            if module[0] == "tortie" and len(module) == 2 and module[1] != own and module[1] in exported:
                missing += [f"{path.relative_to(ROOT)}:{line} tortie.{module[1]}.{n}" for n in names
                            if n not in exported[module[1]]]
    assert missing == []
