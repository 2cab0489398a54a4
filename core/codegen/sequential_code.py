"""A Sequential block as a person writes it: ``keras.Sequential([...], name=name)``.

The list starts with the block's input as ``keras.Input(shape=..., name=...)``: Keras keeps
that InputLayer (with its name and batch shape) in the Sequential's config, as it does for a
Sequential built by its first call, so the rebuilt model's config is the original's.
"""

from __future__ import annotations

from collections.abc import Callable

from ..document.graph import Graph
from ..document.sequential import chain_calls
from ..schema.records import CallNode, LayerSpec
from .python import INDENT, LINE_WIDTH, literal

# What builds a layer of a call: the callee and its arguments (model_code's constructor).
Constructor = Callable[[LayerSpec, CallNode], tuple[str, list[str]]]


def sequential_body(graph: Graph, constructor: Constructor) -> tuple[list[str], list[str]]:
    """The statement returning the Sequential (lines of the function body, without its
    indent) and, for each line, the id of the node it builds ("" for none)."""
    (node,) = graph.inputs()
    args = [f"shape={literal(list(node.shape), True)}"]
    if node.dtype != "float32":
        args.append(f"dtype={node.dtype!r}")
    code, owners = ["return keras.Sequential(["], [""]
    for text, owner in [(_item("keras.Input", [*args, f"name={node.name!r}"]), node.id),
                        *((_item(*constructor(graph.layer(c.layer_id), c)), c.id)
                          for c in chain_calls(graph))]:
        code += text
        owners += [owner] * len(text)
    return [*code, "], name=name)"], [*owners, ""]


def _item(callee: str, args: list[str]) -> list[str]:
    """One entry of the list, a level deeper than the function body."""
    one = f"{INDENT}{callee}({', '.join(args)}),"
    if not args or (len(INDENT + one) <= LINE_WIDTH and "\n" not in one):
        return [one]
    inner = INDENT * 2
    spread = [line for arg in args for line in f"{arg},".splitlines()]
    return [f"{INDENT}{callee}(", *(inner + line for line in spread), f"{INDENT}),"]
