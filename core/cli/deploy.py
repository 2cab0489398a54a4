"""``layerforge export --format savedmodel|tflite|onnx``: a checked export.

The export is written, loaded back in its own runtime and run on 32 samples beside Keras;
the command prints the max abs difference per output, pass/fail, the size and the time.
Exit 0 when it passes (or, quantised, when it ran), 1 when a float32 export differs by more
than the tolerance, 2 for bad input or a model a converter refuses (the layer named).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..catalog.catalog import get_catalog
from ..deploy.check import export_checked, writable_target
from ..deploy.formats import (
    MAX_OPSET,
    MIN_OPSET,
    QUANTIZATIONS,
    DeployError,
    ExportOptions,
    format_report,
    require_runtimes,
)
from ..document.document import Document
from ..document.trust import trust_document
from ..training.runs import best_model_document, load_run
from .trust import open_trusted, require_trust


def add_deploy_arguments(parser: Any) -> None:
    parser.add_argument("--quantize", choices=QUANTIZATIONS,
                        help="tflite: float16 weights, or dynamic-range int8 quantisation")
    parser.add_argument("--opset", type=int, metavar="N",
                        help=f"onnx: the ONNX opset ({MIN_OPSET} to {MAX_OPSET}; default: "
                             "tf2onnx's)")
    parser.add_argument("--run", metavar="RUN_DIR",
                        help="savedmodel/tflite/onnx: export that training run's best "
                             "checkpoint instead of the project's own weights")
    parser.add_argument("--json", action="store_true",
                        help="savedmodel/tflite/onnx: print the check as a JSON object")


def stray_deploy_option(args: argparse.Namespace) -> str | None:
    """The first of the checked exports' options given with another format, which would
    otherwise be ignored without a word."""
    given = {"--quantize": args.quantize, "--opset": args.opset, "--run": args.run,
             "--json": args.json}
    return next((name for name, value in given.items() if value), None)


def run_deploy(args: argparse.Namespace) -> int:
    if not args.output:
        raise DeployError(f"--format {args.format} writes a model: expected -o OUT (e.g. -o "
                          f"model{'.' + args.format if args.format != 'savedmodel' else ''});"
                          " received no -o")
    options = ExportOptions(args.format, args.quantize, args.opset)
    require_runtimes(options.format)  # bad input first, before seconds of building
    writable_target(Path(args.output), options.format)
    doc = _document(args)
    try:
        report = export_checked(doc, args.output, options)
    except DeployError as exc:
        if args.json and exc.failure is not None:
            print(json.dumps({"failure": exc.failure.to_json()}, indent=1))
        raise
    print(json.dumps(report.to_json(), indent=1) if args.json else format_report(report))
    return 1 if report.passed is False else 0


def _document(args: argparse.Namespace) -> Document:
    doc = open_trusted(args)
    require_trust(doc, args, f"export --format {args.format}")
    if not args.run:
        return doc
    run_doc, warnings = best_model_document(load_run(args.run), get_catalog())
    for warning in warnings:
        print(f"layerforge: warning: {warning}", file=sys.stderr)
    trust_document(run_doc)  # the run's snapshot of a project already trusted above
    return run_doc
