"""The scratch CNN built in Keras agrees with its pure plan and with Keras' own counts."""

import keras
import numpy as np
import pytest

from inat_cnn.models import build_model, load_model, summarize, summarize_model, tuning_ratios
from inat_cnn.trial_config import parse_trial_config

CONFIGS = {
    "same-org": dict(filters=8, filter_org="same"),
    "double-valid": dict(filters=4, filter_org="double", padding="valid", kernel_size=[3, 5, 3, 3, 1],
                         image_size=96),
    "half-no-bn-augment": dict(filters=32, filter_org="half", batch_norm=False, augment=True, conv_blocks=3,
                               activation="gelu"),
    "explicit-list": dict(filters=[4, 6, 8], conv_blocks=3, kernel_size=5, activation="leaky_relu"),
}


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_plan_matches_keras(name):
    cfg = parse_trial_config({"model": "scratch", "image_size": 32, "dense_units": 16, **CONFIGS[name]})
    model = build_model(cfg, 5)
    plan, walked = summarize(cfg, 5), summarize_model(model)
    assert [(r.name, r.output_shape, r.params, r.flops) for r in plan.rows] == \
           [(r.name, r.output_shape, r.params, r.flops) for r in walked.rows]
    assert plan.total_params == model.count_params()
    assert plan.trainable_params == _count(model.trainable_weights)
    assert tuning_ratios(model)["layer_tuning_ratio"] == 1.0


def test_layer_contract_names_bn_momentum_and_softmax():
    cfg = parse_trial_config({"model": "scratch", "image_size": 32, "conv_blocks": 2, "filters": 4,
                              "dense_units": 8, "activation": "silu"})
    model = build_model(cfg, 3)
    names = [layer.name for layer in model.layers]
    assert names[1:] == ["rescale", "block1_conv", "block1_bn", "block1_act", "block1_pool", "block2_conv",
                         "block2_bn", "block2_act", "block2_pool", "flatten", "dense", "dense_act", "dropout",
                         "predictions"]
    assert model.get_layer("block1_bn").momentum == pytest.approx(0.9)
    assert isinstance(model.get_layer("block1_act"), keras.layers.Activation)
    assert model.get_layer("block1_conv").get_config()["activation"] == "linear"
    probs = model.predict(np.full((2, 32, 32, 3), 200.0, "float32"), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_keras_conv_net_flops_by_hand():
    """summarize_model on a hand-built Keras net: every FLOP count derived on paper."""
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(3, 3, padding="valid", activation="relu")(inputs)   # 4x4x3
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.MaxPooling2D(2)(x)                                          # 2x2x3
    x = keras.layers.GlobalAveragePooling2D()(x)                                 # 3
    outputs = keras.layers.Dense(2)(x)
    summary = summarize_model(keras.Model(inputs, outputs))
    conv = 2 * (3 * 3 * 2) * 48 + 48  # multiply-adds + fused relu
    bn, pool, gap, dense = 2 * 48, 4 * 12, 12, 2 * 3 * 2
    assert [r.flops for r in summary.rows] == [conv, bn, pool, gap, dense]
    assert summary.total_params == (18 * 3 + 3) + 12 + 0 + 0 + 8 == keras.Model(inputs, outputs).count_params()


def test_augmentation_is_identity_at_inference_and_model_round_trips(tmp_path):
    cfg = parse_trial_config({"model": "scratch", "image_size": 16, "conv_blocks": 2, "filters": 4,
                              "dense_units": 8, "augment": True})
    model = build_model(cfg, 3)
    x = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 3)).astype("float32")
    augment = model.get_layer("augment")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(augment(x, training=False)), x)
    assert not np.allclose(keras.ops.convert_to_numpy(augment(x, training=True)), x)
    path = tmp_path / "m.keras"
    model.save(path)
    np.testing.assert_allclose(load_model(path).predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
