"""`sweep create|status` and `agent` at the command line: ids, tables and exit codes."""

import os
import subprocess
import sys
from pathlib import Path

SWEEPS = Path(__file__).parents[2] / "sweeps"


def inat(*args, env=None):
    return subprocess.run([sys.executable, "-m", "inat_cnn", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_create_then_status_and_clear_errors(tmp_path):
    ws = tmp_path / "ws"
    created = inat("sweep", "create", SWEEPS / "smoke.yaml", "--workspace", ws)
    assert created.returncode == 0, created.stderr
    sweep_id = created.stdout.strip().splitlines()[-1]
    assert sweep_id.startswith("smoke-")
    status = inat("sweep", "status", sweep_id, "--workspace", ws)
    assert status.returncode == 0 and f"sweep {sweep_id}" in status.stdout
    unknown = inat("sweep", "status", "nope-000000", "--workspace", ws)
    assert unknown.returncode == 2 and sweep_id in unknown.stderr and "Traceback" not in unknown.stderr
    no_data = inat("agent", sweep_id, "--data", tmp_path / "missing", "--workspace", ws)
    assert no_data.returncode == 2 and "no such dataset folder" in no_data.stderr


def test_local_engine_refuses_what_optuna_cannot_honour(tmp_path):
    spec = tmp_path / "p.yaml"
    spec.write_text("method: random\nparameters:\n  model: {value: scratch}\n"
                    "  dropout: {values: [0.1, 0.2], probabilities: [0.2, 0.8]}\n")
    proc = inat("sweep", "create", spec, "--workspace", tmp_path / "ws")
    assert proc.returncode == 2 and "parameters.dropout.probabilities" in proc.stderr


def test_gpu_flag_sets_cuda_visible_devices_before_the_framework_loads(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from inat_cnn.cli import app

    for name in ("CUDA_VISIBLE_DEVICES", "TF_FORCE_GPU_ALLOW_GROWTH", "XLA_PYTHON_CLIENT_PREALLOCATE"):
        monkeypatch.delenv(name, raising=False)  # restored after the test
    result = CliRunner().invoke(app, ["agent", "x-1", "--data", str(tmp_path / "none"), "--gpu", "3"])
    assert result.exit_code != 0  # the data folder does not exist...
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"  # ...but the device was pinned first
    assert os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"


def test_sweep_run_deals_gpus_round_robin(tmp_path):
    from inat_cnn.engine.launcher import agent_commands
    from inat_cnn.workspace import Workspace

    cmds = agent_commands("s-1", tmp_path, Workspace(tmp_path), agents=3, extra=["--count", "2"],
                          gpus=["0", "1"])
    assert [c[c.index("--gpu") + 1] for c in cmds] == ["0", "1", "0"]
    assert all(c[c.index("--count") + 1] == "2" and c[3] == "agent" and c[4] == "s-1" for c in cmds)
