"""Factories for the edits a user makes: they pick ids and names, then return commands.

The returned command is not applied: push it on an undo stack (or call
``redo``). Ids are chosen here, so redo after undo recreates the same ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from ..document.document import MAIN, Document
from ..document.graph import Graph
from ..schema.errors import EditError, ParameterError
from ..schema.records import (
    BLOCK_CLASS,
    CallNode,
    Edge,
    InputNode,
    LayerSpec,
    OutputNode,
    Position,
    Shape,
    Slot,
    new_id,
)
from .commands import Command, Macro
from .graph_commands import (
    AddBlock,
    AddNode,
    Connect,
    Disconnect,
    GraphRecords,
    MoveNodes,
    RemoveBlock,
    RemoveNode,
    SetCallLayer,
)
from .layout import NODE_HEIGHT, ROW_SPACING
from .renames import check_dtype, check_shape


def add_layer(doc: Document, class_name: str, params: dict[str, Any] | None = None, *,
              name: str | None = None, position: Position = (0.0, 0.0),
              graph_key: str = MAIN) -> AddNode:
    entry = doc.catalog.get(class_name)
    graph = doc.graph_of(graph_key)
    values = entry.initial_params()
    values.update(params or {})
    for key, value in (params or {}).items():
        problem = entry.param(key).value_error(value) if entry.has_param(key) else \
            f"'{key}' expected a parameter of {class_name}; received an unknown name"
        if problem is not None:
            raise ParameterError(f"{class_name}: {problem}")
    base = entry.default_name or class_name.lower()
    layer = LayerSpec(new_id(), class_name, name or graph.unique_name(base), values)
    node = CallNode(new_id(), layer.id, position=position)
    return AddNode(node, layer, graph_key, text=f"Add {class_name}")


def add_input(doc: Document, shape: Sequence[int | None], *, name: str | None = None,
              dtype: str = "float32", position: Position = (0.0, 0.0),
              graph_key: str = MAIN) -> AddNode:
    graph = doc.graph_of(graph_key)
    node = InputNode(new_id(), name or graph.unique_name("input"), check_shape(shape),
                     check_dtype(dtype), position)
    return AddNode(node, None, graph_key, text="Add input")


def add_output(doc: Document, *, name: str | None = None, loss: str | None = None,
               loss_weight: float = 1.0, metrics: list[str] | None = None,
               position: Position = (0.0, 0.0), graph_key: str = MAIN) -> AddNode:
    graph = doc.graph_of(graph_key)
    node = OutputNode(new_id(), name or graph.unique_name("output"), loss, loss_weight,
                      list(metrics or []), position)
    return AddNode(node, None, graph_key, text="Add output")


def connect(doc: Document, src: str, dst: str, *, src_index: int = 0,
            dst_slot: Slot | None = None, graph_key: str = MAIN) -> Connect:
    """Connect output ``src_index`` of ``src`` into ``dst`` (the next free input if no slot)."""
    graph = doc.graph_of(graph_key)
    if dst_slot is None:
        dst_slot = graph.next_free_slot(dst)
        if dst_slot is None:
            raise EditError(f"every input of {graph.describe(dst)} is already connected")
    error = graph.connection_error(src, src_index, dst, dst_slot)
    if error is not None:
        raise error
    return Connect(Edge(new_id(), src, src_index, dst, dst_slot), graph_key)


def insert_on_edge(doc: Document, edge_id: str, class_name: str,
                   params: dict[str, Any] | None = None, graph_key: str = MAIN) -> Macro:
    """Put a new layer on a connection, src -> new layer -> dst (a diagnostic's one-click fix)."""
    graph = doc.graph_of(graph_key)
    edge = graph.edge(edge_id)
    position, moves = _room_on_edge(graph, edge)
    add = add_layer(doc, class_name, params, position=position, graph_key=graph_key)
    assert add.layer is not None
    spec = doc.port_spec_of(add.layer)
    if spec.kind == "none":
        raise EditError(f"{class_name} takes no input, so it cannot go on a connection")
    first: Slot = spec.names[0] if spec.kind == "named" else 0
    feed = Edge(new_id(), edge.src, edge.src_index, add.node.id, first)
    onward = Edge(new_id(), add.node.id, 0, edge.dst, edge.dst_slot)
    children: list[Command] = [Disconnect(edge.id, graph_key), add,
                               Connect(feed, graph_key), Connect(onward, graph_key)]
    if moves:
        children.append(MoveNodes(moves, graph_key))
    return Macro(f"Insert {class_name}", children)


def _room_on_edge(graph: Graph, edge: Edge) -> tuple[Position, dict[str, Position]]:
    """Where a layer put on ``edge`` goes, and the nodes moved to make room for it: halfway
    along the edge when there is a row free there; otherwise one row below the source, with
    the destination and everything after it pushed down a row (layers stacked a row apart,
    as auto layout leaves them, would otherwise be covered by the new one)."""
    a, b = graph.node(edge.src).position, graph.node(edge.dst).position
    if b[1] - a[1] >= ROW_SPACING + NODE_HEIGHT:  # a box fits between, 20 px clear each side
        return ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2), {}
    position = (b[0], a[1] + ROW_SPACING)
    shift = position[1] + ROW_SPACING - b[1]
    moves = {node_id: (graph.node(node_id).position[0], graph.node(node_id).position[1] + shift)
             for node_id in graph.downstream([edge.dst])}
    return position, moves


def remove_nodes(doc: Document, node_ids: Iterable[str], graph_key: str = MAIN) -> Macro:
    ids = list(dict.fromkeys(node_ids))
    for node_id in ids:
        doc.graph_of(graph_key).node(node_id)
    return Macro("Delete", [RemoveNode(nid, graph_key) for nid in ids])


def call_again(doc: Document, node_id: str, *, position: Position | None = None,
               graph_key: str = MAIN) -> AddNode:
    """A new call of the same layer instance: the two calls share weights (7.1.5)."""
    graph = doc.graph_of(graph_key)
    layer = graph.layer_of(node_id)
    origin = graph.node(node_id).position
    where = position or (origin[0] + 40.0, origin[1] + 40.0)
    return AddNode(CallNode(new_id(), layer.id, position=where), None, graph_key,
                   text=f"Call '{layer.name}' again")


def share_layer(doc: Document, node_id: str, layer_id: str, graph_key: str = MAIN) -> Command:
    """Make a call use another call's layer instance, so both share one set of weights."""
    graph = doc.graph_of(graph_key)
    graph.layer(layer_id)
    return SetCallLayer(node_id, layer_id, None, graph_key, text="Share layer")


def make_unique(doc: Document, node_id: str, graph_key: str = MAIN) -> Command:
    """Give a call its own copy of its layer (own weights)."""
    graph = doc.graph_of(graph_key)
    layer = graph.layer_of(node_id)
    copy = replace(layer, id=new_id(), name=graph.unique_name(layer.name),
                   params=dict(layer.params))
    return SetCallLayer(node_id, copy.id, copy, graph_key, text="Make unique")


def use_block(doc: Document, block_id: str, *, name: str | None = None,
              position: Position = (0.0, 0.0), graph_key: str = MAIN) -> AddNode:
    """A new instance of a block (its own weights) in a graph."""
    block = doc.block(block_id)
    if graph_key != MAIN and doc.block_uses(block_id, graph_key):
        raise EditError(f"block '{block.name}' cannot be used inside itself "
                        "(directly or through another block)")
    graph = doc.graph_of(graph_key)
    layer = LayerSpec(new_id(), BLOCK_CLASS, name or graph.unique_name(block.name), {}, block_id)
    return AddNode(CallNode(new_id(), layer.id, position=position), layer, graph_key,
                   text=f"Use block '{block.name}'")


# ------------------------------------------------------------- grouping
def group_into_block(doc: Document, node_ids: Iterable[str], name: str,
                     input_shapes: Sequence[Shape], graph_key: str = MAIN) -> Macro:
    """Move call nodes into a new block and call the block where they were.

    ``input_shapes``: the shape (without batch axis) of each tensor that enters
    the selection, in the order :func:`boundary` lists them.
    """
    graph = doc.graph_of(graph_key)
    selected = _selected_calls(graph, node_ids)
    entering, leaving = boundary(graph, selected)
    if len(input_shapes) != len(entering):
        raise EditError(f"expected {len(entering)} input shapes for the block; "
                        f"received {len(input_shapes)}")
    if not leaving:
        raise EditError("the selection feeds nothing outside it: a block needs an output")
    block_id = new_id()
    inner = _block_content(graph, selected, entering, leaving, input_shapes)
    call, layer = _block_call(graph, selected, block_id, name)
    children: list[Command] = [AddBlock(block_id, name, inner)]
    children += [RemoveNode(nid, graph_key) for nid in selected]
    children.append(AddNode(call, layer, graph_key))
    single = len(entering) == 1
    for i, (src, src_index) in enumerate(entering):
        edge = Edge(new_id(), src, src_index, call.id, 0 if single else i)
        children.append(Connect(edge, graph_key))
    for k, tensor in enumerate(leaving):
        for edge in _edges_from(graph, tensor, exclude=set(selected)):
            children.append(Connect(Edge(new_id(), call.id, k, edge.dst, edge.dst_slot),
                                    graph_key))
    return Macro(f"Group into block '{name}'", children)


def _selected_calls(graph: Graph, node_ids: Iterable[str]) -> list[str]:
    ids = [nid for nid in graph.nodes if nid in set(node_ids)]
    if not ids:
        raise EditError("select one or more layers to group into a block")
    for nid in ids:
        node = graph.node(nid)
        if not isinstance(node, CallNode):
            raise EditError(f"only layers can go into a block; {graph.describe(nid)} is an "
                            f"{node.kind} node")
        outside = [c for c in graph.calls_of(node.layer_id) if c.id not in ids]
        if outside:
            raise EditError(f"layer '{graph.layer(node.layer_id).name}' is also called outside "
                            "the selection; select all its calls or make it unique first")
    return ids


def boundary(graph: Graph, selected: Sequence[str]) -> tuple[list[tuple[str, int]],
                                                             list[tuple[str, int]]]:
    """Tensors entering and leaving a selection, as (node id, output index), in edge order."""
    inside = set(selected)
    entering: list[tuple[str, int]] = []
    leaving: list[tuple[str, int]] = []
    for edge in graph.edges.values():
        tensor = (edge.src, edge.src_index)
        if edge.dst in inside and edge.src not in inside and tensor not in entering:
            entering.append(tensor)
        if edge.src in inside and edge.dst not in inside and tensor not in leaving:
            leaving.append(tensor)
    return entering, leaving


def _edges_from(graph: Graph, tensor: tuple[str, int], exclude: set[str]) -> list[Edge]:
    return [e for e in graph.edges.values()
            if (e.src, e.src_index) == tensor and e.dst not in exclude]


def _block_content(graph: Graph, selected: list[str], entering: list[tuple[str, int]],
                   leaving: list[tuple[str, int]], shapes: Sequence[Shape]) -> GraphRecords:
    inside = set(selected)
    layer_ids = list(dict.fromkeys(graph.layer_of(nid).id for nid in selected))
    layers = [graph.layer(lid) for lid in layer_ids]
    inputs = [InputNode(new_id(), f"{graph.tensor_name(src)}_in", check_shape(shape))
              for (src, _), shape in zip(entering, shapes, strict=True)]
    inputs = _dedupe_names(inputs, {layer.name for layer in layers})
    outputs = _block_outputs(graph, leaving, {layer.name for layer in layers})
    edges = [e for e in graph.edges.values() if e.src in inside and e.dst in inside]
    for e in graph.edges.values():
        if e.dst in inside and e.src not in inside:
            block_input = inputs[entering.index((e.src, e.src_index))]
            edges.append(replace(e, id=new_id(), src=block_input.id, src_index=0))
    for k, (src, src_index) in enumerate(leaving):
        edges.append(Edge(new_id(), src, src_index, outputs[k].id, 0))
    nodes = [*inputs, *(graph.node(nid) for nid in selected), *outputs]
    return GraphRecords(layers, nodes, edges)


def _block_outputs(graph: Graph, leaving: list[tuple[str, int]], layer_names: set[str]
                   ) -> list[OutputNode]:
    """The block's outputs, named after the layers that make them (as Keras names them, so
    the block's code needs no Identity); a second tensor of one layer gets ``output_k``."""
    used: set[str] = set()
    outputs = []
    for k, (src, _) in enumerate(leaving):
        name = graph.tensor_name(src)
        if name in used:
            name, i = f"output_{k}", 1
            while name in used or name in layer_names:
                name, i = f"output_{k}_{i}", i + 1
        used.add(name)
        outputs.append(OutputNode(new_id(), name))
    return outputs


def _dedupe_names(inputs: list[InputNode], taken: set[str]) -> list[InputNode]:
    result = []
    used = set(taken)
    for node in inputs:
        name, i = node.name, 1
        while name in used:
            name, i = f"{node.name}_{i}", i + 1
        used.add(name)
        result.append(replace(node, name=name))
    return result


def _block_call(graph: Graph, selected: list[str], block_id: str, name: str
                ) -> tuple[CallNode, LayerSpec]:
    xs = [graph.node(nid).position for nid in selected]
    centre = (sum(p[0] for p in xs) / len(xs), sum(p[1] for p in xs) / len(xs))
    layer = LayerSpec(new_id(), BLOCK_CLASS, graph.unique_name(name), {}, block_id)
    return CallNode(new_id(), layer.id, position=centre), layer


def ungroup(doc: Document, node_id: str, graph_key: str = MAIN) -> Macro:
    """Replace a call of a block by a copy of the block's content."""
    graph = doc.graph_of(graph_key)
    layer = graph.layer_of(node_id)
    if layer.block_id is None:
        raise EditError(f"{graph.describe(node_id)} is not a block")
    block = doc.block(layer.block_id)
    inner = block.graph
    ids = {nid: new_id() for nid in inner.nodes}
    layer_copies = _copied_layers(graph, inner)
    children: list[Command] = [RemoveNode(node_id, graph_key)]
    origin = graph.node(node_id).position
    for nid, node in inner.nodes.items():
        if isinstance(node, CallNode):
            copy = layer_copies[node.layer_id]
            first = inner.calls_of(node.layer_id)[0].id == nid
            moved = replace(node, id=ids[nid], layer_id=copy.id,
                            position=(origin[0] + node.position[0], origin[1] + node.position[1]))
            children.append(AddNode(moved, copy if first else None, graph_key))
    children += _ungroup_edges(graph, inner, node_id, ids, graph_key)
    users = [lay for _, g in doc.graphs() for lay in g.layers.values()
             if lay.block_id == block.id and lay.id != layer.id]
    if not users and len(graph.calls_of(layer.id)) == 1:
        children.append(RemoveBlock(block.id))
    return Macro(f"Ungroup '{layer.name}'", children)


def _copied_layers(graph: Graph, inner: Graph) -> dict[str, LayerSpec]:
    copies = {}
    taken = set(graph.names_in_use())
    for lid, layer in inner.layers.items():
        name, i = layer.name, 1
        while name in taken:
            name, i = f"{layer.name}_{i}", i + 1
        taken.add(name)
        copies[lid] = replace(layer, id=new_id(), name=name, params=dict(layer.params))
    return copies


def _ungroup_edges(graph: Graph, inner: Graph, call_id: str, ids: dict[str, str],
                   graph_key: str) -> list[Command]:
    feeding = {e.dst_slot: (e.src, e.src_index) for e in graph.in_edges(call_id)}
    block_inputs = [n.id for n in inner.inputs()]
    block_outputs = [n.id for n in inner.outputs()]
    single = len(block_inputs) == 1
    children: list[Command] = []
    for e in inner.edges.values():
        if e.src in block_inputs:
            position = block_inputs.index(e.src)
            src = feeding.get(0 if single else position)
            if src is None:
                continue
            new = Edge(new_id(), src[0], src[1], ids[e.dst], e.dst_slot)
        elif e.dst in block_outputs:
            continue
        else:
            new = Edge(new_id(), ids[e.src], e.src_index, ids[e.dst], e.dst_slot)
        children.append(Connect(new, graph_key))
    for e in graph.out_edges(call_id):
        feed = next(x for x in inner.in_edges(block_outputs[e.src_index]))
        if feed.src in block_inputs:
            src = feeding.get(0 if single else block_inputs.index(feed.src))
            if src is None:
                continue
            new = Edge(new_id(), src[0], src[1], e.dst, e.dst_slot)
        else:
            new = Edge(new_id(), ids[feed.src], feed.src_index, e.dst, e.dst_slot)
        children.append(Connect(new, graph_key))
    return children
