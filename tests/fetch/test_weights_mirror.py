"""ImageNet weights from a mirror (a loopback URL or a folder) into Keras' cache, verified, and loaded by the
project's backbone loader; a local weights file still works."""

from __future__ import annotations

from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from inat_cnn.cli import main
from inat_cnn.errors import UserError
from inat_cnn.models.backbones import keras_cache_dir, load_backbone

# the file keras.applications.MobileNetV2(include_top=False) asks Keras' get_file for (alpha 1.0, any
# input size other than 96..224 falls back to the 224 file)
MOBILENET = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
VGG16 = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"  # Keras records an md5 for this one


@pytest.fixture
def keras_cache(tmp_path, monkeypatch) -> Path:
    """An empty Keras home for this test (Keras read KERAS_HOME once, at import)."""
    from keras.src.backend import config

    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path / "keras_home"))
    (tmp_path / "keras_home").mkdir()
    return keras_cache_dir()


@pytest.fixture(scope="module")
def mirror_folder(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    """A folder holding MobileNetV2 weights under Keras' file name, saved from a weights=None backbone."""
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(7)
    model = load_backbone("mobilenet_v2", "none", 32)
    folder = tmp_path_factory.mktemp("mirror")
    with h5py.File(folder / MOBILENET, "w") as f:  # the legacy .h5 layout Keras' own files have
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return folder, model.get_weights()


def _same_weights(model, expected) -> bool:
    return all(np.array_equal(a, b) for a, b in zip(model.get_weights(), expected, strict=True))


@pytest.mark.slow  # builds a backbone
def test_a_url_mirror_fills_keras_cache_and_the_backbone_loads_those_weights(server, mirror_folder, keras_cache):
    folder, expected = mirror_folder
    server.state.files[f"/keras/{MOBILENET}"] = (folder / MOBILENET).read_bytes()
    model = load_backbone("mobilenet_v2", "imagenet", 32, mirror=server.url("/keras/"))
    assert _same_weights(model, expected)
    assert (keras_cache / MOBILENET).read_bytes() == (folder / MOBILENET).read_bytes()
    assert [r["path"] for r in server.state.requests] == [f"/keras/{MOBILENET}"]
    again = load_backbone("mobilenet_v2", "imagenet", 32, mirror=server.url("/keras/"))  # cached: no request
    assert _same_weights(again, expected) and len(server.state.requests) == 1


@pytest.mark.slow  # builds a backbone
def test_a_folder_mirror_from_the_environment_serves_trials_and_weights_fetch(mirror_folder, keras_cache,
                                                                              monkeypatch, capsys):
    folder, expected = mirror_folder
    monkeypatch.setenv("INAT_CNN_WEIGHTS_MIRROR", str(folder))
    assert _same_weights(load_backbone("mobilenet_v2", "imagenet", 32), expected)  # what a trial calls
    (keras_cache / MOBILENET).unlink()
    monkeypatch.delenv("INAT_CNN_WEIGHTS_MIRROR")
    with pytest.raises(SystemExit) as done:
        main(["weights", "fetch", "mobilenet_v2", "--mirror", str(folder)])
    assert done.value.code == 0
    assert "mobilenet_v2: ImageNet weights cached" in capsys.readouterr().out
    assert (keras_cache / MOBILENET).read_bytes() == (folder / MOBILENET).read_bytes()


@pytest.mark.slow  # builds a backbone
def test_a_local_weights_file_still_loads(mirror_folder, keras_cache):
    folder, expected = mirror_folder
    assert _same_weights(load_backbone("mobilenet_v2", str(folder / MOBILENET), 32), expected)
    assert not (keras_cache / MOBILENET).exists()


def test_a_mirror_file_that_fails_keras_recorded_hash_is_refused(server, keras_cache):
    server.state.files[f"/keras/{VGG16}"] = b"not the vgg16 weights"
    with pytest.raises(UserError, match=f"cannot fetch {VGG16} from the weights mirror.*md5 is .* where "
                                        "6d6bbae143d832006294945121d1f1fc was expected"):
        load_backbone("vgg16", "imagenet", 32, mirror=server.url("/keras"))
    assert not (keras_cache / VGG16).exists() and not list(keras_cache.glob("*.part*"))


@pytest.mark.slow  # builds a backbone
def test_a_mirror_without_the_file_says_which_file_is_missing(server, tmp_path, keras_cache):
    with pytest.raises(UserError, match=f"{MOBILENET}.*HTTP 404"):
        load_backbone("mobilenet_v2", "imagenet", 32, mirror=server.url("/keras"))
    with pytest.raises(UserError, match=f"mirror folder {tmp_path} has no {MOBILENET}"):
        load_backbone("mobilenet_v2", "imagenet", 32, mirror=str(tmp_path))
