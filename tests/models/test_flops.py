"""Analytic params/FLOPs: hand-computed values for tiny layers and a tiny scratch CNN (pure, no Keras)."""

import pytest

from inat_cnn.errors import UserError
from inat_cnn.models import flops as F
from inat_cnn.models.scratch import scratch_plan
from inat_cnn.trial_config import parse_trial_config


def test_conv_same_and_valid_by_hand():
    # 8x8x3 input, 4 filters 3x3: 3*3*3*4 weights + 4 biases; 2*27 FLOPs per output element.
    assert F.conv2d((8, 8, 3), 4, (3, 3), padding="same") == ((8, 8, 4), 112, 2 * 27 * 8 * 8 * 4)
    assert F.conv2d((8, 8, 3), 4, (3, 3), padding="valid", use_bias=False) == ((6, 6, 4), 108, 2 * 27 * 36 * 4)
    assert F.conv2d((7, 7, 2), 3, (3, 3), strides=(2, 2), padding="same")[0] == (4, 4, 3)
    assert F.conv2d((7, 7, 2), 3, (3, 3), strides=(2, 2), padding="valid")[0] == (3, 3, 3)


def test_depthwise_separable_dense_bn_pool_by_hand():
    assert F.depthwise_conv2d((4, 4, 2), (3, 3)) == ((4, 4, 2), 18 + 2, 2 * 9 * 32)
    # separable: depthwise 3x3x2 (no bias) + pointwise 2->5 with bias
    assert F.separable_conv2d((4, 4, 2), 5, (3, 3)) == ((4, 4, 5), 18 + 10 + 5, 2 * 9 * 32 + 2 * 2 * 80)
    assert F.dense((10,), 3) == ((3,), 33, 60)
    assert F.batch_norm((4, 4, 6)) == ((4, 4, 6), 24, 192)
    assert F.batch_norm((4, 4, 6), center=True, scale=False)[1] == 18
    assert F.pool2d((5, 5, 2), (2, 2)) == ((2, 2, 2), 0, 4 * 8)
    assert F.global_pool((3, 3, 4)) == ((4,), 0, 36)


def test_tiny_scratch_plan_totals_by_hand():
    cfg = parse_trial_config({"model": "scratch", "image_size": 8, "conv_blocks": 2, "filters": 2,
                              "filter_org": "double", "kernel_size": [3, 1], "dense_units": 5, "batch_norm": True})
    rows = {r.name: r for r in scratch_plan(cfg, num_classes=3)}
    assert rows["block1_conv"].params == 3 * 3 * 3 * 2  # no bias before BN
    assert rows["block1_conv"].flops == 2 * 27 * 8 * 8 * 2
    assert rows["block1_bn"].params == 8 and rows["block1_bn"].trained == 4
    assert rows["block1_pool"].output_shape == (4, 4, 2)
    assert rows["block2_conv"].output_shape == (4, 4, 4) and rows["block2_conv"].params == 2 * 4
    assert rows["flatten"].output_shape == (16,)
    assert rows["dense"].params == 16 * 5 + 5 and rows["dense"].flops == 2 * 16 * 5
    assert rows["predictions"].params == 5 * 3 + 3 and rows["predictions"].flops == 2 * 5 * 3 + 3
    summary = F.ModelSummary.from_rows(list(rows.values()))
    assert summary.total_params == 54 + 8 + 8 + 16 + 85 + 18
    assert summary.trainable_params == summary.total_params - 2 * 2 - 2 * 4  # moving mean/variance


def test_too_small_image_is_a_user_error_naming_the_keys():
    cfg = parse_trial_config({"model": "scratch", "image_size": 16, "conv_blocks": 5, "padding": "valid"})
    with pytest.raises(UserError, match="image_size 16 .*conv_blocks 5"):
        scratch_plan(cfg, 10)
