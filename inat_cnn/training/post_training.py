"""After training: test the best checkpoint and draw its figures, in the trial or later.

A trial's ``post_training`` (outcome.POST_TRAINING) says when: ``inline`` in every trial, ``top_k``
only in a trial that enters the sweep's top k when it ends, ``export`` never in the trial. A trial
that leaves work for later lists it in its outcome's ``pending``; ``complete_trial`` does it from
the trial folder (the report and ``export best`` call it for the trials they show), logs the
figures into the trial's own wandb run and rewrites metrics.json.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError
from ..outcome import TrialOutcome
from . import artifacts

log = logging.getLogger(__name__)


def test_best(out_dir: Path, splits, config, gpu: bool, snapshot_rows=None) -> tuple[Any, dict[str, Any]]:
    """Load model.keras (the best epoch) as a user would and score it (and a snapshot ensemble) on test."""
    from ..data import ArrayBatches
    from ..models import load_model
    from .device import batch_options, jit_setting
    from .optim import compile_model

    best = load_model(out_dir / "model.keras", compile=False)
    compile_model(best, config, learning_rate=config.learning_rate, phase_steps=1,
                  num_classes=len(splits.class_names), jit_compile=jit_setting(gpu))
    facts: dict[str, Any] = {}
    if len(splits.y_test):
        test = ArrayBatches(splits.x_test, splits.y_test, config.batch_size, shuffle=False, **batch_options(gpu))
        result = best.evaluate(test, verbose=0, return_dict=True)
        facts.update(test_loss=float(result["loss"]), test_accuracy=float(result["accuracy"]))
    if snapshot_rows:
        from .snapshots import evaluate_snapshots

        facts["snapshot_ensemble"] = evaluate_snapshots(out_dir, list(snapshot_rows), splits, config.batch_size)
    return best, facts


def render_figures(best, splits, out_dir: Path, run) -> str | None:
    """Figures of the best model into viz/ (and the wandb run); why they are missing, or None.

    A missing viz package or a viz error never fails the trial: figures are a bonus.
    """
    try:
        from ..viz import render_trial_figures
    except ImportError as err:
        return f"inat_cnn.viz unavailable: {err}"
    try:
        images = render_trial_figures(best, splits, out_dir / "viz")
        if run is not None and images:
            from .wandb_run import log_images

            log_images(run, images)
    except Exception as err:  # noqa: BLE001 - record why they are missing and go on
        log.warning("viz failed for %s: %s", out_dir, err)
        return f"{type(err).__name__}: {err}"
    return None


def complete_trial(trial_dir: Path, data_root: Path, *, workspace: Path | str | None = None,
                   wandb_mode: str | None = None, split_seed: int = 0) -> TrialOutcome:
    """Do what the trial in ``trial_dir`` left pending (test, figures); its outcome afterwards."""
    from ..workspace import Workspace

    trial_dir = Path(trial_dir)
    outcome = artifacts.read_outcome(trial_dir)
    if not outcome.pending or not (trial_dir / "model.keras").is_file():
        return outcome
    config = _folder_config(trial_dir)
    ws = Workspace.resolve(workspace).ensure()
    import keras

    from ..data import load_splits
    from .device import detect_accelerator, prepare_backend

    prepare_backend(ws.cache)
    keras.backend.clear_session()
    splits = load_splits(data_root, int(config.image_size), resize=config.resize, val_fraction=config.val_fraction,
                         split_seed=split_seed, cache_dir=ws.cache)
    if outcome.split_id and getattr(splits, "split_id", None) != outcome.split_id:
        raise UserError(f"{trial_dir.name} was trained on split {outcome.split_id}, but {data_root} gives "
                        f"{splits.split_id}: pass the sweep's dataset (--data) to draw its figures")
    gpu = detect_accelerator().gpu
    best, facts = None, {}
    if "test" in outcome.pending:
        best, facts = test_best(trial_dir, splits, config, gpu, outcome.snapshots)
    if "figures" in outcome.pending:
        best = best if best is not None else _load(trial_dir)
        facts["viz_error"] = _figures_into_run(best, splits, trial_dir, config, outcome, ws, wandb_mode, facts)
    done = outcome.noted(**facts, pending=())
    artifacts.write_metrics(trial_dir, done)
    return done


def _figures_into_run(best, splits, trial_dir: Path, config, outcome: TrialOutcome, ws, wandb_mode,
                      facts) -> str | None:
    """Render the figures and log them (with the test scores) into the trial's own wandb run."""
    from ..trial_config import resolved_dict
    from . import wandb_run

    run = wandb_run.open_run(config=resolved_dict(config), wandb_dir=ws.wandb_dir,
                             project=outcome.wandb_project or "inat-cnn", group=outcome.wandb_group,
                             name=trial_dir.name, mode=wandb_mode, run_id=outcome.wandb_run_id)
    error = render_figures(best, splits, trial_dir, run)
    wandb_run.finish(run, {k: facts.get(k) for k in ("test_accuracy", "test_loss")}, 0)
    return error


def _folder_config(trial_dir: Path):
    from ..trial_config import parse_trial_config

    try:
        data = yaml.safe_load((trial_dir / "config.yaml").read_text())
    except (OSError, yaml.YAMLError) as err:
        raise UserError(f"{trial_dir}: cannot read config.yaml ({err})") from None
    return parse_trial_config(data if isinstance(data, dict) else {}, source=str(trial_dir / "config.yaml"))


def _load(trial_dir: Path):
    from ..models import load_model

    return load_model(trial_dir / "model.keras", compile=False)
