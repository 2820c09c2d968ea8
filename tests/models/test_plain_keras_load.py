"""Saved models load with plain Keras, in a Python that cannot import inat_cnn, and predict as evaluate does.

The models are trained by the real trial code (``run_trial``: its checkpoint is what
``export best`` copies byte for byte), one per family and option that used to need a
custom class: scratch with label smoothing, fine-tuning with each preprocessing mode
(tf, torch, caffe), the CIFAR ResNet with each shortcut, and the top-k ensemble built by
the export's own code. The
subprocess runs the model card's own reload recipe.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from inat_cnn.export.ensemble import save_ensemble
from inat_cnn.models import build_model, load_model, save_model
from inat_cnn.models.predict import predict_probs
from inat_cnn.report.model_card import render_model_card
from inat_cnn.report.records import SweepResult, TrialRecord
from inat_cnn.training import run_trial
from inat_cnn.training.optim import compile_model
from inat_cnn.trial_config import parse_trial_config

SIZE = 32
COMMON = {"image_size": SIZE, "batch_size": 8, "epochs": 1, "viz": False}
FINETUNE = {**COMMON, "model": "finetune", "weights": "none"}
CASES = {
    "scratch_smoothing": {**COMMON, "model": "scratch", "conv_blocks": 2, "filters": 4, "dense_units": 8,
                          "label_smoothing": 0.1, "augment": True, "optimizer": "adamw", "weight_decay": 1e-4,
                          "lr_schedule": "cosine"},
    "finetune_tf": {**FINETUNE, "backbone": "mobilenet_v2", "trainable_layers": 3, "extra_dense": 4,
                    "augment": True, "optimizer": "sgd", "lr_schedule": "piecewise"},
    "finetune_torch": {**FINETUNE, "backbone": "densenet121", "label_smoothing": 0.2, "optimizer": "nadam",
                       "weight_decay": 1e-4},
    "finetune_caffe": {**FINETUNE, "backbone": "vgg16", "trainable_layers": 1, "optimizer": "rmsprop"},
    # zero-padded shortcuts (Reshape/ZeroPadding3D), L2 kernel regularizers, the cifar augmentation, a step schedule
    "resnet_cifar": {**COMMON, "model": "resnet", "depth": 8, "width": 4, "shortcut": "a", "head": "dense_dropout",
                     "dense_units": 8, "dropout": 0.5, "augment": "cifar", "optimizer": "sgd", "lr_schedule": "step",
                     "lr_boundaries": [1], "lr_values": [0.1, 0.01]},
    "resnet_projection": {**COMMON, "model": "resnet", "depth": 8, "width": 4, "shortcut": "b"},
}
TRAINED = ("scratch_smoothing", "finetune_caffe", "resnet_cifar")  # through run_trial; the others only built

from plain_keras import ISOLATE as _ISOLATE  # noqa: E402 - tests/ is on sys.path (its conftest)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """name -> folder holding model.keras, for every case and the ensemble of two of them; test images too.

    The fast cases run the whole trial; the two big backbones are built, compiled and checkpointed by the
    same calls the trial makes (``build_model``, ``compile_model``, ``save_model``), without the training.
    """
    from inat_cnn.data import load_splits, synthesize

    root = tmp_path_factory.mktemp("plain")
    data = synthesize(root / "data", classes=3, per_class=5, test_per_class=2, min_side=SIZE, max_side=40)
    splits = load_splits(data, SIZE, cache_dir=root / "cache")
    folders = {}
    for name in TRAINED:
        keras.backend.clear_session()
        run_trial(CASES[name], data, root / name, workspace=root / "ws", splits=splits)
        folders[name] = root / name
    for name in sorted(set(CASES) - set(TRAINED)):
        keras.backend.clear_session()
        config = parse_trial_config(CASES[name])
        model = build_model(config, 3)
        compile_model(model, config, learning_rate=config.learning_rate, phase_steps=4, num_classes=3,
                      jit_compile=False)
        model.optimizer.build(model.trainable_variables)  # saved with every slot, as after training
        (root / name).mkdir()
        folders[name] = save_model(model, root / name / "model.keras").parent
    (root / "ensemble").mkdir()
    save_ensemble([folders["scratch_smoothing"] / "model.keras", folders["finetune_caffe"] / "model.keras"],
                  root / "ensemble" / "model.keras")
    folders["ensemble"] = root / "ensemble"
    np.save(root / "images.npy", splits.x_test)  # uint8, raw 0..255
    return folders


def card_recipe() -> str:
    """The Python block of the model card's "How to reload" section, as an export writes it."""
    record = TrialRecord(number=0, name="trial-0000", state="finished", params={}, value=0.5)
    result = SweepResult(sweep_id="s", backend="local", metric="val_accuracy", goal="maximize", spec={},
                         trials=[record], swept=[])
    card = render_model_card(result, record, {"image_size": SIZE}, {})
    blocks = re.findall(r"```python\n(.*?)```", card.split("## How to reload", 1)[1], flags=re.S)
    assert len(blocks) == 1 and "inat_cnn" not in blocks[0].replace("no inat_cnn import", "")
    return blocks[0]


def foreign_classes(node) -> list[str]:
    """Every class a saved config names that is not Keras' own (a module outside keras, or a package>name)."""
    found = []
    if isinstance(node, dict):
        module, registered = node.get("module"), node.get("registered_name")
        if "class_name" in node and ((module and not module.startswith("keras")) or ">" in str(registered)):
            found.append(f"{module}.{node['class_name']} ({node.get('registered_name')})")
        for value in node.values():
            found += foreign_classes(value)
    elif isinstance(node, list):
        for value in node:
            found += foreign_classes(value)
    return found


def _saved_config(path: Path) -> dict:
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


@pytest.mark.slow
def test_every_saved_model_loads_in_plain_keras_and_predicts_as_evaluate(trained, tmp_path):
    images = trained["ensemble"].parent / "images.npy"
    for name, folder in trained.items():
        assert foreign_classes(_saved_config(folder / "model.keras")) == [], name
    for name, optimizer in (("scratch_smoothing", "AdamW"), ("finetune_torch", "Nadam")):
        compiled = _saved_config(trained[name] / "model.keras")["compile_config"]
        assert compiled["loss"]["class_name"] == "SparseCategoricalCrossentropy"  # the smoothed loss's stand-in
        assert compiled["optimizer"]["class_name"] == optimizer

    body = textwrap.indent(card_recipe(), "    ")
    script = _ISOLATE + textwrap.dedent(f'''
        import json, os
        import numpy as np
        images = np.load({str(images)!r}).astype("float32")
        for folder in {json.dumps([str(f) for f in trained.values()])}:
            os.chdir(folder)
        ''') + body + textwrap.dedent('''
            assert model.compiled == ("ensemble" not in folder), folder  # trials keep a built-in compile config
            np.save("plain_probs.npy", probs)
        import keras
        print(json.dumps({"custom": sorted(keras.saving.get_custom_objects()),
                          "inat": sorted(m for m in sys.modules if m.startswith("inat_cnn"))}))
        ''')
    child = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                           timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    assert json.loads(child.stdout.strip().splitlines()[-1]) == {"custom": [], "inat": []}

    x = np.load(images)
    for name, folder in trained.items():
        expected = predict_probs(load_model(folder / "model.keras"), x)  # what `inat-cnn evaluate` computes
        plain = np.load(folder / "plain_probs.npy")
        assert plain.shape == (len(x), 3), name
        np.testing.assert_allclose(plain, expected, rtol=1e-5, atol=1e-6, err_msg=name)


def test_nothing_in_the_project_registers_a_keras_class():
    import importlib

    for module in ("inat_cnn.models.finetune", "inat_cnn.models.io", "inat_cnn.models.augment",
                   "inat_cnn.training.optim", "inat_cnn.training.callbacks", "inat_cnn.export.ensemble",
                   "inat_cnn.viz"):
        importlib.import_module(module)
    assert [name for name in keras.saving.get_custom_objects() if name.startswith("inat_cnn")] == []
