"""Checked exports: SavedModel, TFLite and ONNX written, loaded back in their own runtimes
and compared with Keras; the layer a converter refuses named with its message; bad input."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from layerforge.core.deploy.check import export_checked
from layerforge.core.deploy.failures import failure_from, layer_in_message
from layerforge.core.deploy.formats import (
    DEPLOY_FORMATS,
    TOLERANCE,
    DeployError,
    ExportOptions,
    format_report,
)
from layerforge.core.deploy.samples import Samples, deploy_model
from layerforge.core.io.templates import load_template, template_names
from layerforge.core.io.weights import capture_weights

keras = pytest.importorskip("keras")

SUFFIX = {"savedmodel": "", "tflite": ".tflite", "onnx": ".onnx"}
# The formats that cannot express a layer of a template. Raw-string text processing
# (TextVectorization's string ops and lookup table) has no TFLite builtin or ONNX operator.
# Keras 3's LSTM traces to a while loop over tensor lists, which TFLite's builtins cannot
# lower (the converter's advice, Select TF ops, needs the Flex delegate, which neither
# TensorFlow's interpreter nor LiteRT here links).
REFUSED = {("text-classifier", "tflite"): ("text_vectorization", "StringLower"),
           ("text-classifier", "onnx"): ("text_vectorization", "LookupTableFindV2"),
           ("question-answering", "tflite"): ("encoded_question", "TensorListReserve"),
           ("siamese-lstm", "tflite"): ("lstm", "TensorListReserve")}


def check(template: str, fmt: str, tmp_path, **options):
    out = tmp_path / f"{template}{SUFFIX[fmt]}"
    report = export_checked(load_template(template), out, ExportOptions(fmt, **options))
    assert out.exists()
    assert report.size_bytes > 0 and report.samples == 32
    return report


@pytest.mark.parametrize("fmt", DEPLOY_FORMATS)
def test_sequential_mlp_exports_and_runs_back_like_keras(fmt, tmp_path):
    report = check("sequential-mlp", fmt, tmp_path)
    assert list(report.max_abs_diff) == ["predictions"]
    assert report.worst <= TOLERANCE and report.passed is True
    text = format_report(report)
    assert "max abs diff" in text and "result: pass" in text


def test_two_inputs_map_by_name_in_onnx(tmp_path):
    report = check("wide-and-deep", "onnx", tmp_path)
    assert report.passed is True


def test_three_outputs_keep_their_order_in_tflite(tmp_path):
    report = check("social-media-multi-output", "tflite", tmp_path)
    assert list(report.max_abs_diff) == ["age", "income", "gender"]
    assert report.passed is True


def test_the_export_carries_the_projects_weights(tmp_path):
    import onnxruntime

    doc = load_template("sequential-mlp")
    trained = deploy_model(doc)
    for layer in trained.layers:  # weights no fresh build would draw
        layer.set_weights([np.full(w.shape, 0.01 * (i + 1), "float32")
                           for i, w in enumerate(layer.get_weights())])
    doc.weights = capture_weights(trained, doc)
    out = tmp_path / "mlp.onnx"
    export_checked(doc, out, ExportOptions("onnx"))
    x = np.linspace(-1, 1, 64 * 4, dtype="float32").reshape(4, 64)
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, trained.predict(x, verbose=0), atol=1e-5)


def test_the_cli_exports_a_runs_best_checkpoint(tmp_path, capsys):
    import json

    import onnxruntime

    from layerforge.core.cli.main import main
    from layerforge.core.training.runs import finish_run, start_run

    doc = load_template("sequential-mlp")
    best = deploy_model(doc)
    for layer in best.layers:  # the run's "best" weights, unlike any fresh build
        layer.set_weights([np.full(w.shape, -0.02 * (i + 1), "float32")
                           for i, w in enumerate(layer.get_weights())])
    run_dir = tmp_path / "mlp.runs" / "20260101-000000-1"
    start_run(run_dir, doc, doc.training)
    best.save_weights(run_dir / "best.weights.h5")
    finish_run(run_dir, "completed")
    out = tmp_path / "best.onnx"
    assert main(["export", "sequential-mlp", "--format", "onnx", "-o", str(out), "--run",
                 str(run_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["passed"] is True
    x = np.linspace(-1, 1, 64 * 3, dtype="float32").reshape(3, 64)
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, best.predict(x, verbose=0), atol=1e-5)


def test_a_layer_tflite_cannot_express_is_named_with_the_converters_message(tmp_path):
    doc = load_template("text-classifier")
    out = tmp_path / "text.tflite"
    with pytest.raises(DeployError) as caught:
        export_checked(doc, out, ExportOptions("tflite"))
    failure = caught.value.failure
    assert failure is not None and failure.layer == "text_vectorization"
    layer = next(lay for lay in doc.graph.layers.values() if lay.name == failure.layer)
    assert failure.node_id == doc.graph.calls_of(layer.id)[0].id
    assert "StringLower" in failure.message  # the converter's own words
    assert str(caught.value).startswith("the tflite converter refused layer "
                                        "'text_vectorization': ")
    assert not out.exists() and list(tmp_path.iterdir()) == []  # nothing half-written


def test_converter_messages_name_the_projects_layer():
    doc = load_template("sequential-mlp")
    names = [lay.name for lay in doc.graph.layers.values()]
    tflite = (f'error: loc(callsite(fused["MatMul:", "mlp_1/{names[1]}_1/MatMul@__inference_'
              '__call___12"])): \'tf.MatMul\' op is neither a custom op nor a flex op')
    assert layer_in_message(doc, tflite)[2] == names[1]
    onnx = f"Failed to convert node 'model/{names[0]}/BiasAdd' (fct=None)"
    assert layer_in_message(doc, onnx)[2] == names[0]
    nameless = failure_from(doc, "onnx", "Unsupported ops: Counter({'Foo': 1})")
    assert nameless.layer is None and nameless.node_id is None
    assert "does not name" in nameless.describe()


# ------------------------------------------------------------------ bad input
def test_an_unknown_format_lists_the_known_ones():
    with pytest.raises(DeployError, match=r"expected a format among savedmodel, tflite, onnx; "
                                          r"received 'coreml'"):
        ExportOptions("coreml")
    with pytest.raises(DeployError, match="--quantize only with --format tflite"):
        ExportOptions("onnx", quantize="int8")


def test_a_missing_runtime_is_named_with_its_pip_package(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` fails
    with pytest.raises(DeployError) as caught:
        export_checked(load_template("sequential-mlp"), tmp_path / "m.onnx",
                       ExportOptions("onnx"))
    assert str(caught.value) == "onnxruntime is not installed: pip install onnxruntime"


def test_an_output_path_that_cannot_be_written_is_refused_before_building(tmp_path):
    with pytest.raises(DeployError, match="expected an output path in an existing folder"):
        export_checked(load_template("sequential-mlp"), tmp_path / "missing" / "m.onnx",
                       ExportOptions("onnx"))
    with pytest.raises(DeployError, match="expected a file path for a tflite export"):
        export_checked(load_template("sequential-mlp"), tmp_path, ExportOptions("tflite"))


# ------------------------------------------------------------------ quantised
def digits_images(size: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as RGB images of the template's size, in [0, 1]."""
    import tensorflow as tf
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype("float32")[..., None]
    resized = tf.image.resize(images, (size, size)).numpy()
    return np.repeat(resized, 3, axis=-1), digits.target.astype("int64")


def test_int8_tflite_of_separable_convnet_trained_on_digits_reports_size_and_accuracy(
        tmp_path):
    doc = load_template("separable-convnet")
    keras.utils.set_random_seed(0)
    model = deploy_model(doc)
    x, y = digits_images(model.inputs[0].shape[1])
    onehot = keras.utils.to_categorical(y, 10)
    order = np.random.default_rng(0).permutation(len(x))
    train, val = order[:600], order[1200:1500]
    # Briefly: this template's six separable ReLU layers (no normalisation) need many
    # epochs to leave chance on digits; the check measures whatever the weights are.
    model.fit(x[train], onehot[train], epochs=1, batch_size=32, verbose=0)
    doc.weights = capture_weights(model, doc)
    name = model.inputs[0].name
    samples = Samples({name: x[val][:32]}, "digits (validation)", {name: x[val]},
                      {"predictions": onehot[val]})
    report = export_checked(doc, tmp_path / "digits.tflite",
                            ExportOptions("tflite", quantize="int8"), samples=samples)
    assert report.float_size_bytes is not None
    assert 0 < report.size_bytes < report.float_size_bytes / 2  # int8 weights: ~1/4
    assert report.size_bytes == (tmp_path / "digits.tflite").stat().st_size
    accuracy = report.accuracy["predictions"]
    keras_right = np.mean(model.predict(x[val], verbose=0).argmax(-1) == y[val])
    assert accuracy["keras"] == pytest.approx(keras_right)  # the trained weights were used
    assert 0.0 <= accuracy["export"] <= 1.0 and accuracy["samples"] == 300
    assert accuracy["change"] == pytest.approx(accuracy["export"] - accuracy["keras"])
    assert abs(accuracy["change"]) < 0.1 and report.worst < 0.1
    assert report.passed is None and "accuracy" in format_report(report)
    print(f"\nseparable-convnet on digits: int8 {report.size_bytes} B vs float32 "
          f"{report.float_size_bytes} B; accuracy {accuracy['keras']:.4f} -> "
          f"{accuracy['export']:.4f} ({accuracy['change']:+.4f}); max abs diff "
          f"{report.worst:.3g}")


def test_a_quantised_export_measures_accuracy_on_the_projects_validation_data(tmp_path):
    from layerforge.core.schema.settings import DataSource
    from layerforge.core.training.data import load_training_data

    doc = load_template("sequential-mlp")  # 64 features, 10 classes: scikit-learn's digits
    doc.training.data = {
        "features": DataSource("sklearn", {"name": "digits", "part": "x", "scale": 1 / 16}),
        "predictions": DataSource("sklearn", {"name": "digits", "part": "y"})}
    doc.training.seed = 3  # the check splits off the validation data the test measures on
    keras.utils.set_random_seed(0)
    model = deploy_model(doc)
    data = load_training_data(doc, model, doc.training)
    model.fit(data.x["features"], data.y["predictions"], epochs=5, verbose=0)
    doc.weights = capture_weights(model, doc)
    report = export_checked(doc, tmp_path / "digits.tflite",
                            ExportOptions("tflite", quantize="int8"))
    assert report.data == "the project's validation data" and report.samples == 32
    accuracy = report.accuracy["predictions"]
    val_x, val_y = data.val_x["features"], data.val_y["predictions"]
    assert accuracy["samples"] == len(val_x)
    keras_right = np.mean(model.predict(val_x, verbose=0).argmax(-1) == val_y.argmax(-1))
    assert accuracy["keras"] == pytest.approx(keras_right) and keras_right > 0.8
    assert abs(accuracy["change"]) < 0.05
    assert "validation samples" in format_report(report)


# ------------------------------------------------------------------ every template
@pytest.mark.slow
@pytest.mark.parametrize("fmt", DEPLOY_FORMATS)
@pytest.mark.parametrize("template", template_names())
def test_every_template_exports_to_every_format(template, fmt, tmp_path):
    refused = REFUSED.get((template, fmt))
    if refused is not None:
        layer, words = refused
        with pytest.raises(DeployError) as caught:
            check(template, fmt, tmp_path)
        assert caught.value.failure.layer == layer
        assert words in caught.value.failure.message
        print(f"\n{template} {fmt}: refused: {caught.value}")
        return
    report = check(template, fmt, tmp_path)
    assert report.passed is True, format_report(report)
    print(f"\n{template} {fmt}: max abs diff {report.worst:.3g}, {report.size_bytes} B, "
          f"{report.seconds:.2f} s to write, {report.check_seconds:.2f} s to check")
