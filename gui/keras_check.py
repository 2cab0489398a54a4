"""Keras' verdict after every edit: the full check in the worker process, never on the UI.

After edits settle (a short debounce) the document goes to the pre-started worker process
(``core.check_worker``); at most one request is in flight, and edits made meanwhile are
sent as one newer request when its reply comes. Replies are polled by a timer, so the UI
never waits; the session drops a reply that an edit has made stale. The status text says
when the graph was last checked by Keras.
"""

from __future__ import annotations

import itertools
import os
import time

from PySide6.QtCore import QObject, QTimer, Signal

from layerforge.core.analysis.check_worker import CheckReply, CheckWorker
from layerforge.core.schema.trust import UNTRUSTED_CODE

from .session import EditorSession

DEBOUNCE_MS = 400
POLL_MS = 50
ENABLE_VARIABLE = "LAYERFORGE_KERAS_CHECK"
# Request numbers unique in this process: windows sharing a worker never take each other's
# replies (each session counts its own generations from 0).
_REQUEST_NUMBERS = itertools.count(1)


class KerasCheck(QObject):
    """Keeps the session's document checked by Keras; ``status_changed(text, tooltip)``."""

    status_changed = Signal(str, str)
    #: A reply the session accepted (it matched the document on screen).
    checked = Signal(object)

    def __init__(self, session: EditorSession, worker: CheckWorker, owns_worker: bool = True,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.worker = worker
        self.owns_worker = owns_worker
        self.in_flight: int | None = None  # the request sent and not answered yet
        self.in_flight_generation = -1  # the session's generation it carries
        self.sent_generation = -1
        self.checked_generation = -1  # the generation of the last reply the session accepted
        self.last_reply: CheckReply | None = None
        self.text = self.tooltip = ""
        self._restart_note = ""
        self._closed = False
        self._debounce = self._timer(DEBOUNCE_MS, single=True, slot=self.send_newest)
        self._poll = self._timer(POLL_MS, single=False, slot=self.poll)
        session.analysis_changed.connect(self._on_analysis)
        if not worker.started:
            worker.start()
        self._poll.start()  # until the worker reports that TensorFlow is imported
        self._say_waiting()

    def _say_waiting(self) -> None:
        if self.worker.ready:
            self._say("Keras check: ready", f"TensorFlow imported in "
                      f"{self.worker.import_seconds or 0:.1f} s; checks run after each edit")
        else:
            self._say("Keras check: starting", "The Keras check process is importing TensorFlow")

    def _timer(self, interval: int, single: bool, slot: object) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(single)
        timer.setInterval(interval)
        timer.timeout.connect(slot)
        return timer

    # ------------------------------------------------------------ requests
    def _on_analysis(self, _changed: object) -> None:
        if self.session.generation != self.sent_generation:
            self._debounce.start()  # restarts: only a pause in editing sends a request

    def send_newest(self) -> None:
        """Send the document as it is now, unless a request is still being checked."""
        self._debounce.stop()
        if self.in_flight is not None:
            return  # its reply sends the newest document
        if not self.worker.alive:
            self._restart_worker()
        self.in_flight = next(_REQUEST_NUMBERS)
        self.in_flight_generation = self.sent_generation = self.session.generation
        # The worker runs what may run here (the session trusts its typed code as it analyses).
        self.worker.submit(self.session.doc, self.in_flight)
        self._poll.start()
        if self.worker.ready:
            self._say("Keras check running…", "Keras is building the whole model")

    def _restart_worker(self) -> None:
        exitcode = self.worker.exitcode
        self.worker.restart()
        self.in_flight = None
        self._restart_note = (f"The Keras check process ended (exit code {exitcode}); it was "
                              f"restarted at {time.strftime('%H:%M:%S')}.")
        self._say_waiting()

    # ------------------------------------------------------------ replies
    def poll(self) -> None:
        was_ready, checked = self.worker.ready, self.checked_generation
        for reply in self.worker.poll():
            self._on_reply(reply)
        # A reply that came with the news of the import is what the status shows.
        if self.worker.ready and not was_ready and self.in_flight is None \
                and self.checked_generation == checked:
            self._say_waiting()
        if self.in_flight is not None and not self.worker.alive:
            self._restart_worker()
            self.send_newest()  # the request died with the process
        elif self.in_flight is None and self.worker.ready:
            self._poll.stop()

    def _on_reply(self, reply: CheckReply) -> None:
        if reply.generation != self.in_flight:
            return  # another window's request, or one lost with a restarted worker
        self.in_flight = None
        generation = self.in_flight_generation
        if self.session.accept_keras_check(generation, list(reply.diagnostics)):
            self.last_reply, self.checked_generation = reply, generation
            self._say_checked(reply)
            self.checked.emit(reply)
        if self.session.generation != generation:
            self.send_newest()  # edits came while Keras was busy: check the newest now

    def _say_checked(self, reply: CheckReply) -> None:
        stamp = time.strftime("%H:%M:%S")
        if reply.failure:
            self._say(f"Keras check failed {stamp}", f"The check itself failed: {reply.failure}")
            return
        if any(d.code == UNTRUSTED_CODE for d in reply.diagnostics):
            self._say(f"Keras check: not built {stamp}", "The project's Python code (Lambda "
                      "layers) is not trusted, so the model was not built: File → Trust "
                      "Project Code… runs it")
            return
        errors = reply.errors
        found = (f"found {len(errors)} error(s): " + errors[0].message) if errors \
            else "Keras builds the model"
        self._say(f"Checked by Keras {stamp}", f"Full check in {reply.seconds:.2f} s; {found}")

    def _say(self, text: str, tooltip: str) -> None:
        if self._restart_note:
            tooltip = f"{tooltip}\n{self._restart_note}"
        self.text, self.tooltip = text, tooltip
        self.status_changed.emit(text, tooltip)

    # ------------------------------------------------------------ closing
    def shutdown(self) -> None:
        """Stop checking; a worker this client started is killed at once."""
        if self._closed:
            return
        self._closed = True
        self._debounce.stop()
        self._poll.stop()
        self.session.analysis_changed.disconnect(self._on_analysis)
        if self.owns_worker:
            self.worker.stop()


def keras_check_enabled() -> bool:
    """Windows run the check unless LAYERFORGE_KERAS_CHECK=0 (the tests' default: one
    TensorFlow process per test window would be too slow)."""
    return os.environ.get(ENABLE_VARIABLE, "1") != "0"
