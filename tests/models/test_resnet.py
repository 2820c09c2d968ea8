"""The CIFAR ResNet family: the paper's parameter counts, the plan against Keras, the shortcuts,
the CIFAR augmentation, and the figures' default layers."""

import keras
import numpy as np
import pytest

from inat_cnn.errors import UserError
from inat_cnn.models import build_model, format_summary, summarize, summarize_model
from inat_cnn.models.augment import augmentation_block
from inat_cnn.trial_config import parse_trial_config
from inat_cnn.viz.introspect import default_target_layer, first_conv, layer_outputs

#: He et al. 2016, Table 6 (CIFAR-10, option a): parameters in millions.
PAPER = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85}


def trainable_by_hand(depth: int) -> int:
    """Trainable parameters of ResNet-depth, width 16, 10 classes, option a (BN: gamma and beta).

    stem 3·3·3·16 + 2·16 = 464; stage 1: n blocks of 2 × (9·16·16 + 32) = 4,672; stage 2: the first
    block 9·16·32 + 9·32·32 + 4·32 = 13,952, the others 2 × (9·32·32 + 64) = 18,560; stage 3: the first
    9·32·64 + 9·64·64 + 4·64 = 55,552, the others 2 × (9·64·64 + 128) = 73,984; head 64·10 + 10 = 650.
    """
    n = (depth - 2) // 6
    return 464 + 4672 * n + 13952 + 18560 * (n - 1) + 55552 + 73984 * (n - 1) + 650


def moving_stats_by_hand(depth: int) -> int:
    """BN moving mean and variance: 2 × (16 stem channels + 2n convs × (16 + 32 + 64) channels)."""
    n = (depth - 2) // 6
    return 2 * (16 + 2 * n * (16 + 32 + 64))


def resnet(**keys):
    return parse_trial_config({"model": "resnet", **keys})


def _count(weights) -> int:
    return sum(int(np.prod(w.shape)) for w in weights)


def _rows(summary):
    return {r.name: (r.kind, r.output_shape, r.params, r.flops, r.trained) for r in summary.rows}


@pytest.mark.parametrize("depth", sorted(PAPER))
def test_paper_parameter_counts_equal_the_summary_and_keras(depth):
    config = resnet(depth=depth)
    summary = summarize(config, 10)
    assert summary.trainable_params == trainable_by_hand(depth)
    assert round(summary.trainable_params / 1e6, 2) == PAPER[depth]
    assert summary.total_params == trainable_by_hand(depth) + moving_stats_by_hand(depth)
    model = build_model(config, 10)
    assert summary.total_params == model.count_params()
    assert summary.trainable_params == _count(model.trainable_weights)
    assert _rows(summary) == _rows(summarize_model(model))  # shapes, params and FLOPs per layer
    assert f"trainable {trainable_by_hand(depth):,}" in format_summary(summary)


@pytest.mark.parametrize("keys", [
    dict(shortcut="b", depth=8, width=4),
    dict(head="dense_dropout", dense_units=8, augment="cifar", depth=14, width=4, image_size=20),
    dict(head="flatten_dropout", depth=8, width=6, activation="gelu", l2=0.0),
], ids=["projection", "dense-head-cifar-odd-size", "flatten-head"])
def test_plan_matches_keras_for_every_option(keys):
    config = resnet(**keys)
    model = build_model(config, 5)
    plan = summarize(config, 5)
    assert _rows(plan) == _rows(summarize_model(model))
    assert plan.total_params == model.count_params()
    assert plan.trainable_params == _count(model.trainable_weights)


def test_shortcut_rows_and_the_zero_padded_identity():
    config = resnet(depth=8, width=4, image_size=16)
    rows = {r.name: r for r in summarize(config, 3).rows}
    assert rows["stage2_block1_add"].kind == "Add" and rows["stage2_block1_add"].flops == 8 * 8 * 8
    assert rows["stage2_block1_pad"].kind == "ZeroPadding3D" and rows["stage2_block1_pad"].params == 0
    assert rows["stage2_block1_pad_out"].output_shape == (8, 8, 8)
    assert "stage1_block1_pad" not in rows  # the first stage keeps its shape: a plain identity
    projected = {r.name: r for r in summarize(resnet(depth=8, width=4, shortcut="b"), 3).rows}
    assert projected["stage2_block1_proj"].params == 4 * 8 and "stage2_block1_pad" not in projected

    model = build_model(config, 3)
    x = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    entering, shortcut = layer_outputs(model, [model.get_layer("stage1_block1_out"),
                                               model.get_layer("stage2_block1_pad_out")], x)
    entering, shortcut = keras.ops.convert_to_numpy(entering), keras.ops.convert_to_numpy(shortcut)
    # option a: every other pixel of the block's input, 2 zero channels before and 2 after its 4
    np.testing.assert_array_equal(shortcut[..., 2:6], entering[:, ::2, ::2, :])
    assert not shortcut[..., :2].any() and not shortcut[..., 6:].any()


def test_init_and_weight_decay_are_the_papers():
    model = build_model(resnet(depth=8, width=4), 3)
    conv = model.get_layer("stage2_block1_conv1")
    assert conv.get_config()["kernel_initializer"]["class_name"] == "HeNormal"
    assert conv.kernel_regularizer.l2 == pytest.approx(0.5e-4)  # gradient 1e-4 · w, as the paper's decay
    assert len(model.losses) == sum(1 for layer in model.layers if getattr(layer, "kernel_regularizer", None))
    assert model.get_layer("stage1_block1_bn1").momentum == pytest.approx(0.9)
    assert build_model(resnet(depth=8, width=4, l2=0.0), 3).losses == []


def test_cifar_augmentation_shifts_with_zero_fill_and_flips_only_in_training():
    block = augmentation_block(seed=3, kind="cifar", image_size=32)
    x = np.random.default_rng(1).uniform(1, 255, (8, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(block(x, training=False)), x)
    out = keras.ops.convert_to_numpy(block(x, training=True))
    moved = 0
    for image, result in zip(x, out):
        match = [(dy, dx, flip) for dy in range(-4, 5) for dx in range(-4, 5) for flip in (False, True)
                 if _shifted(image[:, ::-1] if flip else image, dy, dx, result)]
        assert match, "not a shift of at most 4 px (zero fill), flipped or not"
        moved += match[0] != (0, 0, False)
    assert moved >= 4
    assert [layer.name for layer in augmentation_block(kind=True).layers][0] == "random_flip"


def _shifted(image, dy, dx, result) -> bool:
    padded = np.pad(image, ((4, 4), (4, 4), (0, 0)))
    window = padded[4 - dy:36 - dy, 4 - dx:36 - dx]
    return bool(np.allclose(window, result, atol=1e-3))


def test_figures_target_the_last_residual_stage():
    for head in ("gap", "dense_dropout"):
        model = build_model(resnet(depth=14, width=4, head=head, dense_units=4), 3)
        assert default_target_layer(model).name == "stage3_block2_out"
        assert first_conv(model).name == "stem_conv"


def test_depth_must_be_6n_plus_2():
    with pytest.raises(UserError, match=r"depth must be 6n\+2.*21 is not; the nearest are 20 and 26"):
        resnet(depth=21)
    assert resnet(depth=110).blocks_per_stage == 18
    assert resnet().image_size == 32 and resnet().dropout == 0.0
