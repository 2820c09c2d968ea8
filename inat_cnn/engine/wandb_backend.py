"""The W&B cloud backend: wandb.sweep / wandb.agent around the same trial function.

Kept thin on purpose: everything below the trial function is the same code the
local engine runs. Tests exercise it at its boundary (what reaches wandb.sweep,
what a wandb.agent call runs), since no W&B server is reachable from CI.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..outcome import DEFAULT_METRIC, sweep_objective
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


#: What a sweep without its own command runs (the shipped sweeps carry the same one).
DEFAULT_COMMAND = ["${env}", "inat-cnn", "train", "${args}"]


def wandb_sweep_config(validated: ValidatedSweep, data_root: str | None = None) -> dict[str, Any]:
    """The sweep config W&B receives: its ``inat-cnn train`` command passes the sweep's metric (and
    ``--data`` when given; otherwise each agent host says where its copy is with INAT_CNN_DATA)."""
    config = validated.spec.to_wandb()
    metric, _ = sweep_objective(validated.spec.metric)
    if "command" not in config and "program" not in config:
        config["command"] = list(DEFAULT_COMMAND)
    if "command" in config:
        config["command"] = train_command(config["command"], metric, data_root)
    elif data_root:
        raise UserError(f"--data {data_root}: the sweep runs its own program ({config['program']}), which "
                        "inat-cnn cannot pass a dataset to; give it in the sweep's command")
    return config


def _option(command: list[str], name: str) -> tuple[int, str] | None:
    """(index, value) of ``--name=value`` or ``--name value`` in ``command``."""
    for i, token in enumerate(command):
        if token.startswith(f"{name}="):
            return i, token.partition("=")[2]
        if token == name and i + 1 < len(command):
            return i, command[i + 1]
    return None


def train_command(command: list[str], metric: str, data_root: str | None = None) -> list[str]:
    """``command`` with ``--metric`` (and ``--data``) after its ``inat-cnn train``; refuses a contradiction."""
    command = [str(c) for c in command]
    at = next((i + 1 for i in range(1, len(command))
               if command[i] == "train" and Path(command[i - 1]).name == "inat-cnn"), None)
    if at is None:
        if data_root:
            raise UserError(f"--data {data_root}: the sweep's command {command} does not run `inat-cnn train`, "
                            "so inat-cnn cannot add the dataset to it; put it in the command")
        return command
    given = _option(command, "--metric")
    if given is not None and given[1] != metric:
        raise UserError(f"the sweep's command passes --metric {given[1]} but its metric.name is {metric}: "
                        "trials would keep the best epoch of the wrong metric")
    if given is None:
        command.insert(at, f"--metric={metric}")
    data = _option(command, "--data")
    if data_root and data is not None and data[1] != data_root:
        raise UserError(f"--data {data_root} contradicts the sweep command's --data {data[1]}")
    if data_root and data is None:
        command.insert(at, f"--data={data_root}")
    return command


def sweep_metric(sweep_path: str) -> tuple[str, str]:
    """(metric, goal) of a W&B sweep, from its config on the server (val_accuracy when it names none)."""
    import wandb

    from ..trial_config import METRIC_GOALS

    metric = wandb.Api().sweep(sweep_path).config.get("metric") or {}
    name, _ = sweep_objective(metric)
    if name not in METRIC_GOALS:
        raise UserError(f"W&B sweep {sweep_path} optimises {name!r}; inat-cnn trials log "
                        f"{', '.join(METRIC_GOALS)}")
    return name, metric.get("goal") or METRIC_GOALS[name]


def create(validated: ValidatedSweep, *, project: str | None = None, entity: str | None = None,
           data_root: str | None = None) -> str:
    """Register the sweep on the W&B server; return ENTITY/PROJECT/ID."""
    import wandb

    _require_login()
    project = project or validated.spec.project or "inat-cnn"
    entity = entity or validated.spec.entity or wandb.Api().default_entity
    sweep_id = wandb.sweep(wandb_sweep_config(validated, data_root), project=project, entity=entity)
    return f"{entity}/{project}/{sweep_id}"


def trial_function(sweep_path: str, data_root: Path, workspace: Workspace, metric: str = DEFAULT_METRIC,
                   goal: str = "maximize") -> Callable[[], None]:
    """What wandb.agent calls once per run: the sweep's config → the same run_trial as the local engine,
    keeping the best epoch of the sweep's own metric."""

    def train_one() -> None:
        from ..training import run_trial
        from ..training.wandb_run import init_run
        from ..trial_config import parse_trial_config

        run = init_run()
        params = {k: v for k, v in dict(run.config).items() if v is not None}  # None: the default
        config = parse_trial_config(params, source=f"W&B sweep {sweep_path} run {run.id}")
        out_dir = workspace.trial_dir(sweep_path.replace("/", "_"), f"run-{run.id}")
        run_trial(config, data_root, out_dir, workspace=workspace.root, wandb_group=sweep_path.split("/")[-1],
                  metric=metric, goal=goal)

    return train_one


def agent(sweep_path: str, data_root: Path, workspace: Workspace, count: int | None = None) -> None:
    import wandb

    _require_login()
    entity, project, sweep_id = sweep_path.split("/")
    metric, goal = sweep_metric(sweep_path)
    wandb.agent(sweep_id, function=trial_function(sweep_path, data_root, workspace, metric, goal), entity=entity,
                project=project, count=count)
