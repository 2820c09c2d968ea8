"""The W&B cloud backend: wandb.sweep / wandb.agent around the same trial function.

Kept thin on purpose: everything below the trial function is the same code the
local engine runs. Tests exercise it at its boundary (what reaches wandb.sweep,
what a wandb.agent call runs), since no W&B server is reachable from CI.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from ..errors import UserError
from ..spec import ValidatedSweep
from ..workspace import Workspace


def is_wandb_sweep_id(sweep_id: str) -> bool:
    """W&B sweep ids are written ENTITY/PROJECT/ID; local ids have no slash."""
    return sweep_id.count("/") == 2


def _require_login() -> None:
    import wandb

    if os.environ.get("WANDB_MODE") in ("offline", "disabled") or not (
            os.environ.get("WANDB_API_KEY") or wandb.api.api_key):
        raise UserError("the wandb backend needs a W&B server and an API key: run `wandb login` (or set "
                        "WANDB_API_KEY) and unset WANDB_MODE=offline; or use the embedded engine with "
                        "`--backend local`")


def wandb_sweep_config(validated: ValidatedSweep, data_root: str | None = None) -> dict[str, Any]:
    """The sweep config W&B receives; without a command, `wandb agent` would run nothing useful."""
    config = validated.spec.to_wandb()
    if "command" not in config and "program" not in config:
        metric = validated.spec.metric.name if validated.spec.metric else "val_accuracy"
        # without --data here, each agent host says where its copy is with INAT_CNN_DATA
        data = ["--data", data_root] if data_root else []
        config["command"] = ["inat-cnn", "train", *data, "--metric", metric, "${args}"]
    return config


def create(validated: ValidatedSweep, *, project: str | None = None, entity: str | None = None,
           data_root: str | None = None) -> str:
    """Register the sweep on the W&B server; return ENTITY/PROJECT/ID."""
    import wandb

    _require_login()
    project = project or validated.spec.project or "inat-cnn"
    entity = entity or validated.spec.entity or wandb.Api().default_entity
    sweep_id = wandb.sweep(wandb_sweep_config(validated, data_root), project=project, entity=entity)
    return f"{entity}/{project}/{sweep_id}"


def trial_function(sweep_path: str, data_root: Path, workspace: Workspace) -> Callable[[], None]:
    """What wandb.agent calls once per run: the sweep's config → the same run_trial as the local engine."""

    def train_one() -> None:
        import wandb

        from ..training import run_trial
        from ..trial_config import parse_trial_config

        run = wandb.init()
        config = parse_trial_config(dict(run.config), source=f"W&B sweep {sweep_path} run {run.id}")
        out_dir = workspace.trial_dir(sweep_path.replace("/", "_"), f"run-{run.id}")
        run_trial(config, data_root, out_dir, workspace=workspace.root, wandb_group=sweep_path.split("/")[-1])

    return train_one


def agent(sweep_path: str, data_root: Path, workspace: Workspace, count: int | None = None) -> None:
    import wandb

    _require_login()
    entity, project, sweep_id = sweep_path.split("/")
    wandb.agent(sweep_id, function=trial_function(sweep_path, data_root, workspace), entity=entity,
                project=project, count=count)
