"""Test isolation: no network, every workspace and wandb directory under tmp."""

import os

import pytest

# The `postgres` (a session server) and `pg_db` (a fresh database) fixtures.
pytest_plugins = ["pg_server"]

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.pop("WANDB_API_KEY", None)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("INAT_CNN_HOME", str(tmp_path / "workspace"))
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)


def pytest_collection_modifyitems(items):
    """Test files that hold slow tests run first (each file's tests stay together and in order): under
    `-n 2 --dist worksteal` the last tests left to share out are short ones, so both processes end together."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)
