"""The W&B side: a sweep's runs through wandb.Api, and a run's files on disk.

Thin on purpose: it only maps wandb's public API objects (Sweep, Run, Artifact,
File) to TrialRecords and trial-like folders; everything else is shared with the
local backend.
"""

from __future__ import annotations

import math
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .. import atomic
from ..errors import UserError
from ..outcome import TrialOutcome, sweep_objective
from .records import SweepResult, TrialRecord, best_of, swept_parameters
from .scrub import scrub

_RUN_STATES = {"finished": "finished", "running": "running", "pending": "waiting", "crashed": "failed",
               "failed": "failed", "killed": "pruned", "preempted": "failed"}
_VIZ_MEDIA = re.compile(r"(?:^|/)viz/(?P<name>[^/]+?)(?:_\d+_[0-9a-f]+)?\.png$")


def load_wandb_sweep(sweep_path: str, api: Any = None) -> SweepResult:
    """Read a W&B sweep ("entity/project/id" or "project/id") into a SweepResult."""
    try:
        if api is None:
            import wandb

            api = wandb.Api(timeout=30)
        sweep = api.sweep(sweep_path)
    except Exception as err:  # wandb raises CommError, ValueError, HTTP errors...
        raise UserError(f"cannot read W&B sweep {sweep_path!r}: {str(err).splitlines()[0] if str(err) else err!r} "
                        "(is WANDB_API_KEY set and the path entity/project/sweep_id?)") from None
    spec = dict(sweep.config or {})
    metric, goal = sweep_objective(spec.get("metric"))
    swept = swept_parameters(spec, [])
    trials = [record_from_run(i, run, metric, goal, swept) for i, run in enumerate(sweep.runs)]
    return SweepResult(sweep_id=sweep_path, backend="wandb", metric=metric, goal=goal, spec=spec,
                       trials=trials, swept=swept or swept_parameters({}, trials), source="wandb")


def record_from_run(number: int, run: Any, metric: str, goal: str, swept: list[str]) -> TrialRecord:
    """One wandb Run as a TrialRecord (no files are downloaded here)."""
    config = {k: v for k, v in dict(run.config).items() if not k.startswith("_")}
    summary = _plain_summary(run.summary)
    curve = {}
    for i, row in enumerate(run.scan_history(keys=[metric])):
        value = row.get(metric)
        if isinstance(value, (int, float)) and not math.isnan(value):
            curve[int(row.get("epoch", i + 1))] = float(value)
    value = _summary_value(summary.get(metric), goal)
    if value is None:
        value = best_of(list(curve.values()), goal)
    return TrialRecord(
        number=number,
        name=run.name or run.id,
        state=_RUN_STATES.get(str(run.state).lower(), str(run.state).lower()),
        params={k: config[k] for k in (swept or config) if k in config},
        value=value,
        duration_s=summary.get("_runtime") if isinstance(summary.get("_runtime"), (int, float)) else None,
        curve=curve,
        config=config,
        outcome=TrialOutcome.from_json({k: v for k, v in summary.items() if not k.startswith("_")}).noted(
            test_accuracy=_summary_value(summary.get("test_accuracy"), "maximize"), wandb_run_id=run.id,
            epochs_run=int(epochs) if isinstance(epochs := summary.get("epochs_run"), (int, float)) else 0),
        handle=run,
    )


def materialize_run(run: Any, dest: Path) -> Path:
    """Write a trial-like folder for ``run``: config.yaml, metrics.json, model.keras, viz/*.png.

    The model comes from the run's logged "model" artifact (the one aliased "best"
    when there are several); a run without one cannot be exported.
    """
    dest.mkdir(parents=True, exist_ok=True)
    config = scrub({k: v for k, v in dict(run.config).items() if not k.startswith("_")})
    atomic.write_text(dest / "config.yaml", yaml.safe_dump(config, sort_keys=True))
    metrics = scrub({k: v for k, v in _plain_summary(run.summary).items() if not k.startswith("_")})
    metrics.setdefault("wandb_run_id", run.id)
    atomic.write_json(dest / "metrics.json", metrics, indent=2, default=str)
    with tempfile.TemporaryDirectory(prefix="inat-wandb-") as tmp:
        _download_model(run, Path(tmp) / "artifact", dest / "model.keras")
        download_viz(run, Path(tmp) / "files", dest / "viz")
    return dest


def _download_model(run: Any, scratch: Path, target: Path) -> None:
    models = [a for a in run.logged_artifacts() if getattr(a, "type", None) == "model"]
    if not models:
        raise UserError(f"W&B run {run.id} logged no model artifact: nothing to export "
                        "(trials log their best model.keras as an artifact of type 'model')")
    chosen = next((a for a in models if "best" in (getattr(a, "aliases", None) or [])), models[-1])
    folder = Path(chosen.download(root=str(scratch)))
    found = sorted(folder.rglob("*.keras"))
    if not found:
        raise UserError(f"W&B artifact {chosen.name} of run {run.id} holds no .keras file")
    shutil.copy2(found[0], target)


def download_viz(run: Any, scratch: Path, viz_dir: Path) -> None:
    """The run's logged viz/<name> images (wandb media files) as ``viz_dir/<name>.png``."""
    for file in run.files():
        match = _VIZ_MEDIA.search(file.name)
        if not match:
            continue
        file.download(root=str(scratch), replace=True)
        viz_dir.mkdir(exist_ok=True)
        shutil.copy2(scratch / file.name, viz_dir / f"{match['name']}.png")


def _plain_summary(summary: Any) -> Any:
    """wandb's Summary (and its nested SummarySubDicts) as plain dicts."""
    if hasattr(summary, "items"):
        return {str(k): _plain_summary(v) for k, v in summary.items()}
    return summary


def _summary_value(value: Any, goal: str) -> float | None:
    """A summary entry as a number: plain, or define_metric's {"max": v} / {"min": v}."""
    if isinstance(value, dict):
        key = "max" if goal == "maximize" else "min"
        value = value.get(key, value.get("best", value.get("last")))
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
        return float(value)
    return None
