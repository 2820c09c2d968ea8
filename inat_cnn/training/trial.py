"""run_trial: one training run from a trial config to a trial folder and a wandb run.

Called many times in one agent process: every call clears the Keras session,
seeds, restores the dtype policy and finishes its wandb run, whatever happens.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import atomic
from ..errors import TrialFailed, TrialPruned, UserError
from ..trial_config import METRIC_GOALS, parse_trial_config, resolved_dict
from ..workspace import Workspace
from . import artifacts

if TYPE_CHECKING:
    from .stop import StopRequest

log = logging.getLogger(__name__)

#: After a stop request, the best checkpoint is still tested when that should take less than this.
STOP_TEST_BUDGET_S = 5.0


@dataclass
class TrialResult:
    state: str
    out_dir: Path
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def best_value(self) -> float | None:
        return self.metrics.get("best_value")

    @property
    def best_epoch(self) -> int | None:
        return self.metrics.get("best_epoch")

    @property
    def test_accuracy(self) -> float | None:
        return self.metrics.get("test_accuracy")

    @property
    def model_path(self) -> Path:
        return self.out_dir / "model.keras"

    @property
    def wandb_run_id(self) -> str | None:
        return self.metrics.get("wandb_run_id")


def phase_plan(config) -> list[tuple[str, int, int, float]]:
    """(phase, first epoch, end epoch, learning rate): each family's config says (fine-tuning: head, fine_tune)."""
    return config.phases()


def run_trial(config, data_root, out_dir, *, workspace=None, metric: str = "val_accuracy",
              goal: str = "maximize", on_epoch_end: Callable[[int, dict], Any] | None = None,
              wandb_group: str | None = None, wandb_project: str = "inat-cnn", wandb_mode: str | None = None,
              run_name: str | None = None, splits=None, stop: StopRequest | None = None,
              resume: dict[str, Any] | None = None) -> TrialResult:
    """Train one trial into ``out_dir``; raises TrialFailed / TrialPruned (after writing metrics.json).

    ``stop`` (a StopRequest whose signal handlers the caller installed): once it is requested,
    training ends after the current batch, the best whole epoch's checkpoint is kept, figures
    are skipped and the trial closes as "stopped" (exit code 0, metrics.json and summary complete).
    ``resume`` (``{"from": folder}``): continue from that folder's resume point (training.resume),
    under its wandb run; every whole epoch writes one in ``out_dir``.
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
    state: dict[str, Any] = {"metric": metric, "goal": goal, "epochs_run": 0, "image_size": config.image_size}
    live = _Live()
    try:
        import keras

        from .device import detect_accelerator, dtype_policy, prepare_backend

        cache = prepare_backend(ws.cache)  # before anything compiles
        keras.backend.clear_session()
        keras.utils.set_random_seed(config.seed)
        splits = splits if splits is not None else _load_splits(config, data_root, ws)
        state.update(_split_facts(splits, config.image_size), backend=keras.config.backend())
        accel = detect_accelerator()
        gpu = accel.gpu
        state.update(device=accel.name, precision=accel.policy, compile_cache=cache and str(cache))
        with dtype_policy(accel.policy):
            _train(live, config, splits, out_dir, ws, state, gpu, metric, goal, on_epoch_end,
                   dict(project=wandb_project, group=wandb_group, name=run_name or out_dir.name, mode=wandb_mode),
                   started, stop, resume)
            _after_training(live, out_dir, splits, config, state, gpu, stop)
    except TrialPruned:
        _close(out_dir, state, live, started, "pruned", exit_code=0, stop=stop)
        raise
    except (TrialFailed, UserError) as err:
        _close(out_dir, state, live, started, "failed", exit_code=1, reason=str(err), stop=stop)
        raise
    except BaseException as err:
        with contextlib.suppress(OSError, atomic.DiskError):  # a full disk must not hide the error itself
            atomic.write_text(out_dir / "error.log", traceback.format_exc())
        reason = f"{type(err).__name__}: {err}".strip()
        _close(out_dir, state, live, started, "failed", exit_code=1, reason=reason, stop=stop)
        if isinstance(err, Exception):  # a full or read-only disk is the machine's fault: DiskError re-queues
            raise atomic.disk_error(err, out_dir) or TrialFailed(reason) from err
        raise
    final = "stopped" if _stopping(stop) else "finished"
    _close(out_dir, state, live, started, final, exit_code=0, stop=stop)
    return TrialResult(final, out_dir, state, list(live.monitor.history))


@dataclass
class _Live:
    """What a failing trial must still close: its wandb run and its monitor (history, best epoch)."""

    run: Any = None
    monitor: Any = None
    snapshots: Any = None  # the SnapshotSaver of an lr_schedule: snapshot trial


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


def _train(live: _Live, config, splits, out_dir, ws, state, gpu, metric, goal, on_epoch_end, wandb_args, started,
           stop: StopRequest | None, resume_job: dict[str, Any] | None = None):
    """Build, log and fit through every phase (the run and monitor go into ``live`` as they exist)."""
    from ..data import ArrayBatches
    from ..models import apply_phase, build_model, summarize_model, tuning_ratios
    from ..models.flops import count_weights
    from . import wandb_run
    from .callbacks import TrialMonitor
    from .device import batch_options, jit_setting
    from . import snapshots
    from .optim import compile_model
    from .resume import Resumer
    from ..features.phase import finish_phase

    num_classes = len(splits.class_names)
    model = build_model(config, num_classes)
    summary = summarize_model(model)
    state.update(params=summary.total_params, flops=summary.total_flops)
    feed = batch_options(gpu)
    train = ArrayBatches(splits.x_train, splits.y_train, config.batch_size, shuffle=True, seed=config.seed, **feed)
    val = ArrayBatches(splits.x_val, splits.y_val, config.batch_size, shuffle=False, **feed)
    # Epochs are never selected on test: a test_accuracy sweep keeps the best val_accuracy epoch.
    monitor_name, monitor_goal = ("val_accuracy", "maximize") if metric == "test_accuracy" else (metric, goal)
    monitor = live.monitor = TrialMonitor(
        monitor=monitor_name, goal=monitor_goal, checkpoint=out_dir / "model.keras", n_train=len(splits.y_train),
        patience=config.early_stopping_patience, on_epoch_end=on_epoch_end, stop=stop)
    resumer = Resumer.start(out_dir, resume_job, monitor, train)
    state.update(resumed_at_epoch=resumer.epoch or None, resumed_elapsed_s=resumer.elapsed_s)
    run = live.run = wandb_run.open_run(config=resolved_dict(config), wandb_dir=ws.wandb_dir, run_id=resumer.run_id,
                                        **wandb_args)
    state.update(wandb_run_id=run.id, wandb_run_dir=wandb_run.run_dir(run))
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
        state.update(tuning_ratios(model), trainable_params=count_weights(model.trainable_weights))
        monitor.phase = phase
        initial = resumer.restore(model, phase, first)
        cached = _feature_phase(model, config, splits, ws, phase, train, callbacks, state)
        fit_model, fit_train, fit_val, fit_callbacks = ((cached.suffix, cached.train, cached.val, cached.callbacks)
                                                        if cached.used else (model, train, val, callbacks))
        try:
            fit_model.fit(fit_train, validation_data=fit_val, initial_epoch=initial, epochs=end,
                          callbacks=fit_callbacks, verbose=0)
        finally:
            finish_phase(cached, train)
            state["epochs_run"] = len(monitor.history)
            if monitor.train_started_at is not None and "startup_s" not in state:
                state["startup_s"] = monitor.train_started_at - started
        if monitor.stopped_early:
            break


def _feature_phase(model, config, splits, ws, phase: str, train, callbacks: list, state: dict):
    """Whether this phase trains the suffix on cached frozen-prefix features (the record goes to metrics.json)."""
    from ..features.phase import plan_phase

    cached = plan_phase(model, config, splits, ws.cache, phase, train, callbacks, log=log.info)
    state.setdefault("feature_cache", []).append(cached.record)
    return cached


def _feature_summary(state: dict) -> dict[str, Any]:
    """Each phase's feature-cache record as flat wandb summary keys."""
    return {f"feature_cache/{row['phase']}/{k}": row[k] for row in state.get("feature_cache") or ()
            for k in ("used", "reason", "build_s", "bytes", "built", "dtype") if k in row}


def _after_training(live: _Live, out_dir: Path, splits, config, state: dict, gpu: bool,
                    stop: StopRequest | None) -> None:
    """Test the best checkpoint, draw its figures, log it as an artifact; a stop keeps only the quick parts."""
    if not (out_dir / "model.keras").is_file():  # stopped before the first whole epoch: nothing to test
        return
    best = None
    # a test_accuracy sweep's result is the test score itself: always measured
    if _stopping(stop) and state["metric"] != "test_accuracy" and not _quick_to_test(live.monitor, splits):
        state["test_skipped"] = f"stopped by {stop.signal_name}; testing {len(splits.y_test)} images would be slow"
    else:
        best = _evaluate_best(out_dir, splits, config, state, gpu)
        if live.snapshots is not None and live.snapshots.rows:
            from .snapshots import evaluate_snapshots

            state["snapshot_ensemble"] = evaluate_snapshots(out_dir, live.snapshots.rows, splits, config.batch_size)
    if config.viz and best is not None and not _stopping(stop):
        _render_viz(best, splits, out_dir, state, live.run)
    _log_model_artifact(out_dir, state, live.run)


def _quick_to_test(monitor, splits) -> bool:
    """Whether the test split takes under STOP_TEST_BUDGET_S at this trial's training speed (inference is faster)."""
    rate = artifacts.train_throughput(monitor.history if monitor is not None else [])
    return bool(rate) and len(splits.y_test) / rate <= STOP_TEST_BUDGET_S


def _evaluate_best(out_dir: Path, splits, config, state: dict, gpu: bool):
    """Load model.keras (the best epoch) as a user would and score it on the test split."""
    from ..data import ArrayBatches
    from ..models import load_model
    from .device import batch_options, jit_setting
    from .optim import compile_model

    best = load_model(out_dir / "model.keras", compile=False)
    compile_model(best, config, learning_rate=config.learning_rate, phase_steps=1,
                  num_classes=len(splits.class_names), jit_compile=jit_setting(gpu))
    if len(splits.y_test):
        test = ArrayBatches(splits.x_test, splits.y_test, config.batch_size, shuffle=False, **batch_options(gpu))
        result = best.evaluate(test, verbose=0, return_dict=True)
        state.update(test_loss=float(result["loss"]), test_accuracy=float(result["accuracy"]))
    return best


def _render_viz(best, splits, out_dir: Path, state: dict, run) -> None:
    """Figures of the best model; a missing viz package or a viz error never fails the trial."""
    try:
        from ..viz import render_trial_figures
    except ImportError as err:
        state["viz_error"] = f"inat_cnn.viz unavailable: {err}"
        return
    try:
        images = render_trial_figures(best, splits, out_dir / "viz")
        if run is not None and images:
            from .wandb_run import log_images

            log_images(run, images)
    except Exception as err:  # figures are a bonus: record why they are missing and go on
        log.warning("viz failed for %s: %s", out_dir, err)
        state["viz_error"] = f"{type(err).__name__}: {err}"


def _log_model_artifact(out_dir: Path, state: dict, run) -> None:
    """The best model as a wandb artifact (see wandb_run.log_model); a failed upload never fails the trial."""
    from . import wandb_run

    try:
        state["model_artifact"] = wandb_run.log_model(run, out_dir / "model.keras") if run is not None else False
    except Exception as err:  # noqa: BLE001 - the model is safe on disk; record why W&B lacks it
        state["model_artifact"] = False
        state["artifact_error"] = f"{type(err).__name__}: {err}"


def _close(out_dir: Path, state: dict, live: _Live, started: float, final: str, *, exit_code: int,
           reason: str | None = None, stop: StopRequest | None = None) -> None:
    """Write metrics.json and history.csv and finish the wandb run (best-epoch summary)."""
    run, monitor = live.run, live.monitor
    history = monitor.history if monitor is not None else []
    best = monitor.best_row if monitor is not None else None
    state.update(state=final, best_epoch=best and best["epoch"], best_value=monitor and monitor.best_value,
                 val_accuracy=best and best.get("val_accuracy"), val_loss=best and best.get("val_loss"),
                 wall_time_s=time.perf_counter() - started + float(state.get("resumed_elapsed_s") or 0.0),
                 train_images_per_s=artifacts.train_throughput(history),
                 stopped_early=bool(monitor and monitor.stopped_early) or _stopping(stop),
                 stop_signal=stop.signal_name if stop is not None else None)
    if state["metric"] == "test_accuracy":
        state["best_value"] = state.get("test_accuracy")
    for key in ("test_accuracy", "test_loss", "params", "trainable_params", "flops", "layer_tuning_ratio",
                "parameter_tuning_ratio", "startup_s", "wandb_run_id", "wandb_run_dir"):
        state.setdefault(key, None)
    if reason:
        state["fail_reason"] = reason
    if live.snapshots is not None:
        state["snapshots"] = live.snapshots.rows
    artifacts.write_metrics(out_dir, state)
    artifacts.write_history(out_dir, history)
    if run is not None:
        from . import wandb_run

        wandb_run.pin_best_summary(run, monitor)
        keys = ("test_accuracy", "test_loss", "params", "flops", "layer_tuning_ratio", "parameter_tuning_ratio",
                "train_images_per_s", "epochs_run", "startup_s", "fail_reason", "stopped_early", "stop_signal",
                "test_skipped")
        wandb_run.finish(run, {k: state.get(k) for k in keys} | _snapshot_summary(state) | _feature_summary(state)
                       | {"state": final}, exit_code)


def _snapshot_summary(state: dict) -> dict[str, Any]:
    """Each snapshot's validation metrics and the snapshot ensemble's, as flat wandb summary keys."""
    out = {f"snapshot_{row['snapshot']}/{k}": row[k] for row in state.get("snapshots") or ()
           for k in ("epoch", "val_accuracy", "val_loss", "test_accuracy") if k in row}
    return out | {f"snapshot_ensemble/{k}": v for k, v in (state.get("snapshot_ensemble") or {}).items()}
