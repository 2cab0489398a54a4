"""Export a project: Python source, a saved ``.keras`` model, a DOT/PNG/SVG diagram.

The ``.keras`` file is built from the same generated source users get with
:func:`export_python`, so every export describes the same model.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ..analysis.keras_calls import keras_message
from ..analysis.shapes import ShapeEngine
from ..codegen.loader import load_generated
from ..codegen.model_code import PythonCode, generate
from ..document.document import Document
from ..document.graph import Graph
from ..schema.errors import LayerForgeError
from ..schema.records import CallNode, Edge, InputNode, Shape, format_shape
from .weights import apply_weights

DIAGRAM_FORMATS = ("png", "svg")
GRAPHVIZ_PACKAGE = "graphviz"
MAX_LABEL = 48


class ExportError(LayerForgeError):
    """An export that cannot be written (bad target, missing tool, model that does not build)."""


# ------------------------------------------------------------------ python
def export_python(doc: Document, path: str | os.PathLike[str]) -> PythonCode:
    """Write the generated module (``build_model``, ``compile_model``) to ``path``."""
    code = generate(doc)
    Path(path).write_text(code.source, encoding="utf-8")
    return code


# ------------------------------------------------------------------- keras
def export_keras(doc: Document, path: str | os.PathLike[str]) -> Any:
    """Build and compile the model from the generated code, load the document's weights
    when it has any, and save it as a ``.keras`` file. Returns the model."""
    target = Path(path)
    if target.suffix != ".keras":
        raise ExportError(f"expected a file name ending in .keras; received '{target}'")
    model = compiled_model(doc)
    if doc.weights:
        apply_weights(model, doc)
    if model.optimizer is not None and not model.optimizer.built:
        # Saved unbuilt, the optimizer's state would not match on load (Keras warns).
        model.optimizer.build(model.trainable_variables)
    model.save(target)
    return model


def compiled_model(doc: Document) -> Any:
    module = load_generated(generate(doc))
    try:
        return module.compile_model(module.build_model())
    except Exception as exc:  # Keras reports a graph that does not build in many ways
        raise ExportError(f"expected a model that builds; Keras says: {keras_message(exc)} "
                          "(run `layerforge validate` to see where)") from None


# --------------------------------------------------------------------- dot
def to_dot(doc: Document) -> str:
    """The main graph as DOT text: inputs, layer calls labelled with class, name and output
    shape, outputs; a block used as a layer is one node; edges carry their tensor's shape."""
    import pydot  # lazy: only DOT and diagram exports need it

    engine = ShapeEngine(doc)
    engine.refresh()
    dot = pydot.Dot("model", graph_type="digraph", rankdir="TB")
    dot.set_node_defaults(fontname="Helvetica", fontsize="10")
    dot.set_edge_defaults(fontname="Helvetica", fontsize="9")
    graph = doc.graph
    for node_id in graph.topological_order():
        dot.add_node(pydot.Node(_dot_id(node_id), **_node_style(doc, graph, engine, node_id)))
    for edge in graph.edges.values():
        attrs: dict[str, str] = {}
        label = _edge_label(edge, engine.edge_shape(edge))
        if label:
            attrs["label"] = _quoted(label)
        dot.add_edge(pydot.Edge(_dot_id(edge.src), _dot_id(edge.dst), **attrs))
    return str(dot.to_string())


def _node_style(doc: Document, graph: Graph, engine: ShapeEngine, node_id: str) -> dict[str, str]:
    node = graph.nodes[node_id]
    result = engine.results.get(node_id)
    shapes = result.outputs if result is not None and result.outputs is not None else None
    if isinstance(node, InputNode):
        lines = [node.name, f"Input {node.dtype}", format_shape((None, *node.shape))]
        return {"label": _label(lines), "shape": "ellipse", "style": "filled",
                "fillcolor": "#dbeafe"}
    if isinstance(node, CallNode):
        layer = graph.layer(node.layer_id)
        kind = f"Block '{doc.block(layer.block_id).name}'" if layer.block_id else \
            layer.class_name
        lines = [layer.name, kind, *(format_shape(s) for s in shapes or [None])]
        style = {"shape": "box3d"} if layer.block_id else {"shape": "box", "style": "rounded"}
        if result is not None and result.error is not None:
            style.update(color="#dc2626", penwidth="2")
        return {"label": _label(lines), **style}
    lines = [node.name, "Output", format_shape(shapes[0] if shapes else None)]
    return {"label": _label(lines), "shape": "ellipse", "style": "filled",
            "fillcolor": "#dcfce7"}


def _edge_label(edge: Edge, shape: Shape | None) -> str:
    text = format_shape(shape) if shape is not None else ""
    return f"[{edge.src_index}] {text}".strip() if edge.src_index else text


def _dot_id(node_id: str) -> str:
    return "n" + "".join(c for c in node_id if c.isalnum() or c == "_")


def _label(lines: list[str]) -> str:
    return _quoted("\n".join(_printable(line) for line in lines))


def _printable(text: str) -> str:
    """One line of a label: no control or unencodable characters, long names shortened."""
    clean = "".join(c if c.isprintable() else " " for c in text)
    return clean if len(clean) <= MAX_LABEL else clean[:MAX_LABEL - 1] + "…"


def _quoted(text: str) -> str:
    """A DOT string literal. pydot passes an already quoted value through as it is, so
    every user string is quoted here, with its backslashes and quotes escaped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


# ----------------------------------------------------------------- diagram
def graphviz_dot() -> str:
    """The path of Graphviz's ``dot`` program, or a clear error saying how to install it."""
    found = shutil.which("dot")
    if found is None:
        raise ExportError(
            "expected Graphviz's `dot` program on the PATH to draw PNG/SVG diagrams; it is not "
            f"installed. Install the Debian package {GRAPHVIZ_PACKAGE} "
            f"(apt-get install {GRAPHVIZ_PACKAGE}), or export DOT text with --format dot"
        )
    return found


def export_diagram(doc: Document, path: str | os.PathLike[str], fmt: str = "png") -> None:
    """Draw the graph with Graphviz into a PNG or SVG file."""
    if fmt not in DIAGRAM_FORMATS:
        raise ExportError(f"expected a diagram format among {', '.join(DIAGRAM_FORMATS)}; "
                          f"received {fmt!r}")
    program = graphviz_dot()
    text = to_dot(doc)
    done = subprocess.run([program, f"-T{fmt}", "-o", os.fspath(path)], input=text.encode(),
                          capture_output=True, timeout=300, check=False)
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip()[:400]
        raise ExportError(f"expected Graphviz to draw the diagram; `dot -T{fmt}` failed "
                          f"(exit {done.returncode}): {why}")
