"""A tiny synthetic dataset shared by the engine tests, and sweep helpers."""

from pathlib import Path

import pytest
import yaml

from inat_cnn.data import synthesize
from inat_cnn.engine.storage import create_sweep, open_storage
from inat_cnn.spec import validate_sweep_dict
from inat_cnn.workspace import Workspace

TINY = {"model": {"value": "scratch"}, "image_size": {"value": 16}, "conv_blocks": {"value": 2},
        "filters": {"value": 4}, "dense_units": {"value": 8}, "epochs": {"value": 1}, "viz": {"value": False},
        "batch_size": {"value": 16}}


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    return synthesize(tmp_path_factory.mktemp("data") / "tiny", classes=3, per_class=20, test_per_class=4,
                      seed=1, min_side=24, max_side=40)


@pytest.fixture
def make_sweep():
    return _make_sweep


def _make_sweep(workspace: Workspace, method: str = "grid", metric=("val_accuracy", "maximize"), **params) -> str:
    """Create a local sweep in the workspace's storage from TINY plus ``params`` (W&B parameter specs)."""
    data = {"name": "t", "method": method, "metric": {"name": metric[0], "goal": metric[1]},
            "parameters": {**TINY, **params.pop("parameters", {})}, **params}
    validated = validate_sweep_dict(yaml.safe_load(yaml.safe_dump(data)))
    return create_sweep(validated, open_storage(workspace.ensure().db_url))
