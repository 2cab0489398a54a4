"""Gestures on the canvas become core commands pushed on the session (and nothing else).

Every refusal (an illegal connection, a selection that cannot be grouped) is reported
through ``session.edit_refused`` with the core's message and leaves the document as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF

from layerforge.core.document.document import Document
from layerforge.core.document.graph import Graph
from layerforge.core.editing import edits
from layerforge.core.editing.clipboard import copy_subgraph, parse_subgraph, paste_subgraph
from layerforge.core.editing.commands import Command, Macro
from layerforge.core.editing.graph_commands import Connect, Disconnect, MoveNodes
from layerforge.core.editing.renames import EditNode, RenameLayer
from layerforge.core.schema.diagnostics import Diagnostic
from layerforge.core.schema.errors import LayerForgeError
from layerforge.core.schema.records import (
    CallNode,
    Edge,
    OutputNode,
    Position,
    Shape,
    Slot,
    new_id,
)

from .items import DragEdgeItem, NodeItem, PortItem

if TYPE_CHECKING:
    from .scene import CanvasScene

Source = tuple[str, int]  # (node id, output index) a new layer is connected to
#: The shape (without the batch axis) of a new Input: one axis of any length, like
#: keras.Input(shape=(None,)). It guesses no feature count; a layer that needs one
#: (Dense) says so on its node until the user types the real shape in the inspector.
NEW_INPUT_SHAPE: Shape = (None,)


@dataclass
class _Drag:
    port: PortItem
    item: DragEdgeItem
    verdicts: dict[PortItem, str | None] = field(default_factory=dict)


class CanvasController:
    def __init__(self, scene: CanvasScene) -> None:
        self.scene = scene
        self.drag: _Drag | None = None

    @property
    def doc(self) -> Document:
        return self.scene.session.doc

    @property
    def graph(self) -> Graph:
        return self.scene.graph

    @property
    def key(self) -> str:
        return self.scene.graph_key

    # ------------------------------------------------------------- pushing
    def refuse(self, message: str) -> None:
        self.scene.session.edit_refused.emit(message)

    def push(self, factory: Callable[..., Command], *args: Any, **kwargs: Any) -> Command | None:
        """Build a command with a core factory and push it; a refusal is reported, not raised."""
        try:
            command = factory(*args, **kwargs)
        except LayerForgeError as exc:
            self.refuse(str(exc))
            return None
        return command if self.scene.session.push(command) else None

    def push_each(self, text: str, factories: list[Callable[[], Command]]) -> list[Command]:
        """Edits whose factories read the document as the previous one left it: one undo step."""
        stack = self.scene.session.undo_stack
        stack.beginMacro(text)
        try:
            done = [c for c in (self.push(f) for f in factories) if c is not None]
        finally:
            stack.endMacro()
        return done

    # ------------------------------------------------------------- connecting
    def begin_connect(self, port: PortItem) -> None:
        self.cancel_connect()
        item = DragEdgeItem(port.scenePos(), self.scene.style)
        self.scene.addItem(item)
        self.drag = _Drag(port, item)
        for candidate in self._visible_ports(not port.is_output):
            self._mark(candidate)

    def drag_connect(self, pos: QPointF) -> None:
        if self.drag is None:
            return
        target = self.target_at(pos)
        reason = self._mark(target) if target is not None else None
        self.drag.item.set_end(pos, reason is None, reason or "")

    def end_connect(self, pos: QPointF) -> None:
        drag = self.drag
        if drag is None:
            return
        target = self.target_at(pos)
        reason = self._verdict(target) if target is not None else None
        self.cancel_connect()
        if target is None:
            if drag.port.is_output and self._empty_at(pos):
                self.scene.search_requested.emit(pos, (drag.port.node.node_id, drag.port.key))
            return
        if reason is not None:
            self.refuse(reason)
            return
        src, index, dst, slot = self._oriented(drag.port, target)
        self.push(lambda: Connect(Edge(new_id(), src, index, dst, slot), self.key))

    def cancel_connect(self) -> None:
        """End a connection drag: every highlighted port, the dragged one too, back to normal."""
        if self.drag is None:
            return
        drag, self.drag = self.drag, None
        for port in [*drag.verdicts, drag.port]:
            # No hover events reach ports while the dragged one grabs the mouse.
            port.hovered = port.isUnderMouse()
            port.set_state("normal")
            port.sync()
        self.scene.removeItem(drag.item)

    def target_at(self, pos: QPointF) -> PortItem | None:
        """The port under ``pos``; over a node's body, its first port that accepts the drag."""
        assert self.drag is not None
        want_output = not self.drag.port.is_output
        for item in self.scene.items(pos):
            if isinstance(item, PortItem) and item.is_output == want_output:
                return item
            node = item if isinstance(item, NodeItem) else None
            if isinstance(item, PortItem):
                node = item.node
            if node is not None:
                ports = node.outputs if want_output else node.inputs
                if not ports:
                    return None
                return next((p for p in ports if self._verdict(p) is None), ports[0])
        return None

    def _empty_at(self, pos: QPointF) -> bool:
        return not any(isinstance(i, NodeItem | PortItem) for i in self.scene.items(pos))

    def _oriented(self, a: PortItem, b: PortItem) -> tuple[str, int, str, Slot]:
        out, into = (a, b) if a.is_output else (b, a)
        return out.node.node_id, int(out.key), into.node.node_id, into.key

    def _verdict(self, port: PortItem) -> str | None:
        """Why connecting the dragged port to ``port`` is refused (Graph.connection_error)."""
        assert self.drag is not None
        if port not in self.drag.verdicts:
            error = self.graph.connection_error(*self._oriented(self.drag.port, port))
            self.drag.verdicts[port] = None if error is None else str(error)
        return self.drag.verdicts[port]

    def _mark(self, port: PortItem) -> str | None:
        reason = self._verdict(port)
        port.set_state("legal" if reason is None else "illegal")
        return reason

    def _visible_ports(self, outputs: bool) -> list[PortItem]:
        views = self.scene.views()
        area = (views[0].mapToScene(views[0].viewport().rect()).boundingRect() if views
                else self.scene.sceneRect())
        return [p for n in self._nodes_in(area) for p in (n.outputs if outputs else n.inputs)]

    def _nodes_in(self, area: QRectF) -> list[NodeItem]:
        return [i for i in self.scene.items(area) if isinstance(i, NodeItem)]

    # ------------------------------------------------------------- edits
    def move_nodes(self, positions: dict[str, Position]) -> None:
        self.push(lambda: MoveNodes(positions, self.key))

    def insert_layer(self, class_name: str, pos: QPointF, source: Source | None) -> str | None:
        """Add a layer at ``pos``, fed by ``source`` when given; returns the new node id."""
        def build() -> Command:
            add = edits.add_layer(self.doc, class_name, position=(pos.x(), pos.y()),
                                  graph_key=self.key)
            return self._fed(add, source, f"Add {class_name}")

        command = self.push(build)
        return self._new_node(command)

    def insert_input(self, pos: QPointF) -> str | None:
        """Add an Input with a free name and the default shape; returns its node id."""
        command = self.push(lambda: edits.add_input(
            self.doc, NEW_INPUT_SHAPE, position=(pos.x(), pos.y()), graph_key=self.key))
        return self._new_node(command)

    def insert_output(self, pos: QPointF, source: Source | None) -> str | None:
        """Add an Output, fed by ``source`` when given (one undo step); returns its node id."""
        def build() -> Command:
            add = edits.add_output(self.doc, position=(pos.x(), pos.y()), graph_key=self.key)
            if source is None:
                return add
            edge = Edge(new_id(), source[0], source[1], add.node.id, 0)
            return Macro(f"Make {self.graph.describe(source[0])} an output",
                         [add, Connect(edge, self.key)])

        return self._new_node(self.push(build))

    def insert_block(self, block_id: str, pos: QPointF, source: Source | None) -> str | None:
        def build() -> Command:
            add = edits.use_block(self.doc, block_id, position=(pos.x(), pos.y()),
                                  graph_key=self.key)
            return self._fed(add, source, add.text)

        return self._new_node(self.push(build))

    def _fed(self, add: Any, source: Source | None, text: str) -> Command:
        if source is None:
            return add
        spec = self.doc.port_spec_of(add.layer)
        if spec.kind == "none":
            return add
        slot: Slot = spec.names[0] if spec.kind == "named" else 0
        edge = Edge(new_id(), source[0], source[1], add.node.id, slot)
        return Macro(text, [add, Connect(edge, self.key)])

    def _new_node(self, command: Command | None) -> str | None:
        if command is None:
            return None
        first = command.children[0] if isinstance(command, Macro) else command
        return first.node.id  # type: ignore[attr-defined]

    def delete(self, node_ids: list[str], edge_ids: list[str]) -> None:
        def build() -> Command:
            doomed = set(node_ids)
            children: list[Command] = [
                Disconnect(eid, self.key) for eid in edge_ids
                if eid in self.graph.edges and not {self.graph.edges[eid].src,
                                                    self.graph.edges[eid].dst} & doomed]
            if node_ids:
                children += edits.remove_nodes(self.doc, node_ids, self.key).children
            return Macro("Delete", children)

        if node_ids or edge_ids:
            self.push(build)

    def disconnect(self, node_ids: list[str]) -> None:
        """Remove every edge of the nodes, as one undo step."""
        touching = {e.id: None for nid in node_ids if nid in self.graph.nodes
                    for e in self.graph.edges_touching(nid)}
        if not touching:
            self.refuse("the selected nodes have no connections to remove")
            return
        self.push(lambda: Macro("Disconnect", [Disconnect(eid, self.key) for eid in touching]))

    def rename(self, node_id: str, name: str) -> bool:
        """A layer call renames its layer; an Input or Output renames the node."""
        node = self.graph.nodes.get(node_id)
        if node is None:
            return False
        name = name.strip()
        if isinstance(node, CallNode):
            layer = self.graph.layer(node.layer_id)
            if name == layer.name:
                return False
            command = RenameLayer(layer.id, name, self.key,
                                  text=f"Rename '{layer.name}' to '{name}'")
        else:
            if name == node.name:
                return False
            command = EditNode(node.id, {"name": name}, self.key,
                               text=f"Rename '{node.name}' to '{name}'")
        return self.push(lambda: command) is not None

    def call_again(self, node_ids: list[str],
                   positions: dict[str, Position] | None = None) -> list[str]:
        """A new call of each selected layer (shared weights), at ``positions[node id]``."""
        calls = [nid for nid in node_ids if isinstance(self.graph.nodes.get(nid), CallNode)]
        if not calls:
            self.refuse("select a layer to call again")
            return []
        where = positions or {}
        command = self.push(lambda: Macro("Call again", [
            edits.call_again(self.doc, nid, position=where.get(nid), graph_key=self.key)
            for nid in calls]))
        return [c.node.id for c in command.children] if isinstance(command, Macro) else []

    def make_unique(self, node_ids: list[str]) -> None:
        graph = self.graph
        shared = [nid for nid in node_ids if isinstance(graph.nodes.get(nid), CallNode)
                  and len(self.scene.calls.get(graph.layer_of(nid).id, {})) > 1]
        if not shared:
            self.refuse("select a call of a shared layer to give it its own weights")
            return
        self.push_each("Make unique", [
            (lambda nid=nid: edits.make_unique(self.doc, nid, self.key)) for nid in shared])

    def group(self, node_ids: list[str], name: str | None) -> None:
        def build() -> Command:
            return edits.group_into_block(self.doc, node_ids, name or self._block_name(),
                                          self._entering_shapes(node_ids), self.key)

        self.push(build)

    def _block_name(self) -> str:
        taken = {b.name for b in self.doc.blocks.values()} | set(self.graph.names_in_use())
        name, i = "block", 1
        while name in taken:
            name, i = f"block_{i}", i + 1
        return name

    def _entering_shapes(self, node_ids: list[str]) -> list[Shape]:
        """Shapes (without batch axis) of the tensors entering a selection, from the engine."""
        selected = [nid for nid in self.graph.nodes if nid in set(node_ids)]
        entering, _ = edits.boundary(self.graph, selected)
        shapes = []
        for src, index in entering:
            result = self.scene.shapes_of(src)
            if result is None or result.outputs is None or index >= len(result.outputs):
                raise LayerForgeError(
                    f"expected known shapes for the tensors entering the selection; the shape "
                    f"out of {self.graph.describe(src)} is unknown (wait for Keras to load, or "
                    "fix the errors upstream)")
            shapes.append(tuple(result.outputs[index][1:]))
        return shapes

    def ungroup(self, node_ids: list[str]) -> None:
        blocks = [nid for nid in node_ids if isinstance(self.graph.nodes.get(nid), CallNode)
                  and self.graph.layer_of(nid).block_id is not None]
        if not blocks:
            self.refuse("select a block to ungroup")
            return
        self.push_each("Ungroup", [
            (lambda nid=nid: edits.ungroup(self.doc, nid, self.key)) for nid in blocks])

    def copy(self, node_ids: list[str]) -> dict[str, Any] | None:
        try:
            return copy_subgraph(self.doc, self.key, node_ids)
        except LayerForgeError as exc:
            self.refuse(str(exc))
            return None

    def paste_positions(self, records: Any) -> list[Position] | None:
        """Where the copied nodes were; None (reported) when the records do not parse."""
        try:
            source = parse_subgraph(records, self.doc)
        except LayerForgeError as exc:
            self.refuse(str(exc))
            return None
        return [node.position for node in source.graph.nodes.values()]

    def paste(self, records: Any, offset: Position) -> list[str]:
        command = self.push(lambda: paste_subgraph(self.doc, records, self.key, offset))
        return list(getattr(command, "node_ids", []))

    def auto_layout(self) -> bool:
        try:
            from layerforge.core.editing.layout import apply_layout
        except ImportError:
            self.refuse("auto-layout is not available in this build")
            return False
        return self.push(lambda: apply_layout(self.doc, self.key)) is not None

    def apply_fix(self, diagnostic: Diagnostic) -> str | None:
        fix = diagnostic.fix
        if fix is None or fix.edge_id is None:
            self.refuse(f"this problem has no one-click fix: {diagnostic.message}")
            return None
        command = self.push(lambda: edits.insert_on_edge(
            self.doc, fix.edge_id or "", fix.class_name, dict(fix.params), diagnostic.graph_key))
        return self._new_node(command.children[1] if isinstance(command, Macro) else None)

    def output_source(self, node_ids: list[str]) -> Source | None:
        """Where a new layer connects: output 0 of the one selected node, if it has outputs."""
        if len(node_ids) != 1 or node_ids[0] not in self.graph.nodes:
            return None
        if isinstance(self.graph.node(node_ids[0]), OutputNode):
            return None
        return (node_ids[0], 0)

    def node_name(self, node_id: str) -> str:
        node = self.graph.node(node_id)
        return self.graph.layer(node.layer_id).name if isinstance(node, CallNode) else node.name
