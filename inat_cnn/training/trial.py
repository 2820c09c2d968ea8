"""run_trial: one training run from a trial config to a trial folder and a wandb run.

Called many times in one agent process: every call clears the Keras session,
seeds, restores the dtype policy and finishes its wandb run, whatever happens.
What the trial measures is noted, as it is measured, on one TrialOutcome
(``outcome.py``), finished by ``build_outcome`` and written once as metrics.json.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import atomic
from ..errors import TrialFailed, TrialPruned, UserError
from ..outcome import (
    DEFAULT_GOAL,
    DEFAULT_METRIC,
    TrialOutcome,
    build_outcome,
    deferred_parts,
    monitored_metric,
    train_throughput,
)
from ..trial_config import METRIC_GOALS, parse_trial_config, resolved_dict
from ..workspace import Workspace
from . import artifacts

if TYPE_CHECKING:
    from .stop import StopRequest

log = logging.getLogger(__name__)

#: After a stop request, the best checkpoint is still tested when that should take less than this.
STOP_TEST_BUDGET_S = 5.0
#: ``top_k_bar`` when the caller cannot finish deferred work later: post-training always runs inline.
INLINE = "inline"


def phase_plan(config) -> list[tuple[str, int, int, float]]:
    """(phase, first epoch, end epoch, learning rate): each family's config says (fine-tuning: head, fine_tune)."""
    return config.phases()


def run_trial(config, data_root, out_dir, *, workspace=None, metric: str = DEFAULT_METRIC,
              goal: str = DEFAULT_GOAL, on_epoch_end: Callable[[int, dict], Any] | None = None,
              wandb_group: str | None = None, wandb_project: str = "inat-cnn", wandb_mode: str | None = None,
              run_name: str | None = None, splits=None, stop: StopRequest | None = None,
              resume: dict[str, Any] | None = None, top_k_bar: float | str | None = INLINE) -> TrialOutcome:
    """Train one trial into ``out_dir``; its outcome. Raises TrialFailed / TrialPruned (after writing metrics.json).

    ``stop`` (a StopRequest whose signal handlers the caller installed): once it is requested,
    training ends after the current batch, the best whole epoch's checkpoint is kept, figures
    are skipped and the trial closes as "stopped" (exit code 0, metrics.json and summary complete).
    ``resume`` (``{"from": folder}``): continue from that folder's resume point (training.resume),
    under its wandb run; every whole epoch writes one in ``out_dir``.
    ``top_k_bar``: where the sweep stood when the trial started (outcome.top_k_bar: the value that
    enters its top k, None while fewer have a value) for a ``post_training: top_k | export`` config,
    whose deferred test and figures the report / export finish; INLINE (the default): nobody will,
    so they run here.
    """
    started = time.perf_counter()
    if not isinstance(config, (dict,)) and not hasattr(config, "model_dump"):
        raise UserError(f"trial config must be a mapping, got {type(config).__name__}")
    config = parse_trial_config(config) if isinstance(config, dict) else config
    if metric not in METRIC_GOALS or goal not in ("maximize", "minimize"):
        raise UserError(f"metric must be one of {', '.join(METRIC_GOALS)} and goal maximize|minimize "
                        f"(got {metric!r}, {goal!r})")
    out_dir = artifacts.prepare_out_dir(out_dir)
    artifacts.write_config(out_dir, resolved_dict(config))
    ws = Workspace.resolve(workspace).ensure()
    live = _Live(TrialOutcome(metric=metric, goal=goal, image_size=config.image_size,
                              post_training=config.post_training, wandb_project=wandb_project, wandb_group=wandb_group))
    try:
        import keras

        from .device import detect_accelerator, dtype_policy, prepare_backend

        cache = prepare_backend(ws.cache)  # before anything compiles
        keras.backend.clear_session()
        keras.utils.set_random_seed(config.seed)
        splits = splits if splits is not None else _load_splits(config, data_root, ws)
        live.note(**_split_facts(splits, config.image_size), backend=keras.config.backend())
        accel = detect_accelerator()
        gpu = accel.gpu
        live.note(device=accel.name, precision=accel.policy, compile_cache=cache and str(cache))
        with dtype_policy(accel.policy):
            _train(live, config, splits, out_dir, ws, gpu, on_epoch_end,
                   dict(project=wandb_project, group=wandb_group, name=run_name or out_dir.name, mode=wandb_mode),
                   started, stop, resume)
            _after_training(live, out_dir, splits, config, gpu, stop, top_k_bar)
    except TrialPruned as pruned:
        live.note(pruned_at_epoch=pruned.epoch)
        _close(out_dir, live, started, "pruned", exit_code=0, stop=stop)
        raise
    except (TrialFailed, UserError) as err:
        _close(out_dir, live, started, "failed", exit_code=1, reason=str(err), stop=stop)
        raise
    except BaseException as err:
        with contextlib.suppress(OSError, atomic.DiskError):  # a full disk must not hide the error itself
            atomic.write_text(out_dir / "error.log", traceback.format_exc())
        reason = f"{type(err).__name__}: {err}".strip()
        _close(out_dir, live, started, "failed", exit_code=1, reason=reason, stop=stop)
        if isinstance(err, Exception):  # a full or read-only disk is the machine's fault: DiskError re-queues
            raise atomic.disk_error(err, out_dir) or TrialFailed(reason) from err
        raise
    final = "stopped" if _stopping(stop) else "finished"
    return _close(out_dir, live, started, final, exit_code=0, stop=stop)


@dataclass
class _Live:
    """The trial as it runs: what it measured so far, and what a failing trial must still close
    (its wandb run, its monitor with the history and best epoch)."""

    outcome: TrialOutcome
    run: Any = None
    monitor: Any = None
    snapshots: Any = None  # the SnapshotSaver of an lr_schedule: snapshot trial
    features: Any = None  # the last phase that trained on cached features (features.phase.CachedPhase)

    def note(self, **facts: Any) -> None:
        self.outcome = self.outcome.noted(**facts)


def _load_splits(config, data_root, ws: Workspace):
    from ..data import load_splits

    if data_root is None:
        raise UserError("no dataset: pass --data ROOT")
    return load_splits(data_root, int(config.image_size), resize=config.resize, val_fraction=config.val_fraction,
                       cache_dir=ws.cache)


def _split_facts(splits, image_size: int) -> dict[str, Any]:
    if tuple(splits.x_train.shape[1:]) != (image_size, image_size, 3):
        raise UserError(f"the dataset arrays are {tuple(splits.x_train.shape[1:])} but image_size {image_size} "
                        "was asked for")
    if len(splits.y_train) == 0 or len(splits.y_val) == 0:
        raise UserError("the dataset split has no training or no validation images; add images or change "
                        "val_fraction")
    return {"fingerprint": getattr(splits, "fingerprint", None), "split_id": getattr(splits, "split_id", None),
            "class_names": list(splits.class_names)}


def _stopping(stop: StopRequest | None) -> bool:
    return stop is not None and stop.requested


def _train(live: _Live, config, splits, out_dir, ws, gpu, on_epoch_end, wandb_args, started,
           stop: StopRequest | None, resume_job: dict[str, Any] | None = None):
    """Build, log and fit through every phase (the run and monitor go into ``live`` as they exist)."""
    from ..data import ArrayBatches
    from ..features.phase import finish_phase
    from ..models import apply_phase, build_model, summarize_model, tuning_ratios
    from ..models.flops import count_weights
    from . import snapshots, wandb_run
    from .callbacks import TrialMonitor
    from .device import batch_options, jit_setting
    from .optim import compile_model
    from .resume import Resumer

    num_classes = len(splits.class_names)
    model = build_model(config, num_classes)
    summary = summarize_model(model)
    live.note(params=summary.total_params, flops=summary.total_flops)
    feed = batch_options(gpu)
    train = ArrayBatches(splits.x_train, splits.y_train, config.batch_size, shuffle=True, seed=config.seed, **feed)
    val = ArrayBatches(splits.x_val, splits.y_val, config.batch_size, shuffle=False, **feed)
    monitor_name, monitor_goal = monitored_metric(live.outcome.metric, live.outcome.goal)
    monitor = live.monitor = TrialMonitor(
        monitor=monitor_name, goal=monitor_goal, checkpoint=out_dir / "model.keras", n_train=len(splits.y_train),
        patience=config.early_stopping_patience, on_epoch_end=on_epoch_end, stop=stop)
    resumer = Resumer.start(out_dir, resume_job, monitor, train)
    live.note(resumed_at_epoch=resumer.epoch or None, resumed_elapsed_s=resumer.elapsed_s)
    run = live.run = wandb_run.open_run(config=resolved_dict(config), wandb_dir=ws.wandb_dir, run_id=resumer.run_id,
                                        **wandb_args)
    live.note(wandb_run_id=run.id, wandb_run_dir=wandb_run.run_dir(run))
    monitor.sinks += [wandb_run.epoch_sink(run, monitor), resumer.sink(model, monitor, run, started)]
    callbacks = [monitor] + ([stop.callback()] if stop is not None else [])  # the stop check runs after the monitor
    if snapshots.is_snapshot(config):  # after the monitor (it marks a cut epoch), before the stop check
        live.snapshots = snapshots.SnapshotSaver(out_dir, config, stop)
        callbacks.insert(1, live.snapshots)
    for phase, first, end, lr in phase_plan(config):
        if end <= first or end <= resumer.epoch or _stopping(stop):
            continue
        apply_phase(model, config, "head" if phase == "head" else "fine_tune")
        compile_model(model, config, learning_rate=lr, phase_steps=len(train) * (end - first),
                      first_step=len(train) * first, steps_per_epoch=len(train),
                      cycles=snapshots.phase_cycles(config, end),
                      num_classes=num_classes, jit_compile=jit_setting(gpu))
        live.note(**tuning_ratios(model), trainable_params=count_weights(model.trainable_weights))
        monitor.phase = phase
        initial = resumer.restore(model, phase, first)
        cached = _feature_phase(live, model, config, splits, ws, phase, train, callbacks)
        fit_model, fit_train, fit_val, fit_callbacks = ((cached.suffix, cached.train, cached.val, cached.callbacks)
                                                        if cached.used else (model, train, val, callbacks))
        try:
            # shuffle=False: the batches already shuffle per (seed, epoch); Keras' own shuffle permutes them
            # with Python's global `random`, a state a resume point cannot hold (resumed epochs drifted)
            fit_model.fit(fit_train, validation_data=fit_val, initial_epoch=initial, epochs=end,
                          callbacks=fit_callbacks, verbose=0, shuffle=False)
        finally:
            finish_phase(cached, train)
            if monitor.train_started_at is not None and live.outcome.startup_s is None:
                live.note(startup_s=monitor.train_started_at - started)
        if monitor.stopped_early:
            break


def _feature_phase(live: _Live, model, config, splits, ws, phase: str, train, callbacks: list):
    """Whether this phase trains the suffix on cached frozen-prefix features (the record goes to metrics.json)."""
    from ..features.phase import plan_phase

    cached = plan_phase(model, config, splits, ws.cache, phase, train, callbacks, log=log.info,
                        checkpoint=live.monitor.checkpoint)
    live.note(feature_cache=(*live.outcome.feature_cache, cached.record))
    live.features = cached if cached.used else live.features
    return cached


def _feature_summary(outcome: TrialOutcome) -> dict[str, Any]:
    """Each phase's feature-cache record as flat wandb summary keys."""
    return {f"feature_cache/{row['phase']}/{k}": row[k] for row in outcome.feature_cache
            for k in ("used", "reason", "build_s", "bytes", "built", "dtype", "cuts_in_build") if k in row}


def _after_training(live: _Live, out_dir: Path, splits, config, gpu: bool, stop: StopRequest | None,
                    top_k_bar: float | str | None) -> None:
    """Test the best checkpoint, draw its figures, log it as an artifact; a stop keeps only the quick parts,
    a trial of a ``post_training: top_k | export`` sweep leaves them pending when it may."""
    from ..features.phase import test_on_features
    from .post_training import render_figures, test_best

    if not (out_dir / "model.keras").is_file():  # stopped before the first whole epoch: nothing to test
        return
    metric = live.outcome.metric

    def left_for_later() -> tuple[str, ...]:  # ranked on what the sweep judges (a test_accuracy sweep: test)
        value = live.outcome.test_accuracy if metric == "test_accuracy" else live.monitor.best_value
        return deferred_parts(config.post_training, metric=metric, value=value, goal=live.outcome.goal,
                              bar=None if top_k_bar == INLINE else top_k_bar,
                              can_defer=top_k_bar != INLINE and not _stopping(stop), viz=config.viz)

    pending = left_for_later()  # a test_accuracy sweep never defers its test: it is decided again after it
    best = None
    # a test_accuracy sweep's result is the test score itself: always measured
    if _stopping(stop) and metric != "test_accuracy" and not _quick_to_test(live.monitor, splits):
        live.note(test_skipped=f"stopped by {stop.signal_name}; testing {len(splits.y_test)} images would be slow")
    elif "test" not in pending:
        rows = live.snapshots.rows if live.snapshots else None
        # the suffix on the cached test features scores as the full model on the images (else: on the images)
        facts = test_on_features(live.features, out_dir / "model.keras", live.outcome.feature_cache, bool(rows))
        if "test_accuracy" not in facts:
            best, tested = test_best(out_dir, splits, config, gpu, rows)
            facts.update(tested)
        live.note(**facts)
        pending = left_for_later() if metric == "test_accuracy" else pending
    if config.viz and not _stopping(stop) and "figures" not in pending:
        best = best if best is not None else _load_best(out_dir)
        live.note(viz_error=render_figures(best, splits, out_dir, live.run))
    live.note(pending=pending)
    _log_model_artifact(live, out_dir)


def _load_best(out_dir: Path):
    from ..models import load_model

    return load_model(out_dir / "model.keras", compile=False)


def _quick_to_test(monitor, splits) -> bool:
    """Whether the test split takes under STOP_TEST_BUDGET_S at this trial's training speed (inference is faster)."""
    rate = train_throughput(monitor.history if monitor is not None else [])
    return bool(rate) and len(splits.y_test) / rate <= STOP_TEST_BUDGET_S


def _log_model_artifact(live: _Live, out_dir: Path) -> None:
    """The best model as a wandb artifact (see wandb_run.log_model); a failed upload never fails the trial."""
    from . import wandb_run

    try:
        live.note(model_artifact=wandb_run.log_model(live.run, out_dir / "model.keras") if live.run else False)
    except Exception as err:  # noqa: BLE001 - the model is safe on disk; record why W&B lacks it
        live.note(model_artifact=False, artifact_error=f"{type(err).__name__}: {err}")


#: The outcome's fields in the wandb run's summary (beside the best epoch's metrics).
SUMMARY_KEYS = ("test_accuracy", "test_loss", "params", "flops", "layer_tuning_ratio", "parameter_tuning_ratio",
                "train_images_per_s", "epochs_run", "startup_s", "fail_reason", "stopped_early", "stop_signal",
                "test_skipped", "state")


def _close(out_dir: Path, live: _Live, started: float, final: str, *, exit_code: int,
           reason: str | None = None, stop: StopRequest | None = None) -> TrialOutcome:
    """Finish the outcome, write metrics.json and history.csv and finish the wandb run (best-epoch summary)."""
    run, monitor = live.run, live.monitor
    outcome = build_outcome(
        live.outcome, state=final, history=monitor.history if monitor is not None else [],
        best_row=monitor.best_row if monitor is not None else None,
        best_value=monitor.best_value if monitor is not None else None, elapsed_s=time.perf_counter() - started,
        stopped_early=bool(monitor and monitor.stopped_early) or _stopping(stop),
        stop_signal=stop.signal_name if stop is not None else None, fail_reason=reason,
        snapshots=live.snapshots.rows if live.snapshots is not None else None)
    artifacts.write_metrics(out_dir, outcome)
    artifacts.write_history(out_dir, list(outcome.history))
    if run is not None:
        from . import wandb_run

        wandb_run.pin_best_summary(run, monitor)
        wandb_run.finish(run, {k: getattr(outcome, k) for k in SUMMARY_KEYS} | _snapshot_summary(outcome)
                         | _feature_summary(outcome), exit_code)
    return outcome


def _snapshot_summary(outcome: TrialOutcome) -> dict[str, Any]:
    """Each snapshot's validation metrics and the snapshot ensemble's, as flat wandb summary keys."""
    out = {f"snapshot_{row['snapshot']}/{k}": row[k] for row in outcome.snapshots or ()
           for k in ("epoch", "val_accuracy", "val_loss", "test_accuracy") if k in row}
    return out | {f"snapshot_ensemble/{k}": v for k, v in (outcome.snapshot_ensemble or {}).items()}
