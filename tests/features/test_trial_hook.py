"""run_trial trains cache-eligible phases on cached features and still saves, tests and logs the full model."""

import json

import numpy as np
import pytest
from wandb_files import read_wandb_run

CFG = {"model": "finetune", "backbone": "mobilenet_v2", "weights": "none", "image_size": 32, "trainable_layers": 3,
       "head_epochs": 1, "epochs": 2, "batch_size": 8, "learning_rate": 1e-2, "viz": False}


@pytest.mark.slow
def test_phases_use_the_cache_and_the_full_model_is_saved(splits_32, tmp_path):
    import keras

    from inat_cnn.training.trial import run_trial

    result = run_trial(CFG, None, tmp_path / "a", splits=splits_32)
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    rows = {r["phase"]: r for r in m["feature_cache"]}
    assert rows["head"]["used"] and rows["fine_tune"]["used"] and rows["head"]["built"]
    assert rows["head"]["bytes"] > 0 and rows["head"]["build_s"] > 0 and rows["head"]["cut"] != rows["fine_tune"]["cut"]
    # the head phase's build wrote the fine-tune cut too, in the same pass: the fine-tune phase reused it
    assert rows["head"]["also_built"] == [{"trainable_layers": 3, "key": rows["fine_tune"]["key"]}]
    assert rows["fine_tune"]["built"] is False and rows["fine_tune"]["cuts_in_build"] == 2
    assert m["state"] == "finished" and m["test_accuracy"] is not None and m["epochs_run"] == 2
    model = keras.saving.load_model(tmp_path / "a" / "model.keras", safe_mode=True, compile=False)
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 3)  # raw pixels in, the full model
    probs = model.predict(splits_32.x_test.astype("float32"), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    # the test pass ran the suffix on the cached (float16) test features: the saved full model's numbers on images
    assert rows["test"]["used"] and rows["test"]["key"] == rows["fine_tune"]["key"]
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    full = model.evaluate(splits_32.x_test.astype("float32"), splits_32.y_test, verbose=0, return_dict=True)
    assert m["test_loss"] == pytest.approx(full["loss"], rel=2e-3) and m["test_accuracy"] == full["accuracy"]
    summary = read_wandb_run(m["wandb_run_dir"])["summary"]
    assert summary["feature_cache/head/used"] is True and summary["feature_cache/fine_tune/bytes"] > 0
    assert summary["feature_cache/head/cuts_in_build"] == 2

    again = run_trial(CFG, None, tmp_path / "b", splits=splits_32)  # same cut, same weights (seed): reused
    assert [r.get("built") for r in again.feature_cache] == [False, False, None]  # head, fine_tune, test
    assert again.val_loss == pytest.approx(result.val_loss, rel=1e-5)


@pytest.mark.slow
def test_augmentation_says_why_not(splits_32, tmp_path):
    from inat_cnn.training.trial import run_trial

    aug = run_trial({**CFG, "head_epochs": 0, "epochs": 1, "augment": True}, None, tmp_path / "aug", splits=splits_32)
    assert list(aug.feature_cache) == [{"phase": "fine_tune", "used": False, "reason":
                                             "augmentation on (augment: True): the frozen prefix sees new images "
                                             "every epoch"}]
    assert read_wandb_run(aug.wandb_run_dir)["summary"]["feature_cache/fine_tune/used"] is False


def test_the_switches(monkeypatch):
    from inat_cnn.features.phase import switched_off
    from inat_cnn.trial_config import parse_trial_config

    on = parse_trial_config(CFG)
    assert on.feature_cache is True and switched_off(on) is None
    assert "feature_cache: false" in switched_off(parse_trial_config({**CFG, "feature_cache": False}))
    monkeypatch.setenv("INAT_CNN_FEATURE_CACHE", "0")
    assert "INAT_CNN_FEATURE_CACHE=0" in switched_off(on)
