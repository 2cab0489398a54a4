"""A project: the main graph, its blocks (models used as layers) and its settings."""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

from psygnal import Signal

from ..catalog.catalog import Catalog, get_catalog
from ..catalog.custom import CustomModule, ProjectCatalog
from ..catalog.layer_ports import layer_ports
from ..schema.errors import EditError, NameClashError, UnknownIdError
from ..schema.records import BLOCK_CLASS, MAIN, LayerSpec, PortSpec
from ..schema.settings import CompileSettings, TrainingSettings
from .graph import Graph
from .search_space import SearchSpace
from .sequential import chain_problem


@dataclass
class Block:
    """A sub-graph with its own inputs and outputs, used as a layer (book 7.1.6).

    ``sequential``: the block was a nested ``keras.Sequential`` (or is meant to be one). It
    is one while its graph stays a single chain (:attr:`is_sequential`): an edit that adds a
    branch makes it a functional model again, in the code and in the saved file, and undoing
    that edit makes it a Sequential again. A file saved with the branch keeps no mark.
    """

    id: str
    name: str
    graph: Graph
    sequential: bool = False

    @property
    def is_sequential(self) -> bool:
        """Written and saved as a ``keras.Sequential``: marked so, and still one chain."""
        return self.sequential and chain_problem(self.graph) is None


@dataclass
class ProjectMeta:
    title: str = ""
    section: str = ""
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Document:
    """The one source of truth the GUI, the CLI and the code generator read."""

    block_adding = Signal(object)
    block_added = Signal(object)
    block_removing = Signal(object)
    block_removed = Signal(object)
    settings_changed = Signal(str)

    def __init__(self, catalog: Catalog | None = None) -> None:
        # The base catalog (Keras' layers); a document's own catalog adds its custom modules
        # (a document made from another's catalog starts with that one's modules).
        self._catalog = catalog.base if isinstance(catalog, ProjectCatalog) else catalog
        self._project_catalog: ProjectCatalog | None = None
        self.custom_modules: tuple[CustomModule, ...] = \
            catalog.modules if isinstance(catalog, ProjectCatalog) else ()
        self.blocks: dict[str, Block] = {}
        self.graph = self.new_graph()
        self.compile = CompileSettings()
        self.training = TrainingSettings()
        self.meta = ProjectMeta()
        # Trained or imported weights by layer id (lists of numpy arrays in Keras'
        # ``get_weights`` order); empty means freshly initialised weights.
        self.weights: dict[str, list[Any]] = {}
        self.search_space: SearchSpace = SearchSpace()

    @property
    def catalog(self) -> ProjectCatalog:
        """Keras' layers, LayerForge's own for keras.applications, and the classes of the
        project's custom modules."""
        if self._catalog is None:
            self._catalog = get_catalog()
        current = self._project_catalog
        if current is None or current.base is not self._catalog or \
                current.modules is not self.custom_modules:
            self._project_catalog = ProjectCatalog(self._catalog, self.custom_modules)
        return self._project_catalog

    def set_custom_modules(self, modules: tuple[CustomModule, ...]) -> None:
        self.custom_modules = tuple(modules)
        self.settings_changed.emit("custom_modules")

    def new_graph(self) -> Graph:
        return Graph(ports=self.port_spec_of)

    def port_spec_of(self, layer: LayerSpec) -> PortSpec:
        if layer.block_id is not None:
            count = len(self.block(layer.block_id).graph.inputs())
            return PortSpec("single") if count == 1 else PortSpec("list", count, count)
        # A recurrent layer's states follow the layer it wraps or the cell it runs.
        return layer_ports(self.catalog.get(layer.class_name).ports, layer.class_name,
                           layer.params)

    # ------------------------------------------------------------- graphs
    def graph_of(self, key: str | None) -> Graph:
        """The main graph for ``None``/``"main"``, else the graph of the block with that id."""
        if key in (None, MAIN):
            return self.graph
        return self.block(key).graph

    def graphs(self) -> list[tuple[str, Graph]]:
        return [(MAIN, self.graph)] + [(b.id, b.graph) for b in self.blocks.values()]

    def block(self, block_id: str) -> Block:
        try:
            return self.blocks[block_id]
        except KeyError:
            raise UnknownIdError(f"expected a block id; received {block_id!r}") from None

    def block_named(self, name: str) -> Block | None:
        return next((b for b in self.blocks.values() if b.name == name), None)

    def add_block(self, block: Block) -> None:
        if block.id in self.blocks:
            raise EditError(f"block id {block.id!r} is already in the document")
        if self.block_named(block.name) is not None:
            raise NameClashError(f"a block named '{block.name}' already exists; choose another")
        self.block_adding.emit(block)
        self.blocks[block.id] = block
        self.block_added.emit(block)

    def remove_block(self, block_id: str) -> Block:
        block = self.block(block_id)
        users = [name for name, graph in self.graphs()
                 for layer in graph.layers.values() if layer.block_id == block_id]
        if users:
            raise EditError(f"block '{block.name}' is still used as a layer; remove its uses first")
        self.block_removing.emit(block)
        del self.blocks[block_id]
        self.block_removed.emit(block)
        return block

    def block_uses(self, block_id: str, other: str) -> bool:
        """Whether ``block_id`` uses block ``other``, directly or through other blocks."""
        seen: set[str] = set()
        todo = [block_id]
        while todo:
            current = todo.pop()
            if current == other:
                return True
            if current in seen or current not in self.blocks:
                continue
            seen.add(current)
            todo += [lay.block_id for lay in self.blocks[current].graph.layers.values()
                     if lay.block_id is not None]
        return False

    # ------------------------------------------------------------- copies
    def copy(self) -> Document:
        """An independent copy with no listeners: what training and studies read while the
        user goes on editing. Records are copied; the weight arrays are shared (nothing
        changes a weight array in place, so copying them would only cost memory)."""
        twin = Document(self._catalog)
        for block in self.blocks.values():  # first: a block's inputs give its calls' ports
            twin.blocks[block.id] = Block(block.id, block.name, twin.new_graph(),
                                          block.sequential)
        for block in self.blocks.values():
            _fill_graph(twin.blocks[block.id].graph, block.graph)
        _fill_graph(twin.graph, self.graph)
        twin.compile = deepcopy(self.compile)
        twin.training = deepcopy(self.training)
        twin.meta = deepcopy(self.meta)
        twin.search_space = deepcopy(self.search_space)
        twin.custom_modules = self.custom_modules
        twin._project_catalog = self._project_catalog  # the same modules: the same catalog
        twin.weights = {key: list(arrays) for key, arrays in self.weights.items()}
        return twin

    def check_invariants(self) -> None:
        for _, graph in self.graphs():
            graph.check_invariants()
            for layer in graph.layers.values():
                if layer.block_id is not None:
                    assert layer.block_id in self.blocks, f"layer of a missing block {layer}"
                    assert layer.class_name == BLOCK_CLASS


def _fill_graph(target: Graph, source: Graph) -> None:
    """Add copies of ``source``'s records to the empty ``target``, in the same order."""
    for layer in source.layers.values():
        target.add_layer(deepcopy(layer))
    for node in source.nodes.values():
        target.add_node(deepcopy(node))
    for edge in source.edges.values():
        target.add_edge(edge)  # frozen
