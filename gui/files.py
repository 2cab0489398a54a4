"""Files of the window: new, open, save, save as, export, recent files, autosave, recovery.

Every question to the user goes through a module-level function (``ask_save_changes``,
``ask_restore``, ``choose_open_path``, ``choose_save_path``, ``notify``), so tests
patch one function instead of clicking a modal dialog.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, QStandardPaths, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from layerforge.core.catalog.custom import read_module
from layerforge.core.document.document import Document
from layerforge.core.document.trust import code_in, module_files
from layerforge.core.editing.custom_modules import AddCustomModule
from layerforge.core.io.liveness import process_alive
from layerforge.core.io.weights_file import remove_project
from layerforge.core.schema.errors import LayerForgeError
from layerforge.core.schema.trust import trust_module

from .session import EditorSession

AUTOSAVE_INTERVAL_MS = 30_000
MAX_RECENT = 10
MAX_TRUSTED = 500
# What the trust prompt shows at most: how many layers, and how much of each expression.
SHOWN_CODE = 12
SHOWN_EXPRESSION = 200
RECOVERY_PREFIX = "autosave-"
MODULE_FILTER = "Python files (*.py);;All files (*)"
PROJECT_FILTER = "LayerForge projects (*.json);;All files (*)"
OPEN_FILTER = ("Projects and Keras models (*.json *.keras *.h5 *.hdf5);;"
               "LayerForge projects (*.json);;Keras models (*.keras *.h5 *.hdf5);;All files (*)")
EXPORTS = {
    "python": ("Export Python code", "Python (*.py)", ".py"),
    "keras": ("Export .keras model", "Keras model (*.keras)", ".keras"),
    "dot": ("Export DOT graph", "Graphviz DOT (*.dot *.gv)", ".dot"),
    "png": ("Export PNG diagram", "PNG image (*.png)", ".png"),
}
# The exports that need the model built (with its shapes), so a file's code must be trusted.
BUILDING_EXPORTS = ("keras", "png")


# ------------------------------------------------------------ questions (patched in tests)
def is_keras_model_json(path: Path) -> bool:
    """A model JSON written by Keras (``model.to_json()``), not a LayerForge project."""
    if path.suffix.lower() != ".json":
        return False
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return False
    return '"class_name"' in head and '"layerforge-project"' not in head


def ask_save_changes(parent: QWidget | None, name: str) -> str:
    """'save', 'discard' or 'cancel'."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved changes",
                      f"'{name}' has unsaved changes. Save them?",
                      QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                      | QMessageBox.StandardButton.Cancel, parent)
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    answer = box.exec()
    return {QMessageBox.StandardButton.Save: "save",
            QMessageBox.StandardButton.Discard: "discard"}.get(
        QMessageBox.StandardButton(answer), "cancel")


def ask_restore(parent: QWidget | None, path: Path, saved_at: float, origin: str) -> bool:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(saved_at))
    where = f" (from {origin})" if origin else ""
    answer = QMessageBox.question(
        parent, "Restore unsaved work?",
        f"LayerForge closed without saving a project{where}. An autosave from {when} exists.\n"
        "Restore it?")
    return answer == QMessageBox.StandardButton.Yes


def ask_trust(parent: QWidget | None, name: str, code: list[str]) -> bool:
    """Whether the user trusts the code of ``name`` (``layer: expression`` lines) to run."""
    shown = [f"• {line[:SHOWN_EXPRESSION]}" for line in code[:SHOWN_CODE]]
    if len(code) > SHOWN_CODE:
        shown.append(f"… and {len(code) - SHOWN_CODE} more")
    return _ask_to_run(parent, "Run this project's code?",
                       f"'{name}' contains code that runs when the model is built "
                       "(Lambda layers, custom layer modules, SavedModels loaded by TFSMLayer):"
                       "\n\n" + "\n".join(shown),
                       "Run it only if you trust where this file came from. Until you do, "
                       "none of it runs: shapes after these layers stay unknown.",
                       ("Trust and Run", "Don't Run"))


def ask_trust_module(parent: QWidget | None, path: Path) -> bool:
    """Whether the user trusts a custom layer module (a Python file) to be imported."""
    return _ask_to_run(parent, "Run this Python file?",
                       f"'{path.name}' is Python code: adding it imports it, which runs it, "
                       f"and building a model with its layers runs it again.\n\n{path}",
                       "Add it only if you trust where this file came from. LayerForge "
                       "remembers your answer for this exact content.",
                       ("Trust and Add", "Don't Add"))


def _ask_to_run(parent: QWidget | None, title: str, text: str, advice: str,
                buttons: tuple[str, str]) -> bool:
    """A warning that code would run: True only when the user clicks the first button
    (the second is the default, and Escape picks it)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=parent)
    box.setInformativeText(advice)
    trust = box.addButton(buttons[0], QMessageBox.ButtonRole.AcceptRole)
    keep_off = box.addButton(buttons[1], QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep_off)
    box.setEscapeButton(keep_off)
    box.exec()
    return box.clickedButton() is trust


def choose_module_path(parent: QWidget | None) -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Add custom layer module", "", MODULE_FILTER)
    return path or None


def choose_open_path(parent: QWidget | None) -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Open project or Keras model", "", OPEN_FILTER)
    return path or None


def choose_save_path(parent: QWidget | None, title: str, filters: str,
                     suggested: str) -> str | None:
    path, _ = QFileDialog.getSaveFileName(parent, title, suggested, filters)
    return path or None


def notify(parent: QWidget | None, title: str, text: str, error: bool = True) -> None:
    if error:
        QMessageBox.warning(parent, title, text)
    else:
        QMessageBox.information(parent, title, text)


# ------------------------------------------------------------ recovery files
def recovery_dir() -> Path:
    override = os.environ.get("LAYERFORGE_RECOVERY_DIR")
    if override:
        return Path(override)
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".layerforge") / "recovery"


def own_recovery_file() -> Path:
    return recovery_dir() / f"{RECOVERY_PREFIX}{os.getpid()}.json"


def orphan_recovery_files() -> list[Path]:
    """Autosaves left by processes that are gone (a crash), newest first."""
    directory = recovery_dir()
    if not directory.is_dir():
        return []
    found = []
    for path in directory.glob(f"{RECOVERY_PREFIX}*.json"):
        pid_text = path.stem.removeprefix(RECOVERY_PREFIX)
        if pid_text.isdigit() and not process_alive(int(pid_text), unknown=False):
            found.append(path)
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def remove_recovery(path: Path) -> None:
    remove_project(path)  # with its weights file, if the autosave had weights
    with contextlib.suppress(OSError):
        path.with_suffix(".origin").unlink()


# ------------------------------------------------------------ recent files
def string_list(settings: QSettings, key: str) -> list[str]:
    """A list of strings kept in QSettings (which gives back a lone string for a list of one,
    and whatever another version wrote: anything else is dropped)."""
    value = settings.value(key, [])
    if isinstance(value, str):
        value = [value]
    return [item for item in (value or []) if isinstance(item, str)]


class RecentFiles:
    KEY = "files/recent"

    def __init__(self, settings: QSettings | None = None) -> None:
        self.settings = settings or QSettings()

    def paths(self) -> list[str]:
        return string_list(self.settings, self.KEY)

    def add(self, path: str | Path) -> None:
        text = str(Path(path).resolve())
        paths = [text] + [p for p in self.paths() if p != text]
        self.settings.setValue(self.KEY, paths[:MAX_RECENT])

    def clear(self) -> None:
        self.settings.setValue(self.KEY, [])


# ------------------------------------------------------------ trusted files
def file_digest(path: Path) -> str | None:
    """The SHA-256 of a file's content (what trust is remembered by); None if unreadable."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class TrustedFiles:
    """Content hashes of the files whose code the user trusted (as Jupyter signs notebooks):
    the same bytes open without asking again; any change asks again."""

    KEY = "trust/sha256"

    def __init__(self, settings: QSettings | None = None) -> None:
        self.settings = settings or QSettings()

    def digests(self) -> list[str]:
        return string_list(self.settings, self.KEY)

    def __contains__(self, digest: str) -> bool:
        return digest in self.digests()

    def add(self, digest: str) -> None:
        digests = [digest] + [d for d in self.digests() if d != digest]
        self.settings.setValue(self.KEY, digests[:MAX_TRUSTED])


# ------------------------------------------------------------ controller
class FileController(QObject):
    """File actions of one window; ``opened(path)`` after a project/model is loaded."""

    opened = Signal(str)
    saved = Signal(str)
    recent_changed = Signal()
    message = Signal(str)

    def __init__(self, session: EditorSession, parent_widget: QWidget) -> None:
        super().__init__(parent_widget)
        self.session = session
        self.widget = parent_widget
        self.recent = RecentFiles()
        self.trusted_files = TrustedFiles()
        # The content hash of the file on screen as it was read (None: no file, or changed).
        self.opened_digest: str | None = None
        self.recovery_path = own_recovery_file()
        self.autosave_timer = QTimer(self, interval=AUTOSAVE_INTERVAL_MS)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()

    # -------------------------------------------------------- discard guard
    def maybe_discard(self) -> bool:
        """True when the current document may be replaced (saved, discarded or unchanged)."""
        if not self.session.is_modified:
            return True
        answer = ask_save_changes(self.widget, self.session.display_name())
        if answer == "save":
            return self.save()
        return answer == "discard"

    # -------------------------------------------------------- new / open
    def new_project(self) -> bool:
        if not self.maybe_discard():
            return False
        self._replace(Document(self.session.doc.catalog.base), None)
        return True

    def new_from_template(self, name: str) -> bool:
        from layerforge.core.io.templates import load_template

        if not self.maybe_discard():
            return False
        try:
            doc = load_template(name, self.session.doc.catalog)
        except LayerForgeError as exc:
            notify(self.widget, "Cannot open the template", str(exc))
            return False
        self._replace(doc, None)
        return True

    def open_dialog(self) -> bool:
        if not self.maybe_discard():
            return False
        path = choose_open_path(self.widget)
        return self.open_path(path, ask=False) if path else False

    def open_path(self, path: str | Path, ask: bool = True) -> bool:
        if ask and not self.maybe_discard():
            return False
        target = Path(path)
        digest = file_digest(target)
        try:
            doc, warnings = self._read(target)
        except (LayerForgeError, OSError, ValueError) as exc:
            # Project-file errors already begin with the path: show it once.
            text = str(exc) if str(target) in str(exc) else f"{target}:\n{exc}"
            notify(self.widget, "Cannot open the file", text)
            return False
        is_project = target.suffix.lower() == ".json" and not is_keras_model_json(target)
        # Asked before the document is shown, so nothing of it is built until then.
        trusted = self._ask_trust(doc, target.name, digest, target)
        self._replace(doc, target if is_project else None, trusted)
        self.opened_digest = digest if file_digest(target) == digest else None
        if is_project:
            self.recent.add(target)
            self.recent_changed.emit()
        if warnings:
            notify(self.widget, "Imported with warnings",
                   f"{target.name}:\n\n" + "\n".join(f"• {w}" for w in warnings), error=False)
        self.opened.emit(str(target))
        return True

    def _read(self, path: Path) -> tuple[Document, list[str]]:
        if path.suffix.lower() in (".keras", ".h5", ".hdf5") or is_keras_model_json(path):
            from layerforge.core.io.keras_import.files import import_file

            result = import_file(str(path), catalog=self.session.doc.catalog)
            return result.doc, [str(w) for w in result.warnings]
        from layerforge.core.io.project import load

        return load(path, self.session.doc.catalog), []

    def _replace(self, doc: Document, path: Path | None, trusted: bool = True) -> None:
        remove_recovery(self.recovery_path)
        self.opened_digest = None
        self.session.replace_document(doc, path, trusted)

    # -------------------------------------------------------- trust
    def _ask_trust(self, doc: Document, name: str, digest: str | None,
                   path: Path | None) -> bool:
        """Whether the code of a document read from a file may run: yes without code, or for
        the very bytes trusted before; else the user says so (remembered by content hash)."""
        # A custom module is trusted by its own bytes, never by the project's: a module
        # trusted before is not asked about again, a changed one is asked about.
        code = code_in(doc)
        known = {c.module for c in code if c.module and self._module_trusted(c.module)}
        for module in known:
            trust_module(module)
        modules = [c for c in code if c.module and c.module not in known]
        lambdas = [c for c in code if not c.module]
        # The digest is checked again after reading, so a file changed meanwhile asks again.
        unchanged = digest is not None and path is not None and file_digest(path) == digest
        if not modules and (not lambdas or (unchanged and digest in self.trusted_files)):
            return True
        if not ask_trust(self.widget, name, [c.describe() for c in lambdas + modules]):
            self.message.emit(f"{name}: its code was not run (File → Trust Project Code… "
                              "runs it)")
            return False
        if unchanged and digest is not None and lambdas:
            self.trusted_files.add(digest)
        self._trust_modules({c.module for c in modules})
        return True

    def _module_trusted(self, module: str) -> bool:
        return file_digest(Path(module)) in self.trusted_files

    def _trust_modules(self, modules: set[str]) -> None:
        """The user said yes to these files: they run, and the same bytes are not asked
        about again."""
        for module in modules:
            trust_module(module)
            module_digest = file_digest(Path(module))
            if module_digest is not None:
                self.trusted_files.add(module_digest)

    def trust_current(self) -> bool:
        """Ask to trust the code of the document on screen (File → Trust Project Code…)."""
        code = self.session.untrusted_code()
        if not code:
            self.message.emit("All of this project's code may run")
            return True
        if not ask_trust(self.widget, self.session.display_name(), code):
            return False
        self._trust_modules(set(module_files(self.session.doc)))
        if self.opened_digest is not None and not self.session.is_modified:
            self.trusted_files.add(self.opened_digest)  # the bytes the user saw the code of
        self.session.trust_code()
        return True

    # -------------------------------------------------------- custom layer modules
    def add_custom_module(self) -> bool:
        """File → Add Custom Layer Module…: pick a .py file, trust it, add its layer classes
        to the project (and the palette, under Custom) as one undoable edit."""
        path = choose_module_path(self.widget)
        return self.add_module_path(path) if path else False

    def add_module_path(self, path: str | Path) -> bool:
        target = Path(path).resolve()
        digest = file_digest(target)
        # An unreadable file (no digest) is refused by read_module, naming it.
        if digest is not None and digest not in self.trusted_files and \
                not ask_trust_module(self.widget, target):
            self.message.emit(f"{target.name}: not added (its code was not run)")
            return False
        trust_module(str(target))
        try:
            module = read_module(target, self.session.doc.catalog)
        except LayerForgeError as exc:
            notify(self.widget, "Cannot add the custom layer module", str(exc))
            return False
        if digest is not None:
            self.trusted_files.add(digest)
        if not self.session.push(AddCustomModule(module)):
            return False
        names = ", ".join(e.class_name for e in module.entries)
        self.message.emit(f"{target.name}: {names} added to the palette under Custom")
        return True

    # -------------------------------------------------------- save
    def save(self) -> bool:
        if self.session.path is None:
            return self.save_as()
        return self._write(self.session.path)

    def save_as(self) -> bool:
        suggested = str(self.session.path or Path.cwd() / f"{self._stem()}.json")
        path = choose_save_path(self.widget, "Save project", PROJECT_FILTER, suggested)
        if not path:
            return False
        target = Path(path) if Path(path).suffix else Path(path).with_suffix(".json")
        return self._write(target)

    def _write(self, path: Path) -> bool:
        from layerforge.core.io.project import save

        try:
            save(self.session.doc, path)
        except (LayerForgeError, OSError) as exc:
            notify(self.widget, "Cannot save", f"{path}:\n{exc}")
            return False
        self.session.undo_stack.setClean()
        self.session.set_path(path)
        remove_recovery(self.recovery_path)
        self.recent.add(path)
        self.recent_changed.emit()
        self.message.emit(f"Saved {path}")
        self.saved.emit(str(path))
        return True

    def _stem(self) -> str:
        if self.session.path is not None:
            return self.session.path.stem
        title = self.session.doc.meta.title or "model"
        return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-") or "model"

    # -------------------------------------------------------- export
    def export(self, kind: str) -> bool:
        title, filters, suffix = EXPORTS[kind]
        if kind in BUILDING_EXPORTS and self.session.untrusted_code() \
                and not self.trust_current():
            return False  # as on the command line: the text exports run nothing, these do
        suggested = str(Path.cwd() / f"{self._stem()}{suffix}")
        path = choose_save_path(self.widget, title, filters, suggested)
        if not path:
            return False
        try:
            export_to(self.session.doc, kind, Path(path))
        except Exception as exc:  # Keras, Graphviz and file errors all end in a message
            notify(self.widget, f"{title} failed", f"{path}:\n{exc}")
            return False
        self.message.emit(f"Exported {path}")
        return True

    # -------------------------------------------------------- autosave
    def autosave(self) -> bool:
        """Write the recovery file when there are unsaved changes; True when written."""
        if not self.session.is_modified:
            return False
        from layerforge.core.io.project import save

        try:
            self.recovery_path.parent.mkdir(parents=True, exist_ok=True)
            save(self.session.doc, self.recovery_path)
            origin = str(self.session.path or "")
            self.recovery_path.with_suffix(".origin").write_text(origin, encoding="utf-8")
        except (LayerForgeError, OSError) as exc:
            self.message.emit(f"Autosave failed: {exc}")
            return False
        return True

    def discard_recovery(self) -> None:
        remove_recovery(self.recovery_path)

    def offer_recovery(self) -> bool:
        """At start: restore the newest autosave left by a crashed session, if the user wants."""
        orphans = orphan_recovery_files()
        if not orphans:
            return False
        newest = orphans[0]
        origin_file = newest.with_suffix(".origin")
        origin = origin_file.read_text(encoding="utf-8") if origin_file.exists() else ""
        restored = False
        if ask_restore(self.widget, newest, newest.stat().st_mtime, origin):
            restored = self._restore(newest, origin)
        for path in orphans:
            remove_recovery(path)
        return restored

    def _restore(self, path: Path, origin: str) -> bool:
        from layerforge.core.io.project import load

        try:
            doc = load(path, self.session.doc.catalog)
        except (LayerForgeError, OSError) as exc:
            notify(self.widget, "Cannot restore the autosave", f"{path}:\n{exc}")
            return False
        trusted = self._ask_trust(doc, Path(origin).name if origin else "the autosave", None,
                                  None)
        self.session.replace_document(doc, origin or None, trusted)
        # The restored work differs from any file on disk until it is saved.
        self.session.mark_modified()
        self.autosave()
        return True


def export_to(doc: Document, kind: str, path: Path) -> None:
    """Write one export; raises with the reason (e.g. Graphviz missing for PNG)."""
    export = _export_module()
    if kind == "python":
        if export is not None:
            export.export_python(doc, path)
        else:
            from layerforge.core.codegen.model_code import generate

            path.write_text(generate(doc).source, encoding="utf-8")
    elif export is None:
        raise LayerForgeError(f"exporting {kind} needs core.export, which this build lacks")
    elif kind == "keras":
        export.export_keras(doc, path)
    elif kind == "dot":
        path.write_text(export.to_dot(doc), encoding="utf-8")
    else:
        export.export_diagram(doc, path, kind)


def _export_module() -> Any:
    try:
        from layerforge.core.io import export
    except ImportError:
        return None
    return export

