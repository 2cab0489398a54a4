"""The exported module's training part: data helpers, ``def main(run_dir="run")`` and the guard.

It reproduces ``core.training``: the helpers it needs are the exact source of the
portable functions (:mod:`.portable`, the loaders of :mod:`core.schema.data_sources`,
:mod:`.activation_logger`), called in the same order with the same seed; synthetic
data is written as the numpy expressions :func:`.portable.synthetic_array` evaluates.
User strings (names, paths) reach the source only through ``literal``/``repr``.
The part is static: it never builds the model (``model_code.generate`` calls it).
"""

from __future__ import annotations

import ast
import keyword
from dataclasses import dataclass
from typing import Any

from ..document.document import Document
from ..schema.data_sources import DATA_SOURCES
from ..schema.records import InputNode, OutputNode
from ..schema.settings import (
    CallbackSpec,
    DataSource,
    TrainingSettings,
    checkpoint_file,
    monitored_params,
    split_seed,
)
from . import portable
from .data_plan import (
    embedding_vocab,
    input_kind,
    is_synthetic,
    label_mode,
    open_lengths,
    synthetic_samples,
    target_kind,
    text_plans,
    uses_classes,
    whole_model_sources,
)
from .fine_tune_code import phase_one_statements, phase_two_statements, portable_sources
from .helper_source import helper_names, helper_source
from .python import INDENT, CodegenError, literal, wrapped
from .text_data_code import string_tensor_statements, synthetic_texts_arguments
from .vocabulary import adapt_statements

GUARD = 'if __name__ == "__main__":\n    main()\n'
# Module-level names the helpers may use; the exported module imports them at its top.
MODULE_IMPORTS = {"os": "import os", "csv": "import csv", "np": "import numpy as np"}


@dataclass
class _Call:
    """A call whose text is wrapped once the statement it starts is known."""

    callee: str
    args: list[str]

    def text(self, head: str) -> str:
        return wrapped(f"{head}{self.callee}(", self.args)


Value = str | _Call


@dataclass
class TrainingCode:
    parts: list[str]  # helper definitions, main, the guard
    imports: list[str]  # the standard-library and numpy imports they need


def training_code(doc: Document, settings: TrainingSettings | None = None) -> TrainingCode:
    s = settings or getattr(doc, "training", None) or TrainingSettings()
    parts = _MainWriter(doc, s).parts()
    used = {n.id for part in parts for n in ast.walk(ast.parse(part)) if isinstance(n, ast.Name)}
    return TrainingCode(parts, [line for name, line in MODULE_IMPORTS.items() if name in used])


def main_block(doc: Document, settings: TrainingSettings | None = None) -> str:
    """The training part as text, from the first helper to the guard."""
    return "\n\n".join(training_code(doc, settings).parts)


class _MainWriter:
    def __init__(self, doc: Document, settings: TrainingSettings) -> None:
        self.doc, self.s = doc, settings
        self.inputs: list[InputNode] = doc.graph.inputs()
        self.outputs: list[OutputNode] = doc.graph.outputs()
        self.names_in = [n.name for n in self.inputs]
        self.names_out = [n.name for n in self.outputs]
        self.helpers: list[str] = []
        self.lines: list[str] = []
        self.vocab, self.texts = embedding_vocab(doc), text_plans(doc)

    def helper(self, name: str) -> None:
        if name in self.helpers:
            return
        self.helpers.append(name)
        called = {n.func.id for n in ast.walk(ast.parse(helper_source(name)))
                  if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        for other in sorted(called & helper_names()):
            self.helper(other)

    def add(self, line: str) -> None:
        self.lines.extend(line.split("\n"))

    def parts(self) -> list[str]:
        self.body()
        doc = '"""Train the model; the best one is kept as run_dir/best.keras."""'
        body = "\n".join(INDENT + line if line else "" for line in [doc, *self.lines])
        main = f'def main(run_dir="run"):\n{body}\n'
        plan = portable_sources() if self.s.fine_tune is not None else []
        return [*(helper_source(name) for name in self.helpers), *plan, main, GUARD]

    # ------------------------------------------------------------ the statements
    def body(self) -> None:
        s = self.s
        self.add("os.makedirs(run_dir, exist_ok=True)")
        if s.seed is not None:
            self.add(f"keras.utils.set_random_seed({literal(s.seed)})")
        plan = s.fine_tune
        self.add("\n".join(phase_one_statements(plan)))
        directory = self.directory_source()
        if directory is not None:
            self.directory_data(directory)
            self.adapt({self.names_in[0]: "train_ds.map(lambda x, y: x)"})
            fit_args = ["train_ds", "validation_data=val_ds"]
            sample = "np.asarray(next(iter(val_ds or train_ds))[0])"
            has_validation = s.validation_split > 0
        else:
            static = self.arrays("x", "y", s.data)
            self.adapt({name: f"x[{literal(name)}]" for name in self.names_in})
            train, validation, sample = self.validation(static)
            for line in string_tensor_statements(self.inputs, validation):
                self.helper("string_tensors")
                self.add(line)
            fit_args = [*train, f"batch_size={literal(s.batch_size)}",
                        f"shuffle={literal(s.shuffle)}", *validation]
            has_validation = bool(validation)
        self.callbacks(has_validation, sample)
        named = zip(fit_args, ["inputs", "targets", "", "", "validation"], strict=False)
        fit_args = [self.hoisted(arg, name) for arg, name in named]
        self.add(wrapped("model.fit(", [*fit_args, f"epochs={literal(s.epochs)}",
                                        "callbacks=callbacks"]))
        if plan is not None:
            self.add("\n".join(phase_two_statements(plan)))
            self.add(wrapped("model.fit(", [*fit_args, f"initial_epoch={literal(s.epochs)}",
                                            f"epochs={literal(s.epochs + plan.epochs)}",
                                            "callbacks=callbacks"]))

    def adapt(self, data: dict[str, str]) -> None:
        """Vocabularies the project does not hold are adapted on the training data."""
        for line in adapt_statements(self.doc, data):
            self.add(line)

    def hoisted(self, arg: str, name: str) -> str:
        """A fit argument too long for its line becomes a variable set just before."""
        if not name or len(2 * INDENT + arg) < 100:
            return arg
        keyword_, is_keyword, value = arg.partition("=")
        self.add(f"{name} = {value if is_keyword else arg}")
        return f"{keyword_}={name}" if is_keyword else name

    def directory_source(self) -> DataSource | None:
        found = whole_model_sources(self.names_in, self.s.data)
        return found[0] if found else None

    def directory_data(self, src: DataSource) -> None:
        loader = DATA_SOURCES[src.kind].loader
        assert loader is not None  # a whole-model kind always has one
        self.helper(loader.__name__)
        shape = list(self.inputs[0].shape)
        mode = label_mode(self.outputs[0].loss)
        self.add(wrapped(f"train_ds, val_ds = {loader.__name__}(", [
            literal(src.kind), literal(src.params["path"]), literal(shape), literal(mode),
            literal(self.s.batch_size), literal(self.s.validation_split),
            literal(self.s.seed or 0), literal(self.s.shuffle)]))

    # ------------------------------------------------------------ arrays
    def arrays(self, x: str, y: str, bindings: dict[str, DataSource]) -> int | None:
        """Mirror ``data._load_bindings``: inputs then outputs, one generator per binding
        set. Returns the sample count when the code fixes it (all inputs synthetic)."""
        open_dims = any(None in node.shape for node in self.inputs)
        synthetic = [n for n in self.inputs + self.outputs if is_synthetic(bindings.get(n.name))]
        if synthetic:
            self.add(f"rng = np.random.default_rng({literal(self.s.seed)})")
        if open_dims and any(is_synthetic(bindings.get(n)) for n in self.names_in):
            self.helper("input_shapes")
            lengths = open_lengths(self.names_in, bindings)
            self.add(f"shapes = input_shapes(model, {literal(lengths)})")
        samples = synthetic_samples(self.names_in + self.names_out, bindings)
        static = all(is_synthetic(bindings.get(n)) for n in self.names_in)
        values = [self.input_array(node, bindings.get(node.name), samples, open_dims)
                  for node in self.inputs]
        self.assign(x, self.names_in, [([], v) for v in values])
        count = literal(samples)
        if not static and any(is_synthetic(bindings.get(n)) for n in self.names_out):
            self.add(f"count = len({x}[{literal(self.names_in[0])}])")
            count = "count"
        if open_dims:
            self.helper("output_shapes")
            self.add(f"out_shapes = output_shapes(model, {x})")
        elif len(self.outputs) > 1:
            self.add("out_shapes = {n: t.shape[1:] for n, t in "
                     "zip(model.output_names, model.outputs, strict=True)}")
        if len(self.outputs) > 1 and open_dims and \
                not all(is_synthetic(bindings.get(n)) for n in self.names_out):
            self.add("out_spec = {n: t.shape[1:] for n, t in "
                     "zip(model.output_names, model.outputs, strict=True)}")
        entries = [self.output_array(node, bindings.get(node.name), count, open_dims)
                   for node in self.outputs]
        self.assign(y, self.names_out, entries)
        return samples if static else None

    def assign(self, var: str, names: list[str], entries: list[tuple[list[str], Value]]
               ) -> None:
        """``var = {name: value}``; one key a statement when values need statements first
        or are calls (written over several lines when long)."""
        items = [f"{literal(n)}: {value}" for n, (_, value) in zip(names, entries, strict=True)]
        one_each = len(entries) > 1 and any(pre for pre, _ in entries)
        if not one_each and all(isinstance(value, str) for _, value in entries) \
                and all(len(3 * INDENT + item) < 100 for item in items):
            for pre, _ in entries:
                for line in pre:
                    self.add(line)
            self.add(wrapped(f"{var} = {{", items, "}"))
            return
        self.add(f"{var} = {{}}")
        for name, (pre, value) in zip(names, entries, strict=True):
            for line in pre:
                self.add(line)
            head = f"{var}[{literal(name)}] = "
            self.add(value.text(head) if isinstance(value, _Call) else head + value)

    def input_array(self, node: InputNode, src: DataSource | None, samples: int,
                    open_dims: bool) -> Value:
        if is_synthetic(src):
            kind, high = input_kind(node.dtype, self.vocab.get(node.name))
            shape = f"shapes[{literal(node.name)}]" if open_dims else list(node.shape)
            if node.name in self.texts:
                self.helper("synthetic_texts")
                return _Call("synthetic_texts",
                             synthetic_texts_arguments(self.texts[node.name], samples, shape))
            return synthetic_statements(kind, samples, shape, node.dtype, str(high), [])[1]
        assert src is not None
        vocab = self.vocab.get(node.name)
        return self.loaded(src, literal(list(node.shape), as_tuple=True), node.dtype,
                           f"input '{node.name}'", None, vocab)

    def output_array(self, node: OutputNode, src: DataSource | None, count: str,
                     open_dims: bool) -> tuple[list[str], Value]:
        single = len(self.outputs) == 1
        spec = "model.outputs[0].shape[1:]" if single else f"out_shapes[{literal(node.name)}]"
        if is_synthetic(src):
            kind = target_kind(node.loss)
            shape = f"out_shapes[{literal(node.name)}]" if open_dims else spec
            pre = [] if shape != spec or not single else [f"shape = {spec}"]
            shape = "shape" if pre else shape
            high = f"{shape}[-1]" if uses_classes(kind) else "1"
            return synthetic_statements(kind, count, shape, "float32", high, pre)
        assert src is not None
        static = f"out_spec[{literal(node.name)}]" if open_dims and not single else spec
        return [], self.loaded(src, static, "float32", f"output '{node.name}'", node.loss, None)

    def loaded(self, src: DataSource, shape: str, dtype: str, label: str, loss: str | None,
               vocab: int | None) -> _Call:
        """``conform(load_...(...), ...)``: the source's loader with the app's arguments."""
        self.helper("conform")
        kind = DATA_SOURCES[src.kind]
        if kind.loader is None or kind.whole_model:
            raise CodegenError(f"{label}: a {src.kind} source feeds a whole model; bind it to "
                               "the model's one input")
        self.helper(kind.loader.__name__)
        args = ", ".join(literal(a) for a in kind.arguments(src.params, vocab))
        return _Call("conform", [f"{kind.loader.__name__}({args})", shape, literal(dtype),
                                 literal(label), literal(loss), literal(vocab),
                                 literal(src.params.get("scale"))])

    def validation(self, samples: int | None) -> tuple[list[str], list[str], str]:
        """fit's data arguments, its validation_data and the activation logger's sample.
        Mirrors ``data.load_training_data``; a split of a count the code fixes is written
        as slices."""
        split = self.s.validation_split
        if self.s.validation_data:
            self.arrays("val_x", "val_y", self.s.validation_data)
            return self.feeds(("x", "y", ""), ("val_x", "val_y", ""))
        if split > 0 and samples is not None:
            cut = portable.validation_cut(samples, split)
            if cut is None:
                return self.feeds(("x", "y", ""), None)
            if len(self.names_in) == 1 and len(self.names_out) == 1:
                return self.feeds(("x", "y", f"[:{cut}]"), ("x", "y", f"[{cut}:]"))
            for var, part in (("val_x", f"[{cut}:]"), ("val_y", f"[{cut}:]"), ("x", f"[:{cut}]"),
                              ("y", f"[:{cut}]")):
                self.add(f"{var} = {{k: v{part} for k, v in {var[-1]}.items()}}")
            return self.feeds(("x", "y", ""), ("val_x", "val_y", ""))
        if split > 0:
            self.helper("split_validation")
            shuffle = [literal(self.s.shuffle_split), literal(split_seed(self.s))] \
                if self.s.shuffle_split else []
            self.add(wrapped("x, y, val_x, val_y = split_validation(",
                             ["x", "y", literal(split), *shuffle]))
            return self.feeds(("x", "y", ""), ("val_x", "val_y", ""), when="val_x")
        return self.feeds(("x", "y", ""), None)

    def feeds(self, train: tuple[str, str, str], val: tuple[str, str, str] | None,
              when: str = "") -> tuple[list[str], list[str], str]:
        """(fit's x and y, its validation_data, the activation sample) as :func:`.portable.feed`
        gives them; ``(x, y, slice)`` name the arrays; ``when`` guards the validation."""
        how, names_in, names_out = self.s.feed, self.names_in, self.names_out
        x, y, part = train
        fit = [_fed(x, names_in, how, part), _fed(y, names_out, how, part)]
        sample = _fed(x, names_in, "dict", part)
        if val is None:
            return fit, [], sample
        val_x, val_y, val_part = val
        pair = f"({_fed(val_x, names_in, how, val_part)}, {_fed(val_y, names_out, how, val_part)})"
        val_sample = _fed(val_x, names_in, "dict", val_part)
        if when:
            return fit, [f"validation_data={pair} if {when} else None"], \
                f"{val_sample} if {when} else {sample}"
        return fit, [f"validation_data={pair}"], val_sample

    # ------------------------------------------------------------ callbacks
    def callbacks(self, has_validation: bool, sample: str) -> None:
        specs = list(self.s.callbacks)
        if not any(c.kind == "ModelCheckpoint" for c in specs):
            specs.append(CallbackSpec("ModelCheckpoint"))
        spec = next(c for c in specs if c.kind == "ModelCheckpoint")
        self.add(f"best = os.path.join(run_dir, {literal(checkpoint_file(spec.params))})")
        items = [self.callback(spec, has_validation, sample, "") for spec in specs]
        one_line = wrapped("callbacks = [", items, "]")
        if "\n" not in one_line:
            self.add(one_line)
            return
        self.add("callbacks = [")
        for spec in specs:
            self.add(self.callback(spec, has_validation, sample, INDENT) + ",")
        self.add("]")

    def callback(self, spec: CallbackSpec, has_validation: bool, sample: str,
                 indent: str) -> str:
        params = monitored_params(spec, has_validation)
        if spec.kind == "ModelCheckpoint":
            params.setdefault("save_best_only", True)  # a run keeps its best weights
            return _call("keras.callbacks.ModelCheckpoint(", ["best"], params, indent)
        if spec.kind == "TensorBoard":
            return _call("keras.callbacks.TensorBoard(",
                         ["log_dir=os.path.join(run_dir, 'tensorboard')"], params, indent)
        if spec.kind == "CSVLogger":
            return _call("keras.callbacks.CSVLogger(", ["os.path.join(run_dir, 'log.csv')"],
                         params, indent)
        if spec.kind == "ActivationLogger":
            self.helper("ActivationLogger")
            return _call("ActivationLogger(", [sample, "os.path.join(run_dir, 'activations')"],
                         params, indent)
        return _call(f"keras.callbacks.{spec.kind}(", [], params, indent)


def synthetic_statements(kind: str, samples: int | str, shape: str | list[Any], dtype: str,
                         high: str, pre: list[str]) -> tuple[list[str], str]:
    """(statements, the numpy expression) :func:`.portable.synthetic_array` evaluates for these
    arguments; ``shape`` is a literal list or the name of a shape known when the code runs."""
    if isinstance(shape, list):
        size, head = literal([int(samples), *shape], as_tuple=True), \
            literal([int(samples), *shape[:-1]], as_tuple=True)
    else:
        size, head = f"({samples}, *{shape})", f"({samples}, *{shape}[:-1])"
    if kind == "ids":
        return pre, f"rng.integers(0, {high}, {size}).astype({literal(dtype)})"
    if kind == "binary":
        return pre, f"rng.integers(0, 2, {size}).astype({literal(dtype)})"
    if kind == "sparse":
        return pre, f"rng.integers(0, {high}, {head}).astype('int32')"
    if kind == "onehot":
        return [*pre, f"ids = rng.integers(0, {high}, {head})"], \
            f"np.eye({high}, dtype={literal(dtype)})[ids]"
    return pre, f"rng.random({size}).astype({literal(dtype)})"


def _call(fn: str, args: list[str], params: dict[str, Any], indent: str) -> str:
    for name in params:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise CodegenError(f"expected a callback parameter name; received {name!r}")
    keywords = [f"{name}={literal(value)}" for name, value in params.items()]
    return wrapped(fn, args + keywords, indent=indent)


def _fed(var: str, names: list[str], how: str, part: str = "") -> str:
    """The text of :func:`.portable.feed` applied to ``var`` (sliced by ``part``)."""
    fed = portable.feed({n: f"{var}[{literal(n)}]{part}" for n in names}, names, how)
    if isinstance(fed, dict):
        return var if not part else "{" + ", ".join(f"{literal(k)}: {v}"
                                                    for k, v in fed.items()) + "}"
    return "[" + ", ".join(fed) + "]" if isinstance(fed, list) else fed
