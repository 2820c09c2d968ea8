"""One wandb run per trial: init (offline without an API key), per-epoch rows, best-epoch summary.

wandb's own Keras callbacks import TensorFlow at module level, so the models stay
backend-agnostic by logging from the trial monitor's rows instead. Nothing here
prints or logs an API key; whether one exists is all we look at. wandb records the
process's command line in every run's metadata: runs start with a redacted one.
"""

from __future__ import annotations

import netrc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..redact import redact_argv, redact_text, redact_values
from .callbacks import LOGGED

EPOCH_STATS = ("lr", "epoch_time_s", "images_per_s")
QUIET = dict(silent=True, console="off", x_disable_stats=True)


def has_api_key() -> bool:
    """An API key in WANDB_API_KEY or in ~/.netrc (from `wandb login`); its value is never read out."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        auth = netrc.netrc().authenticators(os.environ.get("WANDB_BASE_URL", "api.wandb.ai")
                                            .removeprefix("https://").removeprefix("http://"))
    except (OSError, netrc.NetrcParseError):
        return False
    return bool(auth and auth[2])


def choose_mode(requested: str | None) -> str | None:
    """``offline`` when asked or without an API key; None lets wandb follow WANDB_MODE / its default."""
    if requested:
        return requested
    if os.environ.get("WANDB_MODE"):
        return None
    return None if has_api_key() else "offline"


@contextmanager
def redacted_argv() -> Iterator[None]:
    """While a run starts, ``sys.argv`` holds a copy without credentials: wandb records it then
    (metadata ``args``, uploaded on sync)."""
    original = list(sys.argv)
    sys.argv[:] = [redact_text(original[0])] + redact_argv(original[1:]) if original else []
    try:
        yield
    finally:
        sys.argv[:] = original


def init_run(**kwargs: Any):
    """``wandb.init`` with a redacted command line and config."""
    import wandb

    if kwargs.get("config") is not None:
        kwargs["config"] = redact_values(kwargs["config"])
    with redacted_argv():
        return wandb.init(**kwargs)


def open_run(*, config: dict[str, Any], wandb_dir: Path, project: str, group: str | None, name: str | None,
             mode: str | None, run_id: str | None = None):
    """Start (or, under `wandb agent`, join) the run of one trial; the summary holds scalars of the best epoch.

    ``run_id``: a resumed trial continues that run (``resume="allow"``: one history).
    """
    import wandb

    wandb_dir.mkdir(parents=True, exist_ok=True)
    active = wandb.run
    if active is not None and active.sweep_id:
        # wandb.agent(function=...) already started this sweep run: log into it, do not replace it.
        active.config.update(redact_values(config), allow_val_change=True)
        run = active
    else:
        resumed = dict(id=run_id, resume="allow") if run_id else {}
        run = init_run(project=project, group=group, name=name, config=config, dir=str(wandb_dir), **resumed,
                       mode=choose_mode(mode), settings=wandb.Settings(**QUIET), reinit="finish_previous")
    if run.sweep_id:  # the sweep's keys are locked: show what a None ("the default") became
        show_defaults(run, config)
    run.define_metric("epoch")
    for key in LOGGED + EPOCH_STATS:
        # No summary= aggregate: it turns the summary into {"max": x} / {"last": x} dicts, which dashboards,
        # parallel coordinates and the sweep controller cannot read; pin_best_summary writes scalars instead.
        run.define_metric(key, step_metric="epoch")
    return run


def show_defaults(run, config: dict[str, Any]) -> None:
    """Sweep parameters sampled as None ("use the default") show the value the trial used.

    wandb locks the keys a sweep set (later updates are ignored), so this updates them as the sweep.
    """
    filled = {k: v for k, v in redact_values(config).items()
              if k in run.config and run.config.get(k) is None and v is not None}
    if filled:
        run.config.update_locked(filled, user="sweep", _allow_val_change=True)


def run_dir(run) -> str:
    return str(getattr(run.settings, "sync_dir", "") or Path(run.dir).parent)


def epoch_sink(run, monitor):
    """A TrialMonitor sink: log the epoch's row, then pin the summary to the best epoch so far."""

    def log(row: dict[str, Any]) -> None:
        run.log({k: v for k, v in row.items() if k != "phase"})
        pin_best_summary(run, monitor)

    return log


def pin_best_summary(run, monitor) -> None:
    """Summary values of the best epoch (W&B sweeps read the summary); define_metric alone stores {max: ...}."""
    best = monitor.best_row if monitor is not None else None
    if best is None:
        return
    run.summary.update({k: best[k] for k in LOGGED if k in best})
    run.summary["best_epoch"] = best["epoch"]


def log_images(run, images: dict[str, Path]) -> None:
    import wandb

    run.log({f"viz/{name}": wandb.Image(str(path)) for name, path in images.items()})


def finish(run, summary: dict[str, Any], exit_code: int) -> None:
    """Close the run; a preempted trial (``stop.StopRequest.preempted``) tells W&B so: the run is marked
    preempting and ends with exit code 128 + signal, which W&B records as preempted and re-queues."""
    from .stop import installed

    stop = installed()
    if exit_code == 0 and stop is not None and stop.preempted:
        run.mark_preempting()
        summary = {**summary, "preempted": True}
        exit_code = 128 + int(stop.signum)
    run.summary.update(redact_values({k: v for k, v in summary.items() if v is not None}))
    run.finish(exit_code=exit_code)


def log_model(run, path: Path, policy: str | None = None) -> bool:
    """Log the best ``model.keras`` as a W&B artifact (type "model", alias "best"), what `export best` pulls.

    ``INAT_CNN_LOG_MODEL``: ``auto`` (default: only runs of a W&B sweep, whose trials live nowhere else),
    ``always`` (every trial, e.g. to sync a local sweep's models later), ``never``.
    """
    policy = (policy or os.environ.get("INAT_CNN_LOG_MODEL", "auto")).lower()
    if policy == "never" or not Path(path).is_file():
        return False
    if policy == "auto" and not getattr(run, "sweep_id", None):
        return False
    import wandb

    artifact = wandb.Artifact(f"model-{run.id}", type="model", metadata={"format": "keras", "safe_mode": True})
    artifact.add_file(str(path), name="model.keras")
    run.log_artifact(artifact, aliases=["best", "latest"])
    return True
