"""Test isolation: no network, every workspace and wandb directory under tmp."""

import os

import pytest

# The `postgres` (a session server) and `pg_db` (a fresh database) fixtures.
pytest_plugins = ["pg_server"]

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.pop("WANDB_API_KEY", None)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# agents in tests run a few trials each: a warm spare child per agent is mostly an extra TensorFlow import
# on 2 cores. tests/engine/test_trial_process.py and the demo test run with the default (warm) instead.
os.environ.setdefault("INAT_CNN_WARM_TRIAL", "0")


@pytest.fixture
def run_cli(capsys):
    """The `inat-cnn` command line in this process (where start-up is not what a test is about):
    ``run_cli("sweep", "list")`` -> (exit code, stdout, stderr)."""
    from inat_cnn.cli import main

    def run(*argv) -> tuple[int, str, str]:
        try:
            main([str(a) for a in argv])
            code = 0
        except SystemExit as stop:
            code = stop.code or 0
        out, err = capsys.readouterr()
        return code, out, err

    return run


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
