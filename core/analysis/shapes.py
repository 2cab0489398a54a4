"""Live, incremental shapes and parameter counts, with Keras as the authority.

Shapes come from ``compute_output_shape`` on cached, never-built layer
objects (microseconds per layer); a layer that cannot answer that way is
called on symbolic tensors instead. Merge layers check their inputs in
``build``, not in ``compute_output_shape``, so they are built on the shapes
too (no weights: tens of microseconds). After an edit only the nodes
downstream of it are recomputed, and propagation stops where shapes do not
change.

Everything else Keras refuses only when it creates weights (e.g. a
BatchNormalization axis of unknown size): :meth:`ShapeEngine.verify` builds
each layer on its input shapes once per (layer class, parameters, input
shapes), which also gives its parameter count, and turns a refusal into an
error on the node, so the live pass never shows a shape Keras would refuse.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, overload

import networkx as nx

from ..catalog.keras_objects import as_shapes, keras_module, layer_key, make_layer, symbolic
from ..document.document import MAIN, Document
from ..document.graph import Graph
from ..schema.diagnostics import Diagnostic, Fix
from ..schema.records import CallNode, Edge, InputNode, LayerSpec, OutputNode, Shape, format_shape

_RESULT_CACHE_SIZE = 8192
# Catalog category of the layers whose ``build`` validates input shapes without weights.
MERGING = "Merging"


@dataclass(frozen=True)
class NodeShapes:
    """Output shapes of a node (batch axis included), or why they are unknown."""

    outputs: tuple[Shape, ...] | None
    error: Diagnostic | None = None


class _LRU(OrderedDict[Any, Any]):
    def put(self, key: Any, value: Any) -> Any:
        self[key] = value
        self.move_to_end(key)
        if len(self) > _RESULT_CACHE_SIZE:
            self.popitem(last=False)
        return value


@dataclass(frozen=True)
class Built:
    """A layer built on its input shapes: its weight count, or Keras' refusal."""

    params: int | None
    error: str | None = None


_SHAPE_RESULTS = _LRU()
_BUILT = _LRU()


class ShapeEngine:
    """Shapes of one graph, kept up to date by the document's signals."""

    def __init__(self, doc: Document, graph_key: str = MAIN) -> None:
        self.doc = doc
        self.key = graph_key
        self.graph: Graph = doc.graph_of(graph_key)
        self.results: dict[str, NodeShapes] = {}
        self._dirty: set[str] = set(self.graph.nodes)
        self._order: list[str] | None = None
        # Call node ids per layer id, in topological order (made when first needed).
        self._calls: dict[str, list[str]] | None = None
        self._layers: dict[str, Any] = {}
        self._blocks: dict[str, ShapeEngine] = {}
        # Shapes changed by refreshes nobody collected yet (a view may read shapes first).
        self._uncollected: set[str] = set()
        # Nodes recomputed since verify() last built them.
        self._unverified: set[str] = set()
        # Errors the full Keras check found on nodes, kept until the node changes.
        self._refusals: dict[str, Diagnostic] = {}
        self._refusing: set[str] = set()
        self._connect()

    # ------------------------------------------------------------- signals
    def _connect(self) -> None:
        g = self.graph
        g.node_added.connect(self._on_node_added)
        g.node_removed.connect(self._on_node_removed)
        g.node_changed.connect(self._on_node_changed)
        g.edge_added.connect(self._on_edge)
        g.edge_removed.connect(self._on_edge)
        g.layer_changed.connect(self._on_layer_changed)

    def _on_node_added(self, node: Any) -> None:
        self._dirty.add(node.id)
        self._order = self._calls = None

    def _on_node_changed(self, node: Any, what: str) -> None:
        self._dirty.add(node.id)
        self._calls = None  # e.g. a call made unique now calls another layer

    def _on_node_removed(self, node: Any) -> None:
        self.results.pop(node.id, None)
        self._refusals.pop(node.id, None)
        self._dirty.discard(node.id)
        self._order = self._calls = None
        if isinstance(node, CallNode):  # a later call may now be the first that fails
            self._dirty.update(c.id for c in self.graph.calls_of(node.layer_id))

    def _on_edge(self, edge: Edge) -> None:
        self._dirty.add(edge.dst)
        self._order = self._calls = None

    def _on_layer_changed(self, layer: LayerSpec, what: str) -> None:
        self._dirty.update(call.id for call in self.graph.calls_of(layer.id))

    def invalidate_all(self) -> None:
        self._dirty = set(self.graph.nodes)
        self._order = self._calls = None

    # ------------------------------------------------------------- passes
    def refresh(self) -> set[str]:
        """Recompute what edits made stale; returns the ids whose shapes changed."""
        if not self._dirty:
            return set()
        if self._order is None:
            self._order = self.graph.topological_order()
        pending = set(self._dirty)
        self._dirty.clear()
        refusing, self._refusing = self._refusing, set()
        changed: set[str] = set()
        for node_id in self._order:
            if node_id not in pending:
                continue
            if node_id not in refusing:
                self._refusals.pop(node_id, None)  # the node changed: the old verdict is stale
            new = self._compute(node_id)
            self._unverified.add(node_id)  # a new parameter may fail to build, same shapes or not
            if self.results.get(node_id) != new:
                self.results[node_id] = new
                changed.add(node_id)
                pending.update(e.dst for e in self.graph.out_edges(node_id))
                pending.update(self._later_calls(node_id))
        self._uncollected |= changed
        return changed

    def verify(self, budget_s: float | None = None) -> set[str]:
        """Refresh, then build every layer whose input shapes changed, in graph order, as
        Keras does when the model is built; a refusal turns the node's shapes into an error.
        With ``budget_s`` it stops after about that long and leaves the rest for the next
        call (:attr:`verifying`), so a window stays responsive while a large model builds.
        Returns the ids whose shapes changed."""
        changed = self.refresh()
        start = time.perf_counter()
        refused = []
        for node_id in self._ordered(self._unverified):
            self._unverified.discard(node_id)
            if self._build_refused(node_id):
                refused.append(node_id)
            if budget_s is not None and time.perf_counter() - start > budget_s:
                break  # at least one layer per call, so a slice always moves on
        if not refused:
            return changed
        self._dirty.update(refused)
        return changed | self.refresh()

    @property
    def verifying(self) -> bool:
        """Some layers still wait to be built by :meth:`verify` (or edits to be refreshed)."""
        return bool(self._unverified or self._dirty)

    def known_diagnostics(self) -> list[Diagnostic]:
        """The errors found so far, without building anything more."""
        return [r.error for r in self.results.values() if r.error is not None]

    def _calls_by_layer(self) -> dict[str, list[str]]:
        if self._order is None:
            self._order = self.graph.topological_order()
        if self._calls is None:
            self._calls = {}
            for node_id in self._order:
                node = self.graph.nodes[node_id]
                if isinstance(node, CallNode):
                    self._calls.setdefault(node.layer_id, []).append(node_id)
        return self._calls

    def _later_calls(self, node_id: str) -> list[str]:
        node = self.graph.nodes[node_id]
        if not isinstance(node, CallNode):
            return []
        calls = self._calls_by_layer().get(node.layer_id, [])
        return calls[calls.index(node_id) + 1:] if node_id in calls else []

    def _refused_at_an_earlier_call(self, node: CallNode) -> bool:
        """Keras builds a shared layer at its first call and a refusal ends the build, so a
        layer's error is shown once, at its first call that fails (as the full check does)."""
        for call_id in self._calls_by_layer().get(node.layer_id, []):
            if call_id == node.id:
                return False
            result = self.results.get(call_id)
            if result is not None and result.error is not None:
                return True
        return False

    def _ordered(self, ids: set[str]) -> list[str]:
        if self._order is None:
            self._order = self.graph.topological_order()
        return [node_id for node_id in self._order if node_id in ids]

    def _build_refused(self, node_id: str) -> bool:
        result = self.results.get(node_id)
        node = self.graph.nodes.get(node_id)
        if not isinstance(node, CallNode) or result is None or result.outputs is None:
            return False
        layer = self.graph.layer(node.layer_id)
        if layer.block_id is not None:
            return False  # the block's own engine verifies what is inside
        return self._built(layer, self.graph.in_edges(node_id)).error is not None

    def set_refusals(self, found: dict[str, Diagnostic]) -> None:
        """Errors the full Keras check found on nodes (node id -> error): each hides the node's
        shapes, and so those after it, until the node or what feeds it changes."""
        touched = set(self._refusals) | set(found)
        self._refusals = dict(found)
        self._refusing |= touched
        self._dirty |= touched

    def take_changes(self, budget_s: float | None = None) -> set[str]:
        """Verify (for about ``budget_s``, or all), then every id whose shapes changed since
        the last call (whoever refreshed)."""
        self.verify(budget_s)
        changed, self._uncollected = self._uncollected, set()
        return changed

    def shapes(self) -> dict[str, NodeShapes]:
        self.verify()
        return self.results

    def diagnostics(self) -> list[Diagnostic]:
        self.verify()
        return [r.error for r in self.results.values() if r.error is not None]

    def edge_shape(self, edge: Edge) -> Shape | None:
        result = self.results.get(edge.src)
        if result is None or result.outputs is None or edge.src_index >= len(result.outputs):
            return None
        return result.outputs[edge.src_index]

    # ----------------------------------------------------------- per node
    def _compute(self, node_id: str) -> NodeShapes:
        result = self._live_shapes(node_id)
        refusal = self._refusals.get(node_id)
        if refusal is not None and result.outputs is not None:
            return NodeShapes(None, refusal)
        return result

    def _live_shapes(self, node_id: str) -> NodeShapes:
        node = self.graph.nodes[node_id]
        if isinstance(node, InputNode):
            return NodeShapes(((None, *node.shape),))
        edges = self.graph.in_edges(node_id)
        inputs = [self.edge_shape(e) for e in edges]
        if not edges or any(s is None for s in inputs):
            return NodeShapes(None)
        if isinstance(node, OutputNode):
            return NodeShapes((inputs[0],))
        bad = self._bad_index(edges)
        if bad is not None:
            return NodeShapes(None, bad)
        return self._call_shapes(node, edges)

    def _bad_index(self, edges: list[Edge]) -> Diagnostic | None:
        for edge in edges:
            produced = self.results.get(edge.src)
            if produced and produced.outputs and edge.src_index >= len(produced.outputs):
                return Diagnostic(edge.id, "error", f"{self.graph.describe(edge.src)} has "
                                  f"{len(produced.outputs)} output(s); this connection uses "
                                  f"output {edge.src_index}", "bad-output-index", self.key)
        return None

    def _call_shapes(self, node: CallNode, edges: list[Edge]) -> NodeShapes:
        layer = self.graph.layer(node.layer_id)
        arranged = self._arrange(layer, edges)
        if layer.block_id is not None:
            return self._block_shapes(node, layer, arranged)
        built_key = _built_key(layer, arranged)
        cache_key = (*built_key, repr(sorted(node.call_kwargs.items())))
        if cache_key not in _SHAPE_RESULTS:
            _SHAPE_RESULTS.put(cache_key, self._ask_keras(layer, arranged))
        outputs, message = _SHAPE_RESULTS[cache_key]
        if message is None:
            built = _BUILT.get(built_key)  # known once verify() has built it
            message = built.error if built is not None else None
        if message is None:
            return NodeShapes(outputs)
        if self._refused_at_an_earlier_call(node):
            return NodeShapes(None)
        fix = suggest_fix(self.graph, node, edges, message, self)
        return NodeShapes(None, Diagnostic(node.id, "error", message, "shape", self.key, fix))

    def _arrange(self, layer: LayerSpec, edges: list[Edge]) -> Any:
        """Input shapes as the layer's call takes them: one, a list, or by keyword."""
        spec = self.doc.port_spec_of(layer)
        shapes = {e.dst_slot: self.edge_shape(e) for e in edges}
        if spec.kind == "named":
            return {name: shapes[name] for name in spec.names if name in shapes}
        if spec.kind == "list":
            return [shapes[k] for k in sorted(shapes, key=int)]
        return shapes.get(0)

    def _ask_keras(self, layer: LayerSpec, arranged: Any) -> tuple[tuple[Shape, ...] | None,
                                                                   str | None]:
        try:
            obj = self._cached_layer(layer, arranged)
            check_input_spec(obj, arranged, layer.name)
            if self.doc.catalog.get(layer.class_name).category == MERGING:
                obj.build(arranged)  # merges validate their inputs only here (no weights)
            try:
                result = _compute_output_shape(obj, arranged)
            except (NotImplementedError, AttributeError, TypeError, KeyError):
                result = _symbolic_call(make_layer(self.doc, layer, _first(arranged)), arranged)
            return tuple(as_shapes(result)), None
        except Exception as exc:  # Keras reports bad shapes with many exception types
            return None, keras_message(exc)

    def _cached_layer(self, layer: LayerSpec, arranged: Any) -> Any:
        key = layer_key(layer)
        entry = self.doc.catalog.get(layer.class_name)
        if entry.is_application:
            key += repr(_first(arranged))
        if key not in self._layers:
            self._layers[key] = make_layer(self.doc, layer, _first(arranged))
        return self._layers[key]

    def _block_shapes(self, node: CallNode, layer: LayerSpec, arranged: Any) -> NodeShapes:
        engine = self.block_engine(layer.block_id or "")
        received = arranged if isinstance(arranged, list) else [arranged]
        declared = [(None, *n.shape) for n in engine.graph.inputs()]
        for got, want in zip(received, declared, strict=False):
            if not _compatible(got, want):
                message = (f"block '{layer.name}' expects an input of shape {format_shape(want)}; "
                           f"received {format_shape(got)}")
                return NodeShapes(None, Diagnostic(node.id, "error", message, "shape", self.key))
        outputs = [engine.shapes().get(o.id) for o in engine.graph.outputs()]
        if any(o is None or o.outputs is None for o in outputs):
            message = f"block '{layer.name}' has errors inside; open it to see them"
            return NodeShapes(None, Diagnostic(node.id, "error", message, "block", self.key))
        return NodeShapes(tuple(o.outputs[0] for o in outputs if o and o.outputs))

    def block_engine(self, block_id: str) -> ShapeEngine:
        if block_id not in self._blocks:
            self._blocks[block_id] = ShapeEngine(self.doc, block_id)
        return self._blocks[block_id]

    # ------------------------------------------------------------- params
    def layer_params(self, layer_id: str, build: bool = True) -> int | None:
        """Weights of one layer instance (counted once however often it is called); None
        while unknown. ``build=False`` only reads what is built already (no Keras work)."""
        self.refresh()
        layer = self.graph.layer(layer_id)
        calls = self.graph.calls_of(layer_id)
        if not calls:
            return None
        edges = self.graph.in_edges(calls[0].id)
        if not edges or any(self.edge_shape(e) is None for e in edges):
            return None
        if layer.block_id is not None:
            return self.block_engine(layer.block_id).total_params(build)
        built = self._built(layer, edges, build)
        return built.params if built is not None else None

    @overload
    def _built(self, layer: LayerSpec, edges: list[Edge]) -> Built: ...
    @overload
    def _built(self, layer: LayerSpec, edges: list[Edge], build: bool) -> Built | None: ...

    def _built(self, layer: LayerSpec, edges: list[Edge], build: bool = True) -> Built | None:
        arranged = self._arrange(layer, edges)
        key = _built_key(layer, arranged)
        if key not in _BUILT:
            if not build:
                return None
            _BUILT.put(key, self._build(layer, arranged))
        built: Built = _BUILT[key]
        return built

    def _build(self, layer: LayerSpec, arranged: Any) -> Built:
        try:
            obj = make_layer(self.doc, layer, _first(arranged))
            _symbolic_call(obj, arranged)
            return Built(int(obj.count_params()))
        except Exception as exc:  # Keras refuses weights and calls with many exception types
            return Built(None, keras_message(exc))

    def total_params(self, build: bool = True) -> int | None:
        """Weights of the model: the layers that reach an output (a stray layer is not in it);
        ``build=False`` gives None rather than building what is not built yet."""
        counts = [self.layer_params(lid, build) for lid in self.layers_in_model()]
        return None if any(c is None for c in counts) else sum(c or 0 for c in counts)

    def layers_in_model(self) -> list[str]:
        """Ids of the layers with a call that leads to an output, in document order."""
        used = {self.graph.nodes[n].layer_id for n in _upstream(self.graph, self.graph.outputs())
                if isinstance(self.graph.nodes[n], CallNode)}
        return [lid for lid in self.graph.layers if lid in used]


# ------------------------------------------------------------------ helpers
def _built_key(layer: LayerSpec, arranged: Any) -> tuple[str, str]:
    return layer_key(layer), repr(arranged)


def _upstream(graph: Graph, outputs: Iterable[OutputNode]) -> set[str]:
    nxg = graph.nx_graph()
    found: set[str] = set()
    for out in outputs:
        if out.id not in found:
            found |= nx.ancestors(nxg, out.id) | {out.id}
    return found


def _first(arranged: Any) -> Shape | None:
    if isinstance(arranged, dict):
        return next(iter(arranged.values()), None)
    if isinstance(arranged, list):
        return arranged[0] if arranged else None
    return arranged


def _compute_output_shape(obj: Any, arranged: Any) -> Any:
    if isinstance(arranged, dict):
        return obj.compute_output_shape(**{f"{k}_shape": v for k, v in arranged.items()})
    return obj.compute_output_shape(arranged)


def _symbolic_call(obj: Any, arranged: Any) -> Any:
    if isinstance(arranged, dict):
        out = obj(**{k: symbolic(v) for k, v in arranged.items()})
    elif isinstance(arranged, list):
        out = obj([symbolic(s) for s in arranged])
    else:
        out = obj(symbolic(arranged))
    keras = keras_module()
    return keras.tree.map_structure(lambda t: tuple(t.shape), out)


def check_input_spec(obj: Any, arranged: Any, name: str) -> None:
    """Keras checks ranks in ``__call__``, not in ``compute_output_shape``: check them here."""
    specs = obj.input_spec
    if specs is None or isinstance(arranged, dict):
        return
    shapes = arranged if isinstance(arranged, list) else [arranged]
    specs = specs if isinstance(specs, list | tuple) else [specs] * len(shapes)
    for index, (spec, shape) in enumerate(zip(specs, shapes, strict=False)):
        if spec is None or shape is None:
            continue
        rank = len(shape)
        for attr, ok in (("ndim", int.__eq__), ("min_ndim", int.__ge__), ("max_ndim", int.__le__)):
            wanted = getattr(spec, attr, None)
            if wanted is not None and not ok(rank, wanted):
                raise ValueError(
                    f'Input {index} of layer "{name}" is incompatible with the layer: '
                    f"expected {attr}={wanted}, found ndim={rank}. "
                    f"Full shape received: {format_shape(shape, 'unknown')}"
                )


def _compatible(got: Shape | None, want: Shape) -> bool:
    if got is None or len(got) != len(want):
        return False
    return all(w is None or g == w for g, w in zip(got, want, strict=True))


def keras_message(exc: BaseException) -> str:
    """Keras' message without the stack noise, at most a few hundred characters."""
    text = str(exc).strip() or type(exc).__name__
    text = re.sub(r"\n\s*Arguments received by .*", "", text, flags=re.S)
    text = re.sub(r"^Exception encountered when calling [^\n]*\n+", "", text)
    text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    return text[:400]


_NDIM = re.compile(r"expected (?:min_)?ndim=(\d+), found ndim=(\d+)")


def suggest_fix(graph: Graph, node: CallNode, edges: list[Edge], message: str,
                engine: ShapeEngine) -> Fix | None:
    """A one-click fix for the common mistakes: wrong rank, residual shape mismatch."""
    match = _NDIM.search(message)
    if match and edges:
        expected, found = int(match.group(1)), int(match.group(2))
        if found > expected and expected == 2:
            return Fix("insert Flatten", "Flatten", {}, edges[0].id)
        if found < expected:
            return Fix("insert Reshape to add an axis", "Reshape", {"target_shape": [-1, 1]},
                       edges[0].id)
    layer = graph.layer(node.layer_id)
    if layer.class_name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
        return _projection_fix(edges, engine)
    return None


def _projection_fix(edges: list[Edge], engine: ShapeEngine) -> Fix | None:
    shapes = [(e, engine.edge_shape(e)) for e in sorted(edges, key=lambda e: int(e.dst_slot))]
    if len(shapes) < 2 or any(s is None or len(s) != 4 for _, s in shapes):
        return None
    target = shapes[0][1]
    for edge, shape in shapes[1:]:
        if shape == target or target is None or shape is None:
            continue
        strides = 1
        if shape[1] and target[1] and shape[1] % target[1] == 0:
            strides = shape[1] // target[1]
        params: dict[str, Any] = {"filters": target[3], "kernel_size": 1, "padding": "same"}
        if strides > 1:
            params["strides"] = strides
        return Fix(f"1×1 Conv2D projection for the residual ({target[3]} filters, strides "
                   f"{strides})", "Conv2D", params, edge.id)
    return None
