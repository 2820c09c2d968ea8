"""The dataset a sweep trains on: stated once (at `sweep create --data`, or adopted by the first agent),
recorded with its content fingerprint, and checked by every agent, whatever path it is mounted at."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from ..errors import EnvironmentFault, UserError
from .recovery import insert_study_user_attr_once

KEY = "dataset"


def describe(root: str | Path) -> dict[str, Any]:
    """Root, content fingerprint and size of a dataset (UserError for a missing root or a wrong layout)."""
    from ..data.scan import scan_dataset

    scanned = scan_dataset(root)
    return {"root": str(scanned.root), "fingerprint": scanned.fingerprint, "classes": len(scanned.class_names),
            "images": len(scanned.pool) + len(scanned.test)}


def summary(info: dict[str, Any] | None) -> str:
    if not info:
        return "not stated yet (the first agent's --data will be adopted)"
    return f"{info['root']} ({info['classes']} classes, {info['images']} files, fingerprint {info['fingerprint'][:12]})"


def state(study: optuna.Study, root: str | Path) -> dict[str, Any]:
    """Record the sweep's dataset at creation."""
    info = describe(root)
    study.set_user_attr(KEY, info)
    study.set_user_attr("data_root", info["root"])  # what exports read to measure the ensemble
    return info


def bind(study: optuna.Study, root: str | Path, log: Callable[[str], None]) -> dict[str, Any]:
    """The sweep's dataset, which ``root`` must hold; adopted from ``root`` when the sweep has none."""
    info = describe(root)
    stated = study.user_attrs.get(KEY)
    if stated is None:
        if insert_study_user_attr_once(study, KEY, info):
            if "data_root" not in study.user_attrs:
                study.set_user_attr("data_root", info["root"])
            log(f"the sweep had no dataset stated: adopting --data {summary(info)}")
            return info
        stated = study.user_attrs[KEY]  # another agent adopted one a moment ago
    if stated["fingerprint"] != info["fingerprint"]:
        raise UserError(f"--data {root} is not the dataset of sweep {study.study_name}: it holds "
                        f"{info['images']} files in {info['classes']} classes (fingerprint "
                        f"{info['fingerprint'][:12]}), the sweep trains on {summary(stated)}. Point --data at "
                        "that dataset (any path holding the same files works).")
    if Path(stated["root"]) != Path(info["root"]):
        log(f"dataset {info['root']} holds the sweep's dataset (stated as {stated['root']})")
    return info


def check_root(root: str | Path) -> None:
    """Cheap check before each claim: the dataset root is there and not empty (an unmounted share is)."""
    path = Path(root)
    try:
        present = path.is_dir() and any(path.iterdir())
    except OSError as err:
        raise EnvironmentFault(f"dataset root {path} cannot be read ({err.strerror}); check the mount",
                               what="data") from None
    if not present:
        raise EnvironmentFault(f"dataset root {path} is missing or empty (deleted or unmounted?); restore it and "
                               "start the agent again", what="data")


def environment_problem(root: str | Path, stated: dict[str, Any] | None) -> EnvironmentFault | None:
    """After a trial failed: is the dataset gone or changed under the sweep? (None when it is intact)."""
    try:
        check_root(root)
    except EnvironmentFault as fault:
        return fault
    if not stated:
        return None
    try:
        now = describe(root)["fingerprint"]
    except UserError as err:
        return EnvironmentFault(f"dataset root {root} is no longer a dataset: {err}", what="data")
    if now != stated["fingerprint"]:
        return EnvironmentFault(f"dataset {root} changed while the sweep ran (fingerprint {stated['fingerprint'][:12]} "
                                f"→ {now[:12]}); restore it, or start a new sweep on the new data", what="data")
    return None
