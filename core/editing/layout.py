"""Automatic layered layout (Sugiyama style), pure Python + networkx.

Inputs sit on the top row, outputs on the bottom row, every other node on
the row of its longest path from an input, so every edge points down. Edges
that skip rows get small virtual nodes, one per skipped row, which keep a lane
free for the edge and take part in ordering. Barycenter sweeps (down, up)
order each row to reduce crossings; x positions then pull each node towards
the mean of its neighbours while keeping boxes of about 180x70 px apart.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import networkx as nx

from ..document.document import MAIN, Document
from ..document.graph import Graph
from ..schema.records import InputNode, OutputNode, Position
from .commands import Command
from .graph_commands import MoveNodes

NODE_WIDTH = 180.0
NODE_HEIGHT = 70.0
ROW_SPACING = 110.0  # 70 px box + 40 px for the edges between rows
GAP = 40.0  # horizontal space between two boxes
VIRTUAL_WIDTH = 20.0  # a lane for an edge that skips a row
VIRTUAL_GAP = 20.0  # between two lanes
LANE_PULL = 4.0  # a long edge's lane weighs this much when placing its end nodes
SWEEPS = 4
POSITION_PASSES = 4

VirtualId = tuple[str, str, int]
NodeKey = Hashable


@dataclass
class _Layers:
    rows: list[list[NodeKey]]
    row_of: dict[NodeKey, int]
    up: dict[NodeKey, list[NodeKey]]
    down: dict[NodeKey, list[NodeKey]]
    virtual: set[NodeKey]


def layered_layout(graph: Graph) -> dict[str, Position]:
    """Node id -> (x, y): inputs on top, outputs at the bottom, few crossings."""
    if not graph.nodes:
        return {}
    layers = _build_layers(graph)
    _order_rows(layers)
    xs = _x_positions(layers)
    real = [n for n in xs if n not in layers.virtual]
    centre = sum(xs[n] for n in real) / len(real)
    return {str(n): (round(xs[n] - centre, 1), layers.row_of[n] * ROW_SPACING) for n in real}


def apply_layout(doc: Document, graph_key: str = MAIN) -> Command:
    """An undoable command that moves every node of a graph to its layered position."""
    positions = layered_layout(doc.graph_of(graph_key))
    return MoveNodes(positions, graph_key, text="Arrange nodes")


# ------------------------------------------------------------------ rows
def _rows_by_longest_path(graph: Graph, simple: nx.DiGraph) -> dict[str, int]:
    row: dict[str, int] = {}
    order = {node_id: i for i, node_id in enumerate(graph.nodes)}
    for node_id in nx.lexicographical_topological_sort(simple, key=order.__getitem__):
        parents = list(simple.predecessors(node_id))
        row[node_id] = 1 + max(row[p] for p in parents) if parents else 0
        if isinstance(graph.nodes[node_id], InputNode):
            row[node_id] = 0
    outputs = [n.id for n in graph.nodes.values() if isinstance(n, OutputNode)]
    inner = [r for n, r in row.items() if n not in set(outputs)]
    bottom = max(inner, default=-1) + 1
    for node_id in outputs:
        row[node_id] = max(bottom, row[node_id])
    return row


def _build_layers(graph: Graph) -> _Layers:
    simple = nx.DiGraph(graph.nx_graph())
    row_of: dict[NodeKey, int] = dict(_rows_by_longest_path(graph, simple))
    up: dict[NodeKey, list[NodeKey]] = {n: [] for n in row_of}
    down: dict[NodeKey, list[NodeKey]] = {n: [] for n in row_of}
    virtual: set[NodeKey] = set()
    for src, dst in simple.edges:
        previous: NodeKey = src
        for r in range(row_of[src] + 1, row_of[dst]):
            lane: VirtualId = (src, dst, r)
            virtual.add(lane)
            row_of[lane] = r
            up[lane], down[lane] = [previous], []
            down[previous].append(lane)
            previous = lane
        down[previous].append(dst)
        up[dst].append(previous)
    rows: list[list[NodeKey]] = [[] for _ in range(max(row_of.values()) + 1)]
    for node in _initial_order(graph, row_of, down):
        rows[row_of[node]].append(node)
    return _Layers(rows, row_of, up, down, virtual)


def _initial_order(graph: Graph, row_of: dict[NodeKey, int],
                   down: dict[NodeKey, list[NodeKey]]) -> list[NodeKey]:
    """Depth-first from the inputs, so a branch's nodes start next to each other."""
    seen: set[NodeKey] = set()
    order: list[NodeKey] = []
    starts = sorted(graph.nodes, key=lambda n: row_of[n])
    for start in starts:
        stack: list[NodeKey] = [start]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            order.append(node)
            stack.extend(reversed(down[node]))
    return order


# ------------------------------------------------------------------ ordering
def _order_rows(layers: _Layers) -> None:
    best = [list(r) for r in layers.rows]
    best_crossings = _total_crossings(layers)
    for _ in range(SWEEPS):
        for i in range(1, len(layers.rows)):
            _sort_by_barycenter(layers, i, layers.up, layers.rows[i - 1])
        for i in range(len(layers.rows) - 2, -1, -1):
            _sort_by_barycenter(layers, i, layers.down, layers.rows[i + 1])
        crossings = _total_crossings(layers)
        if crossings < best_crossings:
            best, best_crossings = [list(r) for r in layers.rows], crossings
        if best_crossings == 0:
            break
    layers.rows = best


def _sort_by_barycenter(layers: _Layers, i: int, neighbours: dict[NodeKey, list[NodeKey]],
                        fixed: list[NodeKey]) -> None:
    index = {n: k for k, n in enumerate(fixed)}
    row = layers.rows[i]

    def key(item: tuple[int, NodeKey]) -> float:
        k, node = item
        linked = [index[n] for n in neighbours[node] if n in index]
        return sum(linked) / len(linked) if linked else float(k)

    layers.rows[i] = [n for _, n in sorted(enumerate(row), key=key)]


def _total_crossings(layers: _Layers) -> int:
    return sum(_crossings_between(layers, i) for i in range(len(layers.rows) - 1))


def _crossings_between(layers: _Layers, i: int) -> int:
    top = {n: k for k, n in enumerate(layers.rows[i])}
    bottom = {n: k for k, n in enumerate(layers.rows[i + 1])}
    pairs = sorted((top[n], bottom[m]) for n in layers.rows[i] for m in layers.down[n]
                   if m in bottom)
    count = 0
    for a in range(len(pairs)):
        for b in range(a + 1, len(pairs)):
            if pairs[a][0] < pairs[b][0] and pairs[a][1] > pairs[b][1]:
                count += 1
    return count


# ------------------------------------------------------------------ x positions
def _width(layers: _Layers, node: NodeKey) -> float:
    return VIRTUAL_WIDTH if node in layers.virtual else NODE_WIDTH


def _separation(layers: _Layers, a: NodeKey, b: NodeKey) -> float:
    gap = VIRTUAL_GAP if a in layers.virtual and b in layers.virtual else GAP
    return (_width(layers, a) + _width(layers, b)) / 2 + gap


def _x_positions(layers: _Layers) -> dict[NodeKey, float]:
    xs: dict[NodeKey, float] = {}
    for row in layers.rows:
        x = 0.0
        for k, node in enumerate(row):
            if k:
                x += _separation(layers, row[k - 1], node)
            xs[node] = x
    for _ in range(POSITION_PASSES):
        for row in layers.rows[1:]:
            _place_row(layers, row, xs, layers.up)
        for row in reversed(layers.rows[:-1]):
            _place_row(layers, row, xs, layers.down)
    return xs


def _place_row(layers: _Layers, row: list[NodeKey], xs: dict[NodeKey, float],
               neighbours: dict[NodeKey, list[NodeKey]]) -> None:
    """Move each node towards its neighbours' mean x, keeping order and separation."""
    desired = []
    for node in row:
        # Straight edges are drawn end to end: pulling the ends of a long edge onto its lane
        # keeps that edge beside, not across, the boxes of the rows it skips.
        weights = [LANE_PULL if n in layers.virtual else 1.0 for n in neighbours[node]]
        total = sum(w * xs[n] for w, n in zip(weights, neighbours[node], strict=True))
        desired.append(total / sum(weights) if weights else xs[node])
    left = list(desired)
    for k in range(1, len(row)):
        left[k] = max(left[k], left[k - 1] + _separation(layers, row[k - 1], row[k]))
    right = list(desired)
    for k in range(len(row) - 2, -1, -1):
        right[k] = min(right[k], right[k + 1] - _separation(layers, row[k], row[k + 1]))
    for k, node in enumerate(row):
        xs[node] = (left[k] + right[k]) / 2
