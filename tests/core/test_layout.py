"""The automatic layered layout: readable graphs (no overlaps, edges downwards, few
crossings) fast enough for DenseNet121, and undoable in the editor."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from itertools import combinations, pairwise
from pathlib import Path

import pytest

from layerforge.core.catalog.catalog import Catalog
from layerforge.core.document.document import Document
from layerforge.core.document.graph import Graph
from layerforge.core.editing import edits
from layerforge.core.editing.commands import Command
from layerforge.core.editing.layout import NODE_HEIGHT, NODE_WIDTH, apply_layout, layered_layout
from layerforge.core.io.templates import load_template, template_names
from layerforge.core.schema.records import CallNode, InputNode, OutputNode, Position

RoundTrip = Callable[[Command], Command]


def overlaps(a: Position, b: Position) -> bool:
    return abs(a[0] - b[0]) < NODE_WIDTH and abs(a[1] - b[1]) < NODE_HEIGHT


def assert_readable(graph: Graph, positions: dict[str, Position]) -> None:
    assert set(positions) == set(graph.nodes)
    for (na, a), (nb, b) in combinations(positions.items(), 2):
        assert not overlaps(a, b), f"{graph.describe(na)} at {a} overlaps " \
                                   f"{graph.describe(nb)} at {b}"
    for edge in graph.edges.values():
        assert positions[edge.dst][1] > positions[edge.src][1], \
            f"edge {graph.describe(edge.src)} -> {graph.describe(edge.dst)} does not go down"
    ys = [p[1] for p in positions.values()]
    for node in graph.inputs():
        assert positions[node.id][1] == min(ys)
    for node in graph.outputs():
        assert positions[node.id][1] == max(ys)


def segment_crossings(graph: Graph, positions: dict[str, Position]) -> int:
    """Pairs of edges whose straight segments cross (edges sharing an end do not count)."""
    def ccw(a: Position, b: Position, c: Position) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    segments = [(e.src, e.dst) for e in graph.edges.values()]
    count = 0
    for (s1, d1), (s2, d2) in combinations(set(segments), 2):
        if {s1, d1} & {s2, d2}:
            continue
        p1, q1, p2, q2 = positions[s1], positions[d1], positions[s2], positions[d2]
        if ccw(p1, q1, p2) * ccw(p1, q1, q2) < 0 and ccw(p2, q2, p1) * ccw(p2, q2, q1) < 0:
            count += 1
    return count


@pytest.mark.parametrize("name", template_names())
def test_template_layouts_are_readable(name: str, catalog: Catalog) -> None:
    doc = load_template(name, catalog)
    assert_readable(doc.graph, layered_layout(doc.graph))


def test_inception_branches_sit_side_by_side_without_crossings(catalog: Catalog) -> None:
    graph = load_template("inception-module", catalog).graph
    positions = layered_layout(graph)
    assert segment_crossings(graph, positions) == 0
    source = graph.inputs()[0].id
    first_row = [e.dst for e in graph.out_edges(source)]
    assert len(first_row) == 4
    assert len({positions[n][1] for n in first_row}) == 1, "the four branches start on one row"
    xs = sorted(positions[n][0] for n in first_row)
    assert all(b - a >= NODE_WIDTH for a, b in pairwise(xs))


def test_multi_output_model_puts_every_output_on_the_bottom_row(catalog: Catalog) -> None:
    graph = load_template("social-media-multi-output", catalog).graph
    positions = layered_layout(graph)
    rows = {positions[o.id][1] for o in graph.outputs()}
    assert len(graph.outputs()) == 3 and len(rows) == 1
    xs = sorted(positions[o.id][0] for o in graph.outputs())
    assert xs[1] - xs[0] >= NODE_WIDTH and xs[2] - xs[1] >= NODE_WIDTH


def test_a_chain_is_one_straight_column(catalog: Catalog) -> None:
    graph = load_template("sequential-mlp", catalog).graph
    positions = layered_layout(graph)
    assert {round(p[0]) for p in positions.values()} == {0}


def test_unconnected_nodes_of_a_half_built_graph_still_do_not_overlap(doc: Document) -> None:
    for command in (edits.add_input(doc, [8]), edits.add_layer(doc, "Dense", name="a"),
                    edits.add_layer(doc, "Dense", name="b"), edits.add_output(doc)):
        command.redo(doc)
    positions = layered_layout(doc.graph)
    assert_readable(doc.graph, positions)


def test_empty_graph_has_no_positions(doc: Document) -> None:
    assert layered_layout(doc.graph) == {}


def test_apply_layout_is_one_undoable_move(doc: Document, round_trip: RoundTrip) -> None:
    add_in, dense, out = edits.add_input(doc, [8]), edits.add_layer(doc, "Dense"), \
        edits.add_output(doc)
    for command in (add_in, dense, out):
        command.redo(doc)
    edits.connect(doc, add_in.node.id, dense.node.id).redo(doc)
    edits.connect(doc, dense.node.id, out.node.id).redo(doc)
    command = round_trip(apply_layout(doc))
    positions = {n.id: n.position for n in doc.graph.nodes.values()}
    assert positions == layered_layout(doc.graph)
    assert command.text == "Arrange nodes"
    kinds = sorted(doc.graph.nodes.values(), key=lambda n: n.position[1])
    assert [type(n) for n in kinds] == [InputNode, CallNode, OutputNode]


def test_densenet121_layout_is_readable_and_fast(catalog: Catalog) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from densenet_doc import densenet121_doc

    graph = densenet121_doc().graph
    times = []
    for _ in range(3):
        start = time.perf_counter()
        positions = layered_layout(graph)
        times.append(time.perf_counter() - start)
    assert len(graph.nodes) > 420
    assert sorted(times)[1] < 1.0, f"layout of DenseNet121 took {sorted(times)[1]:.2f} s"
    ys = {p[1] for p in positions.values()}
    for edge in graph.edges.values():
        assert positions[edge.dst][1] > positions[edge.src][1]
    by_row: dict[float, list[float]] = {}
    for x, y in positions.values():
        by_row.setdefault(y, []).append(x)
    for xs in by_row.values():
        xs.sort()
        assert all(b - a >= NODE_WIDTH for a, b in pairwise(xs))
    assert len(ys) > 100
