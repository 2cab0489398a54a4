"""Structural checks of a graph with networkx (no Keras needed)."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any
from weakref import WeakKeyDictionary, ref

import networkx as nx

from ..catalog.layer_ports import lost_port_error
from ..document.document import Document
from ..document.graph import Graph
from ..schema.diagnostics import Diagnostic
from ..schema.errors import EditError, UnknownLayerError
from ..schema.records import CallNode, InputNode, LayerSpec, OutputNode, PortSpec
from .vocabulary_checks import vocabulary_diagnostics


def validate(doc: Document) -> list[Diagnostic]:
    """Every structural problem of every graph in the document. The checks of connections
    and names are kept until a graph's structure changes (any graph: a block's inputs are its
    calls' ports), and each layer's parameters are checked again only when its record is
    replaced, so that an edit of one parameter in a 10,000-layer model costs milliseconds."""
    graphs = doc.graphs()
    key = tuple((k, _watch(g).serial, _watch(g).count) for k, g in graphs)
    cached = _STRUCTURE.get(doc)
    if cached is None or cached[0] != key:
        cached = (key, {k: _structure(doc, g, k) for k, g in graphs})
        _STRUCTURE[doc] = cached
    found: list[Diagnostic] = []
    for k, graph in graphs:
        found += cached[1][k]
        if graph.nodes:
            found += _params(doc, graph, k)
    return found + vocabulary_diagnostics(doc)


def _structure(doc: Document, graph: Graph, key: str) -> list[Diagnostic]:
    if not graph.nodes:
        return []
    found: list[Diagnostic] = []
    for check in (_cycles, _presence, _ports, _reachability, _names, _output_names):
        found += check(doc, graph, key)
    return found


class _Watch:
    """Follows one graph's changes: a count of those the structural checks depend on (every
    change but a parameter value or a position, unless the value changes the layer's ports:
    another cell takes another number of states), and the layers whose parameters changed."""

    serials = itertools.count()

    def __init__(self, graph: Graph) -> None:
        self.serial = next(self.serials)
        self.count = 0
        self.changed_layers: set[str] | None = None  # None: check every layer
        self._before: tuple[str, str, str | None, PortSpec | None] | None = None
        self._graph = ref(graph)  # weak: the watch must not keep its graph alive
        for signal in (graph.node_added, graph.node_removed, graph.edge_added,
                       graph.edge_removed, graph.layer_added, graph.layer_removed):
            signal.connect(self._bump)
        graph.node_changed.connect(self._node_changed)
        graph.layer_changing.connect(self._layer_changing)
        graph.layer_changed.connect(self._layer_changed)

    def _bump(self, *_: object) -> None:
        self.count += 1
        self.changed_layers = None  # a layer's first call (where its errors show) may move

    def _node_changed(self, node: object, what: str) -> None:
        if what != "position":
            self._bump()

    def _layer_changing(self, layer: LayerSpec, what: str) -> None:
        self._before = (layer.name, layer.class_name, layer.block_id, self._ports(layer))

    def _layer_changed(self, layer: LayerSpec, what: str) -> None:
        if self._before != (layer.name, layer.class_name, layer.block_id, self._ports(layer)):
            self._bump()
        elif self.changed_layers is not None:
            self.changed_layers.add(layer.id)

    def _ports(self, layer: LayerSpec) -> PortSpec | None:
        graph = self._graph()
        calls = graph.calls_of(layer.id) if graph is not None else []
        try:
            return graph.port_spec(calls[0].id) if graph is not None and calls else None
        except EditError:  # an unknown class or block: the other checks say which
            return None

    def take_changed_layers(self) -> set[str] | None:
        changed, self.changed_layers = self.changed_layers, set()
        return changed


_WATCHES: WeakKeyDictionary[Graph, _Watch] = WeakKeyDictionary()
_STRUCTURE: WeakKeyDictionary[Document, tuple[Any, dict[str, list[Diagnostic]]]] = \
    WeakKeyDictionary()
# Parameter diagnostics of the layers that have some, by graph and layer id.
_PARAMS: WeakKeyDictionary[Graph, dict[str, list[Diagnostic]]] = WeakKeyDictionary()


def _watch(graph: Graph) -> _Watch:
    watch = _WATCHES.get(graph)
    if watch is None:
        watch = _WATCHES[graph] = _Watch(graph)
    return watch


def _cycles(doc: Document, graph: Graph, key: str) -> list[Diagnostic]:
    try:
        cycle = nx.find_cycle(graph.nx_graph())
    except nx.NetworkXNoCycle:
        return []
    return [Diagnostic(cycle[0][0], "error", "this node is on a cycle; a Keras model must be "
                       "acyclic", "cycle", key)]


def _presence(doc: Document, graph: Graph, key: str) -> list[Diagnostic]:
    found = []
    if not graph.inputs():
        found.append(Diagnostic(key, "error", "the model has no input: add an input node",
                                "no-input", key))
    if not graph.outputs():
        found.append(Diagnostic(key, "error", "the model has no output: connect an output node",
                                "no-output", key))
    return found


def nodes_in_model(graph: Graph) -> set[str]:
    """The nodes that reach an output: Keras builds these, and only these."""
    nxg = graph.nx_graph()
    reached: set[str] = set()
    for out in graph.outputs():
        reached |= nx.ancestors(nxg, out.id) | {out.id}
    return reached


def _ports(doc: Document, graph: Graph, key: str) -> list[Diagnostic]:
    """Unconnected inputs of the nodes in the model; a stray node (not connected to an
    output) only gets :func:`_reachability`'s warning, as Keras leaves it out."""
    found = []
    in_model = nodes_in_model(graph)
    for node in graph.nodes.values():
        if node.id not in in_model:
            continue
        if isinstance(node, CallNode) and node.layer_id in graph.layers:
            try:
                spec = graph.port_spec(node.id)
            except UnknownLayerError as exc:
                found.append(Diagnostic(node.id, "error", str(exc), "unknown-layer", key))
                continue
        elif isinstance(node, OutputNode):
            spec = graph.port_spec(node.id)
        else:
            continue
        missing = spec.missing(graph.connected_slots(node.id))
        if missing:
            found.append(Diagnostic(node.id, "error", "unconnected input: expected "
                                    + ", ".join(missing), "unconnected-input", key))
        found += _lost_ports(graph, node.id, spec, key)
    return found


def _lost_ports(graph: Graph, node_id: str, spec: PortSpec, key: str) -> list[Diagnostic]:
    """Connections into ports the layer no longer has (its cell or wrapped layer changed to
    one with fewer states): an error on the connection, which stays until the user removes
    it or chooses a layer that takes it again."""
    return [Diagnostic(edge.id, "error", f"{graph.describe(node_id)}: {why}", "lost-port", key)
            for edge in graph.in_edges(node_id)
            if (why := lost_port_error(spec, edge.dst_slot)) is not None]


def _reachability(doc: Document, graph: Graph, key: str) -> list[Diagnostic]:
    from_inputs = graph.downstream(n.id for n in graph.inputs())
    in_model = nodes_in_model(graph)
    found = []
    for node in graph.nodes.values():
        if isinstance(node, OutputNode):
            continue
        if node.id not in in_model:
            what = "input" if isinstance(node, InputNode) else "layer"
            found.append(Diagnostic(node.id, "warning", f"this {what} is not connected to an "
                                    "output, so it is not part of the model (nor of its "
                                    "parameter count)", "dead-end", key))
        elif isinstance(node, CallNode) and node.id not in from_inputs:
            found.append(Diagnostic(node.id, "error", "not reachable from any input: connect "
                                    "it to a tensor that starts at an input", "unreachable", key))
    return found


def _first_calls(graph: Graph) -> dict[str, str]:
    """Layer id -> its first call's node id, in one pass (calls_of per layer is quadratic)."""
    first: dict[str, str] = {}
    for node in graph.calls():
        first.setdefault(node.layer_id, node.id)
    return first


def _names(doc: Document, graph: Graph, key: str) -> list[Diagnostic]:
    owners: dict[str, list[str]] = {}
    first = _first_calls(graph)
    for layer in graph.layers.values():
        owners.setdefault(layer.name, []).append(first.get(layer.id, layer.id))
    for node in graph.inputs():
        owners.setdefault(node.name, []).append(node.id)
    found = [Diagnostic(ids[1], "error", f"the name '{name}' is used {len(ids)} times; Keras "
                        "needs unique layer and input names", "duplicate-name", key)
             for name, ids in owners.items() if len(ids) > 1]
    outputs = Counter(o.name for o in graph.outputs())
    found += [Diagnostic(o.id, "error", f"two outputs are named '{o.name}'; output names must "
                         "be unique", "duplicate-name", key)
              for o in graph.outputs() if outputs[o.name] > 1]
    return found


def _output_names(doc: Document, graph: Graph, key: str) -> list[Diagnostic]:
    """An output named otherwise than its tensor is renamed by an Identity layer in the code,
    which must not take a name a layer or input already has (editing never makes one; a file
    written elsewhere can)."""
    names = graph.names_in_use()
    found = []
    for out in graph.outputs():
        edge = graph.source_of(out.id)
        if edge is None or out.name not in names or graph.tensor_name(edge.src) == out.name:
            continue
        owner = names[out.name]
        holder = f"{graph.layers[owner].class_name} '{out.name}'" if owner in graph.layers \
            else graph.describe(owner)
        found.append(Diagnostic(out.id, "error", "expected the name of the layer feeding this "
                                f"output ('{graph.tensor_name(edge.src)}') or a name no layer "
                                f"has; received '{out.name}', the name of {holder}",
                                "duplicate-name", key))
    return found


def _params(doc: Document, graph: Graph, key: str) -> list[Diagnostic]:
    """Parameter diagnostics; only the layers replaced since the last pass are checked again,
    so an edit of one parameter in a 10,000-layer model costs microseconds here."""
    changed = _watch(graph).take_changed_layers()
    problems = _PARAMS.setdefault(graph, {})
    if changed is None:
        problems.clear()
    for layer_id in graph.layers if changed is None else changed:
        problems.pop(layer_id, None)
        layer = graph.layers.get(layer_id)
        if layer is None or layer.is_block:
            continue
        calls = graph.calls_of(layer_id)
        found = _layer_params(doc, layer, calls[0].id if calls else layer_id, key)
        if found:
            problems[layer_id] = found
    return [d for found in problems.values() for d in found]


def _layer_params(doc: Document, layer: LayerSpec, target: str, key: str) -> list[Diagnostic]:
    try:
        entry = doc.catalog.get(layer.class_name)
    except UnknownLayerError as exc:
        return [Diagnostic(target, "error", str(exc), "unknown-layer", key)]
    found = []
    for name, value in layer.params.items():
        if not entry.has_param(name):
            found.append(Diagnostic(target, "error", f"{layer.class_name} has no parameter "
                                    f"'{name}'", "bad-param", key))
            continue
        problem = entry.param(name).value_error(value)
        if problem is not None:
            found.append(Diagnostic(target, "error", problem, "bad-param", key))
    return found
