"""Backbones: analytic counts vs Keras for every registered backbone, preprocessing, frozen-k, weights errors."""

import keras
import numpy as np
import pytest

from inat_cnn.errors import UserError
from inat_cnn.models import apply_phase, build_model, find_backbone, load_model, summarize_model, tuning_ratios
from inat_cnn.models.backbones import REGISTRY
from inat_cnn.models.finetune import backbone_layers
from inat_cnn.models.preprocess import apply_preprocessing
from inat_cnn.trial_config import BACKBONES, parse_trial_config


def _config(backbone, size=None, **kw):
    size = size or REGISTRY[backbone].min_size
    return parse_trial_config({"model": "finetune", "backbone": backbone, "weights": "none", "image_size": size,
                               **kw})


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


def test_registry_covers_the_vocabulary():
    assert set(REGISTRY) == set(BACKBONES)


@pytest.mark.slow  # builds each full-size backbone
@pytest.mark.parametrize("backbone", BACKBONES)
def test_analytic_counts_match_keras(backbone):
    model = build_model(_config(backbone, trainable_layers=4, extra_dense=8), 3)
    summary = summarize_model(model)
    assert summary.total_params == model.count_params()
    assert summary.trainable_params == _count(model.trainable_weights)
    assert summary.total_flops > 2 * summary.total_params // 10  # every conv layer was counted
    unknown_weighted = {r.kind for r in summary.rows if r.params and r.kind not in (
        "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense", "BatchNormalization", "Normalization")}
    assert not unknown_weighted


_APPLICATION_MODULES = {"InceptionV3": "inception_v3", "InceptionResNetV2": "inception_resnet_v2",
                        "ResNet50": "resnet50", "Xception": "xception", "DenseNet121": "densenet",
                        "EfficientNetB2": "efficientnet", "MobileNetV2": "mobilenet_v2", "NASNetMobile": "nasnet",
                        "VGG16": "vgg16"}


@pytest.mark.parametrize("backbone", BACKBONES)
def test_preprocessing_layers_equal_keras_preprocess_input(backbone):
    """Each backbone's preprocessing (Keras' own layers) gives its own preprocess_input, to float32 rounding."""
    spec = REGISTRY[backbone]
    module = getattr(keras.applications, _APPLICATION_MODULES[spec.builder])
    x = np.random.default_rng(1).uniform(0, 255, (2, 5, 5, 3)).astype("float32")
    x[0, 0, :2] = [[0, 0, 0], [255, 255, 255]]
    for policy in ("mixed_bfloat16", "float32"):  # the GPU policy too: preprocessing stays float32
        keras.config.set_dtype_policy(policy)
        try:
            inputs = keras.Input((5, 5, 3))
            model = keras.Model(inputs, apply_preprocessing(inputs, spec.preprocess))
            ours = np.asarray(model.predict(x, verbose=0), "float32")
        finally:
            keras.config.set_dtype_policy("float32")
        np.testing.assert_allclose(ours, module.preprocess_input(x.copy()), rtol=1e-6, atol=2e-6, err_msg=policy)
    names = [layer.name for layer in model.layers[1:]]
    assert names[-1:] == ([] if spec.preprocess == "none" else ["preprocess"]) and not model.trainable_weights


@pytest.mark.slow
def test_frozen_k_trains_exactly_k_layers_and_keeps_bn_in_inference_mode():
    cfg = _config("mobilenet_v2", trainable_layers=9, head_epochs=1, epochs=2)
    model = build_model(cfg, 3)
    backbone = find_backbone(model)
    counted = backbone_layers(backbone)
    assert [layer for layer in counted if layer.trainable] == counted[-9:]
    bns = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bns and not any(bn.trainable for bn in bns)
    # The window of 9 crosses BN layers: a training step must leave their statistics untouched.
    window_bns = [bn for bn in bns if backbone.layers.index(bn) > backbone.layers.index(counted[-9])]
    assert window_bns
    before = [bn.moving_mean.numpy().copy() for bn in window_bns]
    kernel_before = model.get_layer("predictions").bias.numpy().copy()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    model.fit(x, np.array([0, 1, 2, 0]), epochs=1, verbose=0)
    for bn, mean in zip(window_bns, before):
        np.testing.assert_array_equal(bn.moving_mean.numpy(), mean)
    assert not np.allclose(model.get_layer("predictions").bias.numpy(), kernel_before)  # the step ran

    ratios = tuning_ratios(model)
    weighted = [layer for layer in backbone.layers if layer.weights] + [model.get_layer("predictions")]
    tuned = [layer for layer in counted[-9:] if layer.weights] + [model.get_layer("predictions")]
    assert ratios["layer_tuning_ratio"] == pytest.approx(len(tuned) / len(weighted))
    assert ratios["parameter_tuning_ratio"] == pytest.approx(_count(model.trainable_weights) / model.count_params())

    apply_phase(model, cfg, "head")
    assert _count(model.trainable_weights) == model.get_layer("predictions").count_params()
    assert tuning_ratios(model)["layer_tuning_ratio"] == pytest.approx(1 / len(weighted))


@pytest.mark.slow
def test_finetune_model_round_trips_in_safe_mode(tmp_path):
    model = build_model(_config("mobilenet_v2", augment=True), 3)
    model.save(tmp_path / "m.keras")
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(load_model(tmp_path / "m.keras").predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-5)


def test_load_model_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_model(tmp_path / "missing.keras")
    (tmp_path / "bad.keras").write_text("not a zip")
    with pytest.raises(UserError, match="not a Keras model"):
        load_model(tmp_path / "bad.keras")


def test_weights_errors_are_clear(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="does not exist"):
        build_model(_config("vgg16", weights=str(tmp_path / "nope.h5")), 3)
    with pytest.raises(UserError, match="smallest input inception_v3 accepts"):
        build_model(_config("inception_v3", size=64), 3)
    import urllib.error

    from keras.src.backend import config as keras_config
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path / "keras_home"))
    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    with pytest.raises(UserError) as err:
        build_model(parse_trial_config({"model": "finetune", "backbone": "vgg16", "image_size": 32}), 3)
    message = str(err.value)
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert str(tmp_path / "keras_home" / "models") in message and "inat-cnn weights fetch vgg16" in message
