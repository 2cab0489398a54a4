"""File → Export → Checked Export (SavedModel, TFLite, ONNX)…: a dialog that writes the
model in one of the three formats, in a child process (TensorFlow's converters hold the GIL
for seconds: a thread would freeze the window), and shows the check against Keras: the max
abs difference per output, pass or fail, the size.

When a converter refuses a layer, nothing is written; the layer is named in the dialog and
marked on the canvas with the converter's own message until the next edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from layerforge.core.deploy.formats import (
    DEPLOY_FORMATS,
    MAX_OPSET,
    MIN_OPSET,
    ONNX,
    QUANTIZATIONS,
    SAVEDMODEL,
    SUFFIXES,
    TFLITE,
    DeployError,
    ExportOptions,
    ExportReport,
    format_report,
)
from layerforge.core.deploy.worker import ERROR, FAILURE, ExportProcess, ExportReply
from layerforge.core.schema.diagnostics import Diagnostic

from ..session import EditorSession

FORMAT_LABELS = {SAVEDMODEL: "SavedModel (TensorFlow Serving)", TFLITE: "TFLite",
                 ONNX: "ONNX"}
NO_QUANTISATION = "none (float32)"
FINDINGS = "export"  # the session's name for the converter's findings
DIAGNOSTIC_CODE = "export-refused"
POLL_MS = 100
ACTION_TEXT = "Checked Export (SavedModel, TFLite, ONNX)…"


class ExportDialog(QDialog):
    """Format, TFLite quantisation, ONNX opset, output path; Export runs the check."""

    finished_export = Signal(object)  # the ExportReply

    def __init__(self, session: EditorSession, parent: QWidget | None = None,
                 stem: str = "model") -> None:
        super().__init__(parent)
        self.setWindowTitle("Checked Export")
        self.session = session
        self.stem = stem
        self.process: ExportProcess | None = None
        self.format = QComboBox()
        for fmt in DEPLOY_FORMATS:
            self.format.addItem(FORMAT_LABELS[fmt], fmt)
        self.quantize = QComboBox()
        self.quantize.addItem(NO_QUANTISATION, None)
        for q in QUANTIZATIONS:
            self.quantize.addItem(q, q)
        self.quantize.setToolTip("TFLite: float16 weights, or dynamic-range int8 "
                                 "quantisation (the check reports the accuracy change)")
        self.opset = QSpinBox()
        self.opset.setRange(MIN_OPSET - 1, MAX_OPSET)
        self.opset.setSpecialValueText("default")
        self.opset.setValue(MIN_OPSET - 1)
        self.path = QLineEdit()
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path)
        row.addWidget(self.browse)
        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("Quantisation", self.quantize)
        form.addRow("ONNX opset", self.opset)
        form.addRow("Output", row)
        self.status = QLabel("Writes the model, loads it back in its runtime and compares "
                             "its outputs with Keras on 32 samples.")
        self.status.setWordWrap(True)
        self.result = QPlainTextEdit()
        self.result.setReadOnly(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = self.buttons.addButton(
            "Export", QDialogButtonBox.ButtonRole.ActionRole)
        self.export_button.clicked.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.result)
        layout.addWidget(self.buttons)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)
        self.format.currentIndexChanged.connect(self._format_changed)
        self._format_changed()
        self.resize(560, 420)

    # ------------------------------------------------------------ options
    def chosen_format(self) -> str:
        return str(self.format.currentData())

    def options(self) -> ExportOptions:
        fmt = self.chosen_format()
        quantize = self.quantize.currentData() if fmt == TFLITE else None
        opset = self.opset.value() if fmt == ONNX and self.opset.value() >= MIN_OPSET \
            else None
        return ExportOptions(fmt, quantize, opset)

    def _format_changed(self) -> None:
        fmt = self.chosen_format()
        self.quantize.setEnabled(fmt == TFLITE)
        self.opset.setEnabled(fmt == ONNX)
        current = self.path.text().strip()
        stem = Path(current).with_suffix("") if current else Path.cwd() / self.stem
        if current and Path(current).suffix not in ("", *SUFFIXES.values()):
            return  # a name the user typed: left as it is
        self.path.setText(str(stem) + SUFFIXES[fmt])

    def _browse(self) -> None:
        fmt = self.chosen_format()
        if fmt == SAVEDMODEL:
            path = QFileDialog.getSaveFileName(self, "SavedModel folder", self.path.text())[0]
        else:
            path = QFileDialog.getSaveFileName(self, f"{FORMAT_LABELS[fmt]} file",
                                               self.path.text(),
                                               f"{FORMAT_LABELS[fmt]} (*{SUFFIXES[fmt]})")[0]
        if path:
            self.path.setText(path)

    # ------------------------------------------------------------ running
    @property
    def running(self) -> bool:
        return self.process is not None

    def start(self) -> bool:
        """Start the export in a child process; False (with the reason shown) when it cannot."""
        if self.running:
            return False
        if self.session.untrusted_code():
            self._show_error("the project's code is not trusted: trust it (File → Trust "
                             "Project Code…) to build the model")
            return False
        path = self.path.text().strip()
        if not path:
            self._show_error("expected an output path; received none")
            return False
        try:
            options = self.options()
        except DeployError as exc:
            self._show_error(str(exc))
            return False
        self.session.show_findings(FINDINGS, [])  # an earlier refusal is gone once retried
        self.process = ExportProcess(self.session.doc, path, options)
        self.process.start()
        self.export_button.setEnabled(False)
        self.status.setText(f"Exporting to {FORMAT_LABELS[options.format]} and checking "
                            "against Keras…")
        self.result.clear()
        self.timer.start()
        return True

    def poll(self) -> None:
        if self.process is None:
            return
        reply = self.process.poll()
        if reply is None:
            return
        self.timer.stop()
        self.process = None
        self.export_button.setEnabled(True)
        self.show_reply(reply)
        self.finished_export.emit(reply)

    def show_reply(self, reply: ExportReply) -> None:
        if reply.kind == FAILURE or reply.kind == ERROR:
            self._show_error(reply.message)
            if reply.kind == FAILURE and reply.failure:
                self._mark(reply.failure)
            return
        report = report_from_json(reply.report)
        passed = report.passed
        self.status.setText("Exported: " + ("pass" if passed else "quantised" if passed is None
                                            else "FAIL: over the tolerance"))
        self.result.setPlainText(format_report(report))

    def _show_error(self, message: str) -> None:
        self.status.setText("Export failed")
        self.result.setPlainText(message)

    def _mark(self, failure: dict[str, Any]) -> None:
        """The refused layer on the canvas, with the converter's own message."""
        node = failure.get("node_id")
        if not node:
            return
        text = f"{failure['format']} export: the converter refused this layer: " \
               f"{failure['message']}"
        self.session.show_findings(FINDINGS, [Diagnostic(
            node, "error", text, DIAGNOSTIC_CODE, failure.get("graph_key") or "main")])

    def done(self, result: int) -> None:
        if self.process is not None:
            self.timer.stop()
            self.process.stop()
            self.process = None
        super().done(result)


def _stem(session: EditorSession) -> str:
    if session.path is not None:
        return session.path.stem
    title = session.doc.meta.title or "model"
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-") or "model"


def report_from_json(data: dict[str, Any]) -> ExportReport:
    fields = {k: v for k, v in data.items() if k not in ("passed", "worst")}
    return ExportReport(**fields)


# ------------------------------------------------------------ the window
def open_export_dialog(window: Any) -> ExportDialog:
    """Show the dialog (modeless, so the canvas stays usable while it runs)."""
    dialog = getattr(window, "export_dialog", None)
    if dialog is None:
        dialog = ExportDialog(window.session, window, stem=_stem(window.session))
        window.export_dialog = dialog
    dialog.show()
    dialog.raise_()
    return dialog


def install_export(window: Any) -> QAction:
    """Add the checked export to File → Export (the menu the window builds from
    ``files.EXPORTS``); returns the action."""
    menu = _export_menu(window)
    action = QAction(ACTION_TEXT, window)
    action.setToolTip("SavedModel, TFLite or ONNX, loaded back in its runtime and compared "
                      "with Keras on 32 samples")
    action.triggered.connect(lambda _checked=False: open_export_dialog(window))
    if menu is not None:
        menu.addSeparator()
        menu.addAction(action)
    else:
        window.addAction(action)
    window.act_checked_export = action
    return action


def _export_menu(window: Any) -> QMenu | None:
    for action in getattr(window, "export_actions", {}).values():
        for widget in action.associatedObjects():
            if isinstance(widget, QMenu):
                return widget
    return None
