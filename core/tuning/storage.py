"""Where a study lives, and how trials of dead processes are found and queued again.

Storage: an SQLite file beside the project by default (``<stem>.optuna.db``), or any
SQLAlchemy URL (PostgreSQL...), so many processes on many machines join one study. A
trial whose process died is never lost: a dead process on this machine is seen at once
(its pid is recorded), one elsewhere when its heartbeat stops; either way the trial is
marked failed and queued again with the same parameters under a new number.
"""

from __future__ import annotations

import os
import random
import socket
import time
import warnings
from pathlib import Path
from typing import Any

from ..io.liveness import process_alive
from ..schema.errors import first_line
from ..training import runs
from .results import StudySummary, TuningError, summarize

HEARTBEAT_S = 10
GRACE_S = 30
OPEN_ATTEMPTS = 6
RETRY_S = 0.2  # the first wait; each next one is longer, with jitter
RACE_SIGNS = ("already exists", "duplicate", "database is locked")
DB_SUFFIX = ".optuna.db"
FINISHED = ("COMPLETE", "PRUNED", "FAIL")


# ------------------------------------------------------------------ storage
def default_storage(project: str | os.PathLike[str]) -> str:
    """``sqlite:///.../<stem>.optuna.db`` beside the project (a template: current folder)."""
    path = Path(project)
    return f"sqlite:///{path.with_name(path.stem + DB_SUFFIX).resolve()}"


def study_folder(project: str | os.PathLike[str], study_name: str) -> Path:
    return runs.runs_folder(project) / f"study-{study_name}"


def open_storage(url: str, heartbeat_interval: int = HEARTBEAT_S,
                 grace_period: int = GRACE_S) -> Any:
    """An Optuna RDB storage whose trials send heartbeats; a trial whose heartbeat stops
    for ``grace_period`` seconds is failed and queued again with the same parameters.
    Processes that open a new database together are retried until each one joins it."""
    engine: dict[str, Any] = {}
    if url.startswith("sqlite"):
        _check_sqlite_folder(url)
        engine["connect_args"] = {"timeout": 60}  # several processes write one file
    for attempt in range(OPEN_ATTEMPTS):
        try:
            return _rdb_storage(url, engine, heartbeat_interval, grace_period)
        except ImportError as exc:
            raise TuningError(f"the storage {url!r} needs a database driver that is not "
                              f"installed ({first_line(exc)}); for PostgreSQL: pip install "
                              "'psycopg[binary]'") from None
        except Exception as exc:  # SQLAlchemy reports bad URLs and dead servers many ways
            # processes opening a new database together race to create its tables: the
            # loser finds them made and joins on the next attempt
            if attempt + 1 < OPEN_ATTEMPTS and creation_race(exc):
                time.sleep(RETRY_S * (attempt + 1) * (1 + random.random()))
                continue
            raise TuningError(f"expected a storage URL that SQLAlchemy can open (e.g. "
                              f"sqlite:///study.db or postgresql://user@host/db); received "
                              f"{url!r} ({_cause(exc)})") from None
    raise AssertionError("unreachable")


def _check_sqlite_folder(url: str) -> None:
    """SQLite creates a missing file but not its folder, and then says only "unable to open
    database file"."""
    from sqlalchemy.engine import make_url  # lazy: SQLAlchemy only when a study is used

    try:
        database = make_url(url).database
    except Exception:  # a malformed URL is reported when the storage opens
        return
    if database and database != ":memory:" and not database.startswith("file:"):
        folder = Path(database).parent
        if not folder.is_dir():
            raise TuningError(f"expected a SQLite file in an existing folder; received {url!r}, "
                              f"whose folder {folder} does not exist")


def _rdb_storage(url: str, engine: dict[str, Any], heartbeat_interval: int,
                 grace_period: int) -> Any:
    import optuna  # lazy: Optuna only when a study is used

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url, engine_kwargs=engine, heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback())


def creation_race(exc: BaseException) -> bool:
    """Another process created the same tables, types or rows at the same moment (SQLite:
    "table studies already exists", "database is locked"; PostgreSQL: a duplicate key or
    type), seen directly or as the cause of Optuna's StorageInternalError."""
    from sqlalchemy import exc as sa  # lazy: SQLAlchemy only when a storage fails to open

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, sa.IntegrityError):
            return True
        if isinstance(seen, sa.OperationalError | sa.ProgrammingError) and any(
                sign in str(seen).lower() for sign in RACE_SIGNS):
            return True
        seen = seen.__cause__
    return False


def _cause(exc: BaseException) -> str:
    """The innermost error's type and first line (Optuna wraps SQLAlchemy's)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return f"{type(exc).__name__}: {first_line(exc)}"


# ------------------------------------------------------------------ dead trials
def trial_counts(study: Any) -> tuple[int, int, int]:
    """(finished, running, waiting) trials; a dead trial that was queued again counts once,
    as its re-run."""
    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    states = [t.state.name for t in trials if t.number not in retried]
    return (sum(s in FINISHED for s in states), states.count("RUNNING"),
            states.count("WAITING"))


def requeue_dead_trials(study: Any) -> list[int]:
    """Queue again the running trials of processes on this machine that no longer exist
    (killed mid-trial); other machines' dead trials are found by their heartbeat."""
    from optuna.trial import TrialState  # lazy: Optuna only when a study is used

    host = socket.gethostname()
    found = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        dead = trial.user_attrs.get("host") == host and isinstance(pid, int) \
            and not process_alive(pid)
        if dead and requeue_trial(study, trial.number, "its process ended mid-trial"):
            found.append(trial.number)
    return found


def requeue_trial(study: Any, number: int | None, why: str = "the study was stopped") -> bool:
    """Fail the trial (if still running) and queue a copy with the same parameters."""
    import optuna  # lazy: Optuna only when a study is used
    from optuna.trial import TrialState  # lazy: Optuna only when a study is used

    if number is None:
        return False
    trial = next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)
    if trial is None or trial.state not in (TrialState.RUNNING, TrialState.FAIL):
        return False
    storage = study._storage  # Optuna's public API has no "fail this trial" call
    if trial.state == TrialState.RUNNING:
        try:
            if not storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                return False
        except optuna.exceptions.UpdateFinishedTrialError:
            return False  # another process got there first
    retried = {n for t in study.get_trials(deepcopy=False)
               for n in t.system_attrs.get("retry_history", [])}
    if number in retried:
        return False
    _mark_run_folder(trial, f"{why}; its parameters were queued again")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.RetryHeartbeatStaleTrialCallback()(study, storage.get_trial(
            trial._trial_id))
    return True


def _mark_run_folder(trial: Any, message: str) -> None:
    folder = trial.user_attrs.get("run_dir")
    if folder and (Path(folder) / "status.json").exists():
        runs.finish_run(Path(folder), "failed", message)


# ------------------------------------------------------------------ reading a study
def load_summary(storage: str, study_name: str, metric: str = "val_loss") -> StudySummary:
    """Every trial of a stored study (the GUI's trials table reads this while it runs)."""
    import optuna  # lazy: Optuna only when a study is used

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    except KeyError:
        raise TuningError(f"expected a study named {study_name!r} in {storage}; it has "
                          f"{', '.join(optuna.get_all_study_names(storage)) or 'none'}") from None
    return summarize(study, storage, metric)


def param_importances(storage: str, study_name: str) -> dict[str, float]:
    """Each searched parameter's importance (fANOVA), from the study's completed trials."""
    import optuna  # lazy: Optuna only when a study is used

    study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    completed = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(completed) < 2:
        return {}
    return dict(optuna.importance.get_param_importances(study))
