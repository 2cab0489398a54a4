"""``layerforge diff A B`` as a user runs it: real processes, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from layerforge.core.io.project import dumps
from layerforge.core.io.templates import load_template


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "layerforge.core.cli.main", "diff", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def narrowed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """inception-module with branch_b_2's filters changed from 128 to 64, as a project file."""
    records = json.loads(dumps(load_template("inception-module")))
    for layer in records["graph"]["layers"]:
        if layer["name"] == "branch_b_2":
            layer["params"]["filters"] = 64
    path = tmp_path_factory.mktemp("diff") / "narrowed.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def test_text_names_the_change_and_the_parameter_totals(narrowed: Path) -> None:
    out = run("inception-module", str(narrowed))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "~ branch_b_2 (Conv2D)  filters: 128 \u2192 64  " \
           "params: 147,584 \u2192 73,792 (\u221273,792)" in lines
    assert lines[-1] == "total parameters: 541,568 \u2192 467,776 (\u221273,792)"
    assert not [line for line in lines if line[:2] in ("+ ", "- ", "> ")]


def test_json_gives_the_same_as_data(narrowed: Path) -> None:
    out = run(str(narrowed), "inception-module", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert (data["a"]["params"], data["b"]["params"], data["params_delta"]) == \
        (467_776, 541_568, 73_792)
    assert data["identical"] is False
    [changed] = data["graph"]["changed"]
    assert changed["name"] == "branch_b_2" and changed["params_delta"] == 73_792
    assert changed["changes"] == [{"field": "filters", "old": 64, "new": 128}]
    assert data["graph"]["added"] == data["graph"]["removed"] == data["graph"]["rewired"] == []


def test_a_project_against_itself_and_its_run_folder(narrowed: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "model.runs" / "20260101-000000-1"
    run_dir.mkdir(parents=True)
    (run_dir / "project.json").write_text(narrowed.read_text(encoding="utf-8"),
                                          encoding="utf-8")
    out = run(str(narrowed), str(run_dir))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[2:] == ["no differences",
                                           "total parameters: 467,776 (no change)"]


@pytest.mark.parametrize(("args", "message"), [
    (("inception-module", "no-such-template"), "expected a template name"),
    (("inception-module", "missing.keras"), "missing.keras: no such file"),
    (("missing.json", "inception-module"), "missing.json: no such file"),
])
def test_bad_input_is_one_message_and_exit_2(args: tuple[str, str], message: str) -> None:
    out = run(*args)
    assert out.returncode == 2
    assert out.stdout == ""
    [line] = out.stderr.strip().splitlines()
    assert line.startswith("layerforge: error: ") and message in line
