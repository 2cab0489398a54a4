"""``layerforge diff A B``: what changed from one model to another, as text or JSON.

A and B are project files, template names, ``.keras``/``.h5`` files or run folders
(``core/io/diff.py``). A difference is not an error: the exit code is 0 either way; a model
that cannot be read exits 2 with one message (``main``).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..analysis.diff import (
    GraphDiff,
    LayerDiff,
    ModelDiff,
    ValueChange,
    block_ranges,
    diff_documents,
    layer_groups,
)
from ..document.document import Document
from ..document.trust import trust_document
from ..io.diff import SOURCES, open_model
from ..io.templates import names_a_template
from ..schema.records import format_shape
from .trust import TRUST_HELP

MINUS = "\u2212"
ARROW = "\u2192"


def add_diff_parser(sub: Any) -> None:
    diff = sub.add_parser("diff", help="what changed between two models: layers added, "
                                       "removed, changed and rewired")
    diff.add_argument("a", metavar="A", help=SOURCES)
    diff.add_argument("b", metavar="B", help=SOURCES)
    diff.add_argument("--json", action="store_true", help="print a JSON object")
    diff.add_argument("--trust", action="store_true", help=TRUST_HELP)


def run_diff(args: argparse.Namespace) -> int:
    docs = [_open(source, args.trust) for source in (args.a, args.b)]
    result = diff_documents(*docs)
    if args.json:
        print(json.dumps(diff_json(result, args.a, args.b), indent=1))
    else:
        print("\n".join(diff_lines(result, args.a, args.b)))
    return 0


def _open(source: str, trust: bool) -> Document:
    doc = open_model(source)
    if trust or names_a_template(source):  # a template is LayerForge's own code
        trust_document(doc)
    return doc


# ------------------------------------------------------------------ text
def diff_lines(result: ModelDiff, a: str, b: str) -> list[str]:
    lines = [f"A: {a}", f"B: {b}"]
    body = graph_lines(result.graph, "")
    lines += body or ["no differences"]
    lines.append(f"total parameters: {_count_change(result.params_old, result.params_new)}")
    return lines


def graph_lines(graph: GraphDiff, indent: str) -> list[str]:
    lines: list[str] = []
    for sign, layers, verb in (("+", graph.added, "added"), ("-", graph.removed, "removed")):
        groups = layer_groups(layers)
        for group, members in groups:
            lines.append(indent + _group_line(sign, group, members))
        blocks = [g for g, members in groups if len(members) > 1]
        if len(blocks) > 1:
            lines.append(f"{indent}{sign} blocks {verb}: {', '.join(block_ranges(blocks))} "
                         f"({len(blocks)} blocks, {len(layers)} layers)")
    for layer in graph.changed:
        lines.append(indent + _changed_line(layer))
        if layer.inner is not None:
            lines += graph_lines(layer.inner, indent + "    ")
    for rewire in graph.rewired:
        lines.append(f"{indent}> {rewire.node} input {rewire.slot}: "
                     f"{rewire.old or '(none)'} {ARROW} {rewire.new or '(none)'}")
    for kind, lists in (("input", graph.inputs), ("output", graph.outputs)):
        lines += [f"{indent}+ {kind} {name}" for name in lists["added"]]
        lines += [f"{indent}- {kind} {name}" for name in lists["removed"]]
        lines += [f"{indent}~ {kind} {c.name}  {_changes_text(c.changes)}"
                  for c in lists["changed"]]
    return lines


def _group_line(sign: str, group: str, members: list[LayerDiff]) -> str:
    counts = [m.params_new if sign == "+" else m.params_old for m in members]
    total = None if any(c is None for c in counts) else sum(c or 0 for c in counts)
    params = "?" if total is None else f"{'+' if sign == '+' else MINUS}{total:,}"
    if len(members) == 1:
        return f"{sign} {members[0].name} ({members[0].class_name})  params: {params}"
    classes: dict[str, int] = {}
    for member in members:
        classes[member.class_name] = classes.get(member.class_name, 0) + 1
    kinds = ", ".join(f"{n} {name}" for name, n in classes.items())
    return f"{sign} {group} ({len(members)} layers: {kinds})  params: {params}"


def _changed_line(layer: LayerDiff) -> str:
    name = f"{layer.old_name} {ARROW} {layer.name}" if layer.old_name else layer.name
    parts = [f"~ {name} ({layer.class_name})"]
    if layer.changes:
        parts.append(_changes_text(layer.changes))
    if layer.params_old != layer.params_new:
        parts.append(f"params: {_count_change(layer.params_old, layer.params_new)}")
    return "  ".join(parts)


def _changes_text(changes: list[ValueChange]) -> str:
    return "  ".join(f"{c.field}: {_value(c.field, c.old)} {ARROW} {_value(c.field, c.new)}"
                     for c in changes)


def _value(name: str, value: Any) -> str:
    if name == "shape" and isinstance(value, tuple | list):
        return format_shape(value)
    return value if isinstance(value, str) else repr(value)


def _count(count: int | None) -> str:
    return "?" if count is None else f"{count:,}"


def _count_change(old: int | None, new: int | None) -> str:
    if old is None or new is None:
        return f"{_count(old)} {ARROW} {_count(new)}"
    if old == new:
        return f"{old:,} (no change)"
    delta = new - old
    sign = "+" if delta > 0 else MINUS
    return f"{old:,} {ARROW} {new:,} ({sign}{abs(delta):,})"


# ------------------------------------------------------------------ JSON
def diff_json(result: ModelDiff, a: str, b: str) -> dict[str, Any]:
    return {"a": {"source": a, "params": result.params_old},
            "b": {"source": b, "params": result.params_new},
            "params_delta": _delta(result.params_old, result.params_new),
            "identical": result.is_empty(),
            "graph": graph_json(result.graph)}


def graph_json(graph: GraphDiff) -> dict[str, Any]:
    data: dict[str, Any] = {
        "added": [_layer_json(layer, 0, layer.params_new) for layer in graph.added],
        "removed": [_layer_json(layer, layer.params_old, 0) for layer in graph.removed],
        "changed": [_layer_json(layer, layer.params_old, layer.params_new)
                    for layer in graph.changed],
        "rewired": [{"node": r.node, "slot": r.slot, "old": r.old, "new": r.new}
                    for r in graph.rewired],
    }
    for verb, layers in (("added", graph.added), ("removed", graph.removed)):
        data[f"{verb}_blocks"] = block_ranges(
            [group for group, members in layer_groups(layers) if len(members) > 1])
    for kind, lists in (("inputs", graph.inputs), ("outputs", graph.outputs)):
        data[kind] = {"added": list(lists["added"]), "removed": list(lists["removed"]),
                      "changed": [{"name": c.name, "changes": _changes_json(c.changes)}
                                  for c in lists["changed"]]}
    return data


def _layer_json(layer: LayerDiff, old: int | None, new: int | None) -> dict[str, Any]:
    """``old``/``new``: the counts the delta is taken between (0 on the side without it)."""
    return {"name": layer.name, "class": layer.class_name, "group": layer.group,
            "old_name": layer.old_name, "params_old": layer.params_old,
            "params_new": layer.params_new, "params_delta": _delta(old, new),
            "changes": _changes_json(layer.changes),
            "inner": graph_json(layer.inner) if layer.inner is not None else None}


def _changes_json(changes: list[ValueChange]) -> list[dict[str, Any]]:
    return [{"field": c.field, "old": _jsonable(c.old), "new": _jsonable(c.new)}
            for c in changes]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=repr))


def _delta(old: int | None, new: int | None) -> int | None:
    return None if old is None or new is None else new - old
