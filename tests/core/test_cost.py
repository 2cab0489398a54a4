"""The cost of a model: FLOPs per sample counted per layer from the live shapes agree with a
hand count (the formulas are written out here, from the known shapes), the summary prints
the totals and the memory of the weights, an uncountable layer is unknown (not 0), and the
latency is measured on demand.

Convention (core/analysis/flops.py): 1 multiply-add = 2 FLOPs, bias adds 1 per output
element, a fused activation 1 per element (softmax 3).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from layerforge.core.analysis.cost import Cost, layer_costs, model_cost
from layerforge.core.analysis.shapes import ShapeEngine
from layerforge.core.analysis.summary import format_summary, summarize
from layerforge.core.cli import main as cli
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.io.keras_import.files import import_file
from layerforge.core.io.templates import load_template
from layerforge.core.schema.errors import LayerForgeError
from layerforge.core.training.latency import measure_latency

keras = pytest.importorskip("keras")


def close(counted: int | None, hand: int) -> bool:
    return counted is not None and abs(counted - hand) <= 0.01 * hand


def by_name(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in data["layers"]}


# ------------------------------------------------------------ residual-projection
def test_residual_projection_flops_match_a_hand_count():
    data = summarize(load_template("residual-projection"))
    rows = by_name(data)
    # conv2d: 3x3, 64 -> 128 channels on 32x32 ("same"), bias, relu
    conv2d = 2 * 32 * 32 * 128 * (3 * 3 * 64) + 32 * 32 * 128 + 32 * 32 * 128
    # conv2d_1: 3x3, 128 -> 128 on 32x32, bias, relu
    conv2d_1 = 2 * 32 * 32 * 128 * (3 * 3 * 128) + 32 * 32 * 128 + 32 * 32 * 128
    # residual: 1x1 stride 2, 64 -> 128, output 16x16, bias, no activation
    residual = 2 * 16 * 16 * 128 * (1 * 1 * 64) + 16 * 16 * 128
    for name, hand in (("conv2d", conv2d), ("conv2d_1", conv2d_1), ("residual", residual)):
        assert close(rows[name]["flops"], hand), (name, rows[name]["flops"], hand)
    pooling = 16 * 16 * 128 * (2 * 2)  # one comparison per window element of each output
    add = 16 * 16 * 128
    assert close(data["flops"], conv2d + conv2d_1 + residual + pooling + add)
    assert "flops_unknown" not in data
    assert data["weights_bytes"] == data["params"] * 4  # float32
    text = format_summary(data)
    assert "FLOPs per sample: 458 MFLOPs" in text
    assert f"Weights memory: 898 KiB ({data['params'] * 4:,} bytes)" in text
    assert f"{rows['conv2d_1']['flops']:,}" in text  # the per-layer column


# ------------------------------------------------------------ MobileNetV2, imported
def hand_count(layer: Any) -> int | None:
    """FLOPs per sample of one Keras conv or dense layer, from its own shapes and config."""
    if not isinstance(layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D
                      | keras.layers.Dense):
        return None
    config = layer.get_config()
    out = layer.output.shape[1:]
    inp = layer.input.shape[1:]
    outputs = 1
    for d in out:
        outputs *= d
    activation = {"linear": 0, "softmax": 3}.get(config.get("activation") or "linear", 1)
    tail = (outputs if config.get("use_bias") else 0) + activation * outputs
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = config["kernel_size"]
        return 2 * out[0] * out[1] * out[2] * kh * kw + tail
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = config["kernel_size"]
        return 2 * out[0] * out[1] * out[2] * kh * kw * inp[2] // config["groups"] + tail
    if isinstance(layer, keras.layers.Dense):
        return 2 * inp[-1] * out[-1] + tail
    return None


def test_imported_mobilenet_v2_flops_match_a_hand_count(tmp_path: Path):
    model = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), alpha=0.35)
    path = tmp_path / "mobilenet_v2.keras"
    model.save(path)
    data = summarize(import_file(path).doc)
    rows = by_name(data)
    counted = 0
    for layer in model.layers:
        hand = hand_count(layer)
        if hand is None:
            continue
        counted += 1
        assert close(rows[layer.name]["flops"], hand), (layer.name, rows[layer.name], hand)
    assert counted == 35 + 17 + 1  # every Conv2D, DepthwiseConv2D and the Dense
    assert "flops_unknown" not in data
    assert data["flops"] == sum(row["flops"] for row in data["layers"])
    assert data["weights_bytes"] == model.count_params() * 4


# ------------------------------------------------------------ more layer kinds
def single_layer(inputs: list[tuple[list[int | None], str, Any]], class_name: str,
                 params: dict[str, Any], *after: tuple[str, str, dict[str, Any]]
                 ) -> tuple[Document, str]:
    """A document of inputs (shape, dtype, slot) -> one layer named "layer" -> the layers
    ``after`` (class, name, params) in a chain -> an output; and the layer's node id."""
    doc = Document()
    layer = edits.add_layer(doc, class_name, params, name="layer")
    layer.redo(doc)
    for i, (shape, dtype, slot) in enumerate(inputs):
        node = edits.add_input(doc, shape, name=f"x{i}", dtype=dtype)
        node.redo(doc)
        edits.connect(doc, node.node.id, layer.node.id, dst_slot=slot).redo(doc)
    last = layer.node.id
    for next_class, name, next_params in after:
        step = edits.add_layer(doc, next_class, next_params, name=name)
        step.redo(doc)
        edits.connect(doc, last, step.node.id).redo(doc)
        last = step.node.id
    out = edits.add_output(doc, name="y")
    out.redo(doc)
    edits.connect(doc, last, out.node.id).redo(doc)
    return doc, layer.node.id


def lstm(steps: int, features: int, units: int) -> int:
    gates = 2 * 4 * units * (features + units) + 4 * units  # matrix products, bias
    return steps * (gates + 4 * units + 5 * units)  # gate activations, state update


F = "float32"
CASES = [
    ("Dense", [([5, 8], F, 0)], {"units": 4}, 2 * 5 * 8 * 4 + 5 * 4),
    ("Conv1D", [([10, 4], F, 0)], {"filters": 8, "kernel_size": 3, "groups": 2},
     2 * 8 * 8 * 3 * (4 // 2) + 8 * 8),
    ("Conv3D", [([4, 4, 4, 2], F, 0)], {"filters": 3, "kernel_size": 2},
     2 * 27 * 3 * (2 * 2 * 2 * 2) + 27 * 3),
    ("Conv2D", [([9, 9, 2], F, 0)], {"filters": 3, "kernel_size": 3, "dilation_rate": 2},
     2 * 5 * 5 * 3 * (3 * 3 * 2) + 5 * 5 * 3),
    ("Conv2DTranspose", [([8, 8, 3], F, 0)],
     {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"},
     2 * 8 * 8 * 3 * (3 * 3) * 4 + 16 * 16 * 4),
    ("SeparableConv2D", [([10, 10, 3], F, 0)],
     {"filters": 8, "kernel_size": 3, "depth_multiplier": 2},
     2 * 8 * 8 * (3 * 2 * 3 * 3 + 3 * 2 * 8) + 8 * 8 * 8),
    ("SeparableConv1D", [([10, 3], F, 0)], {"filters": 8, "kernel_size": 3},
     2 * 8 * (3 * 3 + 3 * 8) + 8 * 8),
    ("DepthwiseConv1D", [([10, 4], F, 0)], {"kernel_size": 3}, 2 * 8 * 4 * 3 + 8 * 4),
    ("DepthwiseConv2D", [([6, 6, 4], F, 0)], {"kernel_size": 3, "depth_multiplier": 2},
     2 * 4 * 4 * 8 * 9 + 4 * 4 * 8),
    ("BatchNormalization", [([4, 4, 3], F, 0)], {}, 2 * 48),
    ("LayerNormalization", [([6, 5], F, 0)], {}, 7 * 30),
    ("MaxPooling2D", [([4, 4, 3], F, 0)], {"pool_size": 2}, 2 * 2 * 3 * 4),
    ("AveragePooling1D", [([8, 3], F, 0)], {"pool_size": 2}, 4 * 3 * 2),
    ("GlobalAveragePooling2D", [([4, 4, 3], F, 0)], {}, 48),
    ("Add", [([4], F, 0), ([4], F, 1)], {}, 4),
    ("Average", [([4], F, 0), ([4], F, 1), ([4], F, 2)], {}, 3 * 4),
    ("Concatenate", [([4], F, 0), ([4], F, 1)], {}, 0),
    ("Embedding", [([6], "int32", 0)], {"input_dim": 100, "output_dim": 8}, 0),
    ("Dropout", [([10], F, 0)], {"rate": 0.5}, 0),
    ("ReLU", [([10], F, 0)], {}, 10),
    ("Softmax", [([10], F, 0)], {}, 30),
    ("Activation", [([10], F, 0)], {"activation": "tanh"}, 10),
    ("LSTM", [([6, 5], F, 0)], {"units": 7}, lstm(6, 5, 7)),
    ("GRU", [([6, 5], F, 0)], {"units": 7},  # reset_after: two biases
     6 * (2 * 3 * 7 * (5 + 7) + 2 * 3 * 7 + 3 * 7 + 5 * 7)),
    ("SimpleRNN", [([6, 5], F, 0)], {"units": 7}, 6 * (2 * 7 * (5 + 7) + 7 + 7)),
    ("Bidirectional", [([6, 5], F, 0)],
     {"layer": {"class_name": "LSTM", "params": {"units": 7}}}, 2 * lstm(6, 5, 7)),
    ("TimeDistributed", [([6, 5], F, 0)],
     {"layer": {"class_name": "Dense", "params": {"units": 4}}}, 6 * (2 * 5 * 4 + 4)),
    ("MultiHeadAttention", [([4, 8], F, "query"), ([6, 8], F, "value")],
     {"num_heads": 2, "key_dim": 3},
     2 * (4 * 8 * 2 * 3 + 6 * 8 * 2 * 3 + 6 * 8 * 2 * 3  # query, key, value projections
          + 2 * 4 * 6 * 3 + 2 * 4 * 6 * 3  # scores, weighted sum
          + 4 * 2 * 3 * 8)  # output projection
     + (4 * 6 + 6 * 6 + 6 * 6 + 4 * 8)  # biases
     + 4 * 6  # the query's scaling
     + 3 * 2 * 4 * 6),  # softmax over the scores
]


@pytest.mark.parametrize("class_name, inputs, params, hand", CASES,
                         ids=[c[0] for c in CASES])
def test_layer_flops_match_a_hand_count(class_name, inputs, params, hand):
    doc, node_id = single_layer(inputs, class_name, params)
    engine = ShapeEngine(doc)
    assert engine.diagnostics() == []
    cost = layer_costs(engine)[doc.graph.layer_of(node_id).id]
    assert cost.known and cost.flops == hand


def test_an_uncountable_layer_is_unknown_and_the_total_a_lower_bound():
    doc, _ = single_layer([([8], F, 0)], "EinsumDense",
                          {"equation": "ab,bc->ac", "output_shape": 4},
                          ("Dense", "head", {"units": 2}))
    data = summarize(doc)
    rows = by_name(data)
    assert rows["layer"]["flops"] is None and rows["layer"]["flops_unknown"] == ["layer"]
    assert rows["head"]["flops"] == 2 * 4 * 2 + 2
    assert data["flops"] == 2 * 4 * 2 + 2 and data["flops_unknown"] == ["layer"]
    text = format_summary(data)
    assert "FLOPs per sample: ≥ 18 FLOPs (1 layer unknown); not counted: layer" in text


def test_a_nested_model_costs_the_sum_of_its_inner_layers(tmp_path: Path):
    inputs = keras.Input((8,), name="x")
    inner = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(4)], name="encoder")
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inner(inputs)))
    path = tmp_path / "nested.keras"
    model.save(path)
    doc = import_file(path).doc
    assert doc.blocks  # the nested model is a block
    rows = by_name(summarize(doc))
    assert rows["encoder"]["flops"] == (2 * 8 * 16 + 16 + 16) + (2 * 16 * 4 + 4)
    assert model_cost(ShapeEngine(doc)) == Cost((2 * 8 * 16 + 32) + (2 * 16 * 4 + 4)
                                                + (2 * 4 * 2 + 2))


def test_an_open_sequence_length_leaves_a_recurrent_layer_unknown():
    doc, _ = single_layer([([None, 5], F, 0)], "LSTM", {"units": 7})
    cost = model_cost(ShapeEngine(doc))
    assert not cost.known and cost.unknown == ("layer",)
    assert cost.text() == "unknown"


def test_mixed_precision_keeps_four_bytes_per_weight():
    doc, _ = single_layer([([8], F, 0)], "Dense", {"units": 4})
    doc.training.mixed_precision = True  # mixed_float16 computes in float16, keeps float32
    data = summarize(doc)
    assert data["weights_bytes"] == (8 * 4 + 4) * 4


# ------------------------------------------------------------ the command and latency
def test_summary_json_and_latency_from_the_command_line(capsys):
    assert cli.main(["summary", "sequential-mlp", "--json", "--latency", "--batch-size", "8",
                     "--repeats", "3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["flops"] == (2 * 64 * 32 + 32 + 32) + (2 * 32 * 32 + 32 + 32) \
        + (2 * 32 * 10 + 10 + 3 * 10)
    assert data["weights_bytes"] == 3466 * 4
    latency = data["latency"]
    assert latency["batch_size"] == 8 and latency["repeats"] == 3
    assert 0 < latency["min_ms"] <= latency["median_ms"]
    assert latency["median_ms_per_sample"] == pytest.approx(latency["median_ms"] / 8)


def test_measure_latency_times_a_tiny_model():
    doc, _ = single_layer([([6], F, 0)], "Dense", {"units": 3})
    result = measure_latency(doc, batch_size=4, repeats=3)
    assert result["median_ms"] > 0 and result["min_ms"] > 0
    assert result["min_ms_per_sample"] == pytest.approx(result["min_ms"] / 4)
    assert result["input_shapes"] == {"x0": [6]}
    assert result["device"] in ("CPU",) or result["device"].startswith("GPU")


def test_bad_latency_settings_get_one_clear_message():
    doc, _ = single_layer([([6], F, 0)], "Dense", {"units": 3})
    with pytest.raises(LayerForgeError, match="expected a batch size of at least 1; "
                                              "received 0"):
        measure_latency(doc, batch_size=0)
