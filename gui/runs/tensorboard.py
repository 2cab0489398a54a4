"""Open a run's TensorBoard logs in the browser: ``tensorboard`` on localhost in a subprocess.

The launcher never blocks the event loop: it starts the server, polls its port on a
timer and emits ``opened(url)`` once the server answers (after handing the URL to the
opener, the system browser by default) or ``failed(message)`` with the reason. Servers
are reused per log folder and terminated when the application quits.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices

from layerforge.core.training import runs

START_TIMEOUT_S = 60.0
POLL_MS = 100
HOST = "127.0.0.1"
_ALL_SERVERS: list[_Server] = []  # every live server of the process, for the exit hook


def open_in_browser(url: str) -> None:
    QDesktopServices.openUrl(QUrl(url))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


def tensorboard_installed() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def has_event_files(logdir: Path) -> bool:
    return logdir.is_dir() and any(logdir.rglob("events.out.tfevents.*"))


class _Server:
    """One ``tensorboard`` process serving one log folder; its output goes to a temp file
    (a pipe nobody reads would fill up and block the server)."""

    def __init__(self, logdir: Path, port: int, python: str) -> None:
        self.logdir, self.port = logdir, port
        self.url = f"http://{HOST}:{port}/"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server)
        command = [python, "-m", "tensorboard.main", "--logdir", str(logdir),
                   "--port", str(port), "--host", HOST]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        self.started = time.monotonic()
        _ALL_SERVERS.append(self)

    def alive(self) -> bool:
        return self.process.poll() is None

    def output_tail(self, lines: int = 6) -> str:
        self.log.seek(0)
        text = self.log.read().decode("utf-8", errors="replace")
        return "\n".join(text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        with contextlib.suppress(OSError):
            self.log.close()
        if self in _ALL_SERVERS:
            _ALL_SERVERS.remove(self)


def stop_all_servers() -> None:
    for server in list(_ALL_SERVERS):
        server.stop()


atexit.register(stop_all_servers)  # also when the app ends without aboutToQuit


class TensorBoardLauncher(QObject):
    """``launch(run_dir)``; then ``opened(url)`` or ``failed(message)``."""

    opened = Signal(str)
    failed = Signal(str)

    def __init__(self, opener: Callable[[str], object] = open_in_browser,
                 python: str = sys.executable, timeout_s: float = START_TIMEOUT_S,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.opener, self.python, self.timeout_s = opener, python, timeout_s
        self.servers: dict[Path, _Server] = {}
        self.pending: list[_Server] = []
        self.timer = QTimer(self, interval=POLL_MS)
        self.timer.timeout.connect(self._poll)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop_all)

    def launch(self, run_dir: str | Path) -> bool:
        """Start (or reuse) a server for the run's logs; False with ``failed`` emitted when
        it cannot even start."""
        logdir = Path(run_dir) / runs.TENSORBOARD
        problem = self._launch_problem(logdir)
        if problem:
            self.failed.emit(problem)
            return False
        server = self.servers.get(logdir)
        if server is not None and server.alive():
            if server not in self.pending:
                self._open(server)
            return True
        try:
            server = _Server(logdir, free_port(), self.python)
        except OSError as exc:
            self.failed.emit(f"TensorBoard could not be started ({exc}).")
            return False
        self.servers[logdir] = server
        self.pending.append(server)
        self.timer.start()
        return True

    def _launch_problem(self, logdir: Path) -> str:
        if not tensorboard_installed():
            return ("TensorBoard is not installed in this Python environment; install it "
                    f"with: {self.python} -m pip install tensorboard")
        if not has_event_files(logdir):
            return (f"This run has no TensorBoard logs (expected event files under {logdir}). "
                    "Add the TensorBoard callback in the training settings and train again.")
        return ""

    def _poll(self) -> None:
        for server in list(self.pending):
            if port_answers(server.port):
                self.pending.remove(server)
                self._open(server)
            elif not server.alive():
                self._give_up(server, f"TensorBoard exited with code {server.process.returncode}"
                                      f" before serving {server.url}:\n{server.output_tail()}")
            elif time.monotonic() - server.started > self.timeout_s:
                server.stop()
                self._give_up(server, f"TensorBoard did not answer at {server.url} within "
                                      f"{self.timeout_s:.0f} s:\n{server.output_tail()}")
        if not self.pending:
            self.timer.stop()

    def _open(self, server: _Server) -> None:
        self.opener(server.url)
        self.opened.emit(server.url)

    def _give_up(self, server: _Server, message: str) -> None:
        self.pending.remove(server)
        self.servers.pop(server.logdir, None)
        server.stop()
        self.failed.emit(message)

    def stop_all(self) -> None:
        self.timer.stop()
        self.pending.clear()
        for server in self.servers.values():
            server.stop()
        self.servers.clear()
