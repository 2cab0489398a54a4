"""`layerforge tune` killed with SIGKILL mid-trial, then started again on the same storage:
the trial's training process goes with it, every finished trial is kept with its value, the
killed trial is failed and its parameters queued again, and the study reaches its budget.
Trials train in child processes: tune itself never loads TensorFlow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

STUDY = "resume"
N_TRIALS = 2
# Tiny trials, long enough (a second or two of training) to be killed in the middle of one.
TUNE = ["tune", "sequential-mlp", "--data", "synthetic", "--samples", "256", "--batch-size",
        "8", "--epochs", "6", "--search", "dense.units=int:8:48:8", "--pruner", "none",
        "--seed", "0", "--n-trials", str(N_TRIALS), "--study", STUDY]


def environment() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def trials_of(storage: str) -> list:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        return optuna.load_study(study_name=STUDY, storage=storage).get_trials(deepcopy=False)
    except KeyError:  # not created yet
        return []


def children_of(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (psutil is not a dependency: /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # ended meanwhile
            # the command name, in parentheses, may hold spaces: the fields follow its end
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan is reaped by whatever adopts it, maybe late)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_study_killed_mid_trial_resumes_keeping_every_finished_trial(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    command = [sys.executable, "-m", "layerforge.core.cli.main", *TUNE, "--storage", storage]
    began = time.monotonic()
    proc = subprocess.Popen(command, cwd=tmp_path, env=environment(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)

    def one_done_next_training() -> bool:
        assert proc.poll() is None, f"tune ended early:\n{proc.communicate()[1][-2000:]}"
        trials = trials_of(storage)
        if not trials or trials[-1].state.name != "RUNNING" or "run_dir" not in \
                trials[-1].user_attrs:
            return False
        # the trial's training process writes status.json as its run starts
        started = (Path(trials[-1].user_attrs["run_dir"]) / "status.json").exists()
        return started and any(t.state.name == "COMPLETE" for t in trials)

    wait_for(one_done_next_training, 120, "a finished trial and the next one training")
    # the running trial's training process has its job (the spare for the next trial too)
    children = children_of(proc.pid)
    assert children, "the trial trains in a child process of tune"
    # tune itself loads no TensorFlow (the trial's result was read back without it)
    assert "tensorflow" not in (Path("/proc") / str(proc.pid) / "maps").read_text()
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    # one still importing TensorFlow (the next trial's) ends once the import is done
    wait_for(lambda: not any(running(pid) for pid in children), 120,
             f"the training processes {sorted(children)} to end with their parent")
    before = {t.number: (t.state.name, t.value, t.params) for t in trials_of(storage)}
    finished = {n: b for n, b in before.items() if b[0] == "COMPLETE"}
    killed = max(before)
    assert before[killed][0] == "RUNNING", before  # the kill left it running in the storage

    done = subprocess.run(command, cwd=tmp_path, env=environment(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    after = trials_of(storage)
    by_number = {t.number: t for t in after}
    for number, (_, value, params) in finished.items():  # kept as they were
        assert by_number[number].state.name == "COMPLETE"
        assert by_number[number].value == value and by_number[number].params == params
    assert by_number[killed].state.name == "FAIL"
    [rerun] = [t for t in after if t.system_attrs.get("failed_trial") == killed]
    assert rerun.state.name == "COMPLETE" and rerun.params == before[killed][2]
    assert sum(t.state.name == "COMPLETE" for t in after) == N_TRIALS
    assert [t.number for t in after] == list(range(len(after)))
    print(f"killed and resumed in {time.monotonic() - began:.1f}s")
