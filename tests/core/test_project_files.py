"""Project files: exact save/load round trips, atomic saves, one clear error per bad file."""

from __future__ import annotations

import copy
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from layerforge.core.catalog.catalog import Catalog
from layerforge.core.document.document import Document
from layerforge.core.document.records import FORMAT_VERSION
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.graph_commands import AddBlock, GraphRecords, SetParam
from layerforge.core.editing.renames import EditNode
from layerforge.core.io.project import dumps, load, loads, save
from layerforge.core.schema.errors import ProjectFileError
from layerforge.core.schema.records import CallNode, Edge, InputNode, LayerSpec, OutputNode, new_id


# ------------------------------------------------------------------ fixtures
@pytest.fixture
def rich(doc: Document, stack: UndoStack) -> Document:
    """A document with every kind of record: inputs, merge, attention, shared layer,
    a block, outputs with losses/metrics, non-default params, meta and compile settings."""
    def add(command: Any) -> Any:
        stack.push(command)
        return command.node

    def link(src: Any, dst: Any, slot: Any = None, index: int = 0) -> None:
        stack.push(edits.connect(doc, src.id, dst.id, dst_slot=slot, src_index=index))

    block_in = InputNode(new_id(), "block_in", (4, 8))
    inner = LayerSpec(new_id(), "Dense", "inner", {"units": 8, "activation": "relu"})
    inner_call = CallNode(new_id(), inner.id, position=(1.5, -2.0))
    block_out = OutputNode(new_id(), "block_out")
    block_id = new_id()
    stack.push(AddBlock(block_id, "encoder", GraphRecords(
        [inner], [block_in, inner_call, block_out],
        [Edge(new_id(), block_in.id, 0, inner_call.id, 0),
         Edge(new_id(), inner_call.id, 0, block_out.id, 0)])))

    q = add(edits.add_input(doc, [4, 8], name="query", position=(10.0, 20.5)))
    v = add(edits.add_input(doc, [None, 8], name="value", dtype="float16"))
    mha = add(edits.add_layer(doc, "MultiHeadAttention", {"num_heads": 4, "key_dim": 8}))
    enc = add(edits.use_block(doc, block_id))
    dense = add(edits.add_layer(doc, "Dense", {"units": 8}, name="proj"))
    again = add(edits.call_again(doc, dense.id))
    cat = add(edits.add_layer(doc, "Concatenate", {"axis": 1}))
    pool = add(edits.add_layer(doc, "GlobalAveragePooling1D"))
    y = add(edits.add_output(doc, name="score", loss="mse", loss_weight=0.5, metrics=["mae"]))
    y2 = add(edits.add_output(doc, name="raw"))
    link(q, mha, "query")
    link(v, mha, "value")
    link(v, mha, "key")
    link(mha, enc)
    link(enc, dense)
    link(q, again)
    link(dense, cat, 0)
    link(again, cat, 1)
    link(cat, pool)
    link(pool, y)
    link(mha, y2)
    stack.push(SetParam(dense.layer_id, "kernel_initializer", "he_normal"))
    stack.push(EditNode(y2.id, {"metrics": ["mse", "mae"]}))
    doc.compile.optimizer = "adam"
    doc.compile.learning_rate = 0.001
    doc.meta.title = "Rich ünïcode"
    doc.meta.section = "7.1"
    doc.meta.description = "every record kind"
    doc.meta.extra["author"] = "tests"
    doc.check_invariants()
    return doc


def records(doc: Document) -> dict[str, Any]:
    return json.loads(dumps(doc))


# ---------------------------------------------------------------- round trip
def test_save_load_round_trip(rich: Document, catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    save(rich, path)
    assert path.read_text(encoding="utf-8") == dumps(rich)
    loaded = load(path, catalog)
    loaded.check_invariants()
    assert dumps(loaded) == dumps(rich)
    assert loaded.compile.learning_rate == 0.001 and loaded.meta.extra == {"author": "tests"}
    (block,) = loaded.blocks.values()
    assert block.name == "encoder"
    assert list(loaded.graph.nodes) == list(rich.graph.nodes)
    assert list(loaded.graph.edges.values()) == list(rich.graph.edges.values())
    again = tmp_path / "again.json"
    save(loaded, again)
    assert again.read_bytes() == path.read_bytes()


def test_loaded_document_is_editable(rich: Document, catalog: Catalog) -> None:
    loaded = loads(dumps(rich), catalog=catalog)
    stack = UndoStack(loaded)
    before = dumps(loaded)
    node = next(n for n in loaded.graph.calls() if loaded.graph.layer_of(n.id).name == "proj")
    stack.push(edits.remove_nodes(loaded, [node.id]))
    loaded.check_invariants()
    stack.undo()
    assert dumps(loaded) == before


def test_empty_document_round_trip(doc: Document, catalog: Catalog, tmp_path: Path) -> None:
    save(doc, tmp_path / "empty.json")
    assert dumps(load(tmp_path / "empty.json", catalog)) == dumps(doc)


# -------------------------------------------------------------- atomic save
def test_save_leaves_no_temp_files(rich: Document, tmp_path: Path) -> None:
    save(rich, tmp_path / "a.json")
    save(rich, tmp_path / "a.json")
    save(rich, tmp_path / "b.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]


def test_failed_save_keeps_previous_file(rich: Document, doc: Document, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.json"
    save(doc, path)
    previous = path.read_bytes()

    def broken_replace(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save(rich, path)
    assert path.read_bytes() == previous
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]


def test_failed_write_keeps_previous_file(rich: Document, doc: Document, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.json"
    save(doc, path)
    previous = path.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError("I/O error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="I/O error"):
        save(rich, path)
    assert path.read_bytes() == previous
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]


# ---------------------------------------------------------------- bad files
def refuse(text: str, catalog: Catalog, *needles: str) -> str:
    """Loading ``text`` raises one ProjectFileError (nothing else) naming every needle."""
    with pytest.raises(Exception) as info:
        loads(text, source="bad.json", catalog=catalog)
    error = info.value
    assert type(error) is ProjectFileError, f"{type(error).__name__}: {error}"
    assert error.__cause__ is None
    message = str(error)
    assert message.startswith("bad.json: ")
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    return message


def mutated(doc: Document, change: Callable[[dict[str, Any]], Any]) -> str:
    data = copy.deepcopy(records(doc))
    change(data)
    return json.dumps(data)


def first(data: dict[str, Any], kind: str, key: str = "nodes") -> dict[str, Any]:
    return next(r for r in data["graph"][key]
                if r.get("kind", r.get("class_name")) == kind)


def test_truncated_json(rich: Document, catalog: Catalog) -> None:
    text = dumps(rich)
    refuse(text[: len(text) // 2], catalog, "not valid JSON", "line", "cut short")
    refuse("", catalog, "not valid JSON")


@pytest.mark.parametrize("text", ["[]", "42", '"project"', "null"])
def test_not_an_object(catalog: Catalog, text: str) -> None:
    refuse(text, catalog, "top level", "expected a JSON object")


@pytest.mark.parametrize("marker", [None, "keras-model", 1])
def test_wrong_format_marker(rich: Document, catalog: Catalog, marker: Any) -> None:
    def change(data: dict[str, Any]) -> None:
        if marker is None:
            del data["format"]
        else:
            data["format"] = marker

    refuse(mutated(rich, change), catalog, "format", "layerforge-project")


def test_newer_format_version(rich: Document, catalog: Catalog) -> None:
    text = mutated(rich, lambda d: d.update(format_version=FORMAT_VERSION + 1))
    refuse(text, catalog, f"format_version {FORMAT_VERSION + 1}", "update LayerForge")


@pytest.mark.parametrize("version", [0, "1", 1.5, None, True])
def test_bad_format_version(rich: Document, catalog: Catalog, version: Any) -> None:
    refuse(mutated(rich, lambda d: d.update(format_version=version)), catalog, "format_version")


WRONG_TYPES: list[tuple[str, Callable[[dict[str, Any]], Any], list[str]]] = [
    ("shape string", lambda d: first(d, "input").update(shape="[4, 8]"),
     ["nodes[0].shape", "a list", '"[4, 8]"']),
    ("shape zero", lambda d: first(d, "input").update(shape=[0, 8]),
     ["nodes[0].shape", "positive integers"]),
    ("params list", lambda d: first(d, "Dense", "layers").update(params=[8]),
     ["params", "an object"]),
    ("loss_weight string", lambda d: first(d, "output").update(loss_weight="0.5"),
     ["loss_weight", "a number", '"0.5"']),
    ("metrics not names", lambda d: first(d, "output").update(metrics=[1]),
     ["metrics", "metric names"]),
    ("position", lambda d: first(d, "input").update(position=[1]), ["position", "[x, y]"]),
    ("name number", lambda d: first(d, "input").update(name=3), [".name", "a string"]),
    ("node kind", lambda d: first(d, "call").update(kind="lambda"), ["kind", '"lambda"']),
    ("graph list", lambda d: d.update(graph=[]), ["graph", "an object"]),
    ("missing graph", lambda d: d.pop("graph"), ["graph"]),
    ("edges not list", lambda d: d["graph"].update(edges={}), ["edges", "a list"]),
    ("edge not object", lambda d: d["graph"]["edges"].append(7), ["edges[", "an object"]),
    ("dst_slot bool", lambda d: d["graph"]["edges"][0].update(dst_slot=True), ["dst_slot"]),
    ("learning rate", lambda d: d["compile"].update(learning_rate="fast"),
     ["learning_rate", '"fast"']),
    ("meta title", lambda d: d["meta"].update(title=["x"]), ["meta", "title"]),
    ("call of missing layer", lambda d: first(d, "call").update(layer="nope"),
     ["layer", "nope"]),
    ("block missing", lambda d: next(r for r in d["graph"]["layers"] if "block" in r)
     .update(block="nope"), ["block", "nope"]),
    ("layer never called", lambda d: d["graph"]["layers"].append(
        {"id": "orphan", "class_name": "Dense", "name": "lonely", "params": {"units": 2}}),
     ["never called", "lonely"]),
    ("duplicate name", lambda d: first(d, "Concatenate", "layers").update(name="proj"),
     ["proj", "already used"]),
    ("slot taken", lambda d: d["graph"]["edges"].append(
        {**d["graph"]["edges"][0], "id": "dup"}), ["already connected"]),
]


@pytest.mark.parametrize(("change", "needles"), [(c, n) for _, c, n in WRONG_TYPES],
                         ids=[name for name, _, _ in WRONG_TYPES])
def test_wrong_types(rich: Document, catalog: Catalog, change: Any, needles: list[str]) -> None:
    refuse(mutated(rich, change), catalog, *needles)


def test_unknown_layer_class(rich: Document, catalog: Catalog) -> None:
    text = mutated(rich, lambda d: first(d, "Concatenate", "layers").update(
        class_name="FancyMixer"))
    refuse(text, catalog, "FancyMixer", "expected a Keras layer class")


def test_excluded_layer_class_says_why(rich: Document, catalog: Catalog) -> None:
    text = mutated(rich, lambda d: first(d, "Concatenate", "layers").update(
        class_name="JaxLayer"))
    refuse(text, catalog, "JaxLayer", "another backend than this app's TensorFlow")


def test_unknown_parameter(rich: Document, catalog: Catalog) -> None:
    text = mutated(rich, lambda d: first(d, "Dense", "layers")["params"].update(unitz=3))
    refuse(text, catalog, "unitz", "a parameter of Dense")


@pytest.mark.parametrize(("param", "value", "needles"), [
    ("units", "eight", ["'units' expected an integer", "received 'eight'"]),
    ("units", 8.5, ["'units' expected an integer", "8.5"]),
    ("use_bias", "yes", ["'use_bias' expected true or false"]),
    ("activation", "wiggle", ["'activation' expected one of", "'relu'"]),
])
def test_parameter_of_wrong_kind(rich: Document, catalog: Catalog, param: str, value: Any,
                                 needles: list[str]) -> None:
    text = mutated(rich, lambda d: first(d, "Dense", "layers")["params"].update({param: value}))
    refuse(text, catalog, "params", *needles)


def test_edge_to_missing_node(rich: Document, catalog: Catalog) -> None:
    text = mutated(rich, lambda d: d["graph"]["edges"][1].update(dst="ghost"))
    refuse(text, catalog, "graph.edges[1].dst", "ghost", "the id of a node")
    text = mutated(rich, lambda d: d["graph"]["edges"][0].update(src="phantom"))
    refuse(text, catalog, "graph.edges[0].src", "phantom")


def test_cycle_in_file(doc: Document, stack: UndoStack, catalog: Catalog) -> None:
    a = edits.add_layer(doc, "Dense", name="a")
    b = edits.add_layer(doc, "Dense", name="b")
    stack.push(a)
    stack.push(b)
    stack.push(edits.connect(doc, a.node.id, b.node.id))

    def close_loop(data: dict[str, Any]) -> None:
        data["graph"]["edges"].append({"id": "back", "src": b.node.id, "src_index": 0,
                                       "dst": a.node.id, "dst_slot": 0})

    refuse(mutated(doc, close_loop), catalog, "cycle", "Dense 'b'", "Dense 'a'")


def test_self_loop_in_file(doc: Document, stack: UndoStack, catalog: Catalog) -> None:
    a = edits.add_layer(doc, "Dense", name="a")
    stack.push(a)

    def loop(data: dict[str, Any]) -> None:
        data["graph"]["edges"].append({"id": "self", "src": a.node.id, "src_index": 0,
                                       "dst": a.node.id, "dst_slot": 0})

    refuse(mutated(doc, loop), catalog, "cycle")


def test_duplicate_ids(rich: Document, catalog: Catalog) -> None:
    def clone_node(data: dict[str, Any]) -> None:
        data["graph"]["nodes"].append(dict(first(data, "output"), name="other"))

    refuse(mutated(rich, clone_node), catalog, "already in the graph")


def test_missing_file(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(ProjectFileError, match="no such file") as info:
        load(path, catalog)
    assert str(path) in str(info.value)


def test_unreadable_paths(tmp_path: Path, catalog: Catalog) -> None:
    with pytest.raises(ProjectFileError, match="cannot be read"):
        load(tmp_path, catalog)
    binary = tmp_path / "model.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ProjectFileError, match="cannot be read"):
        load(binary, catalog)


def test_load_reports_file_name(rich: Document, tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "broken.json"
    path.write_text(dumps(rich)[:100], encoding="utf-8")
    with pytest.raises(ProjectFileError) as info:
        load(path, catalog)
    assert str(info.value).startswith(f"{path}: ")


def test_deeply_nested_json(catalog: Catalog) -> None:
    refuse("[" * 100_000, catalog, "JSON")


# ------------------------------------------------ files from before linked names
def test_an_older_file_keeps_its_output_names(rich: Document, catalog: Catalog) -> None:
    """Outputs named otherwise than their layers open unchanged (no rename on load: losses,
    metrics and data bindings in the file are keyed by those names); the code keeps them
    through Identity layers."""
    from layerforge.core.analysis.validation import validate

    assert [o.name for o in rich.graph.outputs()] == ["global_average_pooling1d",
                                                      "multi_head_attention"]

    def rename(data: dict[str, Any]) -> None:
        outputs = [n for n in data["graph"]["nodes"] if n["kind"] == "output"]
        outputs[0]["name"], outputs[1]["name"] = "score", "raw"

    opened = loads(mutated(rich, rename), catalog=catalog)
    assert [o.name for o in opened.graph.outputs()] == ["score", "raw"]
    assert [d for d in validate(opened) if d.severity == "error"] == []


def test_garbage_is_refused_saying_what_was_expected(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "garbage.json"
    path.write_bytes(bytes(range(128, 256)))
    with pytest.raises(ProjectFileError) as info:
        load(path, catalog)
    message = str(info.value)
    assert message.startswith(f"{path}: expected a LayerForge project file (JSON text); "
                              "received binary data") and message.count(str(path)) == 1
    refuse("not json at all", catalog, "received text that is not valid JSON (line 1, column 1")


# ------------------------------------------------- faults of the text itself
def refuse_quickly(text: str, catalog: Catalog, *needles: str) -> str:
    started = time.perf_counter()
    message = refuse(text, catalog, *needles)
    assert time.perf_counter() - started < 5.0
    return message


@pytest.mark.parametrize("digits", [4_301, 100_000])
def test_an_integer_too_long_to_read(rich: Document, catalog: Catalog, digits: int) -> None:
    text = dumps(rich).replace('"units": 8', f'"units": -{"9" * digits}', 1)
    line = text[: text.index("-999")].count("\n") + 1
    refuse_quickly(text, catalog, f"expected numbers of at most {sys.get_int_max_str_digits()} "
                   f"digits; received an integer of {digits} digits at line {line}, column")


def test_nesting_deeper_than_a_project_has(rich: Document, catalog: Catalog) -> None:
    deep: Any = "relu"
    for _ in range(150):
        deep = [deep]
    text = mutated(rich, lambda d: first(d, "Dense", "layers")["params"].update(activation=deep))
    refuse_quickly(text, catalog, "nested at most 100 levels", "graph.layers[", "params.activation")
    refuse_quickly("[" * 1_000_000, catalog, "nested too deeply")


@pytest.mark.parametrize(("change", "place"), [
    (lambda d: first(d, "Dense", "layers").update(name="proj\ud800"), ".name"),
    (lambda d: d["meta"].update(title="x\udfff"), "meta.title"),
    (lambda d: first(d, "Dense", "layers")["params"].update({"\udc80": 1}), "(a key)"),
])
def test_text_that_no_file_can_store(rich: Document, catalog: Catalog, change: Any,
                                     place: str) -> None:
    text = mutated(rich, change)
    assert "\\ud" in text  # json.dumps wrote the surrogate as an escape, as a file would
    refuse_quickly(text, catalog, place, "expected text that can be saved as UTF-8",
                   "unpaired surrogate")


def test_a_surrogate_pair_is_ordinary_text(rich: Document, catalog: Catalog,
                                           tmp_path: Path) -> None:
    text = mutated(rich, lambda d: d["meta"].update(title="smile \ud83d\ude00"))
    assert "\\ud83d\\ude00" in text
    opened = loads(text, catalog=catalog)
    assert opened.meta.title == "smile 😀"
    save(opened, tmp_path / "model.json")
    assert load(tmp_path / "model.json", catalog).meta.title == "smile 😀"


def test_a_save_refuses_unsavable_text_before_writing_anything(
        rich: Document, doc: Document, tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    save(doc, path)
    previous = path.read_bytes()
    rich.meta.title = "bad \udc80 title"
    with pytest.raises(ProjectFileError, match=r"model\.json: meta\.title: expected text that "
                                               "can be saved as UTF-8"):
        save(rich, path)
    assert path.read_bytes() == previous
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]
