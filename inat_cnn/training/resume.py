"""Resume points: after every whole epoch a trial folder holds what it takes to continue from there.

``resume/state.json`` names the epoch, the phase, the monitor's state (history rows, best value and
epoch, patience counter), the wall time so far and the wandb run id; ``resume/vars-<epoch>.npz``
holds every model variable (weights, BatchNorm statistics, the augmentation and dropout layers'
seed-generator states) and every optimizer variable (its iteration count, which is also the
learning-rate schedule's position, and its slots). The shuffling order is a function of (seed,
epoch) (``data.ArrayBatches``), so the epoch restores it. The best-so-far checkpoint is the
folder's ``model.keras``.

Atomic as a unit: the variables file is written first (temp + os.replace), then state.json
(temp + os.replace) naming it, then older variable files are removed; a kill at any point leaves
the previous point or the new one, whole. A re-queued trial's folder adopts its predecessor's point
before training (``adopt``), so a copy preempted again before its first epoch still has it.

This module imports nothing heavy at import time: the agent reads points without TensorFlow.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
from pathlib import Path
from typing import Any

FOLDER = "resume"
STATE = "state.json"


def read_point(trial_dir: Path) -> dict[str, Any] | None:
    """The resume point in ``trial_dir`` (its state), or None when there is none, or it is incomplete."""
    folder = Path(trial_dir) / FOLDER
    try:
        state = json.loads((folder / STATE).read_text())
    except (OSError, ValueError):
        return None
    if not (folder / state.get("variables", "")).is_file() or not isinstance(state.get("epoch"), int):
        return None
    return state


def _replace_json(path: Path, body: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(body, default=float))
    os.replace(tmp, path)


def write_point(trial_dir: Path, model, state: dict[str, Any]) -> None:
    """Save ``model``'s and its optimizer's variables and ``state`` (with ``epoch``) as the new point."""
    import numpy as np

    folder = Path(trial_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    name = f"vars-{int(state['epoch']):04d}.npz"
    arrays = {f"m{i}": np.asarray(v.numpy()) for i, v in enumerate(model.variables)}
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "built", False):
        arrays.update({f"o{i}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)})
    tmp = folder / f".{name}.{os.getpid()}.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, folder / name)
    _replace_json(folder / STATE, {**state, "variables": name})
    for old in folder.glob("vars-*.npz"):
        if old.name != name:
            old.unlink(missing_ok=True)


def restore_variables(trial_dir: Path, model, state: dict[str, Any], *, optimizer: bool) -> None:
    """Assign the point's model variables to ``model`` (and, with ``optimizer``, its optimizer's)."""
    import numpy as np

    with np.load(Path(trial_dir) / FOLDER / state["variables"]) as saved:
        for i, v in enumerate(model.variables):
            v.assign(saved[f"m{i}"])
        if optimizer and "o0" in saved:
            model.optimizer.build(model.trainable_variables)
            for i, v in enumerate(model.optimizer.variables):
                v.assign(saved[f"o{i}"])


def adopt(from_dir: Path, out_dir: Path) -> dict[str, Any] | None:
    """Copy ``from_dir``'s resume point and best checkpoint into ``out_dir``; the point's state."""
    state = read_point(from_dir)
    if state is None:
        return None
    src, dst = Path(from_dir), Path(out_dir)
    (dst / FOLDER).mkdir(parents=True, exist_ok=True)
    for rel in (f"{FOLDER}/{state['variables']}", "model.keras"):
        if (src / rel).is_file():
            tmp = dst / f"{rel}.{os.getpid()}.part"
            shutil.copyfile(src / rel, tmp)
            os.replace(tmp, dst / rel)
    _replace_json(dst / FOLDER / STATE, state)
    return state


def attempt_folders(base: Path, key: str) -> tuple[Path, dict[str, Any] | None]:
    """A new attempt's folder for the trial ``key`` under ``base`` (``key``, then ``key.1``, ``key.2`` ...)
    and the resume job (``{"from": folder}``) of the latest earlier attempt that has a resume point."""
    base = Path(base)
    numbered = [(0, base / key)] if (base / key).is_dir() else []
    for path in base.glob(f"{glob.escape(key)}.*"):
        suffix = path.name[len(key) + 1:]
        if suffix.isdigit() and path.is_dir():
            numbered.append((int(suffix), path))
    numbered.sort()
    latest = next((path for _, path in reversed(numbered) if read_point(path) is not None), None)
    out = base / (f"{key}.{numbered[-1][0] + 1}" if numbered else key)
    return out, ({"from": str(latest)} if latest is not None else None)


def point_state(monitor, epoch: int, phase: str, elapsed_s: float, wandb_run_id: str | None) -> dict[str, Any]:
    """What state.json records about the trial after ``epoch`` whole epochs."""
    return {"epoch": int(epoch), "phase": phase, "elapsed_s": float(elapsed_s), "wandb_run_id": wandb_run_id,
            "monitor": {"history": monitor.history, "best_value": monitor.best_value,
                        "best_epoch": monitor.best_epoch, "wait": monitor.wait}}


def restore_monitor(monitor, state: dict[str, Any]) -> None:
    saved = state["monitor"]
    monitor.history = [dict(row) for row in saved["history"]]
    monitor.best_value, monitor.best_epoch, monitor.wait = saved["best_value"], saved["best_epoch"], saved["wait"]


class Resumer:
    """A trial's resume side: where it starts (``epoch``, 0 for a fresh trial) and the per-epoch point writer."""

    def __init__(self, out_dir: Path, state: dict[str, Any] | None):
        self.out_dir, self.state = Path(out_dir), state
        self.epoch = int(state["epoch"]) if state else 0
        self.run_id = state.get("wandb_run_id") if state else None
        self.elapsed_s = float(state.get("elapsed_s", 0.0)) if state else 0.0
        self._restored = False

    @classmethod
    def start(cls, out_dir: Path, job: dict[str, Any] | None, monitor, train) -> Resumer:  # noqa: ANN001
        """Adopt the point ``job`` names (``{"from": folder}``; the trial's own folder works too)."""
        if not job:
            return cls(out_dir, None)
        src = Path(job["from"])
        state = read_point(out_dir) if src.resolve() == Path(out_dir).resolve() else adopt(src, out_dir)
        if state is None:
            return cls(out_dir, None)
        restore_monitor(monitor, state)
        train.epoch = int(state["epoch"])  # the shuffling order of the next epoch is (seed, epoch)'s
        train.order = train._order()
        return cls(out_dir, state)

    def restore(self, model, phase: str, first: int) -> int:  # noqa: ANN001
        """After the phase's compile: put the point's variables back once; the epoch ``fit`` starts at."""
        if self.state is not None and not self._restored:
            # the optimizer (its step = the schedule's position) carries over inside a phase, not across one
            restore_variables(self.out_dir, model, self.state, optimizer=self.state["phase"] == phase
                              and first < self.epoch)
            self._restored = True
        return max(first, self.epoch)

    def sink(self, model, monitor, run, started: float):  # noqa: ANN001
        """A TrialMonitor sink: after every whole epoch, the new resume point."""
        import time

        def write(row: dict[str, Any]) -> None:
            elapsed = self.elapsed_s + time.perf_counter() - started
            write_point(self.out_dir, model, point_state(monitor, row["epoch"], monitor.phase, elapsed,
                                                         getattr(run, "id", None)))

        return write
