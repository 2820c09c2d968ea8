"""The stock W&B agent without a server: wandb's own ``Agent`` builds and runs the trial's command.

The server's part is what it sends: a sweep config (its ``command``) and, per run, a "run"
command ``{"type": "run", "run_id": ..., "program": ..., "args": {name: {"value": v}}}``.
Everything after that is wandb's code: ``Agent._command_run`` expands the macros
(``create_sweep_command`` / ``create_sweep_command_args``), writes the run's parameter
file and ``${args_json_file}``, sets the run's environment and starts the process;
``Agent._command_stop`` stops it the way hyperband and ``wandb sweep --stop`` do (SIGTERM).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path

import pytest
from stock_agent import SWEEP_ID, StockAgent
from wandb import wandb_agent


@pytest.fixture
def stock_agent(tmp_path, monkeypatch, contract_data):
    """wandb's Agent in a clean agent environment: offline, its own WANDB_DIR and workspace, `inat-cnn` on PATH."""
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    monkeypatch.chdir(agent_dir)
    monkeypatch.setenv("WANDB_DIR", str(agent_dir))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SWEEP_ID", SWEEP_ID)
    monkeypatch.setenv("INAT_CNN_DATA", str(contract_data))
    monkeypatch.setenv("INAT_CNN_HOME", str(tmp_path / "ws"))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    # the agent sets these for each run in its own environment: let monkeypatch put them back afterwards
    monkeypatch.setenv("WANDB_RUN_ID", "unset")
    monkeypatch.setenv("WANDB_SWEEP_PARAM_PATH", "unset")
    stock = StockAgent(wandb_agent.Agent(api=None, queue=multiprocessing.Queue(), sweep_id=SWEEP_ID))
    yield stock
    for launched in stock.launched:
        if launched.process is not None and launched.process.poll() is None:
            launched.process.kill()
            launched.process.wait()


@pytest.fixture(scope="session")
def contract_data(tmp_path_factory) -> Path:
    """3 classes x 16 train + 4 test images, small sides: trials train at 16 px in a second or two."""
    from inat_cnn.data import synthesize

    return synthesize(tmp_path_factory.mktemp("contract") / "data", classes=3, per_class=16, test_per_class=4,
                      min_side=16, max_side=24)
