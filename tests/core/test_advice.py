"""The chapter's advice as hints: one small graph per hint, its fix applied and undone, and
the hints that fire on the book's own models (the templates)."""

from __future__ import annotations

import json

import pytest

from layerforge.core.analysis import advice
from layerforge.core.analysis.shapes import ShapeEngine
from layerforge.core.analysis.summary import summarize
from layerforge.core.cli.main import main
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.advice_fixes import fix_command, silence, unsilence_all
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.graph_commands import Disconnect
from layerforge.core.io.project import dumps, loads, save
from layerforge.core.io.templates import load_template, template_names
from layerforge.core.schema.diagnostics import Diagnostic
from layerforge.core.schema.records import CallNode
from layerforge.core.training.runs import new_run_dir, runs_folder, write_history, write_status


def state(doc: Document) -> str:
    return dumps(doc)


def chain(doc: Document, stack: UndoStack, shape: list[int | None], *layers: tuple[str, dict]
          ) -> list[str]:
    ids = [stack.push(edits.add_input(doc, shape, name="x")).node.id]
    for class_name, params in layers:
        node = stack.push(edits.add_layer(doc, class_name, params)).node.id
        stack.push(edits.connect(doc, ids[-1], node))
        ids.append(node)
    out = stack.push(edits.add_output(doc, name="out", loss="mse")).node.id
    stack.push(edits.connect(doc, ids[-1], out))
    return [*ids, out]


def hints_of(doc: Document, losses: dict[str, float] | None = None) -> list[Diagnostic]:
    engines: dict[str, ShapeEngine] = {}
    return advice.hints(doc, lambda key: engines.setdefault(key, ShapeEngine(doc, key)), losses)


def kinds(doc: Document) -> list[str]:
    return [h.code for h in hints_of(doc)]


def apply_and_undo(doc: Document, stack: UndoStack, hint: Diagnostic) -> None:
    """The fix makes the hint go, one undo brings the document back exactly."""
    before = state(doc)
    assert hint.fix is not None
    stack.push(fix_command(doc, hint.fix, hint.graph_key))
    assert hint.code not in kinds(doc)
    stack.undo()
    assert state(doc) == before
    assert hint.code in kinds(doc)
    stack.redo()


def test_bias_before_batch_norm_is_wasted_and_the_fix_drops_it(doc, stack):
    ids = chain(doc, stack, [16], ("Dense", {"units": 8}), ("BatchNormalization", {}))
    [hint] = hints_of(doc)
    assert (hint.code, hint.target, hint.severity) == (advice.BIAS_BEFORE_BN, ids[1], "info")
    assert "7.3.1" in hint.message and "bias" in hint.message
    apply_and_undo(doc, stack, hint)
    assert doc.graph.layer_of(ids[1]).params["use_bias"] is False


def test_activation_moves_after_batch_norm_in_one_undoable_edit(doc, stack):
    ids = chain(doc, stack, [16], ("Dense", {"units": 8, "activation": "relu"}),
                ("BatchNormalization", {}))
    [hint] = hints_of(doc)
    assert hint.code == advice.ACTIVATION_BEFORE_BN and "relu" in hint.message
    before = state(doc)
    stack.push(fix_command(doc, hint.fix, hint.graph_key))
    graph = doc.graph
    assert "activation" not in graph.layer_of(ids[1]).params
    [after_bn] = graph.out_edges(ids[2])
    act = graph.nodes[after_bn.dst]
    assert isinstance(act, CallNode) and graph.layer(act.layer_id).class_name == "Activation"
    assert graph.layer(act.layer_id).params["activation"] == "relu"
    assert [e.dst for e in graph.out_edges(act.id)] == [ids[-1]]
    # The Dense now has a linear output into BatchNormalization: its bias is the next hint.
    assert kinds(doc) == [advice.BIAS_BEFORE_BN]
    stack.undo()
    assert state(doc) == before


def test_separable_twin_saves_n_times_computed_from_the_shapes(doc, stack):
    ids = chain(doc, stack, [32, 32, 64],
                ("Conv2D", {"filters": 128, "kernel_size": 3, "strides": 2,
                            "padding": "same", "activation": "relu"}))
    [hint] = hints_of(doc)
    conv = 3 * 3 * 64 * 128 + 128
    separable = 3 * 3 * 64 + 64 * 128 + 128
    assert hint.code == advice.SEPARABLE_CONV
    assert f"{conv / separable:.1f}×" in hint.message
    assert f"{conv:,} → {separable:,}" in hint.message
    engine = ShapeEngine(doc)
    assert engine.layer_params(doc.graph.layer_of(ids[1]).id) == conv
    apply_and_undo(doc, stack, hint)
    layer = doc.graph.layer_of(ids[1])
    assert layer.class_name == "SeparableConv2D"
    assert {k: layer.params[k] for k in ("filters", "kernel_size", "strides", "padding",
                                         "activation")} == {
        "filters": 128, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu"}
    assert ShapeEngine(doc).layer_params(layer.id) == separable


def test_a_grey_image_and_a_1x1_convolution_get_no_separable_hint(doc, stack):
    chain(doc, stack, [28, 28, 1], ("Conv2D", {"filters": 32, "kernel_size": 3}),
          ("Conv2D", {"filters": 64, "kernel_size": 1}))
    assert kinds(doc) == []


def test_a_deep_stack_without_residuals_is_hinted_and_a_shortcut_silences_it(doc, stack):
    ids = chain(doc, stack, [16], *[("Dense", {"units": 16})] * 11)
    [hint] = hints_of(doc)
    assert hint.code == advice.DEEP_WITHOUT_RESIDUAL and hint.fix is None
    assert hint.message.startswith("11 weighted layers") and "7.1.4" in hint.message
    add = stack.push(edits.add_layer(doc, "Add", {})).node.id
    stack.push(edits.connect(doc, ids[5], add))
    stack.push(edits.connect(doc, ids[11], add))
    stack.push(Disconnect(doc.graph.in_edges(ids[-1])[0].id))
    stack.push(edits.connect(doc, add, ids[-1]))
    assert kinds(doc) == []


def test_ten_layers_are_not_deep(doc, stack):
    chain(doc, stack, [16], *[("Dense", {"units": 16})] * 10)
    assert kinds(doc) == []


def test_a_shared_layer_on_different_feature_dimensions(doc, stack):
    a = stack.push(edits.add_input(doc, [5, 8], name="a")).node.id
    b = stack.push(edits.add_input(doc, [5, 4], name="b")).node.id
    first = stack.push(edits.add_layer(doc, "Dropout", {"rate": 0.1}))
    second = stack.push(edits.call_again(doc, first.node.id)).node.id
    stack.push(edits.connect(doc, a, first.node.id))
    stack.push(edits.connect(doc, b, second))
    for src, name in ((first.node.id, "oa"), (second, "ob")):
        out = stack.push(edits.add_output(doc, name=name, loss="mse")).node.id
        stack.push(edits.connect(doc, src, out))
    [hint] = hints_of(doc)
    assert hint.code == advice.SHARED_FEATURES_DIFFER and hint.fix is None
    assert "8 at" in hint.message and "4 at" in hint.message and "7.1.5" in hint.message


def multi_output(doc: Document, stack: UndoStack) -> list[str]:
    x = stack.push(edits.add_input(doc, [8], name="x")).node.id
    outs = []
    for name, loss in (("age", "mse"), ("gender", "binary_crossentropy")):
        node = stack.push(edits.add_layer(doc, "Dense", {"units": 1}, name=name))
        stack.push(edits.connect(doc, x, node.node.id))
        out = stack.push(edits.add_output(doc, name=f"{name}_out", loss=loss)).node.id
        stack.push(edits.connect(doc, node.node.id, out))
        outs.append(out)
    # An output takes the name of the layer feeding it (Keras logs ``<name>_loss``).
    assert [o.name for o in doc.graph.outputs()] == ["age", "gender"]
    return outs


def test_one_loss_dominating_the_first_epoch_and_the_balancing_fix(doc, stack):
    outs = multi_output(doc, stack)
    assert kinds(doc) == []  # no run yet: nothing to compare
    history = {"loss": [160.7], "age_loss": [160.0], "gender_loss": [0.7], "epoch": [0]}
    losses = advice.first_epoch_losses(history, ["age", "gender"])
    [hint] = hints_of(doc, losses)
    assert (hint.code, hint.target) == (advice.LOSS_DOMINATES, outs[0])
    assert "229×" in hint.message and "7.1.3" in hint.message
    before = state(doc)
    stack.push(fix_command(doc, hint.fix, hint.graph_key))
    weights = {o.name: o.loss_weight for o in doc.graph.outputs()}
    assert weights == {"age": pytest.approx(0.7 / 160, rel=1e-2), "gender": 1.0}
    assert hints_of(doc, losses) == []
    stack.undo()
    assert state(doc) == before


def test_balanced_losses_give_no_hint(doc, stack):
    multi_output(doc, stack)
    assert hints_of(doc, {"age": 2.0, "gender": 0.7}) == []


def test_silenced_kinds_are_saved_only_when_some_are_and_undo(doc, stack):
    chain(doc, stack, [16], ("Dense", {"units": 8}), ("BatchNormalization", {}))
    plain = dumps(doc)
    assert "silenced_hints" not in plain
    stack.push(silence(doc, advice.BIAS_BEFORE_BN))
    assert kinds(doc) == []
    assert [h.code for h in advice.hints(doc, lambda k: ShapeEngine(doc, k),
                                         include_silenced=True)] == [advice.BIAS_BEFORE_BN]
    reopened = loads(dumps(doc))
    assert kinds(reopened) == []
    stack.undo()
    assert dumps(doc) == plain and kinds(doc) == [advice.BIAS_BEFORE_BN]
    stack.redo()
    stack.push(unsilence_all(doc))
    assert dumps(doc) == plain


def test_hints_never_make_a_model_invalid(doc, stack):
    chain(doc, stack, [16], ("Dense", {"units": 8}), ("BatchNormalization", {}))
    assert kinds(doc) == [advice.BIAS_BEFORE_BN]
    assert summarize(doc)["valid"]


# The hints that fire on the templates: each pair is the template deviating from the hint's
# advice on purpose, with why (every other template earns none).
ALLOWED = {
    ("batchnorm-convnet", advice.ACTIVATION_BEFORE_BN, "conv2d"):
        "the chapter's own 7.3.1 sample: Conv2D(32, 3, activation='relu') then BN",
    ("batchnorm-convnet", advice.ACTIVATION_BEFORE_BN, "dense"):
        "the chapter's own 7.3.1 sample: Dense(32, activation='relu') then BN",
    ("inception-module", advice.SEPARABLE_CONV, "branch_b_2"):
        "7.1.4 itself says Xception swaps these 3x3 convolutions for separable ones",
    ("inception-module", advice.SEPARABLE_CONV, "branch_c_2"):
        "7.1.4 itself says Xception swaps these 3x3 convolutions for separable ones",
    ("inception-module", advice.SEPARABLE_CONV, "branch_d_2"):
        "7.1.4 itself says Xception swaps these 3x3 convolutions for separable ones",
    ("inception-module", advice.SEPARABLE_CONV, "branch_d_3"):
        "7.1.4 itself says Xception swaps these 3x3 convolutions for separable ones",
    ("residual-identity", advice.SEPARABLE_CONV, "conv2d"):
        "7.1.4 shows the Add of a residual; its plain Conv2D stack is the illustration",
    ("residual-identity", advice.SEPARABLE_CONV, "conv2d_1"):
        "7.1.4 shows the Add of a residual; its plain Conv2D stack is the illustration",
    ("residual-identity", advice.SEPARABLE_CONV, "conv2d_2"):
        "7.1.4 shows the Add of a residual; its plain Conv2D stack is the illustration",
    ("residual-projection", advice.SEPARABLE_CONV, "conv2d"):
        "7.1.4 shows the projection shortcut; its plain Conv2D stack is the illustration",
    ("residual-projection", advice.SEPARABLE_CONV, "conv2d_1"):
        "7.1.4 shows the projection shortcut; its plain Conv2D stack is the illustration",
}


def test_the_hints_on_every_template_are_the_allowed_ones():
    fired = set()
    for name in template_names():
        doc = load_template(name)
        for hint in hints_of(doc):
            graph = doc.graph_of(hint.graph_key)
            fired.add((name, hint.code, graph.layer_of(hint.target).name))
    assert fired == set(ALLOWED)


def test_cli_summary_and_validate_show_hints_and_validate_still_exits_0(capsys):
    assert main(["summary", "batchnorm-convnet"]) == 0
    out = capsys.readouterr().out
    assert "info: Conv2D 'conv2d': conv2d applies relu before the BatchNormalization" in out
    assert "(book 7.3.1 batch normalization)" in out
    assert main(["validate", "batchnorm-convnet"]) == 0
    out = capsys.readouterr().out
    assert out.count("info: ") == 2 and "valid: 7 layers" in out
    assert main(["summary", "batchnorm-convnet", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [h["code"] for h in data["hints"]] == [advice.ACTIVATION_BEFORE_BN] * 2


def test_cli_loss_hint_reads_the_latest_runs_first_epoch(tmp_path, doc, stack, capsys):
    multi_output(doc, stack)
    project = tmp_path / "social.json"
    save(doc, project)
    assert main(["summary", str(project)]) == 0
    assert "info: " not in capsys.readouterr().out  # no run yet
    run = new_run_dir(runs_folder(project))
    write_status(run, {"status": "running"})
    write_history(run, {"epoch": [0], "loss": [160.7], "age_loss": [160.0],
                        "gender_loss": [0.7]})
    assert main(["validate", str(project)]) == 0
    out = capsys.readouterr().out
    assert "the loss of age is 229× the next one's" in out and "7.1.3" in out
