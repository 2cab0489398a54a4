"""Custom layers from the user's Python files, end to end (issue 13, point 4).

A VAE encoder in the style of keras.io with a ``Sampling`` layer defined in a module the test
writes: saved as .keras, opened with ``layerforge import --custom-module FILE``, exported as
Python, built, and compared with the original. Bad modules and unknown classes each give one
message naming the file or the class. keras.applications' own layers (ConvNeXt,
InceptionResNetV2) open without the flag: see ``test_applications_roundtrip.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from roundtrip_support import copy_weights, exported_module, plain, random_batch

from layerforge.core.analysis.shapes import ShapeEngine
from layerforge.core.catalog.catalog import get_catalog
from layerforge.core.catalog.custom import CustomModuleError, read_module
from layerforge.core.cli import main as cli
from layerforge.core.codegen.loader import load_generated
from layerforge.core.codegen.model_code import generate
from layerforge.core.document.trust import untrusted_code
from layerforge.core.io import project
from layerforge.core.schema.errors import LayerForgeError
from layerforge.core.schema.trust import UntrustedCodeError, code_guard, trust_module

keras = pytest.importorskip("keras")

SAMPLING = '''
import keras


@keras.saving.register_keras_serializable(package="{package}")
class Sampling(keras.layers.Layer):
    """Draws z from (z_mean, z_log_var) by the reparameterization trick."""

    def __init__(self, seed=1337, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(keras.ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + keras.ops.exp(0.5 * z_log_var) * epsilon

    def get_config(self):
        return {{**super().get_config(), "seed": self.seed}}
'''


def write_module(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    return path


def vae_encoder(module_path: Path) -> tuple[object, type]:
    """The keras.io VAE encoder, small: conv -> dense -> (z_mean, z_log_var) -> Sampling."""
    sys.path.insert(0, str(module_path.parent))
    try:
        sampling = __import__(module_path.stem).Sampling
    finally:
        sys.path.remove(str(module_path.parent))
    inputs = keras.Input(shape=(28, 28, 1), name="image")
    x = keras.layers.Conv2D(8, 3, activation="relu", strides=2, padding="same")(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    z_mean = keras.layers.Dense(2, name="z_mean")(x)
    z_log_var = keras.layers.Dense(2, name="z_log_var")(x)
    z = sampling(name="z")([z_mean, z_log_var])
    return keras.Model(inputs, [z_mean, z_log_var, z], name="encoder"), sampling


def test_vae_encoder_with_a_custom_module_round_trips_through_the_cli(tmp_path: Path) -> None:
    module = write_module(tmp_path, "vae_layers", SAMPLING.format(package="vae_test"))
    model, _ = vae_encoder(module)
    saved, imported, exported = (tmp_path / "vae.keras", tmp_path / "vae.json",
                                 tmp_path / "vae.py")
    model.save(saved)
    assert cli.main(["import", str(saved), "-o", str(imported),
                     "--custom-module", str(module)]) == 0
    record = json.loads(imported.read_text(encoding="utf-8"))
    assert record["runs_code"] is True
    assert record["custom_modules"][0]["path"] == "vae_layers.py"  # relative to the project
    assert cli.main(["export", str(imported), "--format", "py", "-o", str(exported)]) == 0
    source = exported.read_text(encoding="utf-8")
    assert "from vae_layers import Sampling" in source
    assert "z = Sampling(name='z')([z_mean, z_log_var])" in source

    rebuilt = exported_module(exported).build_model()
    assert rebuilt.count_params() == model.count_params()
    for layer in model.layers:
        twin = rebuilt.get_layer(layer.name)
        assert type(twin).__name__ == type(layer).__name__
        assert plain(twin.get_config()) == plain(layer.get_config()), layer.name
    assert copy_weights(model, rebuilt) > 0
    batch = random_batch(model)[0]
    original, again = model(batch), rebuilt(batch)
    for index in (0, 1):  # z_mean, z_log_var (z is drawn at random)
        np.testing.assert_allclose(np.asarray(again[index]), np.asarray(original[index]),
                                   rtol=1e-5, atol=1e-5)
    assert np.asarray(again[2]).shape == np.asarray(original[2]).shape


def test_a_model_with_an_unknown_custom_class_names_it_and_the_flag(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture
                                                                   ) -> None:
    module = write_module(tmp_path, "vae_unknown", SAMPLING.format(package="vae_unknown"))
    model, _ = vae_encoder(module)
    model.save(tmp_path / "vae.keras")
    code = cli.main(["import", str(tmp_path / "vae.keras"), "-o", str(tmp_path / "p.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert "'Sampling'" in err and "--custom-module" in err
    assert not (tmp_path / "p.json").exists()


BAD_MODULES = {
    "syntax": ("def broken(:\n", "failed to import (SyntaxError"),
    "raises": ("raise RuntimeError('no GPU here')\n", "failed to import (RuntimeError: no GPU"),
    "empty": ("import keras\n\nclass NotALayer:\n    pass\n",
              "expected at least one subclass of keras.layers.Layer"),
    "lossy": ("import keras\n\n\nclass Scale(keras.layers.Layer):\n"
              "    def __init__(self, factor=2.0, **kwargs):\n"
              "        super().__init__(**kwargs)\n        self.factor = factor\n\n"
              "    def call(self, x):\n        return x * self.factor\n\n"
              "    def get_config(self):\n        return {**super().get_config(), "
              "'factor': self.factor}\n\n"
              "    @classmethod\n    def from_config(cls, config):\n"
              "        return cls(**{**config, 'factor': 1.0})\n",
              "class 'Scale': expected from_config(get_config()) to give the same config"),
}


@pytest.mark.parametrize("kind", sorted(BAD_MODULES))
def test_a_bad_custom_module_is_refused_with_one_message_naming_it(kind: str,
                                                                   tmp_path: Path) -> None:
    text, expected = BAD_MODULES[kind]
    path = write_module(tmp_path, f"bad_{kind}", text)
    trust_module(str(path))
    with pytest.raises(CustomModuleError) as caught:
        read_module(path, get_catalog())
    message = str(caught.value)
    assert str(path) in message and expected in message
    assert f"bad_{kind}" not in sys.modules


def test_the_cli_refuses_a_bad_module_before_reading_the_model(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture
                                                               ) -> None:
    path = write_module(tmp_path, "cli_broken", "def broken(:\n")
    code = cli.main(["import", str(tmp_path / "missing.keras"), "-o",
                     str(tmp_path / "p.json"), "--custom-module", str(path)])
    assert code == 2
    assert f"{path}: the custom layer module failed to import" in capsys.readouterr().err


def test_an_untrusted_module_runs_nothing_and_is_named(tmp_path: Path) -> None:
    """Opened in a guarded process, a project's custom module is not imported: its layer is
    listed as untrusted code, building refuses naming the file, and none of it runs."""
    marker = tmp_path / "ran.txt"
    module = write_module(tmp_path, "vae_guarded", SAMPLING.format(package="vae_guarded")
                          + f"\nopen({str(marker)!r}, 'w').write('ran')\n")
    model, _ = vae_encoder(module)
    model.save(tmp_path / "vae.keras")
    assert cli.main(["import", str(tmp_path / "vae.keras"), "-o", str(tmp_path / "p.json"),
                     "--custom-module", str(module)]) == 0
    marker.unlink()
    sys.modules.pop("vae_guarded")
    with code_guard():
        doc = project.load(tmp_path / "p.json")
        assert [c.layer.class_name for c in untrusted_code(doc)] == ["Sampling"]
        with pytest.raises(UntrustedCodeError, match=r"vae_guarded\.py"):
            load_generated(generate(doc))
    assert not marker.exists()
    assert "vae_guarded" not in sys.modules


def test_the_module_name_may_not_hide_another_module(tmp_path: Path) -> None:
    path = write_module(tmp_path, "json", SAMPLING.format(package="json_clash"))
    trust_module(str(path))
    with pytest.raises(LayerForgeError, match="already imported"):
        read_module(path, get_catalog())


# ------------------------------------------------ keras.applications' own layers
def assert_same_by_class_name(model: object, rebuilt: object, where: str = "model") -> None:
    """Configs layer by layer; a class keras.applications defines for itself comes back as
    LayerForge's class of the same name (a nested Sequential as a functional block)."""
    for layer in model.layers:
        twin = rebuilt.get_layer(layer.name)
        if isinstance(layer, keras.Model):
            assert isinstance(twin, keras.Model)
            assert_same_by_class_name(layer, twin, f"{where}/{layer.name}")
            continue
        assert type(twin).__name__ == type(layer).__name__, f"{where}/{layer.name}"
        assert plain(twin.get_config()) == plain(layer.get_config()), f"{where}/{layer.name}"


@pytest.mark.parametrize("name, shape", [
    ("ConvNeXtTiny", (32, 32, 3)),
    pytest.param("InceptionResNetV2", (75, 75, 3), marks=pytest.mark.slow),
])
def test_applications_own_layers_open_without_a_flag(name: str, shape: tuple[int, ...],
                                                     tmp_path: Path) -> None:
    """LayerScale (ConvNeXt) and CustomScaleLayer (InceptionResNetV2) open with plain
    `layerforge import`; the export carries LayerForge's classes and runs standalone."""
    model = getattr(keras.applications, name)(weights=None, input_shape=shape)
    saved, imported, exported = (tmp_path / "m.keras", tmp_path / "m.json", tmp_path / "m.py")
    model.save(saved)
    assert cli.main(["import", str(saved), "-o", str(imported)]) == 0
    assert cli.main(["export", str(imported), "--format", "py", "-o", str(exported)]) == 0
    source = exported.read_text(encoding="utf-8")
    assert "keras.src" not in source and "layerforge" not in source.split("\n", 3)[3]
    rebuilt = exported_module(exported).build_model()
    assert rebuilt.count_params() == model.count_params()
    assert_same_by_class_name(model, rebuilt)
    assert copy_weights(model, rebuilt) > 0
    batch = random_batch(model)[0]
    np.testing.assert_allclose(np.asarray(rebuilt(batch)), np.asarray(model(batch)),
                               rtol=1e-5, atol=1e-5)


# ------------------------------------------------ the live pass and --trust
def imported_vae(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A VAE encoder project imported with its module: (project file, module file)."""
    module = write_module(tmp_path, name, SAMPLING.format(package=name))
    model, _ = vae_encoder(module)
    model.save(tmp_path / "vae.keras")
    assert cli.main(["import", str(tmp_path / "vae.keras"), "-o", str(tmp_path / "vae.json"),
                     "--custom-module", str(module)]) == 0
    return tmp_path / "vae.json", module


def call_of(doc: object, layer_name: str) -> str:
    graph = doc.graph
    layer = next(lay for lay in graph.layers.values() if lay.name == layer_name)
    return graph.calls_of(layer.id)[0].id


def test_live_shapes_of_a_custom_layer_and_its_warning_while_untrusted(tmp_path: Path) -> None:
    saved, module = imported_vae(tmp_path, "vae_live")
    with code_guard():
        doc = project.load(saved)
        untrusted = ShapeEngine(doc).shapes()[call_of(doc, "z")]
        assert untrusted.outputs is None and untrusted.error is not None
        assert untrusted.error.severity == "warning"
        trust_module(str(module))
        assert ShapeEngine(doc).shapes()[call_of(doc, "z")].outputs == ((None, 2),)


def test_export_of_a_built_model_needs_trust_for_the_module(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture
                                                            ) -> None:
    saved, module = imported_vae(tmp_path, "vae_cli_trust")
    out = tmp_path / "out.keras"
    assert cli.main(["export", str(saved), "--format", "keras", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "expected --trust" in err and "Sampling from" in err and str(module) in err
    assert cli.main(["export", str(saved), "--format", "keras", "-o", str(out),
                     "--trust"]) == 0
    assert out.exists()
