"""The training fault table: `layerforge train` in subprocesses, one fault each.

For every fault: the exit code, one `layerforge:` line on stderr (no traceback), what
status.json says and which checkpoint is left. The runs start together (each imports
TensorFlow for seconds) and each test reads its row.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0  # chmod does not stop root
WAIT_S = 120


@dataclass
class Outcome:
    code: int
    stderr: str
    run_dir: Path
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> dict:
        return json.loads((self.run_dir / "status.json").read_text())

    @property
    def history(self) -> dict:
        path = self.run_dir / "history.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def one_line(self) -> str:
        assert "Traceback" not in self.stderr, self.stderr
        lines = [line for line in self.stderr.splitlines() if line.startswith("layerforge:")]
        assert len(lines) == 1, self.stderr
        return lines[0]


def epochs_written(run_dir: Path) -> int:
    try:
        return len(json.loads((run_dir / "history.json").read_text()).get("epoch", []))
    except (OSError, ValueError):
        return 0


def wait_for_epochs(proc: subprocess.Popen, run_dir: Path, count: int) -> None:
    deadline = time.monotonic() + WAIT_S
    while epochs_written(run_dir) < count:
        assert proc.poll() is None, "the run ended before the fault was made"
        assert time.monotonic() < deadline
        time.sleep(0.02)


# ------------------------------------------------------------------ the faults
@dataclass
class Fault:
    args: Callable[[Path], list[str]]
    during: Callable[[subprocess.Popen, Path, Outcome], None] | None = None
    run_dir: Callable[[Path], Path] = lambda tmp: tmp / "run"


def npz(tmp: Path, x: np.ndarray) -> str:
    path = tmp / "data.npz"
    np.savez(path, x=x.astype("float32"), y=np.arange(len(x)) % 10)
    return str(path)


def nan_data(tmp: Path) -> list[str]:
    x = np.random.default_rng(0).random((32, 64))
    x[2, 3] = np.nan
    return ["--data", npz(tmp, x), "--epochs", "2"]


def nan_loss(tmp: Path) -> list[str]:  # finite data whose products overflow float32
    return ["--data", npz(tmp, np.full((32, 64), 3e38)), "--epochs", "2"]


def long_run(tmp: Path) -> list[str]:
    return ["--samples", "16", "--batch-size", "8", "--epochs", "100000"]


def interrupt(proc: subprocess.Popen, run_dir: Path, outcome: Outcome) -> None:
    wait_for_epochs(proc, run_dir, 2)
    proc.send_signal(signal.SIGINT)


def break_mid_run(proc: subprocess.Popen, run_dir: Path, outcome: Outcome) -> None:
    """The folder stops taking writes after an epoch: read-only, or (root ignores modes) a
    folder where the next history is written first, so it cannot be written."""
    wait_for_epochs(proc, run_dir, 1)
    if AS_ROOT:
        while True:  # the run's own temporary file may exist for a moment
            try:
                (run_dir / "history.json.tmp").mkdir()
                break
            except FileExistsError:
                time.sleep(0.001)
        outcome.notes.append("root: history.json.tmp made a folder")
    else:
        run_dir.chmod(0o500)
        outcome.notes.append("run folder made read-only")


def bound_to_missing_file(tmp: Path) -> list[str]:
    template = json.loads((resources.files("layerforge.templates") / "sequential-mlp.json")
                          .read_text(encoding="utf-8"))
    template["training"]["data"] = {"features": {"kind": "npy",
                                                 "params": {"path": str(tmp / "gone.npy")}}}
    (tmp / "bound.json").write_text(json.dumps(template), encoding="utf-8")
    return ["--epochs", "1"]


def blocked_run_dir(tmp: Path) -> Path:
    """A run folder that cannot be created: under a file (root), or in a read-only folder."""
    if AS_ROOT:
        (tmp / "blocker").write_text("a file, not a folder")
        return tmp / "blocker" / "run"
    (tmp / "locked").mkdir()
    (tmp / "locked").chmod(0o500)
    return tmp / "locked" / "run"


FAULTS = {
    "nan_data": Fault(nan_data),
    "nan_loss": Fault(nan_loss),
    "sigint_after_2_epochs": Fault(long_run, interrupt),
    "missing_bound_file": Fault(bound_to_missing_file),
    "unwritable_run_dir": Fault(lambda tmp: ["--epochs", "1", "--samples", "8"],
                                run_dir=blocked_run_dir),
    "unwritable_mid_run": Fault(long_run, break_mid_run),
}


def run_fault(name: str, fault: Fault, tmp: Path) -> Outcome:
    tmp.mkdir()
    run_dir = fault.run_dir(tmp)
    args = fault.args(tmp)
    project = str(tmp / "bound.json") if (tmp / "bound.json").exists() else "sequential-mlp"
    proc = subprocess.Popen(
        [sys.executable, "-m", "layerforge.core.cli.main", "train", project, "--seed", "1",
         "--run-dir", str(run_dir), *args], cwd=tmp, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    outcome = Outcome(0, "", run_dir)
    try:
        if fault.during is not None:
            fault.during(proc, run_dir, outcome)
        _, outcome.stderr = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if run_dir.exists():
            run_dir.chmod(0o700)
    outcome.code = proc.returncode
    return outcome


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome | BaseException]:
    base = tmp_path_factory.mktemp("faults")
    found: dict[str, Outcome | BaseException] = {}

    def one(name: str, fault: Fault) -> None:
        try:
            found[name] = run_fault(name, fault, base / name)
        except BaseException as exc:  # reported by that row's test
            found[name] = exc

    threads = [threading.Thread(target=one, args=item) for item in FAULTS.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    yield found
    for path in base.rglob("*"):
        if path.is_dir():
            path.chmod(0o700)
    shutil.rmtree(base, ignore_errors=True)


def row(table: dict[str, Outcome | BaseException], name: str) -> Outcome:
    found = table[name]
    if isinstance(found, BaseException):
        raise found
    return found


# ------------------------------------------------------------------ the rows
def test_nan_data_is_refused_naming_the_input_and_its_counts(table):
    out = row(table, "nan_data")
    line = out.one_line()
    assert out.code == 1
    assert "input 'features'" in line and "1 NaN and 0 Inf" in line and "--allow-nan" in line
    assert f"details in {out.run_dir / 'status.json'}" in line
    assert out.status["status"] == "failed" and "1 NaN" in out.status["message"]
    assert not (out.run_dir / "best.keras").exists() and out.history == {}


def test_nan_loss_fails_the_run_and_keeps_no_nan_checkpoint(table):
    out = row(table, "nan_loss")
    line = out.one_line()
    became = ("the loss became", "the weights became NaN or Inf")
    assert out.code == 1 and any(text in line for text in became)
    assert out.status["status"] == "failed"
    assert any(text in out.status["message"] for text in became)
    assert not (out.run_dir / "best.keras").exists()


def test_sigint_after_two_epochs_keeps_the_best_checkpoint_and_the_true_count(table):
    out = row(table, "sigint_after_2_epochs")
    assert out.code == 130 and "Traceback" not in out.stderr
    epochs = len(out.history["epoch"])
    assert epochs >= 2
    assert f"stopped: {epochs} epoch(s)" in out.stderr
    assert out.status["status"] == "stopped"
    assert out.status["message"] == f"stopped after {epochs} epoch(s)"
    assert (out.run_dir / "best.keras").exists()


def test_a_missing_bound_file_fails_the_run_naming_input_and_path(table):
    out = row(table, "missing_bound_file")
    line = out.one_line()
    assert out.code == 1 and "input 'features'" in line and "gone.npy" in line
    assert out.status["status"] == "failed" and "gone.npy" in out.status["message"]
    assert not (out.run_dir / "best.keras").exists()


def test_an_unwritable_run_dir_fails_in_one_line_naming_no_unwritten_file(table):
    out = row(table, "unwritable_run_dir")
    line = out.one_line()
    assert out.code == 1 and "training failed" in line
    assert "details in" not in line and "could not be written" in line
    assert not (out.run_dir / "status.json").exists()


def test_a_run_dir_that_becomes_unwritable_mid_run_ends_failed(table):
    out = row(table, "unwritable_mid_run")
    line = out.one_line()
    assert out.code == 1 and "training failed" in line, out.notes
    assert f"details in {out.run_dir / 'status.json'}" in line
    status = out.status
    assert status["status"] == "failed" and "Error" in status["message"], out.notes
    assert status["finished"]


# ------------------------------------------------------------------ refused before training
def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "layerforge.core.cli.main", "train", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=60)


def test_a_missing_data_file_is_refused_before_any_run_folder(tmp_path):
    done = cli("sequential-mlp", "--data", str(tmp_path / "missing.npz"), cwd=tmp_path)
    out = Outcome(done.returncode, done.stderr, tmp_path)
    assert done.returncode == 2 and "missing.npz" in out.one_line()
    assert "not found" in out.one_line()
    assert not list(tmp_path.iterdir())  # no run folder was made


def test_a_runs_folder_that_cannot_be_created_is_one_line(tmp_path):
    project = tmp_path / "p.json"
    shutil.copy(resources.files("layerforge.templates") / "sequential-mlp.json", project)
    (tmp_path / "p.runs").write_text("a file where the runs folder would go")
    done = cli(str(project), "--epochs", "1", cwd=tmp_path)
    line = Outcome(done.returncode, done.stderr, tmp_path).one_line()
    assert done.returncode == 2 and "p.runs" in line and "run folder" in line
