"""``--trust`` on the command line: a project file's code runs only when the user passes it.

``main`` guards the process (``schema.trust``); the commands open their project here, which
trusts a template (LayerForge's own) or a file given with ``--trust``, and warns, before
anything is built, about code that will not run.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..catalog.catalog import Catalog
from ..catalog.custom import CustomModule, ProjectCatalog, read_module
from ..document.document import Document
from ..document.trust import CodeLayer, module_files, trust_document, untrusted_code
from ..io.templates import names_a_template, open_project
from ..schema.errors import LayerForgeError
from ..schema.trust import UNTRUSTED_WARNING, trust_module

TRUST_HELP = ("run the project's code (Lambda layers, custom layer modules, SavedModels "
              "loaded by TFSMLayer) to build it; without it that code is never run")
CUSTOM_MODULE_HELP = ("a Python file of yours that defines layer classes the model uses "
                      "(naming it trusts it: it is imported); repeat for several files")


def add_trust_argument(parser: Any) -> None:
    parser.add_argument("--trust", action="store_true", help=TRUST_HELP)


def add_custom_module_argument(parser: Any) -> None:
    parser.add_argument("--custom-module", action="append", default=[], metavar="FILE",
                        dest="custom_modules", help=CUSTOM_MODULE_HELP)


def catalog_with_modules(base: Catalog, paths: list[str]) -> ProjectCatalog:
    """The catalog plus the classes of the custom modules named on the command line, which
    the user trusts by naming them."""
    modules: tuple[CustomModule, ...] = ()
    for path in paths:
        trust_module(path)
        modules += (read_module(path, ProjectCatalog(base, modules)),)
    return ProjectCatalog(base, modules)


def open_trusted(args: argparse.Namespace, required_by: str = "") -> Document:
    """Open ``args.project``; trust its code with ``--trust`` (or a template's), else warn,
    or refuse when the command (``required_by``) cannot do without running it."""
    doc = open_project(args.project)
    if getattr(args, "trust", False) or names_a_template(args.project):
        trust_document(doc)
        for path in module_files(doc):
            trust_module(path)  # --trust: the files as they are now
    if required_by:
        require_trust(doc, args, required_by)
    not_run = untrusted_code(doc)
    if not_run:
        print(f"layerforge: warning: {args.project}: {listing(not_run)}: "
              f"{UNTRUSTED_WARNING} (pass --trust to run it)", file=sys.stderr)
    return doc


def require_trust(doc: Document, args: argparse.Namespace, what: str) -> None:
    """Refuse a command that cannot do without running the project's code."""
    not_run = untrusted_code(doc)
    if not_run:
        raise LayerForgeError(
            f"{what} builds the model, which runs the project's Python code: expected --trust; "
            f"received {args.project} without it, so nothing was run ({listing(not_run)})")


def listing(code: list[CodeLayer]) -> str:
    """``Lambda 'name' ('x * 2')``, ``custom layer 'name' (Class from file)`` or
    ``TFSMLayer 'name' (SavedModel folder)``, joined."""
    return "; ".join(_listed(c) for c in code)


def _listed(code: CodeLayer) -> str:
    if code.module:
        return f"custom layer '{code.name}' ({code.layer.class_name} from {code.module})"
    if code.saved_model is not None:
        return f"TFSMLayer '{code.name}' (SavedModel {code.saved_model})"
    return f"Lambda '{code.name}' ({code.expression[:80]!r})"

