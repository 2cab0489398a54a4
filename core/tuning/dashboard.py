"""optuna-dashboard on a study's storage, for those who prefer it to our plots.

The dashboard runs as a process of its own, in a new session, so it outlives the study and
the command or app that started it (closing a terminal does not stop it either). Stop it
with ``kill PID`` (the pid is printed and shown beside the URL). Its output goes to
``dashboard.log`` beside the study's trial folders, so a server that will not start says
why there.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .results import TuningError

PACKAGE = "optuna-dashboard"
DEFAULT_PORT = 8080
START_WAIT_S = 15.0
# optuna_dashboard.run_server is its public API; its console script wraps a private module.
SERVER = "import sys, optuna_dashboard; optuna_dashboard.run_server(sys.argv[1], " \
         "host=sys.argv[2], port=int(sys.argv[3]))"


@dataclass
class Dashboard:
    url: str
    pid: int
    command: list[str]
    log: Path

    def describe(self) -> str:
        return f"optuna-dashboard at {self.url} (pid {self.pid}; stop it with: kill {self.pid})"


def dashboard_command(storage: str, host: str, port: int) -> list[str]:
    return [sys.executable, "-c", SERVER, storage, host, str(port)]


def check_installed() -> None:
    if importlib.util.find_spec("optuna_dashboard") is None:
        raise TuningError(f"the dashboard needs the {PACKAGE} package, which is not "
                          f"installed: pip install {PACKAGE}")


def free_port(host: str, preferred: int = DEFAULT_PORT) -> int:
    """``preferred`` when nothing listens there, else a port the system picks."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise TuningError(f"expected a free port on {host} for the dashboard; received none")


def start_dashboard(storage: str, log_folder: Path, host: str = "127.0.0.1",
                    port: int | None = None, wait_s: float = START_WAIT_S) -> Dashboard:
    """Start optuna-dashboard on ``storage``; returns once it answers on its port."""
    check_installed()
    port = free_port(host) if port is None else port
    command = dashboard_command(storage, host, port)
    log_folder.mkdir(parents=True, exist_ok=True)
    log = log_folder / "dashboard.log"
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TuningError(f"optuna-dashboard stopped at once (exit {process.returncode}) on "
                              f"{storage}: {_last_line(log)}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return Dashboard(f"http://{host}:{port}/", process.pid, command, log)
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise TuningError(f"expected optuna-dashboard to answer on {host}:{port} within "
                      f"{wait_s:g} s; it did not (its output: {log})")


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"
