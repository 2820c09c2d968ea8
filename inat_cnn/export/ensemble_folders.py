"""The ensembles of `inat-cnn export best`: top-k (``--top-k``), snapshot (``--snapshots``), seed (``--seeds``).

Each goes in its own folder of the export (``ensemble/``, ``snapshots/``, ``seeds/``) with ``model.keras``
(the mean), and with ``--data``: ``greedy.keras`` and ``stacked.keras`` fitted on the validation split,
``members.json`` with the judgement on the test split and ``accuracy_vs_members.png``
(``inat_cnn.ensembles.build``). Seed trials run on the sweep's own agents (``inat_cnn.engine.seeds``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import atomic
from ..ensembles.build import DataAccess, Member, build_ensemble_folder
from ..ensembles.figure import accuracy_vs_members_png
from ..errors import UserError
from ..report.ensemble_section import JUDGEMENT_FILE
from ..report.model_card import EnsembleSummary
from ..report.records import SweepResult, TrialRecord
from ..report.results import read_trial_folder

FOLDERS = {"top-k": "ensemble", "snapshots": "snapshots", "seeds": "seeds"}


def data_access(data_root: Path, cache_dir: Path | None) -> DataAccess:
    from ..data import load_splits

    loaded: dict[tuple, Any] = {}

    def load(size: int, resize: str, val_fraction: float) -> Any:
        key = (size, resize, val_fraction)
        if key not in loaded:
            loaded[key] = load_splits(data_root, size, resize=resize, val_fraction=val_fraction, cache_dir=cache_dir)
        return loaded[key]

    return DataAccess(load)


def member_from_folder(name: str, folder: Path, model_file: str = "model.keras", **info: Any) -> Member:
    config, metrics = read_trial_folder(folder)
    return Member(name=name, model_path=folder / model_file,
                  image_size=int(metrics.get("image_size") or config.get("image_size")),
                  resize=config.get("resize", "squash"), val_fraction=float(config.get("val_fraction", 0.1)),
                  recorded_test_accuracy=metrics.get("test_accuracy"), info=info)


def classes_of(folder: Path) -> tuple:
    return tuple(read_trial_folder(folder)[1].get("class_names") or ())


def topk_members(candidates: list[TrialRecord], fetch: Callable[[TrialRecord], Path]
                 ) -> tuple[list[tuple[TrialRecord, Member]], list[str]]:
    """The candidates that can join the best trial's ensemble (same classes; any size, family, resize)."""
    chosen, skipped, reference = [], [], None
    for rank, record in enumerate(candidates, start=1):
        try:
            folder = fetch(record)
        except UserError as err:
            skipped.append(f"{record.name}: {err}")
            continue
        reference = classes_of(folder) if reference is None else reference
        if classes_of(folder) != reference:
            skipped.append(f"{record.name}: different classes than the best trial")
            continue
        chosen.append((record, member_from_folder(record.name, folder, rank=rank, trial_number=record.number,
                                                  trial_name=record.name,
                                                  value=record.value, wandb_run_id=record.wandb_run_id)))
    return chosen, skipped


def snapshot_members(best: TrialRecord, folder: Path) -> list[Member]:
    """The best trial's snapshots (``lr_schedule: snapshot``), in cycle order."""
    _, metrics = read_trial_folder(folder)
    rows = [r for r in metrics.get("snapshots") or [] if (folder / r["path"]).is_file()]
    return [member_from_folder(f"{best.name}/snapshot-{r['snapshot']}", folder, r["path"], epoch=r["epoch"],
                               val_accuracy=r.get("val_accuracy")) for r in rows]


@dataclass
class SeedPlan:
    """What ``--seeds N`` found in (or added to) the study."""

    members: list[Member]
    numbers: set[int]  # every seed trial of the sweep: never ranked as search trials
    note: str | None = None


def seed_trial_numbers(study: Any) -> set[int]:
    from ..engine.seeds import seed_of

    return {t.number for t in study.get_trials(deepcopy=False) if seed_of(t) is not None}


def open_local_study(result: SweepResult, storage_url: str | None) -> Any:
    import optuna

    from ..engine.storage import open_storage

    if result.backend != "local" or not storage_url:
        return None
    return optuna.load_study(study_name=result.sweep_id, storage=open_storage(storage_url))


def plan_seeds(study: Any, result: SweepResult, best: TrialRecord, n: int, wait_s: float | None,
               log: Callable[[str], None]) -> SeedPlan:
    """Queue the seed trials of ``best`` (once), wait for them if asked, and gather the finished ones."""
    from ..engine import seeds

    if study is None:
        raise UserError("--seeds runs the seed trials on the local engine's agents: it needs a local sweep "
                        f"(sweep {result.sweep_id} is on {result.backend})")
    frozen = next(t for t in study.get_trials(deepcopy=False) if t.number == best.number)
    found = seeds.enqueue_seeds(study, frozen, n)
    if wait_s and found.pending:
        found = seeds.wait_for_seeds(study, frozen, n, wait_s, log=log)
    members = seed_members(found.finished)
    note = None
    if len(members) < n:
        note = (f"--seeds {n}: {len(members)} of the {n} seed trials of {best.name} have finished "
                f"({len(found.pending)} waiting or running, {len(found.failed)} failed); start agents "
                f"(`inat-cnn agent {result.sweep_id} --data ROOT`) and run this export again, or pass --wait")
    return SeedPlan(members, seed_trial_numbers(study), note)


def seed_members(trials: list[Any]) -> list[Member]:
    """Finished seed trials that left a model, as members (named by trial and seed)."""
    from ..engine.seeds import SEED_KEY

    return [member_from_folder(f"trial-{t.number:04d} (seed {t.system_attrs[SEED_KEY]})",
                               Path(t.user_attrs["trial_dir"]), trial_number=t.number, seed=t.system_attrs[SEED_KEY])
            for t in trials
            if t.user_attrs.get("trial_dir") and (Path(t.user_attrs["trial_dir"]) / "model.keras").is_file()]


def finished_seed_members(study: Any, best: TrialRecord) -> list[Member]:
    """Seed trials of ``best`` an earlier ``--seeds`` run left (the same-cost baseline without ``--seeds``)."""
    from optuna.trial import TrialState

    from ..engine.seeds import SEED_KEY, seed_of

    if study is None:
        return []
    done = [t for t in study.get_trials(deepcopy=False) if seed_of(t) == best.number and t.state == TrialState.COMPLETE]
    return seed_members(sorted(done, key=lambda t: int(t.system_attrs[SEED_KEY])))


def export_kind(kind: str, members: list[Member], staging: Path, data: DataAccess | None,
                baseline: list[Member] | None, best: Member, records: list[TrialRecord] | None = None,
                skipped: list[str] | None = None) -> EnsembleSummary:
    """One ensemble folder of the export, and its summary for metrics.json and the model card."""
    dest = staging / FOLDERS[kind]
    judged = build_ensemble_folder(kind, members, dest, data=data, baseline=baseline, best=best)
    figure = accuracy_vs_members_png(judged, dest / "accuracy_vs_members.png")
    summary = EnsembleSummary(members=records or [], test_accuracy=judged.aggregations["mean"].get("test_accuracy"),
                              best_single_test_accuracy=(judged.best_single or {}).get("test_accuracy"),
                              skipped=list(skipped or []), kind=kind, folder=FOLDERS[kind], judged=judged,
                              figure=figure)
    write_json(dest / "members.json", summary_dict(summary))
    return summary


def summary_dict(summary: EnsembleSummary) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": summary.kind, "folder": summary.folder, "test_accuracy": summary.test_accuracy,
                           "best_single_test_accuracy": summary.best_single_test_accuracy,
                           "skipped": summary.skipped}
    if summary.judged is not None:
        out.update(summary.judged.to_dict())
    return out


def write_judgement(result: SweepResult, best: TrialRecord, summaries: list[EnsembleSummary], out: Path) -> None:
    """The judgement beside the trial folders, for the HTML report (local sweeps; replaced by each export)."""
    if best.trial_dir is None or not best.trial_dir.parent.is_dir() or not summaries:
        return
    data = {"sweep_id": result.sweep_id, "best": best.name, "export": str(out),
            "ensembles": [summary_dict(s) for s in summaries]}
    write_json(best.trial_dir.parent / JUDGEMENT_FILE, data)


def write_json(path: Path, data: dict[str, Any]) -> None:
    atomic.write_json(path, data, indent=2, sort_keys=True, default=str)
