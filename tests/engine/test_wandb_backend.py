"""The W&B cloud backend at its boundary: what reaches wandb.sweep, what a wandb.agent call runs.

No W&B server is reachable from tests: wandb.sweep / wandb.agent are replaced by recorders that
behave like the real agent (sweep parameters handed to wandb.init through WANDB_SWEEP_PARAM_PATH).
"""

import json
from pathlib import Path

import pytest
import wandb
import yaml
from wandb_files import read_wandb_run

from inat_cnn.engine import wandb_backend
from inat_cnn.errors import UserError
from inat_cnn.spec import validate_sweep_dict
from inat_cnn.workspace import Workspace

SPEC = {"name": "wb", "method": "random", "metric": {"name": "val_accuracy", "goal": "maximize"},
        "parameters": {"model": {"value": "scratch"}, "image_size": {"value": 16}, "conv_blocks": {"value": 2},
                       "filters": {"values": [4]}, "dense_units": {"value": 8}, "epochs": {"value": 1},
                       "viz": {"value": False}}}


def test_without_an_api_key_the_wandb_backend_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    with pytest.raises(UserError, match="wandb login"):
        wandb_backend.create(validate_sweep_dict(SPEC), entity="me")


def test_create_sends_the_validated_spec_with_a_train_command(monkeypatch):
    sent = {}
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(wandb, "sweep", lambda config, project, entity: sent.update(config=config, project=project,
                                                                                     entity=entity) or "abc123")
    path = wandb_backend.create(validate_sweep_dict(SPEC), entity="me", data_root="/data/inat")
    assert path == "me/inat-cnn/abc123" and wandb_backend.is_wandb_sweep_id(path)
    assert {k: v for k, v in sent["config"].items() if k != "command"} == SPEC
    assert sent["config"]["command"] == ["${env}", "inat-cnn", "train", "--data=/data/inat",
                                       "--metric=val_accuracy", "${args}"]
    assert "k" * 40 not in json.dumps(sent)
    wandb_backend.create(validate_sweep_dict(SPEC), entity="me")  # no --data: agents read INAT_CNN_DATA
    assert sent["config"]["command"] == ["${env}", "inat-cnn", "train", "--metric=val_accuracy", "${args}"]


def test_a_sweep_with_its_own_command_keeps_it_and_gets_the_dataset_and_metric():
    own = {**SPEC, "metric": {"name": "val_loss", "goal": "minimize"},
           "command": ["${env}", "inat-cnn", "train", "${args_no_boolean_flags}"]}
    config = wandb_backend.wandb_sweep_config(validate_sweep_dict(own), "/data/inat")
    assert config["command"] == ["${env}", "inat-cnn", "train", "--data=/data/inat", "--metric=val_loss",
                                 "${args_no_boolean_flags}"]
    shipped = {**own, "command": ["${env}", "inat-cnn", "train", "--metric=val_loss", "${args}"]}
    assert wandb_backend.wandb_sweep_config(validate_sweep_dict(shipped))["command"] == shipped["command"]
    with pytest.raises(UserError, match="--metric val_accuracy but its metric.name is val_loss"):
        wandb_backend.wandb_sweep_config(validate_sweep_dict(
            {**own, "command": ["inat-cnn", "train", "--metric", "val_accuracy", "${args}"]}))
    with pytest.raises(UserError, match="does not run `inat-cnn train`"):
        wandb_backend.wandb_sweep_config(validate_sweep_dict({**own, "command": ["python", "x.py"]}), "/d")


class _ServerApi:
    """wandb.Api as a W&B server answers it: the sweep's config, as wandb's own Sweep object parses it."""

    def __init__(self, config):
        self.config = config

    def sweep(self, path):
        from wandb.apis.public import Sweep

        entity, project, sweep_id = path.split("/")
        return Sweep(None, entity, project, sweep_id, attrs={"config": yaml.safe_dump(self.config)})


@pytest.mark.slow
def test_agent_function_trains_the_sweep_params_into_the_sweep_run(monkeypatch, tmp_path, tiny_data):
    ws = Workspace(tmp_path / "ws").ensure()
    params_file = tmp_path / "params.yaml"
    sampled = {k: v["values"][0] if "values" in v else v["value"] for k, v in SPEC["parameters"].items()}
    sampled |= {"batch_norm": False, "image_size": 16, "dense_units": None}  # None: the default
    params_file.write_text(yaml.safe_dump({k: {"value": v} for k, v in sampled.items()}))
    server_sweep = {**SPEC, "metric": {"name": "val_loss", "goal": "minimize"}}
    monkeypatch.setattr(wandb, "Api", lambda: _ServerApi(server_sweep))
    ran = {}

    def fake_agent(sweep_id, function, entity, project, count):  # what wandb.agent does for each run
        monkeypatch.setenv("WANDB_SWEEP_PARAM_PATH", str(params_file))
        monkeypatch.setenv("WANDB_SWEEP_ID", sweep_id)
        wandb.teardown()  # wandb reads these variables when it sets up, as in a fresh agent process
        function()
        ran.update(sweep_id=sweep_id, entity=entity, project=project, count=count)

    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setattr(wandb_backend, "_require_login", lambda: None)
    monkeypatch.setattr(wandb, "agent", fake_agent)
    wandb_backend.agent("me/proj/abc123", tiny_data, ws, count=1)
    assert ran == {"sweep_id": "abc123", "entity": "me", "project": "proj", "count": 1}
    [trial_dir] = (ws.runs / "me_proj_abc123").iterdir()
    metrics = json.loads((trial_dir / "metrics.json").read_text())
    config = yaml.safe_load((trial_dir / "config.yaml").read_text())
    assert metrics["state"] == "finished" and config["filters"] == 4 and config["image_size"] == 16
    assert config["batch_norm"] is False and config["dense_units"] == 512
    # the sweep's own metric picks the best epoch, not the val_accuracy fallback
    assert (metrics["metric"], metrics["goal"]) == ("val_loss", "minimize")
    recorded = read_wandb_run(metrics["wandb_run_dir"])
    summary = recorded["summary"]
    assert recorded["config"]["dense_units"] == 512 and recorded["config"]["batch_norm"] is False
    assert summary["best_epoch"] == 1 and isinstance(summary["val_loss"], float)
    assert all(isinstance(summary[k], (int, float)) for k in ("lr", "epoch_time_s", "images_per_s"))
    # a W&B sweep's trial lives only in W&B: its best model goes up as a "model" artifact for `export best`
    assert metrics["model_artifact"] is True
    run_file = next(Path(metrics["wandb_run_dir"]).glob("run-*.wandb"))
    assert f"model-{metrics['wandb_run_id']}".encode() in run_file.read_bytes()
