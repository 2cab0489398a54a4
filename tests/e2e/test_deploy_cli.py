"""``layerforge export --format savedmodel|tflite|onnx`` in a subprocess: the printed check,
and one clear message (exit 2) for an unknown format, a refused layer and a missing runtime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "layerforge.core.cli.main"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def run(args: list[str], cwd: Path, prefix: list[str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*(prefix or CLI), *args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=600, check=False)


def error_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("layerforge: error")]


def test_onnx_export_prints_its_check_as_json(tmp_path):
    out = tmp_path / "mlp.onnx"
    done = run(["export", "sequential-mlp", "--format", "onnx", "--opset", "13", "-o",
                str(out), "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["format"] == "onnx" and report["opset"] == 13 and report["samples"] == 32
    assert report["passed"] is True and report["max_abs_diff"]["predictions"] <= 1e-4
    assert report["size_bytes"] == out.stat().st_size > 0


def test_a_refused_layer_is_named_with_the_converters_message(tmp_path):
    out = tmp_path / "text.tflite"
    done = run(["export", "text-classifier", "--format", "tflite", "-o", str(out)], tmp_path)
    assert done.returncode == 2
    [line] = error_lines(done)
    assert line.startswith("layerforge: error: the tflite converter refused layer "
                           "'text_vectorization': ")
    assert "'tf.StringLower' op is neither a custom op nor a flex op" in line
    assert not out.exists()


def test_unknown_format_lists_the_known_ones(tmp_path):
    done = run(["export", "sequential-mlp", "--format", "coreml", "-o", "m"], tmp_path)
    assert done.returncode == 2
    [line] = [line for line in done.stderr.splitlines() if "invalid choice" in line]
    assert line.endswith("argument --format: invalid choice: 'coreml' (choose from "
                         + ", ".join(f"'{f}'" if "'" in line.split("choose from")[1] else f
                                     for f in ("py", "keras", "dot", "png", "svg",
                                               "savedmodel", "tflite", "onnx")) + ")")


def test_a_missing_runtime_names_its_pip_package(tmp_path):
    # The import of onnxruntime made to fail, as in an environment without it.
    prefix = [sys.executable, "-c",
              "import sys; sys.modules['onnxruntime'] = None; "
              "from layerforge.core.cli.main import main; sys.exit(main(sys.argv[1:]))"]
    done = run(["export", "sequential-mlp", "--format", "onnx", "-o", "m.onnx"], tmp_path,
               prefix)
    assert done.returncode == 2
    assert error_lines(done) == ["layerforge: error: onnxruntime is not installed: "
                                 "pip install onnxruntime"]


def test_an_output_folder_that_does_not_exist_is_refused(tmp_path):
    done = run(["export", "sequential-mlp", "--format", "tflite", "-o",
                str(tmp_path / "nowhere" / "m.tflite")], tmp_path)
    assert done.returncode == 2
    assert error_lines(done) == [f"layerforge: error: expected an output path in an existing "
                                 f"folder; received '{tmp_path / 'nowhere' / 'm.tflite'}' (no "
                                 f"folder {tmp_path / 'nowhere'})"]


def test_an_option_of_the_checked_exports_with_another_format_is_refused(tmp_path):
    done = run(["export", "sequential-mlp", "--format", "py", "--quantize", "int8"], tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert error_lines(done) == ["layerforge: error: --quantize applies to --format "
                                 "savedmodel/tflite/onnx: received --format py"]
