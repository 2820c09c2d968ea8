"""Fixtures for the data-layer tests: isolated workspace, tiny synthetic datasets."""

from __future__ import annotations

import shutil

import pytest

from inat_cnn.data import synthesize


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Every test writes under tmp_path and never reaches the network."""
    monkeypatch.setenv("INAT_CNN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    monkeypatch.delenv("INAT_CNN_DECODE_WORKERS", raising=False)


@pytest.fixture(scope="session")
def _tiny_master(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("master") / "ds", classes=3, per_class=10, test_per_class=3,
                      min_side=24, max_side=72)  # fmt: skip


@pytest.fixture
def tiny_ds(_tiny_master, tmp_path):
    """A private copy of a 3-class dataset (10 train + 3 test per class, 24-72 px JPEGs)."""
    return shutil.copytree(_tiny_master, tmp_path / "ds")


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"
