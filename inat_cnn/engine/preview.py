"""`sweep preview`: the first points the local engine would propose for a sweep, and the argv the stock
`wandb agent` would build for each, with nothing trained and nothing written.

The points come from the engine's own sampler (``space.make_sampler``) on an in-memory Optuna storage, each
trial asked in turn as a lone agent asks it. Seeded, they are the points `sweep create --seed` then
proposes, in that order (unseeded, one possible draw). ``bayes`` can be previewed only over its random
start-up trials: TPE's later points depend on the results. The argv is built by wandb's agent itself
(``wandb.wandb_agent.Agent._command_run``, which expands the command's macros), with the child process it
would start replaced by a recorder, in a throw-away ``WANDB_DIR``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import optuna

from ..spec import ValidatedSweep
from .space import direction, make_sampler, require_local_support, sample_parameters, startup_trials

optuna.logging.set_verbosity(logging.ERROR)  # as the agents run it: no line per trial
_ENVVAR = re.compile(r"\$\{envvar:([A-Z0-9_]*)\}")  # the stock agent's own pattern for environment macros
PREVIEW_SWEEP_ID = "SWEEP_ID"


@dataclass(frozen=True)
class Preview:
    """The points, each with the stock agent's argv, and what limited their number."""

    points: list[dict[str, Any]]
    argvs: list[list[str]]
    limit_note: str | None


def preview(validated: ValidatedSweep, n: int, seed: int | None = None) -> Preview:
    """The first ``n`` points of the sweep (fewer for a smaller grid or run_cap, and for bayes beyond its
    start-up trials) and, for each, the argv `wandb agent` runs for the config W&B receives."""
    from .wandb_backend import wandb_sweep_config

    require_local_support(validated.spec, validated.source)
    count, note = _count(validated, n)
    points = propose(validated, count, seed)
    config = wandb_sweep_config(validated)  # a command (inat-cnn's default if the file has none) or a program
    return Preview(points, [stock_agent_argv(config, p, f"preview-{i:04d}") for i, p in enumerate(points)], note)


def _count(validated: ValidatedSweep, n: int) -> tuple[int, str | None]:
    spec = validated.spec
    limits = [(n, None)]
    if spec.run_cap:
        limits.append((spec.run_cap, f"run_cap is {spec.run_cap}"))
    if spec.method == "grid":
        size = spec.grid_size() or 1
        limits.append((size, f"the grid has {size} point(s)"))
    if spec.method == "bayes":
        k = startup_trials(spec.run_cap)
        limits.append((k, f"bayes: TPE's {k} random start-up trials; its later points depend on their results"))
    count, note = min(limits, key=lambda item: item[0])
    return count, note if count < n else None


def propose(validated: ValidatedSweep, count: int, seed: int | None = None) -> list[dict[str, Any]]:
    """The trial config dicts (fixed values and sampled ones) of the first ``count`` trials one agent runs."""
    spec = validated.spec
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), sampler=make_sampler(spec, seed),
                                direction=direction(spec))
    points: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        points.append(sample_parameters(trial, spec))
        return 0.0  # grid and random proposals do not depend on it; bayes is previewed over start-up trials only

    for _ in range(count):
        study.optimize(objective, n_trials=1)
    return [{name: point[name] for name in spec.parameters if name in point} for point in points]


class _Recorder:
    """Stands in for the process the stock agent would start: keeps its argv."""

    argvs: list[list[str]] = []

    def __init__(self, command: list[str] | None = None, **_: Any) -> None:
        type(self).argvs.append(list(command or []))


def stock_agent_argv(config: dict[str, Any], params: dict[str, Any], run_id: str) -> list[str]:
    """The argv `wandb agent` builds for a run of ``params`` of a sweep whose config (what W&B received) is
    ``config``. ``${envvar:NAME}`` shows as ``$NAME`` (its value is the agent host's, and may be a secret);
    ``${args_json_file}`` as a path under ``$WANDB_DIR``."""
    from wandb import wandb_agent

    command = [str(c) for c in config.get("command") or []]
    names = sorted({m for c in command for m in _ENVVAR.findall(c)})
    run = {"type": "run", "run_id": run_id, "program": config.get("program"),
           "args": {k: {"value": v} for k, v in params.items()}}
    with tempfile.TemporaryDirectory() as tmp, _scratch_environment(tmp, names), \
            _replaced(wandb_agent, "AgentProcess", _Recorder):
        _Recorder.argvs = []
        agent = wandb_agent.Agent(api=None, queue=None, sweep_id=PREVIEW_SWEEP_ID)
        agent._sweep_command = command
        agent._command_run(run)
        return [arg.replace(tmp, "$WANDB_DIR") for arg in _Recorder.argvs[0]]


@contextlib.contextmanager
def _scratch_environment(wandb_dir: str, envvars: list[str]) -> Iterator[None]:
    """os.environ as the agent needs it for one call (its files in ``wandb_dir``), then exactly as it was."""
    saved = dict(os.environ)
    try:
        os.environ.update({"WANDB_DIR": wandb_dir, "WANDB_SWEEP_ID": PREVIEW_SWEEP_ID,
                           **{name: f"${name}" for name in envvars}})
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _replaced(module: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, original)
