"""One build writes every cut a sweep's frozen-k values need: one pass over the images, one folder per cut."""

import json

import numpy as np
import pytest

FT = {"model": "finetune", "backbone": "mobilenet_v2", "weights": "none", "image_size": 32, "batch_size": 8,
      "viz": False}
KS = [0, 3, 12]


def _parts():
    rng = np.random.default_rng(0)
    return {p: rng.integers(0, 256, (n, 4, 4, 3), dtype=np.uint8) for p, n in (("train", 6), ("val", 3), ("test", 2))}


def _fake(names: list):
    """compute(images) for tensor names "mean", "first", "double" (per-image values: a misplaced row would show)."""
    def compute(images):
        flat = images.reshape(len(images), -1).astype(np.float32)
        values = {"mean": flat.mean(axis=1, keepdims=True), "first": flat[:, :2], "double": flat[:, :3] * 2}
        return [values[n] for n in names]
    return compute


def test_one_stream_writes_every_group_and_a_later_call_reuses_it(tmp_path):
    from inat_cnn.features.cache import Group, load_or_build_many

    calls = []

    def make_compute(names):
        calls.append(list(names))
        inner = _fake(names)
        return lambda images: (calls.append(images.shape), inner(images))[1]

    own = Group({"backbone": "fake", "cut": ["mean"]}, [(1,)], ["mean"])
    a = Group({"backbone": "fake", "cut": ["mean", "first"]}, [(1,), (2,)], ["mean", "first"])
    b = Group({"backbone": "fake", "cut": ["double"]}, [(3,)], ["double"])
    got, extra = load_or_build_many(tmp_path, own, [a, b], _parts(), make_compute, batch=4)
    assert got.built and [r["written"] for r in extra] == [True, True]
    assert calls == [["mean", "first", "double"], (4, 4, 4, 3), (4, 4, 4, 3), (4, 4, 4, 3)]  # one pass, 11 rows
    assert got.meta["built_with"] == [own.folder_name, a.folder_name, b.folder_name]
    calls.clear()
    again, _ = load_or_build_many(tmp_path, a, [], _parts(), make_compute, batch=4)
    assert not again.built and calls == []
    for part, x in _parts().items():
        want = _fake(["mean", "first"])(x)
        for stored, expected in zip(again.parts[part], want):
            np.testing.assert_allclose(np.asarray(stored, np.float32), expected, rtol=1e-3)
    assert sorted(p.name for p in (tmp_path / "features").iterdir() if p.is_dir()) == sorted(
        g.folder_name for g in (own, a, b))  # no .tmp- folder left


def test_an_extra_whose_lock_is_held_or_that_is_complete_is_left_out(tmp_path):
    from inat_cnn.features.cache import Group, features_root, load_or_build, load_or_build_many
    from inat_cnn.locks import lock_if_free

    own = Group({"cut": ["mean"]}, [(1,)], ["mean"])
    held = Group({"cut": ["first"]}, [(2,)], ["first"])
    done = Group({"cut": ["double"]}, [(3,)], ["double"])
    load_or_build(tmp_path, done.identity, done.shapes, _parts(), _fake(["double"]), batch=4)
    features_root(tmp_path).mkdir(exist_ok=True)
    with lock_if_free(features_root(tmp_path) / held.folder_name) as free:  # another builder has it
        assert free
        got, extra = load_or_build_many(tmp_path, own, [held, done], _parts(), _fake, batch=4)
    assert got.built and got.meta["built_with"] == [own.folder_name]
    assert extra == [{"key": held.folder_name, "written": False, "reason": "another process holds its lock"},
                     {"key": done.folder_name, "written": False, "reason": "complete already"}]
    assert not (features_root(tmp_path) / held.folder_name).exists()


def test_one_group_beyond_float16_stores_every_group_as_float32(tmp_path):
    from inat_cnn.features.cache import Group, load_or_build_many

    def make_compute(names):
        inner = _fake(names)
        return lambda images: [v * (1e5 if n == "double" else 1) for n, v in zip(names, inner(images))]

    own = Group({"cut": ["mean"]}, [(1,)], ["mean"])
    big = Group({"cut": ["double"]}, [(3,)], ["double"])
    got, extra = load_or_build_many(tmp_path, own, [big], _parts(), make_compute, batch=4)
    assert got.meta["dtype"] == "float32" and extra[0]["written"]
    again, _ = load_or_build_many(tmp_path, big, [], _parts(), make_compute, batch=4)
    assert not again.built and again.meta["dtype"] == "float32"
    np.testing.assert_allclose(again.parts["train"][0], _fake(["double"])(_parts()["train"])[0] * 1e5, rtol=1e-6)


def _plan(config, splits, cache_dir, phase="fine_tune"):
    import keras

    from inat_cnn.data import ArrayBatches
    from inat_cnn.features.phase import plan_phase
    from inat_cnn.models import apply_phase
    from inat_cnn.models.finetune import build_finetune
    from inat_cnn.training.optim import compile_model

    keras.utils.set_random_seed(0)
    model = build_finetune(config, len(splits.class_names))
    rng = np.random.default_rng(1)
    for v in model.variables:  # random-init activations vanish with zero BN shifts: keep them alive
        if v.path.endswith("/beta"):
            v.assign(rng.uniform(0.1, 0.5, v.shape).astype("float32"))
    apply_phase(model, config, phase)
    compile_model(model, config, learning_rate=1e-3, phase_steps=2, num_classes=len(splits.class_names),
                  jit_compile=False)
    flags = [layer.trainable for layer in model._flatten_layers()]
    train = ArrayBatches(splits.x_train, splits.y_train, config.batch_size, shuffle=True, seed=0)
    cached = plan_phase(model, config, splits, cache_dir, phase, train, [])
    assert [layer.trainable for layer in model._flatten_layers()] == flags  # the phase's own flags put back
    return cached


def _count_prefixes(monkeypatch):
    from inat_cnn.features import phase

    made = []
    real = phase.prefix_model
    monkeypatch.setattr(phase, "prefix_model", lambda *a, **kw: made.append(1) or real(*a, **kw))
    return made


@pytest.mark.slow
def test_a_phase_writes_the_sweeps_other_cuts_and_a_later_k_reuses_them(splits_32, tmp_path, monkeypatch):
    from inat_cnn.trial_config import parse_trial_config

    made = _count_prefixes(monkeypatch)
    first = _plan(parse_trial_config({**FT, "trainable_layers": 3, "feature_cache_cuts": KS}), splits_32, tmp_path)
    record = first.record
    assert record["built"] and record["cuts_in_build"] == 3 and len(made) == 1  # one prefix, one pass
    assert [r["trainable_layers"] for r in record["also_built"]] == [0, 12] and "also_skipped" not in record

    later = _plan(parse_trial_config({**FT, "trainable_layers": 12}), splits_32, tmp_path)
    assert later.record["built"] is False and len(made) == 1  # no prefix built, no pass
    assert later.record["key"] == record["also_built"][1]["key"] and later.record["cuts_in_build"] == 3
    meta = json.loads((tmp_path / "features" / later.record["key"] / "meta.json").read_text())
    assert meta["seconds"] == record["first_build_s"]  # the shared build's time

    fresh = _plan(parse_trial_config({**FT, "trainable_layers": 12}), splits_32, tmp_path / "fresh")
    assert fresh.record["built"] and fresh.record["key"] == later.record["key"]  # same identity, same key
    for batches in ("train", "val", "test"):
        for shared, alone in zip(getattr(later, batches).arrays, getattr(fresh, batches).arrays):
            a, b = np.asarray(shared, np.float32), np.asarray(alone, np.float32)
            assert a.shape == b.shape and np.abs(b).max() > 0
            np.testing.assert_allclose(a, b, rtol=2e-3, atol=1e-3)  # both float16: one rounding step apart at most


@pytest.mark.slow
def test_cuts_that_cannot_be_cached_are_skipped_with_their_reason(splits_32, tmp_path):
    from inat_cnn.trial_config import parse_trial_config

    cfg = parse_trial_config({**FT, "trainable_layers": 3, "feature_cache_cuts": [3, 10_000]})
    record = _plan(cfg, splits_32, tmp_path).record
    assert record["built"] and record["also_built"] == [] and record["cuts_in_build"] == 1
    assert record["also_skipped"] == [{"trainable_layers": 10_000, "reason": "no frozen backbone layer before the "
                                                                             "first trainable one: nothing to cache"}]


def test_the_engine_fills_the_cuts_from_a_swept_trainable_layers():
    from inat_cnn.engine.space import feature_cache_cuts
    from inat_cnn.spec import validate_sweep_dict

    def spec(trainable_layers):
        return validate_sweep_dict({"method": "grid", "metric": {"name": "val_accuracy", "goal": "maximize"},
                                    "parameters": {"model": {"value": "finetune"},
                                                   "backbone": {"value": "mobilenet_v2"},
                                                   "trainable_layers": trainable_layers}}).spec

    assert feature_cache_cuts(spec({"values": [20, 0, 5, 40, 10, 5]})) == [0, 5, 10, 20, 40]
    assert feature_cache_cuts(spec({"value": 5})) == []  # one k: nothing else to write
    assert feature_cache_cuts(spec({"values": [5]})) == []
    no_k = validate_sweep_dict({"method": "grid", "metric": {"name": "val_accuracy", "goal": "maximize"},
                                "parameters": {"model": {"value": "finetune"}, "backbone": {"value": "vgg16"}}})
    assert feature_cache_cuts(no_k.spec) == []
