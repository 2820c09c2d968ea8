"""Trial configs fill defaults, resolve derived values and reject bad values with the key named."""

import pytest

from inat_cnn.errors import UserError
from inat_cnn.trial_config import parse_trial_config, resolved_dict


def test_scratch_defaults_and_filter_plans():
    cfg = parse_trial_config({"model": "scratch", "filters": 32, "filter_org": "double"})
    assert cfg.image_size == 224 and cfg.conv_blocks == 5
    assert cfg.filter_plan == [32, 64, 128, 256, 512]
    assert parse_trial_config({"filters": 64, "filter_org": "half"}).filter_plan == [64, 32, 16, 8, 4]
    assert parse_trial_config({"filters": [8, 16, 8], "conv_blocks": 3}).filter_plan == [8, 16, 8]
    assert parse_trial_config({"kernel_size": [7, 5, 5, 3, 3]}).kernel_plan == [7, 5, 5, 3, 3]


def test_finetune_resolves_native_size_and_phase_b_rate():
    cfg = parse_trial_config({"model": "finetune", "backbone": "inception_v3", "learning_rate": 0.01})
    assert cfg.image_size == 299
    assert cfg.fine_tune_learning_rate == pytest.approx(0.001)
    assert resolved_dict(cfg)["fine_tune_learning_rate"] == pytest.approx(0.001)


@pytest.mark.parametrize("data, key", [
    ({"dropout": 1.2}, "dropout"),
    ({"kernel_size": [3, 3]}, "kernel_size"),
    ({"model": "finetune", "backbone": "resnet51"}, "backbone"),
    ({"model": "finetune", "backbone": "vgg16", "head_epochs": 20, "epochs": 5}, "head_epochs"),
    ({"optimizer": "adagrad"}, "optimizer"),
    ({"unknown_key": 1}, "unknown_key"),
])
def test_bad_values_name_the_key(data, key):
    with pytest.raises(UserError) as info:
        parse_trial_config(data, source="--set")
    assert key in str(info.value)
