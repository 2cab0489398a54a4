"""Two `layerforge tune` processes share one study on a real PostgreSQL server.

`make test` starts a throwaway server (scripts/test-postgres.sh) and sets
LAYERFORGE_TEST_POSTGRES_URL; without it the test skips and says how to run it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

URL = os.environ.get("LAYERFORGE_TEST_POSTGRES_URL", "")

pytestmark = pytest.mark.skipif(
    not URL, reason="LAYERFORGE_TEST_POSTGRES_URL is not set: start a server with "
                    "`scripts/test-postgres.sh start` and export its URL (`make test` does both)")


def test_two_processes_share_one_postgres_study(tmp_path):
    import optuna

    name = f"shared-{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "-m", "layerforge.core.cli.main", "tune", "sequential-mlp",
               "--data", "sklearn:digits", "--epochs", "1",
               "--search", "dense.units=int:8:32:8", "--n-trials", "100", "--timeout", "2",
               "--storage", URL, "--study", name]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    procs = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = optuna.load_study(study_name=name, storage=URL).get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert numbers == list(range(len(trials)))  # no duplicates, none missing
    assert {t.user_attrs["pid"] for t in trials} == {p.pid for p in procs}
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    optuna.delete_study(study_name=name, storage=URL)


def test_two_processes_started_together_create_one_postgres_database(tmp_path):
    """Both create the tables and types of a new database at the same moment: the one that
    finds them made retries and joins (PostgreSQL reports "already exists" or a duplicate
    key where SQLite says "table studies already exists")."""
    import sqlalchemy
    from test_concurrent_studies import check_start, start_together

    name = f"new_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        url = sqlalchemy.engine.make_url(URL).set(database=name)
        storage = url.render_as_string(hide_password=False)
        check_start(storage, start_together(tmp_path, storage))
    finally:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
