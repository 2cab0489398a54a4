"""core/ is layered: a static scan of every import (at module level, inside functions and under
TYPE_CHECKING alike) finds no cycle, and the only imports deferred into functions are the ones
that keep TensorFlow/Keras out of start-up, each with its reason. import-linter's ``layers``
contract in pyproject.toml checks the order of the subpackages on top of this."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

CORE = Path(__file__).resolve().parents[2] / "core"
PACKAGE = "layerforge.core"
HEAVY = ("keras", "tensorflow")
LAZY_MARK = "# lazy:"
LAYERS = ["schema", "catalog", "document", "editing", "codegen", "analysis", "io", "training",
          "deploy", "tuning", "cli"]


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (a project module, or the first part of an external one)
    line: int
    in_function: bool
    text: str


def module_name(path: Path) -> str:
    parts = path.relative_to(CORE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(CORE.rglob("*.py"))}


def _resolve(source: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        return [node.module or ""]
    base = source.split(".")
    base = base if is_package else base[:-1]
    base = base[:len(base) - (node.level - 1)]
    head = ".".join(base + ([node.module] if node.module else []))
    # ``from . import runs`` names a module; ``from .runs import x`` names attributes.
    return [f"{head}.{a.name}" for a in node.names] if node.module is None else [head]


def _targets(source: str, path: Path, node: ast.AST, known: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
        names = _resolve(source, path.name == "__init__.py", node)
        if node.level == 0 and node.module and node.module in known:
            names += [f"{node.module}.{a.name}" for a in node.names]
    else:
        return []
    return [_known_prefix(n, known) or n.split(".")[0] for n in names]


def _known_prefix(name: str, known: set[str]) -> str | None:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known and candidate != PACKAGE:
            return candidate
    return None


def imports() -> list[Import]:
    found = []
    known = set(modules())
    for source, path in modules().items():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        tree = ast.parse(text)
        functions = [n for n in ast.walk(tree)
                     if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        inside = {id(n) for f in functions for n in ast.walk(f)}
        for node in ast.walk(tree):
            for target in _targets(source, path, node, known):
                found.append(Import(source, target, node.lineno, id(node) in inside,
                                    lines[node.lineno - 1]))
    return found


def project_imports() -> list[Import]:
    known = set(modules())
    return [i for i in imports() if i.target in known and i.target != i.source]


def imports_heavy_at_top(module: str) -> bool:
    return any(i.source == module and i.target in HEAVY and not i.in_function
               for i in imports())


def test_the_scan_sees_the_whole_of_core() -> None:
    found = project_imports()
    assert len(modules()) > 40
    assert len(found) > 150, len(found)
    assert any(i.in_function for i in imports() if i.target in HEAVY)


def test_no_import_cycle_in_core() -> None:
    graph = nx.DiGraph((i.source, i.target) for i in project_imports())
    cycles = [c for c in nx.strongly_connected_components(graph) if len(c) > 1]
    shown = [" -> ".join(sorted(c)) for c in cycles]
    assert not cycles, "import cycles in core/:\n" + "\n".join(shown)


def test_subpackages_import_only_the_layers_below_them() -> None:
    def layer(module: str) -> int:
        return LAYERS.index(module.split(".")[2])

    upward = [f"{i.source}:{i.line} imports {i.target}" for i in project_imports()
              if i.source.count(".") > 2 and layer(i.target) > layer(i.source)]
    assert not upward, "\n".join(upward)


def test_deferred_imports_are_only_the_ones_that_keep_keras_out_of_start_up() -> None:
    wrong = []
    for i in project_imports():
        if not i.in_function:
            continue
        if LAZY_MARK not in i.text or not imports_heavy_at_top(i.target):
            wrong.append(f"{i.source}:{i.line}: {i.text.strip()}")
    assert not wrong, ("function-local imports of project modules (allowed only for a module "
                       f"that imports Keras at its top, marked '{LAZY_MARK} <reason>'):\n"
                       + "\n".join(wrong))
