"""Copy and paste of sub-graphs as plain JSON-able records (the GUI puts them on the clipboard).

A copy holds the selected nodes, the layers they call, the edges between them and
every block their calls use (nested blocks included), wrapped as a small project
so that pasting reads it back through the project-file reader, which checks every
value: records from the clipboard may come from another window or another program.

Pasting decides:

- Every pasted call gets a *new* layer instance (own weights, a free name), as a
  copy should. Calls that shared one layer in the copied set share one new layer
  in the paste, so a copied siamese pair stays a siamese pair; sharing with a
  layer outside the copied set is not kept (use "call again" for that).
- A block the target document already has (same id) is reused as is; a block it
  lacks is added with its content, renamed when its name is taken.
- Inputs, layers and outputs get free names: ``dense_3`` pasted next to itself
  becomes the first free ``dense_N``; a name still free is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from ..document.document import MAIN, Block, Document
from ..document.graph import Graph
from ..document.records import from_records, to_records
from ..schema import records as rec
from ..schema.errors import EditError, ProjectFileError, UnknownIdError
from .commands import Command, Macro
from .graph_commands import AddBlock, AddNode, Connect, GraphRecords

SUBGRAPH_FORMAT = "layerforge-subgraph"
SUBGRAPH_VERSION = 1


@dataclass
class PasteCommand(Macro):
    """The macro a paste pushes; ``node_ids`` are the new nodes (the GUI selects them)."""

    node_ids: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ copying
def copy_subgraph(doc: Document, graph_key: str, node_ids: list[str]) -> dict[str, Any]:
    """JSON-able records of the nodes ``node_ids`` of one graph and the edges among them."""
    graph = doc.graph_of(graph_key)
    wanted = set(node_ids)
    unknown = wanted - set(graph.nodes)
    if unknown:
        raise UnknownIdError(f"expected node ids of this graph; received {sorted(unknown)}")
    if not wanted:
        raise EditError("select one or more nodes to copy")
    part = Document(doc.catalog)
    for block_id in _blocks_needed(doc, graph, wanted):
        block = doc.block(block_id)
        part.add_block(Block(block.id, block.name,
                             GraphRecords.of(block.graph).build(part.new_graph())))
    _selection_records(graph, wanted).build(part.graph)
    return {"format": SUBGRAPH_FORMAT, "format_version": SUBGRAPH_VERSION,
            "project": to_records(part)}


def _selection_records(graph: Graph, wanted: set[str]) -> GraphRecords:
    nodes = [node for node in graph.nodes.values() if node.id in wanted]
    layer_ids = dict.fromkeys(n.layer_id for n in nodes if isinstance(n, rec.CallNode))
    edges = [e for e in graph.edges.values() if e.src in wanted and e.dst in wanted]
    return GraphRecords([graph.layer(lid) for lid in layer_ids], nodes, edges)


def _blocks_needed(doc: Document, graph: Graph, wanted: set[str]) -> list[str]:
    """Blocks the selection uses, directly or inside other blocks, dependencies first."""
    ordered: list[str] = []

    def visit(block_id: str) -> None:
        if block_id in ordered:
            return
        for layer in doc.block(block_id).graph.layers.values():
            if layer.block_id is not None:
                visit(layer.block_id)
        ordered.append(block_id)

    for node_id in wanted:
        node = graph.node(node_id)
        if isinstance(node, rec.CallNode) and graph.layer(node.layer_id).block_id is not None:
            visit(graph.layer(node.layer_id).block_id or "")
    return ordered


# ------------------------------------------------------------------ pasting
def paste_subgraph(doc: Document, records: Any, graph_key: str = MAIN,
                   offset: rec.Position = (40.0, 40.0)) -> PasteCommand:
    """A command that adds a copy of ``records`` to a graph, moved by ``offset``."""
    source = parse_subgraph(records, doc)
    graph = doc.graph_of(graph_key)
    children: list[Command] = _missing_blocks(doc, source)
    _refuse_self_use(doc, source, graph_key)
    layers = _new_layers(source.graph, _taken_names(graph))
    ids = {nid: rec.new_id() for nid in source.graph.nodes}
    named = _renamed_nodes(source.graph, _taken_names(graph) | {lay.name for lay in
                                                                layers.values()})
    added: set[str] = set()
    for node in source.graph.nodes.values():
        moved = replace(named.get(node.id, node), id=ids[node.id],
                        position=(node.position[0] + offset[0], node.position[1] + offset[1]))
        layer = None
        if isinstance(node, rec.CallNode):
            layer = layers[node.layer_id] if node.layer_id not in added else None
            added.add(node.layer_id)
            moved = replace(moved, layer_id=layers[node.layer_id].id)
        children.append(AddNode(moved, layer, graph_key))
    for edge in source.graph.edges.values():
        children.append(Connect(rec.Edge(rec.new_id(), ids[edge.src], edge.src_index, ids[edge.dst],
                                     edge.dst_slot), graph_key))
    count = len(ids)
    return PasteCommand(f"Paste {count} node{'s' if count != 1 else ''}", children,
                        list(ids.values()))


def parse_subgraph(records: Any, doc: Document) -> Document:
    """The copied sub-graph as a document of its own, every value checked."""
    if not isinstance(records, dict) or records.get("format") != SUBGRAPH_FORMAT:
        received = records.get("format") if isinstance(records, dict) else type(records).__name__
        raise ProjectFileError(f'the clipboard: expected "{SUBGRAPH_FORMAT}" records; '
                               f"received {received!r}")
    version = records.get("format_version")
    if not isinstance(version, int) or version > SUBGRAPH_VERSION:
        raise ProjectFileError(f"the clipboard: expected format_version up to "
                               f"{SUBGRAPH_VERSION}; received {version!r}")
    return from_records(records.get("project"), "the clipboard", doc.catalog)


def _missing_blocks(doc: Document, source: Document) -> list[Command]:
    adds: list[Command] = []
    names = {b.name for b in doc.blocks.values()}
    for block in source.blocks.values():
        if block.id in doc.blocks:
            continue
        name = _free_name(block.name, names)
        names.add(name)
        adds.append(AddBlock(block.id, name, GraphRecords.of(block.graph)))
    return adds


def _refuse_self_use(doc: Document, source: Document, graph_key: str) -> None:
    if graph_key == MAIN:
        return
    for layer in source.graph.layers.values():
        block_id = layer.block_id
        if block_id is None:
            continue
        inside = source.block_uses(block_id, graph_key) or (
            block_id in doc.blocks and doc.block_uses(block_id, graph_key))
        if inside:
            raise EditError(f"block '{layer.name}' cannot be pasted inside itself "
                            "(directly or through another block)")


def _taken_names(graph: Graph) -> set[str]:
    return set(graph.names_in_use()) | {o.name for o in graph.outputs()}


def _new_layers(source: Graph, taken: set[str]) -> dict[str, rec.LayerSpec]:
    """One new instance per copied layer, so calls sharing a layer keep sharing the copy."""
    result = {}
    for layer in source.layers.values():
        name = _free_name(layer.name, taken)
        taken.add(name)
        result[layer.id] = replace(layer, id=rec.new_id(), name=name, params=dict(layer.params))
    return result


def _renamed_nodes(source: Graph, taken: set[str]) -> dict[str, rec.Node]:
    renamed: dict[str, rec.Node] = {}
    for node in source.nodes.values():
        if isinstance(node, rec.InputNode | rec.OutputNode):
            name = _free_name(node.name, taken)
            taken.add(name)
            renamed[node.id] = replace(node, name=name)
    return renamed


_SUFFIX = re.compile(r"_\d+$")


def _free_name(name: str, taken: set[str]) -> str:
    """``name`` itself when free, else the first free ``base_N`` (``dense_3`` -> ``dense_1``)."""
    if name not in taken:
        return name
    base = _SUFFIX.sub("", name)
    i = 1
    while f"{base}_{i}" in taken:
        i += 1
    return f"{base}_{i}"
