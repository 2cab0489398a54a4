"""A seeded project-file fuzzer: seeds (the templates and hand-made projects), structural and
byte-level mutations, and the pipeline every mutant goes through.

Each mutant is a file; :func:`run_pipeline` takes it through load -> validate -> summary ->
codegen -> compile (only for files that validate and hold no Lambda) -> save -> reload and
returns what happened. A LayerForgeError at any step is a refusal with a message (the
expected outcome for most mutants); any other exception is a finding, returned as such.
"""

from __future__ import annotations

import json
import random
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerforge.core.analysis.summary import summarize
from layerforge.core.analysis.validation import validate
from layerforge.core.catalog.catalog import Catalog
from layerforge.core.codegen.loader import load_generated
from layerforge.core.codegen.model_code import generate
from layerforge.core.document.document import Document
from layerforge.core.document.search_space import Dimension
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.space_edits import mark_dimension
from layerforge.core.io import project
from layerforge.core.schema.errors import LayerForgeError
from layerforge.core.schema.settings import settings_from_records

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# Templates whose Keras build takes seconds (an application inside): mutated like the others,
# but their mutants are not built, so the quick run stays quick.
HEAVY = {"dual-camera-xception"}

EXTREME_NUMBERS = [0, -1, 1, 2**31, -2**31, 2**63, 10**300, 1e308, -1e308, 1e-320, 0.5,
                   float("nan"), float("inf"), float("-inf")]
ODD_STRINGS = ["", " ", "a/b", "x" * 20_000, "\u0000", "\ud800", "é", "\U0001d518", "'\"\\\n",
               "__lambda__", "Lambda", "relu", "main", "None", "0", "-1", "../../etc/passwd"]
OTHER_VALUES = [None, True, False, 0, -7, 3.5, "", "x", [], {}, [1, 2], {"a": 1}]
DEEP_MARK = "@@deep-nesting@@"


# ------------------------------------------------------------------ seeds
def template_seeds() -> dict[str, str]:
    return {path.stem: path.read_text(encoding="utf-8")
            for path in sorted(TEMPLATES.glob("*.json"))}


def _chain(doc: Document, stack: UndoStack, units: list[int], lambda_at: int | None = None
           ) -> list[str]:
    """Input -> Dense layers (a Lambda at one place) -> output; the call node ids."""
    x = stack.push(edits.add_input(doc, [8], name="x")).node.id
    ids, prev = [], x
    for i, n in enumerate(units):
        if i == lambda_at:
            node = stack.push(edits.add_layer(doc, "Lambda", {"expression": "x * 2.0"})).node.id
        else:
            node = stack.push(edits.add_layer(doc, "Dense", {"units": n,
                                                             "activation": "relu"})).node.id
        stack.push(edits.connect(doc, prev, node))
        ids.append(node)
        prev = node
    out = stack.push(edits.add_output(doc, name="y", loss="mse")).node.id
    stack.push(edits.connect(doc, prev, out))
    return ids


def handmade_seeds(catalog: Catalog) -> dict[str, str]:
    """Projects the templates do not cover: blocks, a Lambda, a search space, training
    settings with callbacks and data bindings."""
    seeds = {}
    doc = Document(catalog)
    stack = UndoStack(doc)
    calls = _chain(doc, stack, [8, 6, 4])
    stack.push(edits.group_into_block(doc, calls[:2], "encoder", [(8,)]))
    seeds["blocks"] = project.dumps(doc)

    doc = Document(catalog)
    _chain(doc, UndoStack(doc), [8, 8, 4], lambda_at=1)
    seeds["lambda"] = project.dumps(doc)

    doc = Document(catalog)
    stack = UndoStack(doc)
    calls = _chain(doc, stack, [16, 4])
    layer_id = doc.graph.layer_of(calls[0]).id
    stack.push(mark_dimension(doc, Dimension("units", "int", 4, 32, step=4, layer_id=layer_id)))
    stack.push(mark_dimension(doc, Dimension("activation", "choice", choices=("relu", "tanh"),
                                             layer_id=layer_id)))
    seeds["search-space"] = project.dumps(doc)

    doc = Document(catalog)
    _chain(doc, UndoStack(doc), [4])
    doc.training = settings_from_records({
        "batch_size": 16, "epochs": 3, "validation_split": 0.25, "seed": 3,
        "callbacks": [{"kind": "EarlyStopping", "params": {"patience": 2}},
                      {"kind": "ReduceLROnPlateau", "params": {"factor": 0.5}}],
        "data": {"x": {"kind": "synthetic", "params": {}}}})
    seeds["training"] = project.dumps(doc)
    return seeds


# -------------------------------------------------------------- mutations
def _slots(data: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) in the data, found without recursion."""
    found, todo = [], [data]
    while todo:
        current = todo.pop()
        items = current.items() if isinstance(current, dict) else enumerate(current)
        for key, value in list(items):
            found.append((current, key))
            if isinstance(value, dict | list):
                todo.append(value)
    return found


def _id_holders(data: Any) -> list[dict[str, Any]]:
    return [c[k] for c, k in _slots(data) if isinstance(c[k], dict) and "id" in c[k]]


def mutate_structure(data: Any, rng: random.Random) -> None:
    """One structural change in place: drop, duplicate, retype, swap ids, an extreme
    number, deep nesting or an odd string."""
    slots = _slots(data)
    if not slots:
        return
    container, key = rng.choice(slots)
    value = container[key]
    # Numbers and strings changed in place keep most files readable, so the later stages
    # see them too; the other moves mostly test the reader's refusals.
    if isinstance(value, int | float) and not isinstance(value, bool) and rng.random() < 0.7:
        container[key] = rng.choice([*EXTREME_NUMBERS, value * 2, value + 1, -value])
        return
    if isinstance(value, str) and rng.random() < 0.5:
        container[key] = rng.choice([*ODD_STRINGS, value + "_", value.upper(), value[:1]])
        return
    move = rng.choice(["drop", "duplicate", "retype", "swap-ids", "number", "deep", "string"])
    if move == "drop" and isinstance(container, dict):
        del container[key]
    elif move == "drop":
        container.pop(key)
    elif move == "duplicate" and isinstance(container, list):
        container.insert(key, json.loads(json.dumps(value)))
    elif move == "duplicate":
        container[f"{key}_copy"] = value
    elif move == "swap-ids":
        holders = _id_holders(data)
        if len(holders) >= 2:
            a, b = rng.sample(holders, 2)
            if rng.random() < 0.5:
                a["id"], b["id"] = b["id"], a["id"]
            else:
                a["id"] = b["id"]
    elif move == "number":
        container[key] = rng.choice(EXTREME_NUMBERS)
    elif move == "deep":
        container[key] = DEEP_MARK
    elif move == "string":
        container[key] = rng.choice(ODD_STRINGS)
    else:
        container[key] = rng.choice(OTHER_VALUES)


def _deep_text(rng: random.Random) -> str:
    depth = rng.choice([65, 150, 5_000, 200_000])
    return ("[" * depth + "1" + "]" * depth) if rng.random() < 0.5 else \
        ('{"a": ' * depth + '"relu"' + "}" * depth)


def to_text(data: Any, rng: random.Random) -> str:
    text = json.dumps(data, indent=1, ensure_ascii=rng.random() < 0.5)
    while f'"{DEEP_MARK}"' in text:
        text = text.replace(f'"{DEEP_MARK}"', _deep_text(rng), 1)
    return text


def mutate_bytes(raw: bytes, rng: random.Random) -> bytes:
    """Flip, insert or delete bytes of the text, or cut it short."""
    data = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        if not data:
            break
        at = rng.randrange(len(data))
        move = rng.choice(["flip", "insert", "delete", "truncate"])
        if move == "flip":
            data[at] ^= 1 << rng.randrange(8)
        elif move == "insert":
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif move == "delete":
            del data[at:at + rng.randint(1, 16)]
        elif rng.random() < 0.2:
            del data[at:]
    return bytes(data)


def make_mutant(seeds: dict[str, str], index: int, base_seed: int) -> tuple[str, bytes]:
    """The seed name and the bytes of mutant ``index`` (same seed, same mutant)."""
    rng = random.Random(base_seed * 1_000_003 + index)
    name = rng.choice(sorted(seeds))
    data = json.loads(seeds[name])
    kind = rng.random()
    if kind < 0.65:
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            mutate_structure(data, rng)
    raw = to_text(data, rng).encode("utf-8", "surrogatepass")
    if kind >= 0.55:
        raw = mutate_bytes(raw, rng)
    return name, raw


# --------------------------------------------------------------- pipeline
@dataclass
class Outcome:
    seed: str
    seconds: float = 0.0
    stage: str = "load"  # the stage running now, then the last one reached
    reached: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    finding: str | None = None  # an exception that is not a LayerForgeError, or a mismatch


def _has_lambda(doc: Document) -> bool:
    return any(layer.class_name == "Lambda" for _, g in doc.graphs()
               for layer in g.layers.values())


def run_pipeline(path: Path, seed: str, catalog: Catalog) -> Outcome:
    outcome = Outcome(seed)
    start = time.perf_counter()
    try:
        _stages(path, outcome, catalog)
    except LayerForgeError as exc:
        outcome.messages.append(f"{outcome.stage}: {exc}")
    except Exception:  # a finding: the test reports it with its traceback
        outcome.finding = f"{outcome.stage}: {traceback.format_exc(limit=-6)}"
    outcome.seconds = time.perf_counter() - start
    return outcome


def _step(outcome: Outcome, stage: str, action: Any) -> Any:
    """Run one stage; a LayerForgeError is its message, and the pipeline goes on."""
    outcome.stage = stage
    outcome.reached.append(stage)
    try:
        return action()
    except LayerForgeError as exc:
        outcome.messages.append(f"{stage}: {exc}")
        return None


def _stages(path: Path, outcome: Outcome, catalog: Catalog) -> None:
    outcome.stage = "load"
    doc = project.load(path, catalog)
    before = project.dumps(doc)
    _step(outcome, "validate", lambda: validate(doc))
    summary = _step(outcome, "summary", lambda: summarize(doc))
    code = _step(outcome, "codegen", lambda: generate(doc))
    if summary and summary["valid"] and code is not None and not _has_lambda(doc) \
            and outcome.seed not in HEAVY:
        _step(outcome, "compile", lambda: load_generated(code).build_model())
    outcome.stage = "save"
    again = path.with_name(f"saved-{path.name}")
    project.save(doc, again)
    outcome.stage = "reload"
    after = project.dumps(project.load(again, catalog))
    if after != before:
        outcome.finding = "reload: the saved file reads back to different records"
