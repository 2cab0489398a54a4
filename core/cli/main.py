"""The headless ``layerforge`` command: the parser and one handler per command.

Nothing here imports TensorFlow: the modules that train import Keras when training starts,
so ``--help`` and the light commands (templates, summary, validate, export py) stay fast.
Add a command: a module beside this one with ``add_<name>_parser`` and ``run_<name>``
(see train.py), then register both below.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from collections.abc import Callable, Sequence

from layerforge import __version__

from ..analysis.summary import format_summary, summarize
from ..catalog.catalog import get_catalog
from ..codegen.model_code import generate
from ..deploy.formats import DEPLOY_FORMATS
from ..document.document import Document
from ..io import export
from ..io.keras_import.files import import_file
from ..io.project import save
from ..io.templates import list_templates
from ..schema.errors import LayerForgeError
from ..schema.trust import code_guard
from .cost import add_cost_arguments, add_latency, latency_lines
from .deploy import add_deploy_arguments, run_deploy, stray_deploy_option
from .diff import add_diff_parser, run_diff
from .ensemble import add_ensemble_parser, run_ensemble
from .hints import hint_lines, project_hints
from .train import add_train_parser, run_train
from .trust import (
    add_custom_module_argument,
    add_trust_argument,
    catalog_with_modules,
    open_trusted,
    require_trust,
)
from .tune import add_tune_parser, run_tune


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layerforge",
        description="Build Keras models visually. Without a command, opens the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"layerforge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gui = sub.add_parser("gui", help="open the desktop app")
    gui.add_argument("project", nargs="?", help="project file or template name to open")
    gui.add_argument("--template", help="open a template")
    gui.add_argument("--screenshot", metavar="PNG", help="render the window to PNG and exit")
    sub.add_parser("templates", help="list the templates")
    summary = sub.add_parser("summary", help="layers, shapes, parameter counts and diagnostics")
    summary.add_argument("project", metavar="FILE_OR_TEMPLATE")
    summary.add_argument("--json", action="store_true", help="print a JSON object")
    add_cost_arguments(summary)
    add_trust_argument(summary)
    validate = sub.add_parser("validate", help="check a project; exit 0 only if it is valid")
    validate.add_argument("project", metavar="FILE_OR_TEMPLATE")
    add_trust_argument(validate)
    catalog = sub.add_parser("catalog", help="list the layer catalog derived from Keras")
    catalog.add_argument("--refresh", action="store_true", help="rebuild it from Keras")
    catalog.add_argument("--json", action="store_true", help="print the catalog as JSON")
    export = sub.add_parser("export", help="export a project: Keras code, a .keras model, "
                                           "a diagram, or a checked SavedModel/TFLite/ONNX")
    export.add_argument("project", metavar="FILE_OR_TEMPLATE")
    export.add_argument("--format", choices=EXPORT_FORMATS, default="py",
                        help="py: a Keras module; keras: a saved model; dot: Graphviz text; "
                             "png/svg: a drawing (needs Graphviz); savedmodel/tflite/onnx: "
                             "written, run back in its runtime and compared with Keras")
    export.add_argument("-o", "--output", metavar="OUT",
                        help="file to write (py and dot default to stdout)")
    add_deploy_arguments(export)
    add_trust_argument(export)
    add_train_parser(sub)
    add_tune_parser(sub)
    add_ensemble_parser(sub)
    add_diff_parser(sub)
    imp = sub.add_parser("import", help="open a .keras/.h5/JSON Keras model as a project file")
    imp.add_argument("model", metavar="MODEL", help="a .keras, .h5 or model JSON file")
    imp.add_argument("-o", "--output", metavar="PROJECT", required=True,
                     help="project file to write (.json)")
    imp.add_argument("--weights", action="store_true",
                     help="keep the model's weights (saved beside the project as .weights.npz)")
    add_custom_module_argument(imp)
    return parser


EXPORT_FORMATS = ["py", "keras", "dot", "png", "svg", *DEPLOY_FORMATS]
TEXT_FORMATS = ("py", "dot")

GuiRunner = Callable[[argparse.Namespace], int]
# What a shell reports for a process that a closed pipe ended (128 + SIGPIPE).
BROKEN_PIPE_EXIT = 128 + 13


def main(argv: Sequence[str] | None = None, gui: GuiRunner | None = None) -> int:
    """Run a command. ``gui`` opens the desktop app; the launcher in ``layerforge.gui`` passes
    it, so this module never imports Qt."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    opener = gui or _no_gui
    handlers = {None: opener, "gui": opener, "templates": _templates, "summary": _summary,
                "validate": _validate, "catalog": _catalog, "export": _export,
                "import": _import, "train": run_train, "tune": run_tune,
                "ensemble": run_ensemble, "diff": run_diff}
    try:
        with code_guard():  # a project's code runs only with --trust (or a template's)
            code = handlers[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except LayerForgeError as exc:
        print(f"layerforge: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_left()
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            return _reader_left()
        raise


def _reader_left() -> int:
    """The reader of stdout has gone (``| head``): stop quietly, as command-line tools do."""
    # Python would flush stdout again at exit and print the same error: point it at nothing.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return BROKEN_PIPE_EXIT


def _no_gui(args: argparse.Namespace) -> int:
    print("layerforge: the desktop app starts from the `layerforge` command "
          "(layerforge.gui.launcher); this headless entry point has no GUI.", file=sys.stderr)
    return 2


def _templates(args: argparse.Namespace) -> int:
    infos = list_templates()
    width = max(len(t.name) for t in infos)
    for t in infos:
        print(f"{t.name:<{width}}  {t.section:<6} {t.title}: {t.description}")
    return 0


def _open(args: argparse.Namespace) -> Document:
    """Open the project and warn, before anything is built, about code that will not run."""
    return open_trusted(args)


def _summary(args: argparse.Namespace) -> int:
    doc = _open(args)
    data = summarize(doc)
    data["hints"] = project_hints(doc, args.project)
    add_latency(doc, args, data)
    print(json.dumps(data, indent=1) if args.json else
          "\n".join([format_summary(data), *latency_lines(data), *hint_lines(data["hints"])]))
    return 0


def _validate(args: argparse.Namespace) -> int:
    doc = _open(args)
    if not doc.graph.nodes:
        # The app shows an empty canvas without errors (a hint instead); a check still
        # refuses to call a project with no model valid.
        print("error: the model is empty: expected at least an input, a layer and an output; "
              "received a project with no nodes. Add them in the app, or start from a "
              "template (layerforge templates)")
        return 1
    data = summarize(doc)
    for d in data["diagnostics"]:
        print(f"{d['severity']}: {d['where']}: {d['message']}")
    for line in hint_lines(project_hints(doc, args.project)):
        print(line)  # advice only: the exit status stays the diagnostics'
    if data.get("not_run"):
        print(f"not checked: {len(data['not_run'])} Lambda layer(s) run Python code, which was "
              "not run; pass --trust to build and check the model with it")
        return 1
    if data["valid"]:
        print(f"valid: {len(data['layers'])} layers, {data['params']:,} parameters")
        return 0
    return 1


def _catalog(args: argparse.Namespace) -> int:
    catalog = get_catalog(refresh=args.refresh)
    if args.json:
        print(json.dumps(catalog.to_json(), indent=1))
        return 0
    for category, entries in catalog.categories().items():
        print(f"{category}: {', '.join(e.class_name for e in entries)}")
    print(f"{len(catalog)} layers from Keras {catalog.keras_version}")
    return 0


def _export(args: argparse.Namespace) -> int:
    if args.format in DEPLOY_FORMATS:
        return run_deploy(args)
    stray = stray_deploy_option(args)
    if stray is not None:
        print(f"layerforge: error: {stray} applies to --format {'/'.join(DEPLOY_FORMATS)}: "
              f"received --format {args.format}", file=sys.stderr)
        return 2
    if args.format not in TEXT_FORMATS and not args.output:
        print(f"layerforge: error: --format {args.format} writes a binary file: expected "
              f"-o OUT (e.g. -o model.{args.format}); received no -o", file=sys.stderr)
        return 2
    doc = _open(args)
    if args.format not in TEXT_FORMATS:
        require_trust(doc, args, f"export --format {args.format}")
    if args.format == "keras":
        export.export_keras(doc, args.output)
    elif args.format in export.DIAGRAM_FORMATS:
        export.export_diagram(doc, args.output, args.format)
    else:
        text = generate(doc).source if args.format == "py" else export.to_dot(doc)
        _write_text(text, args.output)
    return 0


def _write_text(text: str, output: str | None) -> None:
    if not output:
        sys.stdout.write(text)
        return
    try:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise LayerForgeError(f"expected a writable file for -o; received '{output}' "
                              f"({exc.strerror})") from None


def _import(args: argparse.Namespace) -> int:
    catalog = catalog_with_modules(get_catalog(), args.custom_modules)
    result = import_file(args.model, keep_weights=args.weights, catalog=catalog)
    for warning in result.warnings:
        print(f"layerforge: warning: {warning}", file=sys.stderr)
    save(result.doc, args.output)
    graph = result.doc.graph
    print(f"{args.output}: {len(graph.layers)} layers, {len(result.doc.blocks)} blocks"
          + (", weights kept" if result.doc.weights else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

