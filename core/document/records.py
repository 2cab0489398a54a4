"""A document as plain JSON-able records and back: what project files, run folders, the
clipboard and worker processes carry.

Reading never half-builds a document: every problem raises one :class:`ProjectFileError`
naming the place in the records, what was expected and what was received.
"""

from __future__ import annotations

import graphlib
import math
from pathlib import Path
from typing import Any

from ..catalog.catalog import Catalog
from ..catalog.custom import module_from_record, module_record
from ..schema import records as rec
from ..schema.errors import EditError, ProjectFileError
from ..schema.reading import RecordReader, value_problem
from ..schema.settings import CompileSettings, settings_from_records, settings_to_records
from .document import Block, Document, ProjectMeta
from .graph import Graph
from .search_space import space_from_records, space_to_records
from .sequential import chain_problem
from .space_checks import space_errors
from .trust import code_in

FORMAT_VERSION = 1
FORMAT_NAME = "layerforge-project"


# ------------------------------------------------------------------ writing
def code_layers(doc: Document) -> list[str]:
    """Names of the layers that run Python code when built (``block/layer`` inside blocks)."""
    return [code.name for code in code_in(doc)]


def to_records(doc: Document, folder: Path | None = None) -> dict[str, Any]:
    """``folder``: the project file's, which custom module paths are kept relative to."""
    # A note for readers of the file only: what runs is always read from the layers.
    marker = {"runs_code": True} if code_layers(doc) or doc.custom_modules else {}
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        **marker,
        "meta": {"title": doc.meta.title, "section": doc.meta.section,
                 "description": doc.meta.description, **doc.meta.extra},
        "compile": {"optimizer": doc.compile.optimizer,
                    "learning_rate": doc.compile.learning_rate},
        "training": settings_to_records(doc.training),
        "graph": _graph_records(doc.graph),
        "blocks": [_block_record(b) for b in doc.blocks.values()],
        **_search_space_records(doc),
        **_custom_module_records(doc, folder),
    }


def _block_record(block: Block) -> dict[str, Any]:
    """A block; ``"sequential"`` only on a Sequential one (older files stay identical)."""
    mark = {"sequential": True} if block.is_sequential else {}
    return {"id": block.id, "name": block.name, **mark, "graph": _graph_records(block.graph)}


def _custom_module_records(doc: Document, folder: Path | None) -> dict[str, Any]:
    if not doc.custom_modules:
        return {}
    return {"custom_modules": [module_record(m, folder) for m in doc.custom_modules]}


def _search_space_records(doc: Document) -> dict[str, Any]:
    """Only a project with search dimensions has the key (older files stay identical)."""
    return {"search_space": space_to_records(doc.search_space)} if len(doc.search_space) else {}


def _graph_records(graph: Graph) -> dict[str, Any]:
    return {
        "layers": [_layer_record(layer) for layer in graph.layers.values()],
        "nodes": [_node_record(node) for node in graph.nodes.values()],
        "edges": [{"id": e.id, "src": e.src, "src_index": e.src_index, "dst": e.dst,
                   "dst_slot": e.dst_slot} for e in graph.edges.values()],
    }


def _layer_record(layer: rec.LayerSpec) -> dict[str, Any]:
    record: dict[str, Any] = {"id": layer.id, "class_name": layer.class_name,
                              "name": layer.name, "params": layer.params}
    if layer.block_id is not None:
        record["block"] = layer.block_id
    if not layer.trainable:
        record["trainable"] = False
    return record


def _node_record(node: rec.Node) -> dict[str, Any]:
    base: dict[str, Any] = {"id": node.id, "kind": node.kind, "position": list(node.position)}
    if isinstance(node, rec.InputNode):
        base.update(name=node.name, shape=list(node.shape), dtype=node.dtype)
    elif isinstance(node, rec.CallNode):
        base.update(layer=node.layer_id)
        if node.call_kwargs:
            base["call_kwargs"] = node.call_kwargs
    else:
        base.update(name=node.name, loss=node.loss, loss_weight=node.loss_weight,
                    metrics=list(node.metrics))
    return base



def from_records(data: Any, source: str = "<project>", catalog: Catalog | None = None
                 ) -> Document:
    reader = _Reader(source)
    reader.header(data)
    problem = value_problem(data, "")
    if problem is not None:
        raise ProjectFileError(f"{source}: {problem}")
    doc = Document(catalog)
    try:
        reader.fill(doc, data)
    except EditError as exc:
        raise ProjectFileError(f"{source}: {exc}") from None
    return doc


class _Reader(RecordReader):
    def header(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise self.fail("the top level", "a JSON object", data)
        if data.get("format") != FORMAT_NAME:
            raise self.fail("format", f'"{FORMAT_NAME}" (a LayerForge project)', data.get("format"))
        version = self.get(data, "format_version", int, "the top level")
        if version > FORMAT_VERSION:
            raise ProjectFileError(
                f"{self.source}: format_version {version} is newer than this LayerForge reads "
                f"(up to {FORMAT_VERSION}); update LayerForge to open it"
            )
        if version < 1:
            raise self.fail("format_version", "1 or later", version)

    def fill(self, doc: Document, data: dict[str, Any]) -> None:
        self.custom_modules(doc, self.get(data, "custom_modules", list, "the top level", []))
        meta = self.get(data, "meta", dict, "the top level", {})
        known = {"title", "section", "description"}
        doc.meta = ProjectMeta(
            *(self.get(meta, k, str, "meta", "") for k in ("title", "section", "description")),
            extra={k: v for k, v in meta.items() if k not in known},
        )
        settings = self.get(data, "compile", dict, "the top level", {})
        rate = self.get(settings, "learning_rate", (int, float, type(None)), "compile", None)
        doc.compile = CompileSettings(self.get(settings, "optimizer", str, "compile", "rmsprop"),
                                      rate)
        blocks = self.get(data, "blocks", list, "the top level", [])
        for i, raw in enumerate(blocks):
            where = f"blocks[{i}]"
            block = Block(self.get(raw, "id", str, where), self.get(raw, "name", str, where),
                          doc.new_graph(), self.get(raw, "sequential", bool, where, False))
            doc.add_block(block)
        for i in self.block_order(doc, blocks):
            self.graph(doc, doc.blocks[blocks[i]["id"]].graph,
                       self.get(blocks[i], "graph", dict, f"blocks[{i}]"), f"blocks[{i}]")
            self.chain(doc.blocks[blocks[i]["id"]], f"blocks[{i}]")
        self.graph(doc, doc.graph, self.get(data, "graph", dict, "the top level"), "graph")
        doc.training = settings_from_records(data.get("training"), self.source)
        self.search_space(doc, data.get("search_space"))

    def chain(self, block: Block, where: str) -> None:
        """A block marked Sequential must be one: a single chain from one input."""
        problem = chain_problem(block.graph) if block.sequential else None
        if problem is not None:
            raise self.fail(f"{where}.sequential", "a block that is a single chain of layers "
                            "from one input to one output", problem)

    def custom_modules(self, doc: Document, raw: list[Any]) -> None:
        """The project's custom layer modules (their classes' entries; nothing is run)."""
        folder = Path(self.source).parent
        modules = []
        for i, record in enumerate(raw):
            try:
                modules.append(module_from_record(record, folder))
            except ValueError as exc:
                raise ProjectFileError(f"{self.source}: at custom_modules[{i}]: {exc}") from None
        doc.custom_modules = tuple(modules)

    def block_order(self, doc: Document, blocks: list[Any]) -> list[int]:
        """Indexes of the blocks, each after the blocks it uses (their inputs give its calls'
        ports). A block used inside itself, directly or through others, would be built
        without end: it is refused here, naming the blocks."""
        index = {raw["id"]: i for i, raw in enumerate(blocks)}
        uses: dict[str, set[str]] = {}
        for raw in blocks:
            graph = raw.get("graph") if isinstance(raw.get("graph"), dict) else {}
            layers = graph.get("layers") if isinstance(graph.get("layers"), list) else []
            uses[raw["id"]] = {lay["block"] for lay in layers if isinstance(lay, dict)
                               and isinstance(lay.get("block"), str) and lay["block"] in index}
        try:
            order = list(graphlib.TopologicalSorter(uses).static_order())
        except graphlib.CycleError as exc:
            names = [doc.blocks[b].name for b in exc.args[1]]
            loop = " -> ".join(f"'{n}'" for n in names)
            raise self.fail(f"blocks[{index[exc.args[1][0]]}].graph.layers",
                            "blocks that do not use themselves", f"block uses: {loop}") from None
        return [index[b] for b in order]

    def search_space(self, doc: Document, raw: Any) -> None:
        doc.search_space = space_from_records(raw, self.source)
        problems = space_errors(doc)
        if problems:
            raise ProjectFileError(f"{self.source}: at search_space: {problems[0]}")

    def graph(self, doc: Document, graph: Graph, raw: dict[str, Any], where: str) -> None:
        for i, record in enumerate(self.get(raw, "layers", list, where)):
            graph.add_layer(self.layer(doc, record, f"{where}.layers[{i}]"))
        for i, record in enumerate(self.get(raw, "nodes", list, where)):
            graph.add_node(self.node(graph, record, f"{where}.nodes[{i}]"))
        for i, record in enumerate(self.get(raw, "edges", list, where)):
            graph.add_edge(self.edge(graph, record, f"{where}.edges[{i}]"))
        orphans = [layer.name for layer in graph.layers.values() if not graph.calls_of(layer.id)]
        if orphans:
            raise self.fail(f"{where}.layers", "every layer called by a node",
                            f"layers never called: {', '.join(orphans)}")

    def layer(self, doc: Document, record: Any, where: str) -> rec.LayerSpec:
        class_name = self.get(record, "class_name", str, where)
        block_id = self.get(record, "block", (str, type(None)), where, None)
        if block_id is not None:
            if class_name != rec.BLOCK_CLASS or block_id not in doc.blocks:
                raise self.fail(f"{where}.block", "the id of a block in this file", block_id)
        else:
            doc.catalog.get(class_name)
        params = self.get(record, "params", dict, where, {})
        if block_id is None:
            self.params(doc, class_name, params, where)
        return rec.LayerSpec(self.get(record, "id", str, where), class_name,
                             self.name(record, where), params, block_id,
                             self.get(record, "trainable", bool, where, True))

    def name(self, record: dict[str, Any], where: str) -> str:
        value = self.get(record, "name", str, where)
        if not value.strip() or "/" in value:
            raise self.fail(f"{where}.name", "a non-empty name without '/'", value)
        return value

    def params(self, doc: Document, class_name: str, params: dict[str, Any], where: str) -> None:
        entry = doc.catalog.get(class_name)
        for key, value in params.items():
            if not entry.has_param(key):
                raise self.fail(f"{where}.params.{key}", f"a parameter of {class_name}", key)
            problem = entry.param(key).value_error(value)
            if problem is not None:
                raise ProjectFileError(f"{self.source}: at {where}.params: {problem}")

    def node(self, graph: Graph, record: Any, where: str) -> rec.Node:
        kind = self.get(record, "kind", str, where)
        node_id = self.get(record, "id", str, where)
        position = self.position(record, where)
        if kind == "input":
            shape = self.get(record, "shape", list, where)
            if not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0)
                       for d in shape):
                raise self.fail(f"{where}.shape", "positive integers or null", shape)
            dtype = self.get(record, "dtype", str, where, "float32")
            if dtype not in rec.DTYPES:
                raise self.fail(f"{where}.dtype", "one of " + ", ".join(rec.DTYPES), dtype)
            return rec.InputNode(node_id, self.name(record, where), tuple(shape), dtype, position)
        if kind == "call":
            layer_id = self.get(record, "layer", str, where)
            if layer_id not in graph.layers:
                raise self.fail(f"{where}.layer", "the id of a layer in this graph", layer_id)
            return rec.CallNode(node_id, layer_id, self.get(record, "call_kwargs", dict, where, {}),
                            position)
        if kind == "output":
            metrics = self.get(record, "metrics", list, where, [])
            if not all(isinstance(m, str) for m in metrics):
                raise self.fail(f"{where}.metrics", "a list of metric names", metrics)
            return rec.OutputNode(node_id, self.name(record, where),
                              self.get(record, "loss", (str, type(None)), where, None),
                              self.loss_weight(record, where),
                              metrics, position)
        raise self.fail(f"{where}.kind", '"input", "call" or "output"', kind)

    def loss_weight(self, record: dict[str, Any], where: str) -> float:
        weight = self.get(record, "loss_weight", (int, float), where, 1.0)
        if not math.isfinite(weight):
            raise self.fail(f"{where}.loss_weight", "a finite number", weight)
        return float(weight)

    def position(self, record: dict[str, Any], where: str) -> tuple[float, float]:
        pos = self.get(record, "position", list, where, [0.0, 0.0])
        if len(pos) != 2 or not all(isinstance(v, int | float) and not isinstance(v, bool)
                                    and math.isfinite(v) for v in pos):
            raise self.fail(f"{where}.position", "[x, y] (finite numbers)", pos)
        return (float(pos[0]), float(pos[1]))

    def edge(self, graph: Graph, record: Any, where: str) -> rec.Edge:
        src = self.get(record, "src", str, where)
        dst = self.get(record, "dst", str, where)
        for key, node_id in (("src", src), ("dst", dst)):
            if node_id not in graph.nodes:
                raise self.fail(f"{where}.{key}", "the id of a node in this graph", node_id)
        return rec.Edge(self.get(record, "id", str, where), src,
                    self.get(record, "src_index", int, where, 0), dst,
                    self.get(record, "dst_slot", (int, str), where, 0))
