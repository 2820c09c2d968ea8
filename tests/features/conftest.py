"""Fixtures of the feature-cache tests: a tiny synthetic dataset at 32 px (MobileNetV2's smallest input)."""

import pytest


@pytest.fixture(scope="session")
def splits_32(tmp_path_factory):
    from inat_cnn.data import load_splits, synthesize

    root = synthesize(tmp_path_factory.mktemp("fc") / "data", classes=3, per_class=8, test_per_class=2,
                      min_side=32, max_side=40)
    return load_splits(root, 32, cache_dir=tmp_path_factory.mktemp("fc_cache"))
