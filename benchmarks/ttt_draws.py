"""What makes the two arms of the time-to-target benchmark comparable seed by seed: common random numbers and
one validation set.

Draws: for seed S the peer's configurations are the local engine's own proposals for a ``method: random`` copy
of the space seeded S, in order (``inat_cnn.engine.preview.propose``: what `inat-cnn sweep preview COPY -n N
--seed S` prints; nothing is trained). The peer stays W&B-style random search (each parameter drawn
independently); only its stream is shared. Ours' bayes sweep seeded S proposes the same points for its TPE
start-up trials: Optuna's TPESampler draws them from a RandomSampler with its own seed, and the engine seeds
each trial's sampler from (S, trial number) whatever the method. ``check_startup`` asserts that from the
engine's preview before a seed runs, ``check_ours_trials`` on the trials ours really ran.

Split: ours carves a class-balanced validation split from ``train/`` (the engine's split manifest, with the
val_fraction and split seed its trials use by default); ``materialize_split`` writes that same split as two
class-folder trees of hard links to the same PNG files (``fit/`` and ``valid/``) that the peer reads with two
``image_dataset_from_directory`` calls, and ``check_split`` compares it with the manifest ours wrote in its
workspace. The test split stays the dataset's ``val/``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from ttt_common import write_json

SPLIT_RECORD = "split.json"


class DrawsDiffer(RuntimeError):
    """The premise of the paired comparison does not hold (told with what differs)."""


def random_copy(space: dict[str, Any], trials: int) -> dict[str, Any]:
    """The space as a ``method: random`` sweep of ``trials`` trials (no early termination, no target)."""
    spec = json.loads(json.dumps(space))
    spec.update(name=f"{spec['name']}-random", method="random", run_cap=trials)
    spec.pop("early_terminate", None)
    spec["metric"].pop("target", None)
    return spec


def engine_draws(spec: dict[str, Any], n: int, seed: int) -> list[dict[str, Any]]:
    """The first ``n`` trial configs the local engine proposes for ``spec`` seeded ``seed`` (sweep preview's)."""
    from inat_cnn.engine.preview import propose
    from inat_cnn.spec import validate_sweep_dict

    return propose(validate_sweep_dict(json.loads(json.dumps(spec))), n, seed)


def startup_count(space: dict[str, Any], draws: int = 40) -> int:
    """Ours' trials that the shared random stream fixes: TPE's start-up trials for a bayes sweep, every one of
    the ``draws`` for a random sweep (its trial N is the random copy's draw N, whatever agent claims it)."""
    from inat_cnn.engine.space import startup_trials

    method = space.get("method")
    return startup_trials(space.get("run_cap")) if method == "bayes" else draws if method == "random" else 0


def peer_draws(space: dict[str, Any], seed: int, trials: int) -> list[dict[str, Any]]:
    """The peer's configurations for ``seed``: the engine's random stream of the space's random copy."""
    return engine_draws(random_copy(space, trials), trials, seed)


def same_config(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal configs (floats equal to the last bits a storage round trip may change)."""
    if a.keys() != b.keys():
        return False
    return all(math.isclose(a[k], b[k], rel_tol=1e-12) if isinstance(a[k], float) and isinstance(b[k], float)
               else a[k] == b[k] for k in a)


def _first_difference(ours: list[dict], draws: list[dict], what: str) -> str | None:
    for number, (a, b) in enumerate(zip(ours, draws)):
        if not same_config(a, b):
            keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
            return (f"{what}: trial {number} differs from the random copy's draw {number} in "
                    + ", ".join(f"{k} ({a.get(k)!r} vs {b.get(k)!r})" for k in keys))
    return None


def check_startup(space: dict[str, Any], seed: int, draws: list[dict[str, Any]]) -> dict[str, Any]:
    """Ours' start-up proposals for ``seed`` (the engine's preview of the bayes sweep) against the peer's
    draws; raises DrawsDiffer at the first difference."""
    k = startup_count(space, len(draws))
    if len(draws) < k:
        raise DrawsDiffer(f"seed {seed}: {len(draws)} peer draws cannot cover TPE's {k} start-up trials")
    startup = engine_draws(space, k, seed)
    problem = _first_difference(startup, draws, f"seed {seed}, ours' TPE start-up (preview)")
    if problem:
        raise DrawsDiffer(problem)
    return {"startup_trials": k, "previewed_equal": k}


def check_ours_trials(trials: list[dict[str, Any]], draws: list[dict[str, Any]], k: int, seed: int) -> int:
    """How many of ours' start-up trials (numbers below ``k``) it ran, each checked equal to the peer's draw of
    that number (its sampled parameters; the fixed ones are the same file's); raises DrawsDiffer otherwise."""
    ran = sorted((t for t in trials if t["number"] < k), key=lambda t: t["number"])
    sampled = [{name: t["params"][name] for name in t["params"]} for t in ran]
    expected = [{name: draws[t["number"]][name] for name in t["params"]} for t in ran]
    if [t["number"] for t in ran] != list(range(len(ran))):
        raise DrawsDiffer(f"seed {seed}: ours ran start-up trials {[t['number'] for t in ran]}, not 0..n")
    problem = _first_difference(sampled, expected, f"seed {seed}, ours' sweep")
    if problem:
        raise DrawsDiffer(problem)
    return len(ran)


def ours_split_defaults(space: dict[str, Any], config: dict[str, Any]) -> tuple[float, int]:
    """(val_fraction, split_seed) ours' trials split train/ with: a trial config's val_fraction (the space's,
    else the trial config's default) and the agent's split seed."""
    import dataclasses

    from inat_cnn.engine.objective import TrialContext
    from inat_cnn.trial_config import parse_trial_config

    if {"values", "min", "distribution"} & set(space["parameters"].get("val_fraction", {})):
        raise DrawsDiffer("the space varies val_fraction: the two arms could not share one validation set")
    seed = next(f.default for f in dataclasses.fields(TrialContext) if f.name == "split_seed")
    return float(parse_trial_config(config).val_fraction), int(seed)


def engine_split(data: Path, val_fraction: float, split_seed: int) -> dict[str, Any]:
    """The engine's split of ``data`` (scan + manifest, as ours' trials build it): split id, classes, and the
    files (paths relative to the root) of each part."""
    from inat_cnn.data.manifest import build_manifest
    from inat_cnn.data.scan import scan_dataset

    manifest = build_manifest(scan_dataset(data), val_fraction, split_seed)
    return _split_record(manifest.to_json())


def _split_record(manifest: dict[str, Any]) -> dict[str, Any]:
    return {"split_id": manifest["split_id"], "fingerprint": manifest["fingerprint"],
            "class_names": list(manifest["class_names"]), "val_fraction": manifest["val_fraction"],
            "split_seed": manifest["split_seed"],
            **{part: sorted([str(p), int(label)] for p, label in manifest[part]) for part in ("train", "val")}}


def materialize_split(data: Path, out: Path, val_fraction: float, split_seed: int) -> dict[str, Any]:
    """``out/fit/<class>/`` and ``out/valid/<class>/``: hard links (copies across file systems) to the PNGs of
    the engine's train and val parts of ``data``; kept when ``out`` already holds this split. Returns the
    split record (also in ``out/split.json``)."""
    data, out = Path(data), Path(out)
    split = engine_split(data, val_fraction, split_seed)
    try:
        if json.loads((out / SPLIT_RECORD).read_text()) == split:
            return split
    except (OSError, ValueError):
        pass
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for part, folder in (("train", "fit"), ("val", "valid")):
        for rel, label in split[part]:
            target = tmp / folder / split["class_names"][label] / Path(rel).name
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(data / rel, target)
            except OSError:
                shutil.copy2(data / rel, target)
    write_json(tmp / SPLIT_RECORD, split)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return split


def materialized_files(out: Path) -> dict[str, list[list]]:
    """What the peer reads: per part, [class folder/file name, label index] of every file under ``out``."""
    split = json.loads((Path(out) / SPLIT_RECORD).read_text())
    index = {name: i for i, name in enumerate(split["class_names"])}
    return {part: sorted([f"{p.parent.name}/{p.name}", index[p.parent.name]]
                         for p in (Path(out) / folder).glob("*/*") if p.is_file())
            for part, folder in (("train", "fit"), ("val", "valid"))}


def check_split(out: Path, workspace: Path) -> str:
    """The peer's folders against the manifest ours wrote in its workspace (same files, same classes, per
    part); returns the split id, raises DrawsDiffer otherwise."""
    manifests = sorted((Path(workspace) / "cache" / "splits").glob("*.json"))
    if len(manifests) != 1:
        raise DrawsDiffer(f"{workspace}: expected one split manifest, found {[m.name for m in manifests]}")
    ours = _split_record(json.loads(manifests[0].read_text()))
    peer = materialized_files(out)
    for part in ("train", "val"):
        wanted = sorted([f"{ours['class_names'][label]}/{Path(rel).name}", label] for rel, label in ours[part])
        if peer[part] != wanted:
            extra = [f for f in peer[part] if f not in wanted][:3]
            missing = [f for f in wanted if f not in peer[part]][:3]
            raise DrawsDiffer(f"the peer's {part} folder differs from ours' split {ours['split_id']} "
                              f"({manifests[0]}): only in the peer's {extra}, only in ours' {missing}")
    return ours["split_id"]
