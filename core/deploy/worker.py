"""A checked export in a child process, so the app's window stays responsive.

TensorFlow's converters hold the GIL for seconds at a time, so a thread would freeze the
window: the app starts one spawned child per export and sends it the project as records
(with its weights and the code its user trusts); the child puts one reply on a queue.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import traceback
from dataclasses import dataclass, field
from typing import Any

from ..document.document import Document
from ..document.records import from_records, to_records
from ..document.trust import trusted_code_keys
from ..schema.trust import guard_code, set_trusted_keys
from .check import export_checked
from .formats import DeployError, ExportOptions

REPORT, FAILURE, ERROR = "report", "failure", "error"


@dataclass
class ExportReply:
    """What the child answered: the report (as JSON), or a failure message with the
    converter's structured failure when it refused a layer."""

    kind: str  # report, failure or error
    report: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    failure: dict[str, Any] | None = None


def child_main(request: dict[str, Any], replies: Any) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    guard_code()  # only the code the parent's user trusts runs here
    set_trusted_keys(request["trusted"])
    replies.put(run_request(request))


def run_request(request: dict[str, Any]) -> ExportReply:
    try:
        doc = from_records(request["records"], "<export request>")
        doc.weights = request["weights"]
        options = ExportOptions(**request["options"])
        report = export_checked(doc, request["path"], options)
        return ExportReply(REPORT, report.to_json())
    except DeployError as exc:
        failure = exc.failure.to_json() if exc.failure is not None else None
        return ExportReply(FAILURE, message=str(exc), failure=failure)
    except Exception as exc:  # the reply must come back whatever went wrong
        return ExportReply(ERROR, message=f"{type(exc).__name__}: {exc}",
                           failure={"traceback": traceback.format_exc()})


def export_request(doc: Document, path: str, options: ExportOptions) -> dict[str, Any]:
    return {"records": to_records(doc), "weights": doc.weights, "path": path,
            "trusted": trusted_code_keys(doc),
            "options": {"format": options.format, "quantize": options.quantize,
                        "opset": options.opset}}


class ExportProcess:
    """One export in a spawned child; ``poll`` never blocks."""

    def __init__(self, doc: Document, path: str, options: ExportOptions) -> None:
        context = multiprocessing.get_context("spawn")  # never fork a process running Qt
        self._replies = context.Queue()
        self._process = context.Process(target=child_main, daemon=True, name="layerforge-export",
                                        args=(export_request(doc, path, options), self._replies))
        self.reply: ExportReply | None = None

    def start(self) -> None:
        self._process.start()

    def poll(self) -> ExportReply | None:
        """The reply once it has come (or a reply saying the child died without one)."""
        if self.reply is not None:
            return self.reply
        try:
            self.reply = self._replies.get_nowait()
        except queue.Empty:
            if not self._process.is_alive() and self._process.exitcode is not None:
                try:  # the reply may still be in the pipe as the child exits
                    self.reply = self._replies.get(timeout=0.5)
                except queue.Empty:
                    self.reply = ExportReply(ERROR, message="the export process ended "
                                             f"without a reply (exit {self._process.exitcode})")
        if self.reply is not None:
            self._process.join(timeout=5)
        return self.reply

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)
