"""`inat-cnn viz ...` on a saved model: the figures, and clear errors (exit 2) for bad input."""

import numpy as np
import pytest
from PIL import Image

from inat_cnn.cli import main


def run_cli(argv, capsys):
    """(exit code, stdout + stderr) of ``inat-cnn ARGV`` run in-process."""
    try:
        main([str(a) for a in argv])
        code = 0
    except SystemExit as stop:
        code = int(stop.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, make_cnn):
    path = tmp_path_factory.mktemp("model") / "model.keras"
    make_cnn("nested", classes=3).save(path)
    return path


@pytest.fixture
def image_file(tmp_path, tiny_images):
    path = tmp_path / "bird.png"
    Image.fromarray(np.kron(tiny_images[0][0], np.ones((3, 3, 1), np.uint8))).save(path)  # 48 px: resized to 16
    return path


def test_filters_and_guided_backprop_commands(tmp_path, saved_model, image_file, capsys):
    code, text = run_cli(["viz", "filters", saved_model, "--out", tmp_path / "f.png"], capsys)
    assert code == 0, text
    assert Image.open(tmp_path / "f.png").size == (800, 860)

    code, text = run_cli(["viz", "guided-backprop", saved_model, image_file, image_file, "--layer", "block1_act",
                          "--neurons", "3", "--out", tmp_path / "gb.png"], capsys)
    assert code == 0, text
    assert "block1_act" in text
    for k in (1, 2):
        assert Image.open(tmp_path / f"gb-{k}.png").size == (1400, 620)


def test_predictions_command_on_a_synthetic_dataset(tmp_path, saved_model, capsys):
    from inat_cnn.data import synthesize

    root = synthesize(tmp_path / "data", classes=3, per_class=4, test_per_class=3, min_side=16, max_side=24)
    code, text = run_cli(["viz", "predictions", saved_model, "--data", root, "--out", tmp_path / "p.png"], capsys)
    assert code == 0, text
    assert "/9 shown images right" in text
    assert Image.open(tmp_path / "p.png").size == (720, 3 * 230 + 60)


def test_clear_errors_for_bad_input(tmp_path, saved_model, image_file, capsys):
    not_model = tmp_path / "notes.keras"
    not_model.write_text("hello")
    broken_image = tmp_path / "broken.jpg"
    broken_image.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    cases = [
        (["viz", "filters", tmp_path / "missing.keras"], "does not exist"),
        (["viz", "filters", not_model], "not a Keras model"),
        (["viz", "guided-backprop", saved_model, broken_image], "broken.jpg"),
        (["viz", "guided-backprop", saved_model, tmp_path / "nope.png"], "nope.png"),
        (["viz", "guided-backprop", saved_model, image_file, "--layer", "block3_act"], "Valid layers: "),
    ]
    for argv, needle in cases:
        code, text = run_cli(argv, capsys)
        assert code == 2, (argv, text)
        assert needle in text and "Traceback" not in text, (argv, text)
    code, text = run_cli(["viz", "guided-backprop", saved_model, image_file, "--layer", "block3_act"], capsys)
    assert "block1_act" in text and "block2_act" in text and "block2_pool" in text
