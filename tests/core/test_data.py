"""Data sources bound to inputs and outputs: shapes and dtypes fit the graph, errors name it."""

from __future__ import annotations

import numpy as np
import pytest

from layerforge.core.codegen.helper_source import helper_source
from layerforge.core.codegen.loader import build_and_compile
from layerforge.core.codegen.portable import synthetic_array
from layerforge.core.codegen.training_code import synthetic_statements
from layerforge.core.document.document import Document
from layerforge.core.io.templates import load_template
from layerforge.core.schema.settings import DataSource, TrainingSettings
from layerforge.core.training.data import DataError, conform, load_training_data, preview


def template_model(name: str) -> tuple[Document, object]:
    doc = load_template(name)
    return doc, build_and_compile(doc)


@pytest.fixture(scope="module")
def mlp():
    return template_model("sequential-mlp")


def synthetic(samples: int, **params: object) -> DataSource:
    return DataSource("synthetic", {"samples": samples, **params})


def test_synthetic_ids_stay_within_the_embedding_vocabulary():
    doc, model = template_model("imdb-conv1d")
    data = load_training_data(doc, model, TrainingSettings(
        validation_split=0.25, data={"review": synthetic(40)}, seed=1))
    review = data.x["review"]
    assert review.shape == (30, 500) and review.dtype == np.int32
    assert review.min() >= 0 and review.max() < 2000 and review.max() > 1000
    assert set(np.unique(data.y["sentiment"])) <= {0.0, 1.0}
    assert data.val_x["review"].shape == (10, 500)


def test_synthetic_targets_suit_each_loss_and_open_lengths_fit_the_model():
    doc, model = template_model("social-media-multi-output")
    data = load_training_data(doc, model, TrainingSettings(
        validation_split=0, data={"posts": synthetic(6)}))
    # 100 is too short for this convnet's pooling: the first length it accepts is used
    assert data.x["posts"].shape == (6, 500)
    age, income, gender = data.y["age"], data.y["income"], data.y["gender"]
    assert age.shape == (6, 1) and age.dtype == np.float32 and len(np.unique(age)) == 6
    assert income.shape == (6, 10) and np.array_equal(income.sum(axis=1), np.ones(6))
    assert gender.shape == (6, 1) and set(np.unique(gender)) <= {0.0, 1.0}


def test_sparse_targets_are_class_ids():
    doc = load_template("sequential-mlp")
    doc.graph.outputs()[0].loss = "sparse_categorical_crossentropy"
    model = build_and_compile(doc)
    data = load_training_data(doc, model, TrainingSettings(
        validation_split=0, data={"features": synthetic(50)}, seed=0))
    labels = data.y["predictions"]
    assert labels.shape == (50,) and labels.dtype == np.int32
    assert labels.min() >= 0 and labels.max() <= 9 and len(np.unique(labels)) > 3


def test_the_same_seed_gives_the_same_data(mlp):
    doc, model = mlp
    settings = TrainingSettings(data={"features": synthetic(8)}, seed=5)
    first = load_training_data(doc, model, settings)
    second = load_training_data(doc, model, settings)
    assert np.array_equal(first.x["features"], second.x["features"])


def test_npz_by_key_and_a_wrong_key_lists_the_keys(mlp, tmp_path):
    doc, model = mlp
    path = tmp_path / "d.npz"
    labels = np.arange(20) % 10
    np.savez(path, feats=np.ones((20, 64)), labels=labels)
    settings = TrainingSettings(validation_split=0, data={
        "features": DataSource("npz", {"path": str(path), "key": "feats"}),
        "predictions": DataSource("npz", {"path": str(path), "key": "labels"})})
    data = load_training_data(doc, model, settings)
    assert data.x["features"].dtype == np.float32
    assert np.array_equal(data.y["predictions"].argmax(axis=1), labels)  # one-hot for the loss
    settings.data["features"].params["key"] = "x"
    with pytest.raises(DataError, match=r"input 'features' \(npz\).*feats, labels.*received 'x'"):
        load_training_data(doc, model, settings)


def test_shape_mismatch_names_the_input_expected_and_received(mlp, tmp_path):
    doc, model = mlp
    np.save(tmp_path / "x.npy", np.zeros((10, 32)))
    settings = TrainingSettings(data={"features": DataSource("npy",
                                                             {"path": str(tmp_path / "x.npy")})})
    with pytest.raises(DataError) as info:
        load_training_data(doc, model, settings)
    assert "input 'features'" in str(info.value)
    assert "expected samples of shape (64,); received (32,)" in str(info.value)


def test_sample_counts_must_agree(mlp, tmp_path):
    doc, model = mlp
    np.save(tmp_path / "x.npy", np.zeros((10, 64)))
    np.save(tmp_path / "y.npy", np.zeros((9, 10)))
    settings = TrainingSettings(data={
        "features": DataSource("npy", {"path": str(tmp_path / "x.npy")}),
        "predictions": DataSource("npy", {"path": str(tmp_path / "y.npy")})})
    with pytest.raises(DataError, match="same number of samples; received features: 10, "
                                        "predictions: 9"):
        load_training_data(doc, model, settings)


def test_csv_columns_and_preview(mlp, tmp_path):
    doc, model = mlp
    path = tmp_path / "table.csv"
    header = [f"f{i}" for i in range(64)] + ["label"]
    rows = [[str(i + j) for j in range(64)] + [str(i % 10)] for i in range(12)]
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    assert preview(path, 2) == (header, rows[:2])
    settings = TrainingSettings(validation_split=0, data={
        "features": DataSource("csv", {"path": str(path), "columns": header[:-1]}),
        "predictions": DataSource("csv", {"path": str(path), "columns": ["label"]})})
    data = load_training_data(doc, model, settings)
    assert data.x["features"][3, 2] == 5.0
    assert list(data.y["predictions"].argmax(axis=1)) == [i % 10 for i in range(12)]
    settings.data["predictions"].params["columns"] = ["target"]
    with pytest.raises(DataError, match=r"output 'predictions' \(csv\).*received target"):
        load_training_data(doc, model, settings)


def test_sklearn_digits_fit_the_mlp_offline(mlp):
    doc, model = mlp
    settings = TrainingSettings(validation_split=0.5, data={
        "features": DataSource("sklearn", {"name": "digits", "part": "x", "scale": 1 / 16}),
        "predictions": DataSource("sklearn", {"name": "digits", "part": "y"})})
    data = load_training_data(doc, model, settings)
    assert data.x["features"].shape == (898, 64) and data.x["features"].max() == 1.0
    assert data.y["predictions"].shape == (898, 10)


def test_offline_keras_dataset_says_where_keras_caches_it(mlp, monkeypatch):
    import keras

    def offline(**kwargs):
        raise Exception("URL fetch failure on https://example/mnist.npz: Name or service not known")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    monkeypatch.setenv("KERAS_HOME", "/somewhere/keras")
    doc, model = mlp
    settings = TrainingSettings(data={
        "features": DataSource("keras_dataset", {"name": "mnist", "part": "x"})})
    with pytest.raises(DataError) as info:
        load_training_data(doc, model, settings)
    message = str(info.value)
    assert "keras.datasets.mnist" in message and "/somewhere/keras/datasets" in message
    assert "URL fetch failure" in message


def test_conform_adds_channels_one_hot_and_pads_word_ids():
    images = np.zeros((4, 28, 28), np.uint8)
    assert conform(images, (28, 28, 1), "float32", "input 'image'").shape == (4, 28, 28, 1)
    one_hot = conform(np.array([1, 0, 2]), (3,), "float32", "output 'y'",
                      "categorical_crossentropy")
    assert one_hot.tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 1]]
    reviews = np.array([[1, 2, 3], [4]], dtype=object)
    padded = conform(reviews, (5,), "int32", "input 'review'", vocab=10)
    assert padded.tolist() == [[0, 0, 1, 2, 3], [0, 0, 0, 0, 4]]


def test_conform_errors_name_the_tensor():
    with pytest.raises(ValueError, match=r"input 'review': expected word ids below 10 .*up to 12"):
        conform(np.array([[1, 12]]), (2,), "int32", "input 'review'", vocab=10)
    with pytest.raises(ValueError, match=r"input 'ids': expected whole numbers \(int32\)"):
        conform(np.array([[0.5, 1.0]]), (2,), "int32", "input 'ids'")


def test_list_and_dict_feeds_follow_the_graph_inputs():
    doc, model = template_model("siamese-lstm")
    data = load_training_data(doc, model, TrainingSettings(
        data={"left": synthetic(10, length=4)}, validation_split=0.2))
    assert data.x["left"].shape == (8, 4, 128)
    as_dict = data.fit_arguments("dict", 4, True)
    as_list = data.fit_arguments("list", 4, True)
    assert set(as_dict["x"]) == {"left", "right"}
    assert [a is data.x[n] for a, n in zip(as_list["x"], ["left", "right"], strict=True)] == \
        [True, True]
    assert as_list["validation_data"][0][1] is data.val_x["right"]
    assert as_dict["y"] is data.y["predictions"]  # a single output is passed bare


def write_images(root, classes: int, per_class: int, size: int) -> None:
    from PIL import Image

    for c in range(classes):
        folder = root / f"class_{c}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = np.full((size, size, 3), 20 * c + i, np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")


def test_image_directory_checks_classes_against_the_output(tmp_path):
    doc, model = template_model("separable-convnet")
    write_images(tmp_path / "two", 2, 2, 64)
    settings = TrainingSettings(batch_size=4, validation_split=0, data={
        "image": DataSource("image_dir", {"path": str(tmp_path / "two")})})
    with pytest.raises(DataError, match="output 'predictions': expected 10 classes; the "
                                        "directory has 2 class folders"):
        load_training_data(doc, model, settings)
    write_images(tmp_path / "ten", 10, 1, 64)
    settings.data["image"].params["path"] = str(tmp_path / "ten")
    data = load_training_data(doc, model, settings)
    images, labels = next(iter(data.dataset))
    assert tuple(images.shape) == (4, 64, 64, 3) and tuple(labels.shape) == (4, 10)


def test_portable_functions_run_outside_layerforge(tmp_path):
    """The exported module contains their source: defined alone, after the module's own
    imports, they work the same."""
    namespace: dict[str, object] = {}
    exec("import csv\nimport os\n\nimport keras\nimport numpy as np\n", namespace)
    for name in ("synthetic_array", "load_csv", "conform", "split_validation", "validation_cut"):
        source = helper_source(name)
        assert "import" not in source
        exec(compile(source, name, "exec"), namespace)
    rng = np.random.default_rng(3)
    ids = namespace["synthetic_array"](rng, 4, (5,), "int32", "ids", 7)
    assert np.array_equal(ids, synthetic_array(np.random.default_rng(3), 4, (5,), "int32",
                                               "ids", 7))
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n")
    table = namespace["load_csv"](str(tmp_path / "t.csv"), ["b"])
    assert namespace["conform"](table, (1,), "float32", "output 'b'").tolist() == [[2.0], [4.0]]
    x, _, _, vy = namespace["split_validation"]({"a": np.arange(10)}, {"b": np.arange(10)}, 0.2)
    assert len(x["a"]) == 8 and vy["b"].tolist() == [8, 9]


@pytest.mark.parametrize("kind, high", [("floats", "0"), ("ids", "7"), ("binary", "1"),
                                        ("sparse", "shape[-1]"), ("onehot", "shape[-1]")])
@pytest.mark.parametrize("shape", ["shape", [3, 4]])
def test_exported_synthetic_data_is_what_the_app_draws(kind, high, shape):
    """Exported code writes synthetic_array's draws as plain numpy: same numbers, same dtype."""
    pre, value = synthetic_statements(kind, 5, shape, "float32", high, [])
    namespace = {"np": np, "rng": np.random.default_rng(1), "shape": (3, 4)}
    for line in pre:
        exec(line, namespace)
    got = eval(value, namespace)
    want = synthetic_array(np.random.default_rng(1), 5, (3, 4), "float32", kind,
                           eval(high, {"shape": (3, 4)}))
    assert got.dtype == want.dtype and np.array_equal(got, want)


def sorted_rows(tmp_path, count: int = 40) -> DataSource:
    """Row i holds i everywhere: validation rows tell which samples were held out."""
    np.save(tmp_path / "x.npy", np.repeat(np.arange(count, dtype="float32")[:, None], 64, 1))
    return DataSource("npy", {"path": str(tmp_path / "x.npy")})


@pytest.mark.parametrize("shuffle_split", [True, False])
def test_data_is_shuffled_by_its_seed_before_the_validation_split(mlp, tmp_path, shuffle_split):
    doc, model = mlp
    settings = TrainingSettings(seed=5, validation_split=0.25, shuffle_split=shuffle_split,
                                data={"features": sorted_rows(tmp_path)})
    held_out = load_training_data(doc, model, settings).val_x["features"][:, 0]
    if not shuffle_split:  # the last rows, as Keras' validation_split takes them
        assert held_out.tolist() == list(range(30, 40))
        return
    assert len(held_out) == 10 and held_out.min() < 30  # sorted data no longer splits by order
    again = load_training_data(doc, model, settings).val_x["features"][:, 0]
    assert again.tolist() == held_out.tolist()
    settings.split_seed = 6  # the run's own split seed wins over the seed
    assert load_training_data(doc, model, settings).val_x["features"][:, 0].tolist() \
        != held_out.tolist()


def test_an_image_folder_bound_to_a_vector_input_names_the_input(mlp, tmp_path):
    doc, model = mlp
    write_images(tmp_path / "imgs", 2, 1, 8)
    settings = TrainingSettings(data={"features": DataSource("image_dir",
                                                             {"path": str(tmp_path / "imgs")})})
    with pytest.raises(DataError, match=r"input 'features': an image folder gives images of "
                                        r"shape \(height, width, channels\): expected an input "
                                        r"of rank 3 .* received an input of shape \(64,\)"):
        load_training_data(doc, model, settings)
