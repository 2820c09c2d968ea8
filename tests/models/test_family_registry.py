"""One family registry and one backbone table: every family goes through the same path, nothing else picks one."""

import re
from pathlib import Path

import pytest

from inat_cnn.backbone_sizes import NATIVE_SIZES, TABLE
from inat_cnn.models import build_model, summarize
from inat_cnn.models.backbones import REGISTRY
from inat_cnn.spec.docs import vocabulary_markdown
from inat_cnn.training import phase_plan
from inat_cnn.trial_config import BACKBONES, FAMILY_REGISTRY, family_of, parse_trial_config

PACKAGE = Path(__file__).parents[2] / "inat_cnn"
TINY = {"scratch": {"image_size": 16, "conv_blocks": 2, "filters": 4, "dense_units": 8},
        "finetune": {"backbone": "mobilenet_v2", "weights": "none", "image_size": 32, "head_epochs": 1},
        "resnet": {"depth": 8, "width": 4, "image_size": 16}}


@pytest.mark.slow  # builds every family
def test_every_registered_family_builds_counts_and_plans_its_phases():
    assert set(FAMILY_REGISTRY) == set(TINY) == {"scratch", "finetune", "resnet"}
    for name in FAMILY_REGISTRY:
        config = parse_trial_config({"model": name, **TINY[name]})
        assert family_of(config).name == name and family_of(config).config is type(config)
        model = build_model(config, 3)
        assert summarize(config, 3).total_params == model.count_params(), name
        phases = phase_plan(config)
        assert phases[-1][2] == config.epochs and phases[0][1] == 0
    assert [p[0] for p in phase_plan(parse_trial_config({"model": "finetune", **TINY["finetune"]}))] == \
        ["head", "fine_tune"]
    assert "| `model` | all | scratch, finetune, resnet |" in vocabulary_markdown()


def test_backbone_names_come_from_one_table():
    assert tuple(TABLE) == BACKBONES == tuple(REGISTRY) == tuple(NATIVE_SIZES)
    assert REGISTRY["vgg16"].preprocess == TABLE["vgg16"].preprocess == "caffe"


def test_nothing_outside_the_registry_switches_on_a_family_class():
    switches = []
    for path in PACKAGE.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if re.search(r"isinstance\([^)]*(Scratch|Finetune|ResNet)Trial", line) or \
                    re.search(r"model\s*==\s*['\"](scratch|finetune|resnet)['\"]", line):
                switches.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert switches == []


@pytest.mark.parametrize("family", sorted(TINY))
def test_unknown_key_names_its_owner_family(family):
    other = {"scratch": "depth", "finetune": "conv_blocks", "resnet": "backbone"}[family]
    with pytest.raises(Exception, match="parameter, but model is"):
        parse_trial_config({"model": family, **TINY[family], other: 1})
