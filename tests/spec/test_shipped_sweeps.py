"""The sweeps we ship validate, and survive YAML → SweepSpec → dict unchanged (what W&B receives)."""

from pathlib import Path

import pytest
import yaml

from inat_cnn.spec import load_sweep, validate_sweep_dict

SWEEPS = sorted((Path(__file__).parents[2] / "sweeps").glob("*.yaml"))


def test_expected_sweeps_are_shipped():
    assert {p.stem for p in SWEEPS} >= {"scratch", "finetune", "layer_finetune", "smoke"}


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_shipped_sweep_validates_and_round_trips(path):
    validated = load_sweep(path)
    original = yaml.safe_load(path.read_text())
    assert validated.spec.to_wandb() == original
    again = validate_sweep_dict(validated.spec.to_wandb())
    assert again.spec == validated.spec


def test_grid_size_of_layer_finetune():
    spec = load_sweep(Path(__file__).parents[2] / "sweeps" / "layer_finetune.yaml").spec
    assert spec.grid_size() == 3 * 6
    assert load_sweep(Path(__file__).parents[2] / "sweeps" / "scratch.yaml").spec.grid_size() is None


def test_min_max_infer_distribution():
    base = {"method": "random", "parameters": {"model": {"value": "scratch"}}}
    ints = validate_sweep_dict({**base, "parameters": {**base["parameters"], "dense_units": {"min": 32, "max": 64}}})
    floats = validate_sweep_dict({**base, "parameters": {**base["parameters"], "dropout": {"min": 0.0, "max": 0.5}}})
    assert ints.spec.parameters["dense_units"].inferred_distribution == "int_uniform"
    assert floats.spec.parameters["dropout"].inferred_distribution == "uniform"
    # the inferred distribution is not written back: W&B gets what the user wrote
    assert "distribution" not in ints.spec.to_wandb()["parameters"]["dense_units"]
