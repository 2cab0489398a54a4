"""The exported module's ``if __name__ == "__main__":`` block: data, callbacks and ``fit``.

It reproduces ``core.training``: the data functions it uses are the exact
source of the portable functions in :mod:`core.data` (and the activation
logger of :mod:`core.training`), called in the same order with the same seed.
User strings (names, paths) reach the source only through ``literal``/``repr``.
The block is static: it never builds the model (``codegen.generate`` calls it).
"""

from __future__ import annotations

import inspect
import keyword
import re
import textwrap
from collections.abc import Callable
from typing import Any

from ..document.document import Document
from ..schema.records import InputNode, OutputNode
from ..schema.settings import CallbackSpec, DataSource, TrainingSettings, monitored_params
from ..training import data as data_module
from ..training.data import (
    DEFAULT_SAMPLES,
    DIRECTORY_KINDS,
    SEQUENCE_LENGTHS,
    label_mode,
    target_kind,
)
from .model_code import CodegenError, literal

INDENT = "    "
# Lines of the block sit one indent deep in the module, whose lines keep within 100 columns.
WIDTH = 100 - len(INDENT)


def wrapped(head: str, args: list[str], tail: str = ")", indent: str = "") -> str:
    """``head(arg, ...)`` on one line when it fits, else one argument per line."""
    line = f"{indent}{head}{', '.join(args)}{tail}"
    if len(line) < WIDTH:  # room for a trailing comma in a list
        return line
    inner = indent + INDENT
    return f"{indent}{head}\n" + "".join(f"{inner}{a},\n" for a in args) + f"{indent}{tail}"


def main_block(doc: Document, settings: TrainingSettings | None = None) -> str:
    s = settings or getattr(doc, "training", None) or TrainingSettings()
    writer = _MainWriter(doc, s)
    return writer.block()


class _MainWriter:
    def __init__(self, doc: Document, settings: TrainingSettings) -> None:
        self.doc, self.s = doc, settings
        self.inputs: list[InputNode] = doc.graph.inputs()
        self.outputs: list[OutputNode] = doc.graph.outputs()
        self.helpers: list[str] = []
        self.lines: list[str] = []
        self.vocab = data_module._embedding_vocab(doc)

    def helper(self, fn: Callable[..., Any] | type) -> None:
        if fn.__name__ not in self.helpers:
            self.helpers.append(fn.__name__)

    def add(self, line: str = "") -> None:
        self.lines.append(line)

    def block(self) -> str:
        self.body()
        head = ["import os", "import sys", "", "import numpy as np", ""]
        for name in self.helpers:
            obj = getattr(data_module, name, None) or _portable_class(name)
            source = textwrap.dedent(inspect.getsource(obj))
            head += [*_without_checker_comments(source).splitlines(), ""]
        lines = [part for line in head + self.lines for part in line.split("\n")]
        text = "\n".join(INDENT + line if line else "" for line in lines)
        return 'if __name__ == "__main__":\n' + text.rstrip() + "\n"

    # ------------------------------------------------------------ the statements
    def body(self) -> None:
        s = self.s
        self.add("# The run folder: the first command-line argument, else ./run")
        self.add('run_dir = sys.argv[1] if len(sys.argv) > 1 else "run"')
        self.add("os.makedirs(run_dir, exist_ok=True)")
        if s.seed is not None:
            self.add(f"keras.utils.set_random_seed({literal(s.seed)})")
        self.add("model = compile_model(build_model())")
        directory = self.directory_source()
        if directory is not None:
            self.directory_data(directory)
            fit_args = ["train_ds", "validation_data=val_ds"]
        else:
            self.arrays("x", "y", s.data)
            self.validation()
            names_in = [n.name for n in self.inputs]
            names_out = [n.name for n in self.outputs]
            fit_args = [_feed("x", names_in, s.feed), _feed("y", names_out, s.feed),
                        f"batch_size={literal(s.batch_size)}", f"shuffle={literal(s.shuffle)}",
                        f"validation_data=({_feed('val_x', names_in, s.feed)}, "
                        f"{_feed('val_y', names_out, s.feed)}) if val_x else None"]
        self.callbacks(directory is not None)
        self.add(wrapped("model.fit(", [*fit_args, f"epochs={literal(s.epochs)}",
                                        "callbacks=callbacks"]))

    def directory_source(self) -> DataSource | None:
        for node in self.inputs:
            src = self.s.data.get(node.name)
            if src is not None and src.kind in DIRECTORY_KINDS:
                return src
        return None

    def directory_data(self, src: DataSource) -> None:
        self.helper(data_module.load_directory)
        shape = list(self.inputs[0].shape)
        mode = label_mode(self.outputs[0].loss)
        self.add(wrapped("train_ds, val_ds = load_directory(", [
            literal(src.kind), literal(src.params["path"]), literal(shape), literal(mode),
            literal(self.s.batch_size), literal(self.s.validation_split),
            literal(self.s.seed or 0), literal(self.s.shuffle)]))

    def arrays(self, x: str, y: str, bindings: dict[str, DataSource]) -> None:
        """Mirror ``data._load_bindings``: inputs then outputs, one generator per binding set."""
        self.helper(data_module.input_shapes)
        self.helper(data_module.output_shapes)
        lengths = self.lengths(bindings)
        self.add(f"rng = np.random.default_rng({literal(self.s.seed)})")
        self.add(f"shapes = input_shapes(model, {literal(lengths)})")
        self.add(f"{x} = {{}}")
        samples = self.samples(bindings)
        for node in self.inputs:
            self.tensor(x, node.name, "input", bindings.get(node.name), samples,
                        f"shapes[{node.name!r}]", node.dtype, None,
                        literal(list(node.shape), as_tuple=True))
        first = self.inputs[0].name
        self.add(f"out_shapes = output_shapes(model, {x})")
        self.add(f"{y} = {{}}")
        if any(bindings.get(n.name, DataSource()).kind != "synthetic" for n in self.outputs):
            self.add("out_spec = {n: tuple(t.shape[1:])\n"
                     "            for n, t in zip(model.output_names, model.outputs, strict=True)}")
        for node in self.outputs:
            self.tensor(y, node.name, "output", bindings.get(node.name), f"len({x}[{first!r}])",
                        f"out_shapes[{node.name!r}]", "float32", node.loss,
                        f"out_spec[{node.name!r}]")

    def tensor(self, var: str, name: str, role: str, src: DataSource | None, samples: Any,
               shape: str, dtype: str, loss: str | None, static_shape: str) -> None:
        """One array; ``shape`` is the concrete per-sample shape (synthetic data), while
        loaded data is checked against ``static_shape``, open dimensions included."""
        src = src or DataSource()
        key = f"{var}[{literal(name)}]"
        if src.kind == "synthetic":
            self.helper(data_module.synthetic_array)
            kind, high = self.synthetic_kind(name, role, dtype, loss, shape)
            self.add(wrapped(f"{key} = synthetic_array(",
                             ["rng", str(samples), shape, literal(dtype), literal(kind), high]))
            return
        self.helper(data_module.conform)
        label = f"{role} '{name}'"
        vocab = self.vocab.get(name) if role == "input" else None
        self.add(wrapped(f"{key} = conform(", [
            self.loader(src, vocab), static_shape, literal(dtype), literal(label), literal(loss),
            literal(vocab), literal(src.params.get("scale"))]))

    def synthetic_kind(self, name: str, role: str, dtype: str, loss: str | None, shape: str
                       ) -> tuple[str, str]:
        if role == "input":
            if name in self.vocab:
                return "ids", literal(self.vocab[name])
            return ("ids", "2") if "int" in dtype else ("floats", "0")
        kind = target_kind(loss)
        return kind, (f"{shape}[-1]" if kind in ("onehot", "sparse") else "1")

    def loader(self, src: DataSource, vocab: int | None) -> str:
        p = src.params
        calls = {
            "npz": lambda: f"load_npz({literal(p['path'])}, {literal(p['key'])})",
            "npy": lambda: f"load_npy({literal(p['path'])})",
            "csv": lambda: f"load_csv({literal(p['path'])}, {literal(list(p['columns']))})",
            "sklearn": lambda: f"load_sklearn({literal(p['name'])}, {literal(p['part'])})",
            "keras_dataset": lambda: (
                f"load_keras_dataset({literal(p['name'])}, {literal(p['part'])}, "
                f"{literal(p.get('split', 'train'))}, {literal(p.get('num_words', vocab))})"),
        }
        fn = {"npz": "load_npz", "npy": "load_npy", "csv": "load_csv", "sklearn": "load_sklearn",
              "keras_dataset": "load_keras_dataset"}[src.kind]
        self.helper(getattr(data_module, fn))
        return calls[src.kind]()

    def lengths(self, bindings: dict[str, DataSource]) -> list[int]:
        chosen = [bindings[n.name].params.get("length") for n in self.inputs
                  if n.name in bindings]
        return [int(c) for c in chosen if c] or list(SEQUENCE_LENGTHS)

    def samples(self, bindings: dict[str, DataSource]) -> str:
        for node in [*self.inputs, *self.outputs]:
            src = bindings.get(node.name)
            if src is not None and src.kind == "synthetic" and "samples" in src.params:
                return literal(int(src.params["samples"]))
        return literal(DEFAULT_SAMPLES)

    def validation(self) -> None:
        if self.s.validation_data:
            self.arrays("val_x", "val_y", self.s.validation_data)
        elif self.s.validation_split > 0:
            self.helper(data_module.split_validation)
            self.add(wrapped("x, y, val_x, val_y = split_validation(",
                             ["x", "y", literal(self.s.validation_split)]))
        else:
            self.add("val_x, val_y = {}, {}")

    # ------------------------------------------------------------ callbacks
    def callbacks(self, directory: bool) -> None:
        has_validation = bool(self.s.validation_data) or self.s.validation_split > 0
        specs = list(self.s.callbacks)
        if not any(c.kind == "ModelCheckpoint" for c in specs):
            specs.append(CallbackSpec("ModelCheckpoint"))
        self.add("callbacks = [")
        for spec in specs:
            self.add(self.callback(spec, has_validation, directory) + ",")
        self.add("]")

    def callback(self, spec: CallbackSpec, has_validation: bool, directory: bool) -> str:
        params = monitored_params(spec, has_validation)
        if spec.kind == "ModelCheckpoint":
            params["save_best_only"] = True
            return _call("keras.callbacks.ModelCheckpoint(",
                         ["os.path.join(run_dir, 'best.keras')"], params)
        if spec.kind == "TensorBoard":
            return _call("keras.callbacks.TensorBoard(",
                         ["log_dir=os.path.join(run_dir, 'tensorboard')"], params)
        if spec.kind == "CSVLogger":
            return _call("keras.callbacks.CSVLogger(", ["os.path.join(run_dir, 'log.csv')"],
                         params)
        if spec.kind == "ActivationLogger":
            self.helper(_portable_class("ActivationLogger"))
            names = [n.name for n in self.inputs]
            sample = "np.asarray(next(iter(val_ds or train_ds))[0])" if directory else \
                f"{_feed('val_x', names, 'dict')} if val_x else {_feed('x', names, 'dict')}"
            return _call("ActivationLogger(",
                         [sample, "os.path.join(run_dir, 'activations')"], params)
        return _call(f"keras.callbacks.{spec.kind}(", [], params)


def _call(fn: str, args: list[str], params: dict[str, Any]) -> str:
    for name in params:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise CodegenError(f"expected a callback parameter name; received {name!r}")
    keywords = [f"{name}={literal(value)}" for name, value in params.items()]
    return wrapped(fn, args + keywords, indent=INDENT)


def _feed(var: str, names: list[str], feed: str) -> str:
    """The expression ``data.TrainData._feed`` computes: a dict, a list or the bare array."""
    if len(names) == 1:
        return f"{var}[{literal(names[0])}]"
    if feed == "dict":
        return var
    return "[" + ", ".join(f"{var}[{literal(n)}]" for n in names) + "]"


def _without_checker_comments(source: str) -> str:
    """Exported helpers read as plain code: drop type-checker and linter directives."""
    return re.sub(r"  # (type: ignore\[[^\]]*\]|noqa: \w+)", "", source)


def _portable_class(name: str) -> Any:
    from ..training import fit as training

    return getattr(training, name)
