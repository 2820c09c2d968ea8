"""`inat-cnn export best`: the best trial as a self-describing folder, optionally with a top-k ensemble.

DIR/ config.yaml, model.keras (the best epoch), metrics.json, history.csv, viz/*.png,
MODEL_CARD.md, and with --top-k K > 1: ensemble/ (model.keras, members.json; with --data also
greedy.keras, stacked.keras, accuracy_vs_members.png), the same for --snapshots in snapshots/ and for
--seeds N in seeds/ (see ``ensemble_folders``).

Everything is written into a fresh folder beside DIR, a ``.inat-cnn-export`` marker listing every
file goes in last, and the folder is renamed into place: an interrupted export leaves DIR as it was.
--force replaces only an earlier export (its marker, nothing else in it), never the workspace, the
current folder, the sweep database or trial folders, nor any folder holding them (see ``folders``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import atomic
from ..errors import UserError
from ..folders import (
    check_replaceable,
    check_target,
    discard_staging,
    protected_paths,
    publish_folder,
    staging_folder,
    write_marker,
)
from ..report.model_card import EnsembleSummary, render_model_card
from ..report.records import SweepResult, TrialRecord
from ..report.results import read_trial_folder
from ..report.scrub import scrub
from . import ensemble_folders as E

#: Machine-specific keys a trial's metrics.json holds that mean nothing elsewhere.
_LOCAL_ONLY = ("wandb_run_dir",)


@dataclass
class ExportResult:
    out: Path
    best: TrialRecord
    ensemble: EnsembleSummary | None = None  # the top-k one
    warnings: list[str] = field(default_factory=list)
    others: list[EnsembleSummary] = field(default_factory=list)  # snapshots, seeds


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
                workspace: Path | None = None, snapshots: bool = False, seeds: int = 0,
                wait_s: float | None = None, storage_url: str | None = None,
                log: Callable[[str], None] = print) -> ExportResult:
    """Export the sweep's best finished trial (and its ensembles) to ``out``."""
    out = Path(out).expanduser().absolute()
    if top_k < 1 or seeds < 0 or seeds == 1:
        raise UserError(f"--top-k must be at least 1 and --seeds 0 or at least 2 (got {top_k}, {seeds})")
    check_destination(out, force, result, workspace)
    study = E.open_local_study(result, storage_url)
    seed_numbers = E.seed_trial_numbers(study) if study is not None else set()
    ranked = [t for t in result.ranked() if t.number not in seed_numbers]  # seed trials are not the search
    if not ranked:
        counts = ", ".join(f"{n} {s}" for s, n in result.counts().items() if n) or "no trials"
        raise UserError(f"sweep {result.sweep_id} has no finished trial with a {result.metric} value yet ({counts})")
    best = ranked[0]
    root = data_root or result.data_root
    data = E.data_access(Path(root), cache_dir) if root else None
    plan = E.plan_seeds(study, result, best, seeds, wait_s, log) if seeds else None
    staging = staging_folder(out)
    try:
        with tempfile.TemporaryDirectory(prefix="inat-export-") as scratch:
            fetched = _Fetcher(Path(scratch))
            config, metrics = copy_trial(fetched(best), staging, result, best)
            lead = E.member_from_folder(best.name, fetched(best))
            copies = plan.members if plan else E.finished_seed_members(study, best)
            baseline = [lead, *copies] if copies else None
            ensemble, others, warnings = _ensembles(ranked, best, fetched, staging, data, top_k, snapshots,
                                                    plan, baseline, lead)
            if plan is not None and plan.note:
                warnings.append(plan.note)
            for summary in ([ensemble] if ensemble else []) + others:
                metrics[_METRICS_KEY[summary.kind]] = E.summary_dict(summary)
            _write_json(staging / "metrics.json", metrics)
            atomic.write_text(staging / "MODEL_CARD.md",
                              render_model_card(result, best, config, metrics, ensemble, others))
        write_marker(staging, MARKER, _KIND, sweep_id=result.sweep_id, trial=best.name)
        check_destination(out, force, result, workspace)  # again: the folder may have changed meanwhile
        left = publish_folder(staging, out, MARKER, _KIND)
    except BaseException:
        discard_staging(staging)
        raise
    if left:
        warnings.append(f"files added to the old export while it was replaced were kept: {', '.join(left)}")
    if data is not None:
        E.write_judgement(result, best, ([ensemble] if ensemble else []) + others, out)
    return ExportResult(out=out, best=best, ensemble=ensemble, warnings=warnings, others=others)


_METRICS_KEY = {"top-k": "ensemble", "snapshots": "snapshot_ensemble", "seeds": "seed_ensemble"}


def _ensembles(ranked: list[TrialRecord], best: TrialRecord, fetched: Any, staging: Path, data: Any, top_k: int,
               snapshots: bool, plan: Any, baseline: Any, lead: Any
               ) -> tuple[EnsembleSummary | None, list[EnsembleSummary], list[str]]:
    """The top-k, snapshot and seed ensembles asked for, each in its folder of ``staging``."""
    ensemble, others, warnings = None, [], []
    if top_k > 1:
        chosen, skipped = E.topk_members(ranked[:top_k], fetched)
        warnings += ([f"--top-k {top_k}: only {len(ranked)} trials have finished"] if top_k > len(ranked) else [])
        if len(chosen) < 2:
            warnings += [f"no ensemble: only {len(chosen)} of the top {min(top_k, len(ranked))} trials can be "
                         "combined", *skipped]
        else:
            ensemble = E.export_kind("top-k", [m for _, m in chosen], staging, data, baseline, lead,
                                     [r for r, _ in chosen], skipped)
            warnings += skipped
    if snapshots:
        members = E.snapshot_members(best, fetched(best))
        if len(members) < 2:
            warnings.append(f"--snapshots: {best.name} saved {len(members)} snapshot(s); train with "
                            "`lr_schedule: snapshot` and `snapshots: M` (M > 1) to get a snapshot ensemble")
        else:
            others.append(E.export_kind("snapshots", members, staging, data, baseline, lead))
    if plan is not None and len(plan.members) >= 2:
        others.append(E.export_kind("seeds", plan.members, staging, data, baseline, lead))
    if data is None and (ensemble is not None or others):
        warnings.append("ensemble test accuracy not measured: pass --data ROOT")
    return ensemble, others, warnings


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
            from ..report.wandb_source import materialize_run

            self.cache[record.number] = materialize_run(record.handle, self.scratch / f"trial-{record.number}")
        return self.cache[record.number]


def copy_trial(source: Path, dest: Path, result: SweepResult, record: TrialRecord) -> tuple[dict, dict]:
    """Copy a trial folder's exportable files into ``dest``; returns (config, metrics) as written."""
    config, metrics = read_trial_folder(source)
    config = scrub(config or record.config)
    metrics = scrub({k: v for k, v in (metrics or record.metrics).items() if k not in _LOCAL_ONLY})
    metrics.update(sweep_id=result.sweep_id, sweep_backend=result.backend, trial_number=record.number,
                   trial_name=record.name)
    atomic.write_text(dest / "config.yaml", yaml.safe_dump(config, sort_keys=True))
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


def _write_json(path: Path, data: dict[str, Any]) -> None:
    atomic.write_json(path, data, indent=2, sort_keys=True, default=str)
