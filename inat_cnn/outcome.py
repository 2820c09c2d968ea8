"""One record of a trial: what it measured, as one typed, frozen ``TrialOutcome``.

``run_trial`` builds it with ``build_outcome`` (pure) and writes it as the trial folder's
metrics.json (``to_json``); the engine stores its summary as Optuna user attributes
(``to_user_attrs`` / ``from_user_attrs``, the keys in ``USER_ATTRS``, nowhere else); the report
reads either back into the same type. The vocabulary every layer shares lives here too: the
sweep's default metric, the test_accuracy → val_accuracy swap, the trial states in listing order
and the post-training modes.

Bottom layer: imports nothing of this project, so training, engine and report can all use it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

DEFAULT_METRIC = "val_accuracy"
DEFAULT_GOAL = "maximize"

#: Optuna's trial states and the word every listing uses for each, in the order listings show them.
TRIAL_STATES = {"COMPLETE": "finished", "PRUNED": "pruned", "RUNNING": "running", "WAITING": "waiting",
                "FAIL": "failed"}
STATE_ORDER = tuple(TRIAL_STATES.values())

#: When a trial's post-training work (test evaluation, figures) runs; docs/trial-record.md has the figures.
#: inline: in every trial; top_k: only in a trial that enters the sweep's current top TOP_K; export: never
#: in the trial. The report and ``export best`` render what the trials they show left for later.
POST_TRAINING = ("inline", "top_k", "export")
TOP_K = 3
#: What ``pending`` may name: the post-training parts a trial left for later.
DEFERRABLE = ("test", "figures")


def sweep_objective(metric: Any) -> tuple[str, str]:
    """(name, goal) of a sweep's ``metric`` block: a mapping, an object with ``name``/``goal``, or None.

    A sweep without one is judged on val_accuracy, maximized.
    """
    if isinstance(metric, Mapping):
        name, goal = metric.get("name"), metric.get("goal")
    else:
        name, goal = getattr(metric, "name", None), getattr(metric, "goal", None)
    return name or DEFAULT_METRIC, goal or DEFAULT_GOAL


def monitored_metric(metric: str, goal: str) -> tuple[str, str]:
    """The (metric, goal) that picks a trial's best epoch: epochs are never chosen on test, so a
    test_accuracy sweep keeps the best val_accuracy epoch (and is then judged on its test score)."""
    return ("val_accuracy", "maximize") if metric == "test_accuracy" else (metric, goal)


def train_throughput(history: Sequence[Mapping[str, Any]]) -> float | None:
    """Median training images/s, leaving out the first epoch (graph tracing) when there are others."""
    rates = sorted(r["images_per_s"] for r in history[1:] or history if r.get("images_per_s") is not None)
    return rates[len(rates) // 2] if rates else None


@dataclass(frozen=True)
class TrialOutcome:
    """What one trial measured. Field names are the metrics.json keys (history goes to history.csv)."""

    state: str = "running"  # finished | stopped | pruned | failed (running while it trains)
    metric: str = DEFAULT_METRIC
    goal: str = DEFAULT_GOAL
    # the best epoch (picked on monitored_metric) and the value the sweep judges
    best_epoch: int | None = None
    best_value: float | None = None
    val_accuracy: float | None = None
    val_loss: float | None = None
    test_accuracy: float | None = None
    test_loss: float | None = None
    test_skipped: str | None = None
    epochs_run: int = 0
    # the data and the machine
    image_size: int | None = None
    fingerprint: str | None = None
    split_id: str | None = None
    class_names: tuple[str, ...] = ()
    backend: str | None = None
    device: str | None = None
    precision: str | None = None
    compile_cache: str | None = None
    # the model
    params: int | None = None
    trainable_params: int | None = None
    flops: int | None = None
    layer_tuning_ratio: float | None = None
    parameter_tuning_ratio: float | None = None
    # timing, resume and stop
    startup_s: float | None = None
    wall_time_s: float | None = None
    train_images_per_s: float | None = None
    resumed_at_epoch: int | None = None
    resumed_elapsed_s: float | None = None
    stopped_early: bool = False
    stop_signal: str | None = None
    pruned_at_epoch: int | None = None
    fail_reason: str | None = None
    # wandb, feature cache, snapshots, figures
    wandb_run_id: str | None = None
    wandb_run_dir: str | None = None
    wandb_project: str | None = None
    wandb_group: str | None = None
    model_artifact: bool | None = None
    artifact_error: str | None = None
    feature_cache: tuple[dict[str, Any], ...] = ()
    snapshots: tuple[dict[str, Any], ...] | None = None
    snapshot_ensemble: dict[str, Any] | None = None
    post_training: str = "inline"
    pending: tuple[str, ...] = ()  # DEFERRABLE parts left for the report / export to do
    viz_error: str | None = None
    history: tuple[dict[str, Any], ...] = field(default=(), compare=False, repr=False)

    def noted(self, **facts: Any) -> TrialOutcome:
        """This outcome with ``facts`` added (an unknown name is a TypeError: the keys are the fields)."""
        return replace(self, **{k: _frozen(k, v) for k, v in facts.items()})

    def to_json(self) -> dict[str, Any]:
        """The metrics.json body: every field but the history; optional notes only when present."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "history" or (f.name in _ONLY_WHEN_SET and value in (None, ())):
                continue
            out[f.name] = _plain(value)
        return out

    @classmethod
    def from_json(cls, body: Mapping[str, Any], history: Iterable[Mapping[str, Any]] = ()) -> TrialOutcome:
        """An outcome from a metrics.json body (keys it does not know are ignored: older or newer files)."""
        known = {f.name for f in fields(cls)} - {"history"}
        facts = {k: _frozen(k, v) for k, v in body.items() if k in known and v is not None}
        return cls(**facts, history=tuple(dict(r) for r in history))


#: Notes written to metrics.json only when they say something.
_ONLY_WHEN_SET = ("test_skipped", "resumed_at_epoch", "resumed_elapsed_s", "pruned_at_epoch", "fail_reason",
                  "artifact_error", "snapshots", "snapshot_ensemble", "pending", "viz_error")
_TUPLES = ("class_names", "feature_cache", "snapshots", "pending")


def _frozen(name: str, value: Any) -> Any:
    if name in _TUPLES and isinstance(value, list):
        return tuple(dict(v) if isinstance(v, Mapping) else v for v in value)
    return value


def _plain(value: Any) -> Any:
    """JSON-safe: tuples as lists, NaN/inf as None, paths as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is not None and not isinstance(value, (str, int, float, bool)):
        return str(value)
    return value


def build_outcome(measured: TrialOutcome, *, state: str, history: Sequence[Mapping[str, Any]],
                  best_row: Mapping[str, Any] | None, best_value: float | None, elapsed_s: float,
                  stopped_early: bool = False, stop_signal: str | None = None, fail_reason: str | None = None,
                  snapshots: Sequence[Mapping[str, Any]] | None = None) -> TrialOutcome:
    """The finished record of a trial: ``measured`` (what it noted on the way) plus its end.

    Pure. ``best_row`` is the best epoch's history row (picked on ``monitored_metric``) and
    ``best_value`` its monitored value; a test_accuracy sweep's value is the test score itself.
    ``elapsed_s`` is this process's share of the wall time (a resumed trial adds what it had run).
    """
    best_row = best_row or {}
    judged = measured.test_accuracy if measured.metric == "test_accuracy" else best_value
    return measured.noted(
        state=state, history=tuple(dict(r) for r in history), epochs_run=len(history),
        best_epoch=best_row.get("epoch"), best_value=judged, val_accuracy=best_row.get("val_accuracy"),
        val_loss=best_row.get("val_loss"), wall_time_s=elapsed_s + float(measured.resumed_elapsed_s or 0.0),
        train_images_per_s=train_throughput(history), stopped_early=stopped_early, stop_signal=stop_signal,
        fail_reason=fail_reason or measured.fail_reason,
        snapshots=None if snapshots is None else tuple(dict(r) for r in snapshots))


def top_k_bar(values: Iterable[float | None], goal: str, k: int = TOP_K) -> float | None:
    """The value a trial must beat to enter the top ``k`` of ``values``; None while fewer than k have one."""
    clean = sorted((v for v in values if v is not None and math.isfinite(v)), reverse=goal == "maximize")
    return clean[k - 1] if len(clean) >= k else None


def enters_top_k(value: float | None, bar: float | None, goal: str) -> bool:
    """Whether ``value`` enters the top k that ``bar`` closes (an equal value ranks after the earlier trial)."""
    if bar is None:
        return True
    if value is None or not math.isfinite(value):
        return False
    return value > bar if goal == "maximize" else value < bar


def deferred_parts(mode: str, *, metric: str, value: float | None, goal: str, bar: float | None,
                   can_defer: bool, viz: bool) -> tuple[str, ...]:
    """The post-training parts (DEFERRABLE) a trial leaves for the report / export.

    ``can_defer``: whether something will finish them (the local engine; not `inat-cnn train` or a W&B
    agent). A test_accuracy sweep always tests in the trial: the score is its result.
    """
    if mode not in POST_TRAINING:
        raise ValueError(f"post_training must be one of {', '.join(POST_TRAINING)} (got {mode!r})")
    if not can_defer or mode == "inline" or (mode == "top_k" and enters_top_k(value, bar, goal)):
        return ()
    return (() if metric == "test_accuracy" else ("test",)) + (("figures",) if viz else ())


#: The outcome's fields the engine stores as Optuna user attributes; the rest stays in the trial folder.
USER_ATTRS = ("best_epoch", "epochs_run", "test_accuracy", "wandb_run_id", "pruned_at_epoch", "post_training",
              "fail_reason")


def to_user_attrs(outcome: TrialOutcome) -> dict[str, Any]:
    """The USER_ATTRS of ``outcome`` that have a value (JSON-plain, as Optuna stores them)."""
    return {k: _plain(getattr(outcome, k)) for k in USER_ATTRS if getattr(outcome, k) is not None}


def from_user_attrs(attrs: Mapping[str, Any], state: str) -> TrialOutcome:
    """The outcome a trial's Optuna user attributes hold (``state``: its word from TRIAL_STATES)."""
    return TrialOutcome(state=state, **{k: attrs[k] for k in USER_ATTRS if attrs.get(k) is not None})
