"""Which code this process may run, as Keras' safe mode and Jupyter's notebook trust do it.

A project's Lambda expressions are Python code, and building the model runs them. The app
and the command line guard this process (:func:`code_guard`): from then on an expression runs
only once the user trusts it. Code in a file the user opened is untrusted until they say so;
code they typed in the app, and the templates', is trusted. A library caller that is not
guarded builds what it made itself.

Trust is kept by the code's text (its canonical form), so exactly the code a user trusted
can run, whatever file it came from.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import Diagnostic
from .errors import LayerForgeError
from .lambdas import lambda_source

UNTRUSTED_WARNING = ("runs code (Python, or a SavedModel's graph): not run until you trust "
                     "this project")
UNTRUSTED_CODE = "untrusted-code"


class UntrustedCodeError(LayerForgeError):
    """Building the model would run code the user has not trusted."""


@dataclass
class _Trust:
    guarded: bool = False
    trusted: set[str] = field(default_factory=set)
    # The content key each module file was last trusted with (a changed file is asked again).
    module_keys: dict[str, str] = field(default_factory=dict)


_STATE = _Trust()


def guard_code() -> None:
    """From now on, run only trusted code in this process."""
    _STATE.guarded = True


def code_guarded() -> bool:
    return _STATE.guarded


@contextmanager
def code_guard(trusted: Iterable[str] = ()) -> Iterator[None]:
    """Guarded while the block runs (a command, a test); the earlier state comes back after."""
    saved = _Trust(_STATE.guarded, set(_STATE.trusted), dict(_STATE.module_keys))
    _STATE.guarded = True
    _STATE.trusted |= set(trusted)
    try:
        yield
    finally:
        _STATE.guarded, _STATE.trusted = saved.guarded, saved.trusted
        _STATE.module_keys = saved.module_keys


def code_key(expression: str) -> str:
    """The canonical text of a Lambda expression's function (``lambda x: ...``)."""
    return ast.unparse(ast.parse(lambda_source(expression), mode="eval").body)


def trust_code(expressions: Iterable[str]) -> None:
    """The user trusts these Lambda expressions: they may run from now on."""
    for expression in expressions:
        try:
            _STATE.trusted.add(code_key(expression))
        except ValueError:
            continue  # text that is no expression never runs anyway


def set_trusted_keys(keys: Iterable[str]) -> None:
    """Trust exactly these canonical texts (a worker process takes its parent's verdict)."""
    _STATE.trusted = set(keys)


def trusted_keys(expressions: Iterable[str]) -> list[str]:
    """The canonical texts of the expressions that may run now."""
    return [code_key(e) for e in expressions if may_run(e)]


def may_run(expression: str) -> bool:
    if not _STATE.guarded:
        return True
    try:
        return code_key(expression) in _STATE.trusted
    except ValueError:
        return False


def refuse_untrusted(expression: str) -> None:
    """Raise before an untrusted expression could run."""
    if not may_run(expression):
        raise UntrustedCodeError(
            f"expected code you trust; received a Lambda expression ({expression[:80]!r}) from "
            "a project that is not trusted: it was not run. Trust the project (the app asks "
            "when it opens it; the command line takes --trust) to run it")


def untrusted_functions(source: str) -> list[str]:
    """The lambdas of a generated module, and the custom modules it imports, that may not run
    now (none when not guarded)."""
    if not _STATE.guarded:
        return []
    tree = ast.parse(source)
    found = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Lambda)]
    lambdas = [text for text in found if text not in _STATE.trusted]
    return lambdas + [f"{path} (a custom layer module)" for path in imported_files(tree)
                      if not module_may_run(path)] + \
        [f"{path} (a SavedModel)" for path in saved_model_paths(tree)
         if not saved_model_may_run(path)]


def imported_files(tree: ast.Module) -> list[str]:
    """The module files a generated module imports from the folders it puts on sys.path."""
    folders = [n.args[1].value for n in ast.walk(tree) if isinstance(n, ast.Call)
               and ast.unparse(n.func) == "sys.path.insert" and len(n.args) == 2
               and isinstance(n.args[1], ast.Constant) and isinstance(n.args[1].value, str)]
    names = [n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.module]
    return [str(Path(folder) / f"{name}.py") for folder in folders for name in names
            if (Path(folder) / f"{name}.py").is_file()]


# ------------------------------------------------------------ module files
MODULE_KEY = "module:"


def module_key(path: str) -> str:
    """What trusting a Python file is kept by: its content's SHA-256 (a changed file is a new
    file); a file that cannot be read has no key any trust matches."""
    try:
        return MODULE_KEY + hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return MODULE_KEY + "unreadable:" + path


def trust_module(path: str) -> None:
    """The user trusts this file, as its content is now."""
    key = module_key(path)
    _STATE.trusted.add(key)
    _STATE.module_keys[path] = key


def trust_new_module(path: str) -> None:
    """Trust a file as part of a document the user trusts, unless this process trusted the
    file before with other content: a file changed since needs the user's word again."""
    if path not in _STATE.module_keys:
        trust_module(path)


def module_may_run(path: str) -> bool:
    return not _STATE.guarded or module_key(path) in _STATE.trusted


def refuse_untrusted_module(path: str) -> None:
    """Raise before an untrusted custom layer module could be imported."""
    if not module_may_run(path):
        raise UntrustedCodeError(
            f"expected a custom layer module you trust; received {path}, which is not trusted "
            "(or changed since): it was not imported. Trust it (the app asks; the command line "
            "takes --trust, or --custom-module for an import) to run it")


# ------------------------------------------------------------ SavedModels
SAVED_MODEL_KEY = "saved_model:"


def saved_model_key(path: str) -> str:
    """What trusting the SavedModel a TFSMLayer loads is kept by: its folder's path (loading
    one runs its TensorFlow graph, which Keras' safe mode refuses too)."""
    return SAVED_MODEL_KEY + path


def trust_saved_models(paths: Iterable[str]) -> None:
    _STATE.trusted.update(saved_model_key(path) for path in paths)


def saved_model_may_run(path: str) -> bool:
    return not _STATE.guarded or saved_model_key(path) in _STATE.trusted


def refuse_untrusted_saved_model(path: str) -> None:
    """Raise before an untrusted SavedModel could be loaded."""
    if not saved_model_may_run(path):
        raise UntrustedCodeError(
            f"expected a SavedModel you trust; received '{path}' from a project that is not "
            "trusted: it was not loaded (loading runs its graph). Trust the project (the app "
            "asks when it opens it; the command line takes --trust) to load it")


def saved_model_paths(tree: ast.Module) -> list[str]:
    """The folders a generated module's TFSMLayer calls load (a path given as text)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("TFSMLayer"):
            given = node.args[:1] + [k.value for k in node.keywords if k.arg == "filepath"]
            found += [v.value for v in given if isinstance(v, ast.Constant)
                      and isinstance(v.value, str)]
    return found


def untrusted_diagnostic(node_id: str, graph_key: str) -> Diagnostic:
    """The warning on a node whose code was not run."""
    return Diagnostic(node_id, "warning", UNTRUSTED_WARNING, UNTRUSTED_CODE, graph_key)
