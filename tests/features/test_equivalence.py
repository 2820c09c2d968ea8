"""Cached path == full path: same initial weights, same batches, a few steps, same losses and weights.

Features are stored in float32 here (the float16 effect is measured apart, see docs/feature-cache.md),
so the only difference is where the frozen prefix runs (float round-off in another op order): losses
within rtol 1e-4 / atol 1e-5, weights within rtol 1e-3 / atol 1e-4 (ResNet50 k=12 after 2 SGD steps at
lr 0.05: 21 of 2.4M kernel entries differ by up to 3.3e-5).
"""

from types import SimpleNamespace

import numpy as np
import pytest

pytestmark = pytest.mark.slow

RTOL, ATOL = 1e-4, 1e-5
W_RTOL, W_ATOL = 1e-3, 1e-4
N, CLASSES, BATCH = 6, 3, 3  # 2 steps per epoch


def _splits(size: int):
    rng = np.random.default_rng(0)
    parts = {p: (rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), rng.integers(0, CLASSES, n).astype(np.int32))
             for p, n in (("train", N), ("val", 3), ("test", 2))}
    return SimpleNamespace(**{f"x_{p}": x for p, (x, _) in parts.items()},
                           **{f"y_{p}": y for p, (_, y) in parts.items()}, class_names=["a", "b", "c"])


def _recorder():
    """A callback with a batch hook (OnFullModel forwards one only if it has it) recording each step's loss."""
    import keras

    class Recorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.losses, self.seen_models = [], set()

        def on_train_batch_end(self, batch, logs=None):
            self.losses.append(float(logs["loss"]))
            self.seen_models.add(self.model.name)

    return Recorder()


def _run(model, config, splits, tmp_path, cached: bool, k: int):
    from inat_cnn.data import ArrayBatches
    from inat_cnn.features.phase import plan_phase
    from inat_cnn.models import apply_phase
    from inat_cnn.training.optim import compile_model

    cfg = config.model_copy(update={"trainable_layers": k})
    apply_phase(model, cfg, "fine_tune")
    compile_model(model, cfg, learning_rate=0.05, phase_steps=2, num_classes=CLASSES, jit_compile=False)
    train = ArrayBatches(splits.x_train, splits.y_train, BATCH, shuffle=True, seed=1)
    val = ArrayBatches(splits.x_val, splits.y_val, BATCH, shuffle=False)
    rec = _recorder()
    import keras

    if not cached:
        keras.utils.set_random_seed(7)  # fit shuffles a PyDataset's batch order with Python's `random`
        hist = model.fit(train, validation_data=val, epochs=1, callbacks=[rec], verbose=0)
        return rec, hist.history, None
    phase = plan_phase(model, cfg, splits, tmp_path / "cache", "fine_tune", train, [rec], dtype="float32")
    assert phase.used, phase.record
    keras.utils.set_random_seed(7)
    hist = phase.suffix.fit(phase.train, validation_data=phase.val, epochs=1, callbacks=phase.callbacks, verbose=0)
    return rec, hist.history, phase


@pytest.mark.parametrize("backbone,size,ks,min_tensors", [
    ("mobilenet_v2", 32, (0, 3, 12), 1),
    ("resnet50", 32, (0, 3, 12), 2),  # k=3: the last block's 3_conv, add, out train: the shortcut crosses
    ("xception", 71, (0, 4, 30), 2),  # k=30 reaches the residual middle flow
])
def test_cached_path_trains_the_full_model_identically(tmp_path, backbone, size, ks, min_tensors):
    import keras

    from inat_cnn.features.cut import find_cut
    from inat_cnn.models.finetune import apply_phase, build_finetune
    from inat_cnn.trial_config import parse_trial_config

    keras.utils.set_random_seed(0)
    config = parse_trial_config({"model": "finetune", "backbone": backbone, "weights": "none", "image_size": size,
                                 "dropout": 0.0, "batch_size": BATCH, "epochs": 2, "optimizer": "sgd"})
    model = build_finetune(config, CLASSES)
    rng = np.random.default_rng(1)
    for v in model.variables:  # BN shifts > 0: random-init activations stay alive through the whole backbone
        if v.path.endswith("/beta"):
            v.assign(rng.uniform(0.1, 0.5, v.shape).astype("float32"))
    splits = _splits(size)
    initial = [np.array(v.numpy()) for v in model.variables]
    widest = 0
    for k in ks:
        for v, w in zip(model.variables, initial):
            v.assign(w)
        full_rec, full_hist, _ = _run(model, config, splits, tmp_path, cached=False, k=k)
        full_weights = [np.array(v.numpy()) for v in model.variables]
        for v, w in zip(model.variables, initial):
            v.assign(w)
        cached_rec, cached_hist, phase = _run(model, config, splits, tmp_path, cached=True, k=k)
        apply_phase(model, config.model_copy(update={"trainable_layers": k}), "fine_tune")
        widest = max(widest, len(find_cut(model).tensors))
        assert cached_rec.seen_models == {model.name}  # the callbacks saw the full model, not the suffix
        assert len(cached_rec.losses) == len(full_rec.losses) == 2
        np.testing.assert_allclose(cached_rec.losses, full_rec.losses, rtol=RTOL, atol=ATOL)
        for key in ("loss", "val_loss", "val_accuracy"):
            np.testing.assert_allclose(cached_hist[key], full_hist[key], rtol=RTOL, atol=ATOL)
        trained = {v.path for v in model.trainable_variables}
        moved = set()
        for v, w0, wf in zip(model.variables, initial, full_weights):
            np.testing.assert_allclose(np.array(v.numpy()), wf, rtol=W_RTOL, atol=W_ATOL, err_msg=v.path)
            if not np.array_equal(w0, wf):
                moved.add(v.path)
        assert moved == trained  # every trainable weight changed, nothing else did
        assert phase.record["cut"] and phase.record["bytes"] > 0
    assert widest >= min_tensors
