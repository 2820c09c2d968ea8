"""A crafted or damaged .keras file is bad input: exit 2 with a one-paragraph error, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from inat_cnn.cli import main
from inat_cnn.errors import UserError
from inat_cnn.models import load_model, save_model

SIZE = 16


def _tiny(units: int = 3) -> keras.Model:
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = keras.layers.Conv2D(4, 3, name="block1_conv")(x)
    x = keras.layers.Activation("relu", name="block1_act")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(units, activation="softmax", name="predictions")(x))


def _rewrite(source: Path, target: Path, **replace: bytes | None) -> Path:
    """Copy the .keras zip ``source`` to ``target``, replacing (or, for None, dropping) named members."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as out:
        for name in src.namelist():
            data = replace.get(name.replace(".", "_"), src.read(name))
            if data is not None:
                out.writestr(name, data)
    return target


def _with_layer(saved: dict, **changes) -> bytes:
    """config.json with the Conv2D layer's entry changed (``config_extra`` adds keys to its config)."""
    config = json.loads(json.dumps(saved))
    layer = next(entry for entry in config["config"]["layers"] if entry["config"]["name"] == "block1_conv")
    layer["config"].update(changes.pop("config_extra", {}))
    layer.update(changes)
    return json.dumps(config).encode()


@pytest.fixture(scope="module")
def crafted(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("crafted")
    good = save_model(_tiny(), root / "good.keras")
    other = save_model(_tiny(units=5), root / "other.keras")
    with zipfile.ZipFile(good) as archive:
        config = json.loads(archive.read("config.json"))
    with zipfile.ZipFile(other) as archive:
        other_weights = archive.read("model.weights.h5")
    lambda_layer = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
                    "config": {"name": "block1_conv", "function": {
                        "class_name": "__lambda__", "config": {"code": "4wAAAA==", "defaults": None,
                                                               "closure": None}}}}
    files = {
        "bad_json": _rewrite(good, root / "bad_json.keras", config_json=b"{not json"),
        "not_an_object": _rewrite(good, root / "not_an_object.keras", config_json=b"[1, 2]"),
        "unknown_class": _rewrite(good, root / "unknown_class.keras",
                                  config_json=_with_layer(config, class_name="NoSuchLayer")),
        "foreign_class": _rewrite(good, root / "foreign_class.keras", config_json=_with_layer(
            config, module="inat_cnn.models.preprocess", class_name="Preprocess",
            registered_name="inat_cnn>Preprocess")),
        "unexpected_argument": _rewrite(good, root / "unexpected_argument.keras",
                                        config_json=_with_layer(config, config_extra={"bogus": 3})),
        "lambda": _rewrite(good, root / "lambda.keras", config_json=_with_layer(config, **lambda_layer)),
        "no_config": _rewrite(good, root / "no_config.keras", config_json=None),
        "wrong_weights": _rewrite(good, root / "wrong_weights.keras", model_weights_h5=other_weights),
    }
    data = good.read_bytes()
    (root / "truncated.keras").write_bytes(data[: len(data) // 2])
    files["truncated"] = root / "truncated.keras"
    assert keras.saving.load_model(good).output_shape == (None, 3)  # the craft, not the base model, breaks them
    return files


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    from inat_cnn.data import synthesize

    root = tmp_path_factory.mktemp("inputs")
    data = synthesize(root / "data", classes=3, per_class=2, test_per_class=1, min_side=SIZE, max_side=20)
    image = root / "bird.png"
    Image.fromarray(np.full((SIZE, SIZE, 3), 120, np.uint8)).save(image)
    return data, image


def _run(argv) -> int:
    try:
        main([str(a) for a in argv])
    except SystemExit as stop:
        return int(stop.code or 0)
    return 0


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("command", ["evaluate", "filters", "guided-backprop", "predictions"])
def test_every_command_gives_exit_2_and_one_paragraph(command, crafted, inputs, tmp_path, capsys):
    data, image = inputs
    for name, path in crafted.items():
        argv = {"evaluate": ["evaluate", path, "--data", data],
                "filters": ["viz", "filters", path, "--out", tmp_path / "f.png"],
                "guided-backprop": ["viz", "guided-backprop", path, image, "--out", tmp_path / "g.png"],
                "predictions": ["viz", "predictions", path, "--data", data, "--out", tmp_path / "p.png"]}[command]
        code = _run(argv)
        text = capsys.readouterr()
        assert code == 2, (name, text.err[-2000:])
        assert "Traceback" not in text.err + text.out, name
        lines = text.err.strip().splitlines()  # Python warnings are pytest's here: stderr is ours alone
        assert len(lines) == 1 and lines[0].startswith("error: ") and path.name in lines[0], (name, text.err)
        assert not list(tmp_path.glob("*.png")), name


def test_the_message_names_what_keras_refused(crafted):
    with pytest.raises(UserError) as err:
        load_model(crafted["foreign_class"])
    assert "Preprocess" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UserError, match="Lambda"):
        load_model(crafted["lambda"])


@pytest.mark.slow
def test_the_console_script_exits_2_without_a_traceback(crafted, inputs):
    data, _ = inputs
    script = Path(sys.executable).with_name("inat-cnn")
    child = subprocess.run([str(script), "evaluate", str(crafted["foreign_class"]), "--data", str(data)],
                           capture_output=True, text=True, timeout=180)
    assert child.returncode == 2, child.stderr[-3000:]
    assert "Traceback" not in child.stderr and child.stderr.count("error:") == 1
