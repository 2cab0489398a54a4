"""Random valid DAGs built only through commands: undo all the way back, redo all the way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from layerforge.core.catalog.catalog import get_catalog
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import Command, UndoStack
from layerforge.core.editing.graph_commands import MoveNodes, SetParam
from layerforge.core.io.project import dumps

# Weighted: building edits are common, removals rare enough to leave sizeable graphs.
ACTIONS = ["input", "dense", "dense", "dense", "dropout", "activation", "add", "add",
           "concatenate", "concatenate", "call_again", "call_again", "output", "set_param",
           "move", "remove"]


@dataclass
class Builder:
    """Applies random edits and remembers each tensor's width (all tensors are [batch, w])."""

    data: Any
    doc: Document
    stack: UndoStack
    width: dict[str, int] = field(default_factory=dict)   # node id -> output width
    fed_by: dict[str, int] = field(default_factory=dict)  # call node id -> input width
    dumps: list[str] = field(default_factory=list)

    def push(self, command: Command) -> Command:
        self.stack.push(command)
        self.doc.check_invariants()
        self.dumps.append(dumps(self.doc))
        return command

    def pick(self, choices: list[Any], label: str) -> Any:
        return self.data.draw(st.sampled_from(choices), label=label)

    def tensors(self, width: int | None = None) -> list[str]:
        return [nid for nid, w in self.width.items() if width is None or w == width]

    def feed(self, src: str, dst: str, slot: Any = None) -> None:
        self.push(edits.connect(self.doc, src, dst, dst_slot=slot))

    def step(self, action: str) -> None:
        getattr(self, f"do_{action}")()

    def do_input(self) -> None:
        shape = self.pick([4, 8], "input width")
        node = self.push(edits.add_input(self.doc, [shape])).node
        self.width[node.id] = shape

    def single(self, class_name: str, params: dict[str, Any], out: int | None) -> None:
        if not self.width:
            return
        src = self.pick(self.tensors(), f"{class_name} source")
        node = self.push(edits.add_layer(self.doc, class_name, params)).node
        self.feed(src, node.id)
        self.fed_by[node.id] = self.width[src]
        self.width[node.id] = out if out is not None else self.width[src]

    def do_dense(self) -> None:
        units = self.pick([4, 8], "units")
        self.single("Dense", {"units": units}, units)

    def do_dropout(self) -> None:
        self.single("Dropout", {"rate": 0.25}, None)

    def do_activation(self) -> None:
        self.single("Activation", {"activation": self.pick(["relu", "tanh"], "fn")}, None)

    def merge(self, class_name: str, same_width: bool) -> None:
        if not self.width:
            return
        first = self.pick(self.tensors(), f"{class_name} first")
        pool = self.tensors(self.width[first]) if same_width else self.tensors()
        count = self.data.draw(st.integers(1, 2), label="extra inputs")
        sources = [first] + [self.pick(pool, f"{class_name} input") for _ in range(count)]
        node = self.push(edits.add_layer(self.doc, class_name)).node
        for slot, src in enumerate(sources):
            self.feed(src, node.id, slot)
        widths = [self.width[s] for s in sources]
        self.width[node.id] = widths[0] if same_width else sum(widths)

    def do_add(self) -> None:
        self.merge("Add", same_width=True)

    def do_concatenate(self) -> None:
        self.merge("Concatenate", same_width=False)

    def do_call_again(self) -> None:
        """Share a Dense/Dropout/Activation layer with a new call on a tensor of fitting width."""
        options = [(nid, src) for nid, need in self.fed_by.items()
                   for src in self.tensors(need)]
        if not options:
            return
        call, src = self.pick(options, "share")
        node = self.push(edits.call_again(self.doc, call)).node
        self.feed(src, node.id)
        self.fed_by[node.id] = self.fed_by[call]
        self.width[node.id] = self.width[call]

    def do_output(self) -> None:
        if not self.width:
            return
        src = self.pick(self.tensors(), "output source")
        node = self.push(edits.add_output(self.doc, loss=self.pick([None, "mse"], "loss"))).node
        self.feed(src, node.id)

    def do_set_param(self) -> None:
        dense = [n for n in self.doc.graph.calls()
                 if self.doc.graph.layer(n.layer_id).class_name == "Dense"]
        if dense:
            node = self.pick(dense, "dense to edit")
            value = self.pick([None, "relu", "sigmoid"], "activation")
            self.push(SetParam(node.layer_id, "activation", value))

    def do_move(self) -> None:
        if self.doc.graph.nodes:
            nid = self.pick(list(self.doc.graph.nodes), "node to move")
            x = self.data.draw(st.integers(-500, 500), label="x")
            self.push(MoveNodes({nid: (float(x), 10.0)}))

    def do_remove(self) -> None:
        """Delete a node (with its edges; its layer too unless another call shares it)."""
        if self.doc.graph.nodes:
            nid = self.pick(list(self.doc.graph.nodes), "node to remove")
            self.push(edits.remove_nodes(self.doc, [nid]))
            self.width.pop(nid, None)
            self.fed_by.pop(nid, None)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), actions=st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=40))
def test_random_graph_undo_redo(data: st.DataObject, actions: list[str]) -> None:
    doc = Document(get_catalog())
    stack = UndoStack(doc)
    empty = dumps(doc)
    builder = Builder(data, doc, stack)
    builder.do_input()
    for action in actions:
        builder.step(action)
    full = dumps(doc)
    history = [empty, *builder.dumps]
    assert history[-1] == full and stack.index == len(builder.dumps)

    for expected in reversed(history[:-1]):
        stack.undo()
        doc.check_invariants()
        assert dumps(doc) == expected
    assert not stack.can_undo
    assert dumps(doc) == empty
    assert doc.graph.nodes == {} and doc.graph.layers == {} and doc.graph.edges == {}

    for expected in history[1:]:
        stack.redo()
        doc.check_invariants()
        assert dumps(doc) == expected
    assert not stack.can_redo
    assert dumps(doc) == full
    graph = doc.graph
    assert len(graph.nodes) >= 1 + actions.count("input") - actions.count("remove")
    event(f"{len(graph.edges) // 10 * 10}+ edges")
    event(f"shared layers: {any(len(graph.calls_of(lid)) > 1 for lid in graph.layers)}")
