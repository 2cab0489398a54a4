"""Golden files: the code generated for every template, byte for byte, and each one runs.

After an intended change of the generated code, regenerate them and review the diff:

    LAYERFORGE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/core/test_golden.py
"""

from __future__ import annotations

import difflib
import os
import runpy
from pathlib import Path

import pytest

from layerforge.core.analysis.shapes import ShapeEngine
from layerforge.core.codegen.model_code import generate
from layerforge.core.io.templates import load_template, template_names

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("LAYERFORGE_UPDATE_GOLDEN") == "1"
REGENERATE = "LAYERFORGE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/core/test_golden.py"
SLOW = {"dual-camera-xception"}  # builds Xception twice (about 10 s)


def golden_path(name: str) -> Path:
    return GOLDEN / f"{name}.py"


def templates(slow_marked: bool = False) -> list[object]:
    return [pytest.param(n, marks=pytest.mark.slow) if slow_marked and n in SLOW else n
            for n in template_names()]


@pytest.mark.parametrize("name", templates())
def test_generated_code_matches_golden(name: str) -> None:
    source = generate(load_template(name)).source
    path = golden_path(name)
    if UPDATE:
        path.write_text(source, encoding="utf-8", newline="\n")
    assert path.exists(), f"no golden file {path}; create it with: {REGENERATE}"
    expected = path.read_text(encoding="utf-8")
    if source != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), source.splitlines(True),
                                            f"golden/{name}.py", "generated"))
        pytest.fail(f"the generated code of template {name} differs from its golden file:\n"
                    f"{diff}\nIf the change is intended, regenerate with: {REGENERATE}")


def test_every_golden_file_has_a_template() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.py")) == sorted(template_names())


@pytest.mark.parametrize("name", templates(slow_marked=True))
def test_golden_builds_with_the_summary_param_count(name: str) -> None:
    """Each golden file runs as written and builds the model the live summary describes."""
    module = runpy.run_path(str(golden_path(name)), run_name="golden")
    model = module["build_model"]()
    doc = load_template(name)
    assert model.count_params() == ShapeEngine(doc).total_params()
    assert [t.name for t in doc.graph.outputs()] == list(model.output_names)
    compiled = module["compile_model"](model)
    assert compiled.optimizer is not None
