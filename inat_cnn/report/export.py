"""`inat-cnn export best`: the best trial as a self-describing folder, optionally with a top-k ensemble.

DIR/ config.yaml, model.keras (the best epoch), metrics.json, history.csv, viz/*.png,
MODEL_CARD.md, and with --top-k K > 1: ensemble/model.keras + ensemble/members.json.

Everything is written into a fresh folder beside DIR, a ``.inat-cnn-export`` marker listing every
file goes in last, and the folder is renamed into place: an interrupted export leaves DIR as it was.
--force replaces only an earlier export (its marker, nothing else in it), never the workspace, the
current folder, the sweep database or trial folders, nor any folder holding them (see ``folders``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError
from ..folders import (check_replaceable, check_target, discard_staging, protected_paths, publish_folder,
                       staging_folder, write_marker)
from .model_card import EnsembleSummary, render_model_card
from .records import SweepResult, TrialRecord
from .results import read_trial_folder
from .scrub import scrub

#: Machine-specific keys a trial's metrics.json holds that mean nothing elsewhere.
_LOCAL_ONLY = ("wandb_run_dir",)


@dataclass
class ExportResult:
    out: Path
    best: TrialRecord
    ensemble: EnsembleSummary | None = None
    warnings: list[str] = field(default_factory=list)


MARKER = ".inat-cnn-export"
_KIND = "inat-cnn export"


def check_destination(out: Path, force: bool, result: SweepResult | None = None,
                      workspace: Path | None = None) -> None:
    """Refuse, before any work is done: a file; a non-empty folder without ``force``; with ``force``,
    anything but an earlier export of this project (see :func:`inat_cnn.folders.check_replaceable`)."""
    out = Path(out).expanduser().absolute()
    check_target(out, "export", _protected(result, workspace))
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise UserError(f"--out {out} is not empty: pass --force to replace an earlier export there (it is "
                            "kept until the new one is complete)")
        check_replaceable(out, MARKER, _KIND, "export", _protected(result, workspace))


def _protected(result: SweepResult | None, workspace: Path | None) -> list:
    extra: list = [(workspace, "the workspace")]
    if result is not None:
        if result.source.startswith("sqlite:///"):
            extra.append((result.source[len("sqlite:///"):], "the sweep database"))
        extra.extend((t.trial_dir, "a trial folder of this sweep") for t in result.trials if t.trial_dir)
    return protected_paths(extra)


def export_best(result: SweepResult, out: Path, *, top_k: int = 1, force: bool = False,
                data_root: Path | None = None, cache_dir: Path | None = None,
                workspace: Path | None = None) -> ExportResult:
    """Export the sweep's best finished trial (and a top-k ensemble) to ``out``."""
    out = Path(out).expanduser().absolute()
    if top_k < 1:
        raise UserError(f"--top-k must be at least 1 (got {top_k})")
    check_destination(out, force, result, workspace)
    ranked = result.ranked()
    if not ranked:
        counts = ", ".join(f"{n} {s}" for s, n in result.counts().items() if n) or "no trials"
        raise UserError(f"sweep {result.sweep_id} has no finished trial with a {result.metric} value yet ({counts})")
    best = ranked[0]
    staging = staging_folder(out)
    try:
        with tempfile.TemporaryDirectory(prefix="inat-export-") as scratch:
            fetched = _Fetcher(Path(scratch))
            config, metrics = copy_trial(fetched(best), staging, result, best)
            ensemble, warnings = None, []
            if top_k > 1:
                ensemble, warnings = export_ensemble(result, ranked[:top_k], fetched, staging / "ensemble",
                                                     data_root or result.data_root, cache_dir)
                if top_k > len(ranked):
                    warnings.insert(0, f"--top-k {top_k}: only {len(ranked)} trials have finished")
            if ensemble is not None:
                metrics["ensemble"] = _ensemble_metrics(ensemble)
                _write_json(staging / "metrics.json", metrics)
            (staging / "MODEL_CARD.md").write_text(render_model_card(result, best, config, metrics, ensemble))
        write_marker(staging, MARKER, _KIND, sweep_id=result.sweep_id, trial=best.name)
        check_destination(out, force, result, workspace)  # again: the folder may have changed meanwhile
        left = publish_folder(staging, out, MARKER, _KIND)
    except BaseException:
        discard_staging(staging)
        raise
    if left:
        warnings.append(f"files added to the old export while it was replaced were kept: {', '.join(left)}")
    return ExportResult(out=out, best=best, ensemble=ensemble, warnings=warnings)


class _Fetcher:
    """A trial's folder on disk: its own (local backend) or downloaded once (W&B)."""

    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.cache: dict[int, Path] = {}

    def __call__(self, record: TrialRecord) -> Path:
        if record.model_path is not None:
            return record.trial_dir
        if record.number not in self.cache:
            if record.handle is None:
                raise UserError(f"trial {record.name} has no model.keras"
                                f"{' in ' + str(record.trial_dir) if record.trial_dir else ''}: nothing to export")
            from .wandb_source import materialize_run

            self.cache[record.number] = materialize_run(record.handle, self.scratch / f"trial-{record.number}")
        return self.cache[record.number]


def copy_trial(source: Path, dest: Path, result: SweepResult, record: TrialRecord) -> tuple[dict, dict]:
    """Copy a trial folder's exportable files into ``dest``; returns (config, metrics) as written."""
    config, metrics = read_trial_folder(source)
    config = scrub(config or record.config)
    metrics = scrub({k: v for k, v in (metrics or record.metrics).items() if k not in _LOCAL_ONLY})
    metrics.update(sweep_id=result.sweep_id, sweep_backend=result.backend, trial_number=record.number,
                   trial_name=record.name)
    (dest / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=True))
    _write_json(dest / "metrics.json", metrics)
    shutil.copy2(source / "model.keras", dest / "model.keras")
    if (source / "history.csv").is_file():
        shutil.copy2(source / "history.csv", dest / "history.csv")
    pngs = sorted((source / "viz").glob("*.png")) if (source / "viz").is_dir() else []
    if pngs:
        (dest / "viz").mkdir()
        for png in pngs:
            shutil.copy2(png, dest / "viz" / png.name)
    return config, metrics


def export_ensemble(result: SweepResult, candidates: list[TrialRecord], fetch: Any, dest: Path,
                    data_root: str | Path | None, cache_dir: Path | None) -> tuple[EnsembleSummary | None, list[str]]:
    """Build ensemble/model.keras from the candidates that match the best trial's input and classes."""
    from .ensemble import save_ensemble

    folders, skipped = {}, []
    for record in candidates:
        try:
            folders[record.number] = fetch(record)
        except UserError as err:
            skipped.append(f"{record.name}: {err}")
    reference = _signature(folders[candidates[0].number])
    members = []
    for record in candidates:
        if record.number not in folders:
            continue
        if _signature(folders[record.number]) == reference:
            members.append(record)
        else:
            skipped.append(f"{record.name}: different image size or classes than the best trial")
    if len(members) < 2:
        note = f"no ensemble: only {len(members)} of the top {len(candidates)} trials can be combined"
        return None, [note, *skipped]
    dest.mkdir()
    model_path = save_ensemble([folders[m.number] / "model.keras" for m in members], dest / "model.keras")
    summary = EnsembleSummary(members=members, test_accuracy=None, best_single_test_accuracy=None, skipped=skipped)
    warnings = list(skipped)
    if data_root:
        _measure(summary, model_path, folders[members[0].number], Path(data_root), cache_dir)
    else:
        warnings.append("ensemble test accuracy not measured: pass --data ROOT")
    _write_json(dest / "members.json", _ensemble_metrics(summary))
    return summary, warnings


def _measure(summary: EnsembleSummary, ensemble_path: Path, best_folder: Path, data_root: Path,
             cache_dir: Path | None) -> None:
    """Test accuracy of the ensemble and of the best single model on the same test split."""
    from .ensemble import load_keras_model
    from .evaluate import evaluate_model_on_test, saved_settings

    settings = saved_settings(best_folder / "model.keras")
    kwargs = {"resize": settings.get("resize", "squash"), "expected_classes": settings.get("class_names"),
              "cache_dir": cache_dir}
    summary.test_accuracy = evaluate_model_on_test(load_keras_model(ensemble_path), data_root, **kwargs).accuracy
    best = load_keras_model(best_folder / "model.keras")
    summary.best_single_test_accuracy = evaluate_model_on_test(best, data_root, **kwargs).accuracy


def _signature(folder: Path) -> tuple:
    config, metrics = read_trial_folder(folder)
    return (metrics.get("image_size") or config.get("image_size"), tuple(metrics.get("class_names") or ()))


def _ensemble_metrics(summary: EnsembleSummary) -> dict[str, Any]:
    return {"test_accuracy": summary.test_accuracy, "best_single_test_accuracy": summary.best_single_test_accuracy,
            "members": [{"rank": i + 1, "trial_number": m.number, "trial_name": m.name, "value": m.value,
                         "test_accuracy": m.test_accuracy, "wandb_run_id": m.wandb_run_id}
                        for i, m in enumerate(summary.members)],
            "skipped": summary.skipped}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
