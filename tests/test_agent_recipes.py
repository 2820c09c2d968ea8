"""The agents/ recipes are valid bash and launch one `inat-cnn agent --gpu I` per GPU slot."""

import os
import subprocess
from pathlib import Path

import pytest

AGENTS = Path(__file__).parents[1] / "agents"


def _dry_run(script, **env):
    return subprocess.run(["bash", str(AGENTS / script)], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "DRY_RUN": "1", "SWEEP": "s-1", "DATA": "/d", **env})


@pytest.mark.slow
def test_recipes_parse():
    for script in AGENTS.glob("*.s*"):
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0, script


@pytest.mark.slow
def test_one_agent_per_gpu_and_n_per_gpu():
    one = _dry_run("one_per_gpu.sh", GPUS="0 1", STORAGE="postgresql://u@db/x")
    assert one.returncode == 0, one.stderr
    assert one.stdout.splitlines() == [
        "INAT_CNN_STORAGE=*** inat-cnn agent s-1 --gpu 0 --data /d",  # the URL travels by environment
        "INAT_CNN_STORAGE=*** inat-cnn agent s-1 --gpu 1 --data /d"]
    three = _dry_run("n_per_gpu.sh", GPUS="2", AGENTS_PER_GPU="3")
    assert three.stdout.splitlines() == ["inat-cnn agent s-1 --gpu 2 --data /d"] * 3


@pytest.mark.slow
def test_missing_sweep_is_a_clear_error():
    proc = subprocess.run(["bash", str(AGENTS / "one_per_gpu.sh")], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "SWEEP"})
    assert proc.returncode != 0 and "set SWEEP" in proc.stderr
