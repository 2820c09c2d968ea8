"""Fixtures of the training tests: a tiny synthetic dataset (3 classes x 12 train + 4 test images, 24 px)."""

from pathlib import Path

import keras
import pytest


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    from inat_cnn.data import synthesize

    return synthesize(tmp_path_factory.mktemp("tiny") / "data", classes=3, per_class=12, test_per_class=4,
                      min_side=24, max_side=40)


@pytest.fixture(scope="session")
def tiny_splits(tiny_root, tmp_path_factory):
    from inat_cnn.data import load_splits

    return load_splits(tiny_root, 24, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(autouse=True)
def _fresh_keras_session(monkeypatch):
    monkeypatch.setenv("INAT_CNN_QUIET", "1")
    keras.backend.clear_session()
    yield


@pytest.fixture(scope="session")
def tiny_splits_32(tiny_root, tmp_path_factory):
    """The same dataset at 32 px, the smallest input most backbones accept."""
    from inat_cnn.data import load_splits

    return load_splits(tiny_root, 32, cache_dir=tmp_path_factory.mktemp("cache32"))
