"""Fixtures shared by the core tests: a catalog, an empty document, an undo stack,
and a checker that runs a command redo -> undo -> redo with invariant checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from layerforge.core.catalog.catalog import Catalog, get_catalog
from layerforge.core.document.document import Document
from layerforge.core.editing.commands import Command, UndoStack
from layerforge.core.io.project import dumps


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return get_catalog()


@pytest.fixture
def doc(catalog: Catalog) -> Document:
    return Document(catalog)


@pytest.fixture
def stack(doc: Document) -> UndoStack:
    return UndoStack(doc)


def state(doc: Document) -> list[Any]:
    """Everything in the document, in order, as comparable records (stronger than a dump:
    it also sees in-memory types such as tuple vs list)."""
    graphs = [("main", doc.graph)] + [(b.id, b.graph) for b in doc.blocks.values()]
    return [
        (key, list(g.layers.items()), list(g.nodes.items()), list(g.edges.items()))
        for key, g in graphs
    ] + [[(b.id, b.name) for b in doc.blocks.values()], doc.compile, doc.meta]


Snapshot = tuple[str, list[Any]]


def snapshot(doc: Document) -> Snapshot:
    doc.check_invariants()
    return dumps(doc), state(doc)


RoundTrip = Callable[[Command], Command]


@pytest.fixture
def round_trip(stack: UndoStack) -> RoundTrip:
    """Push ``command`` and check redo -> undo -> redo restores the exact dumps.

    After each step the document's invariants hold; after undo the dump equals the one
    taken before the push, after redo the one taken after it (order included).
    """

    def run(command: Command) -> Command:
        doc = stack.doc
        before = snapshot(doc)
        stack.push(command)
        after = snapshot(doc)
        assert after[0] != before[0], "the command changed nothing"
        for _ in range(2):
            stack.undo()
            assert snapshot(doc) == before
            stack.redo()
            assert snapshot(doc) == after
        return command

    return run
