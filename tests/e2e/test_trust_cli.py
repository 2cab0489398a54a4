"""A project file's code runs on the command line only with --trust (issue 12, "Trust").

The payload is a Lambda expression that creates a file when it runs: without --trust no
command may create it; with --trust the model is built and checked as before.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from code_projects import lambda_project as save_lambda_project
from code_projects import touch_payload

from layerforge.core.schema.trust import UNTRUSTED_WARNING

PAYLOAD = touch_payload("PWNED")


def lambda_project(path: Path, expression: str = PAYLOAD, runs_code: bool | None = None) -> Path:
    return save_lambda_project(path, expression, runs_code)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from layerforge.core.cli.main import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "layerforge.core.cli.main", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def test_validate_runs_nothing_without_trust_and_checks_the_model_with_it(tmp_path):
    """Real processes: the file says it runs no code, and still nothing runs untrusted."""
    path = lambda_project(tmp_path / "p.json", runs_code=False)
    untrusted = run("validate", str(path), cwd=tmp_path)
    assert not (tmp_path / "PWNED").exists()
    assert untrusted.returncode == 1, untrusted.stderr
    assert UNTRUSTED_WARNING in untrusted.stdout
    assert "--trust" in untrusted.stderr and "'payload'" in untrusted.stderr
    assert "Traceback" not in untrusted.stderr

    trusted = run("validate", "--trust", str(path), cwd=tmp_path)
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert "valid: 1 layers" in trusted.stdout
    assert (tmp_path / "PWNED").exists()  # the code the user trusted did run


def test_summary_and_export_run_nothing_without_trust(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = str(lambda_project(tmp_path / "p.json"))

    code, out, err = cli(capsys, "summary", "--json", path)
    assert code == 0, err
    data = json.loads(out)
    assert data["outputs"][0]["shape"] is None and data["not_run"] == ["payload"]
    assert data["valid"] is False
    assert [d["message"] for d in data["diagnostics"]] == [
        UNTRUSTED_WARNING]
    assert [d["severity"] for d in data["diagnostics"]] == ["warning"]

    code, out, _ = cli(capsys, "export", path)  # text only: nothing runs, so it is allowed
    assert code == 0 and PAYLOAD in out
    for fmt in ("keras", "png"):
        code, _, err = cli(capsys, "export", path, "--format", fmt, "-o", f"m.{fmt}")
        assert code == 2
        assert f"export --format {fmt} builds the model" in err and "expected --trust" in err
        assert not (tmp_path / f"m.{fmt}").exists()
    assert not (tmp_path / "PWNED").exists()


def test_summary_and_export_work_with_trust(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = str(lambda_project(tmp_path / "p.json", "ops.concatenate([x, x], axis=-1)"))
    code, out, err = cli(capsys, "summary", "--json", "--trust", path)
    assert code == 0, err
    data = json.loads(out)
    assert data["outputs"][0]["shape"] == [None, 8] and data["valid"] is True
    assert "not_run" not in data and "warning" not in err
    code, _, err = cli(capsys, "export", "--trust", path, "--format", "keras", "-o", "m.keras")
    assert code == 0, err
    assert (tmp_path / "m.keras").exists()


@pytest.mark.parametrize("command", ["train", "tune"])
def test_training_refuses_untrusted_code_naming_the_flag(capsys, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    path = str(lambda_project(tmp_path / "p.json"))
    code, _, err = cli(capsys, command, path, "--epochs", "1")
    assert code == 2
    assert f"{command} builds the model" in err and "expected --trust" in err
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "p.runs").exists()


def test_a_command_leaves_the_process_unguarded(capsys, tmp_path):
    """main() guards only while a command runs: a library caller builds what it made."""
    from layerforge.core.schema.trust import code_guarded

    cli(capsys, "validate", str(lambda_project(tmp_path / "p.json", "x * 2")))
    assert not code_guarded()


def test_a_closed_pipe_ends_quietly():
    """`layerforge summary --json | head -1`: the reader leaves before the JSON is written."""
    process = subprocess.Popen(
        [sys.executable, "-m", "layerforge.core.cli.main", "summary", "--json", "sequential-mlp"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=300) == 141  # 128 + SIGPIPE, as a shell reports it
    assert "Traceback" not in err and "BrokenPipeError" not in err
