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

import time
from dataclasses import dataclass
from typing import Any, overload

from ..catalog.keras_objects import code_may_run, layer_key, make_layer
from ..document.document import MAIN, Document
from ..document.graph import Graph
from ..schema.diagnostics import Diagnostic
from ..schema.records import (
    CallNode,
    Edge,
    InputNode,
    LayerSpec,
    OutputNode,
    Shape,
    format_shape,
    shape_fits,
)
from ..schema.trust import UNTRUSTED_CODE, untrusted_diagnostic
from .fixes import suggest_fix
from .keras_calls import (
    BUILT,
    SHAPE_RESULTS,
    Built,
    Extras,
    arrange,
    ask_keras,
    build_layer,
    built_key,
    first_shape,
)
from .validation import nodes_in_model


@dataclass(frozen=True)
class NodeShapes:
    """Output shapes of a node (batch axis included), or why they are unknown."""

    outputs: tuple[Shape, ...] | None
    error: Diagnostic | None = None


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
        arranged, extras = self._arrange(layer, edges)
        if layer.block_id is not None:
            return self._block_shapes(node, layer, arranged)
        if not code_may_run(layer):  # unknown until the user trusts the code, which never ran
            return NodeShapes(None, untrusted_diagnostic(node.id, self.key))
        keras_key = built_key(layer, arranged, extras)
        cache_key = (*keras_key, repr(sorted(node.call_kwargs.items())))
        if cache_key not in SHAPE_RESULTS:
            SHAPE_RESULTS.put(cache_key, ask_keras(self.doc.catalog, layer, arranged, lambda:
                                                   self._cached_layer(layer, arranged), extras))
        outputs, message = SHAPE_RESULTS[cache_key]
        if message is None:
            built = BUILT.get(keras_key)  # known once verify() has built it
            message = built.error if built is not None else None
        if message is None:
            return NodeShapes(outputs)
        if self._refused_at_an_earlier_call(node):
            return NodeShapes(None)
        main = [e for e in edges if e.dst_slot not in self.doc.port_spec_of(layer).extras]
        fix = suggest_fix(self.graph, node, main, message, self.edge_shape)  # the main inputs'
        return NodeShapes(None, Diagnostic(node.id, "error", message, "shape", self.key, fix))

    def _arrange(self, layer: LayerSpec, edges: list[Edge]) -> tuple[Any, Extras]:
        """Input shapes as the call takes them, and its extra tensors' (mask, states)."""
        shapes = {e.dst_slot: self.edge_shape(e) for e in edges}
        return arrange(self.doc.port_spec_of(layer), shapes)

    def _cached_layer(self, layer: LayerSpec, arranged: Any) -> Any:
        key = layer_key(layer)
        entry = self.doc.catalog.get(layer.class_name)
        if entry.is_application:
            key += repr(first_shape(arranged))
        if key not in self._layers:
            self._layers[key] = make_layer(self.doc.catalog, layer, first_shape(arranged))
        return self._layers[key]

    def _block_shapes(self, node: CallNode, layer: LayerSpec, arranged: Any) -> NodeShapes:
        engine = self.block_engine(layer.block_id or "")
        received = arranged if isinstance(arranged, list) else [arranged]
        declared = [(None, *n.shape) for n in engine.graph.inputs()]
        for got, want in zip(received, declared, strict=False):
            if not shape_fits(got, want):
                message = (f"block '{layer.name}' expects an input of shape {format_shape(want)}; "
                           f"received {format_shape(got)}")
                return NodeShapes(None, Diagnostic(node.id, "error", message, "shape", self.key))
        outputs = [engine.shapes().get(o.id) for o in engine.graph.outputs()]
        if any(o is None or o.outputs is None for o in outputs):
            if _holds_untrusted_code(engine):  # nothing inside ran: not an error of the block
                return NodeShapes(None, untrusted_diagnostic(node.id, self.key))
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
        arranged, extras = self._arrange(layer, edges)
        key = built_key(layer, arranged, extras)
        if key not in BUILT:
            if not build:
                return None
            outputs = self.results.get(self.graph.calls_of(layer.id)[0].id)
            # An application is built with its weights when made: the live pass's object
            # serves (building another Xception takes seconds).
            made = self._application(layer, arranged)
            BUILT.put(key, build_layer(self.doc.catalog, layer, arranged,
                                       outputs.outputs if outputs else None, made, extras))
        built: Built = BUILT[key]
        return built

    def _application(self, layer: LayerSpec, arranged: Any) -> Any:
        """The live pass's object of an application layer, or None (any other layer, or one
        Keras refuses to make: build_layer then reports why)."""
        try:
            if self.doc.catalog.get(layer.class_name).is_application:
                return self._cached_layer(layer, arranged)
        except Exception:  # Keras refuses a configuration with many exception types
            return None
        return None

    def total_params(self, build: bool = True) -> int | None:
        """Weights of the model: the layers that reach an output (a stray layer is not in it);
        ``build=False`` gives None rather than building what is not built yet."""
        counts = [self.layer_params(lid, build) for lid in self.layers_in_model()]
        return None if any(c is None for c in counts) else sum(c or 0 for c in counts)

    def layers_in_model(self) -> list[str]:
        """Ids of the layers with a call that leads to an output, in document order."""
        used = {self.graph.nodes[n].layer_id for n in nodes_in_model(self.graph)
                if isinstance(self.graph.nodes[n], CallNode)}
        return [lid for lid in self.graph.layers if lid in used]


def _holds_untrusted_code(engine: ShapeEngine) -> bool:
    return any(result.error is not None and result.error.code == UNTRUSTED_CODE
               for result in engine.shapes().values())
